// Command benchtable prints clvflow's side-by-side benchmark table (issue
// 14): each piece of work measured for clvflow and for its Python peer in
// the same run, interleaved, --runs times, with the medians, the ratio and
// the target.
//
//	go run ./internal/benchtable            (make bench-table; make bench runs it too)
//
// Rows:
//   - read + clean + featurize: `clvflow backtest --models naive --snapshots 0`
//     on the 1M-customer file, whole process (wall s, peak RSS), against
//     pandas_features.py on the same file (cutoff 2022-12-31, horizon 365).
//   - ZILN training 9→64→32→3, batch 256, one epoch: nn's
//     BenchmarkTrainEpoch/ziln (examples/s, GOMAXPROCS 1 for the ratio, all
//     cores listed too) against torch_ziln.py 18856 9 6 256 1 (1 thread).
//   - single-row scoring in process, production model: onnxrt's
//     BenchmarkProdPredictBatch1 p50 against torch_ziln.py's single-row
//     inference (it prints the mean µs per call, not a p50), and
//     BenchmarkProdSeqPredictBatch1 for the sequence model (no peer).
//
// The data file is made when missing: with the peer generator
// (gen_transactions.py 1000000 42) when /usr/bin/python3 has numpy, else
// with `clvflow gen --customers 1000000 --seed 42`; it is kept under .bench/
// (gitignored). A peer whose Python packages or scripts are missing is
// skipped with a message; clvflow's side always runs.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// config holds the flags.
type config struct {
	runs      int
	data      string
	peers     string
	python    string
	bin       string
	goCmd     string
	work      string // .bench
	customers int
	cutoff    string
	horizon   int
}

func main() {
	var c config
	flag.IntVar(&c.runs, "runs", 3, "runs of every pair (medians are reported)")
	flag.StringVar(&c.work, "dir", ".bench", "working directory for the data file and test binaries (gitignored)")
	flag.StringVar(&c.data, "data", "", "transaction file (default DIR/tx_1m_seed42.csv, made when missing)")
	flag.StringVar(&c.peers, "peers", "../shared/peers", "directory of the Python peer scripts")
	flag.StringVar(&c.python, "python", "/usr/bin/python3", "Python with the peers' Debian packages")
	flag.StringVar(&c.bin, "bin", "bin/clvflow", "clvflow binary (make build)")
	flag.StringVar(&c.goCmd, "go", "go", "go command (builds the benchmark test binaries)")
	flag.IntVar(&c.customers, "customers", 1000000, "customers of the generated data file")
	flag.StringVar(&c.cutoff, "cutoff", "2022-12-31", "calibration cutoff of both featurize runs")
	flag.IntVar(&c.horizon, "horizon-days", 365, "holdout horizon of both featurize runs")
	flag.Parse()
	if c.data == "" {
		c.data = filepath.Join(c.work, fmt.Sprintf("tx_%s_seed42.csv", strings.ToLower(countName(c.customers))))
	}
	start := time.Now()
	rows, err := run(context.Background(), c, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	fmt.Printf("\nclvflow vs peers, %d interleaved runs each, medians; file %s; %d CPUs; %s\n\n", c.runs, c.data, runtime.NumCPU(), time.Now().UTC().Format(time.RFC3339))
	render(os.Stdout, rows)
	fmt.Printf("\nbench-table took %s\n", time.Since(start).Round(time.Second))
}

// countName is 1M for 1000000, else the number.
func countName(n int) string {
	if n%1000000 == 0 {
		return fmt.Sprintf("%dM", n/1000000)
	}
	return fmt.Sprint(n)
}

// measured is the outcome of one whole-process run.
type measured struct {
	Wall   time.Duration
	MaxRSS int64 // bytes, from wait4's rusage
	Out    []byte
}

// runMeasured runs argv with env added, returning wall time, peak RSS and
// stdout; stderr is kept for the error.
func runMeasured(ctx context.Context, env []string, argv ...string) (measured, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	m := measured{Wall: time.Since(t0), Out: out.Bytes()}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.MaxRSS = ru.Maxrss * 1024 // kilobytes on Linux
		}
	}
	if err != nil {
		return m, fmt.Errorf("%s: %w; stderr: %s", strings.Join(argv, " "), err, tail(errb.String(), 600))
	}
	return m, nil
}

// pythonHas reports whether python can import every module.
func pythonHas(python string, modules ...string) error {
	if _, err := os.Stat(python); err != nil {
		return fmt.Errorf("%s not found", python)
	}
	for _, m := range modules {
		if out, err := exec.Command(python, "-c", "import "+m).CombinedOutput(); err != nil {
			return fmt.Errorf("%s cannot import %s (Debian: apt-get install python3-%s): %s", python, m, m, strings.TrimSpace(tail(string(out), 200)))
		}
	}
	return nil
}

// peerScript returns the path of a peer script, or why it is unavailable.
func peerScript(c config, name string, modules ...string) (string, string) {
	p := filepath.Join(c.peers, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Sprintf("%s not found (peer scripts are in ../shared/peers)", p)
	}
	if err := pythonHas(c.python, modules...); err != nil {
		return "", err.Error()
	}
	return p, ""
}

// ensureData makes the data file when missing.
func ensureData(ctx context.Context, c config, log io.Writer) error {
	if _, err := os.Stat(c.data); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(c.data), 0o755); err != nil {
		return err
	}
	tmp := c.data + ".tmp"
	defer os.Remove(tmp)
	if gen, why := peerScript(c, "gen_transactions.py", "numpy"); gen != "" {
		fmt.Fprintf(log, "making %s with %s %d 42 (the peers' generator) …\n", c.data, gen, c.customers)
		if _, err := runMeasured(ctx, nil, c.python, gen, fmt.Sprint(c.customers), "42", tmp); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(log, "peer generator unavailable (%s); making %s with %s gen --customers %d --seed 42 …\n", why, c.data, c.bin, c.customers)
		if _, err := runMeasured(ctx, nil, c.bin, "gen", "--customers", fmt.Sprint(c.customers), "--seed", "42", "--output", tmp); err != nil {
			return err
		}
	}
	return os.Rename(tmp, c.data)
}

// buildTestBinary compiles the tests of pkg into DIR/name.test.
func buildTestBinary(ctx context.Context, c config, pkg, name string) (string, error) {
	out, err := filepath.Abs(filepath.Join(c.work, name+".test"))
	if err != nil {
		return "", err
	}
	if _, err := runMeasured(ctx, nil, c.goCmd, "test", "-c", "-o", out, pkg); err != nil {
		return "", err
	}
	return out, nil
}

// run measures every row.
func run(ctx context.Context, c config, log io.Writer) ([]row, error) {
	if c.runs < 1 {
		return nil, errors.New("--runs must be at least 1")
	}
	if _, err := os.Stat(c.bin); err != nil {
		return nil, fmt.Errorf("%s: %w (run make build)", c.bin, err)
	}
	if err := ensureData(ctx, c, log); err != nil {
		return nil, fmt.Errorf("data file: %w", err)
	}
	b, err := newBench(ctx, c, log)
	if err != nil {
		return nil, err
	}
	for i := range c.runs {
		fmt.Fprintf(log, "run %d/%d\n", i+1, c.runs)
		b.featurize(i)
		b.training(i)
		b.scoring(i)
	}
	if len(b.failures) > 0 {
		fmt.Fprintf(log, "%d measurement(s) failed; their cells use the other runs or say n/a\n", len(b.failures))
	}
	return b.rows(), nil
}

// bench holds what the runs measured: one sample per run and quantity
// (NaN where a run failed or a peer is skipped).
type bench struct {
	ctx                   context.Context
	c                     config
	log                   io.Writer
	nnTest, ortTest       string // test binaries
	pandas, torch         string // peer scripts ("" when skipped)
	pandasSkip, torchSkip string // why
	procs                 int
	failures              []string

	featWall, featRSS, pdWall, pdRSS samples
	train1, trainAll, torchTrain     samples
	p50, seqP50, torchB1             samples
}

// newBench builds the test binaries and finds the peers.
func newBench(ctx context.Context, c config, log io.Writer) (*bench, error) {
	b := &bench{ctx: ctx, c: c, log: log, procs: runtime.NumCPU()}
	var err error
	if b.nnTest, err = buildTestBinary(ctx, c, "./nn", "nn"); err != nil {
		return nil, err
	}
	if b.ortTest, err = buildTestBinary(ctx, c, "./onnxrt", "onnxrt"); err != nil {
		return nil, err
	}
	b.pandas, b.pandasSkip = peerScript(c, "pandas_features.py", "pandas", "numpy")
	b.torch, b.torchSkip = peerScript(c, "torch_ziln.py", "torch")
	for name, why := range map[string]string{"pandas_features.py": b.pandasSkip, "torch_ziln.py": b.torchSkip} {
		if why != "" {
			fmt.Fprintf(log, "peer %s skipped: %s\n", name, why)
		}
	}
	for _, s := range []*samples{&b.featWall, &b.featRSS, &b.pdWall, &b.pdRSS, &b.train1, &b.trainAll, &b.torchTrain, &b.p50, &b.seqP50, &b.torchB1} {
		*s = make(samples, c.runs)
		for i := range *s {
			(*s)[i] = math.NaN()
		}
	}
	return b, nil
}

// fail records a failed measurement; its cell uses the other runs.
func (b *bench) fail(what string, err error) {
	b.failures = append(b.failures, fmt.Sprintf("%s: %v", what, err))
	fmt.Fprintf(b.log, "  %s failed: %v\n", what, err)
}

// featurize measures read + clean + featurize: clvflow backtest and the
// pandas peer, whole process.
func (b *bench) featurize(i int) {
	c := b.c
	m, err := runMeasured(b.ctx, nil, c.bin, "backtest", "--input", c.data, "--cutoff", c.cutoff,
		"--horizon-days", fmt.Sprint(c.horizon), "--models", "naive", "--snapshots", "0")
	if err != nil {
		b.fail("clvflow backtest", err)
	} else {
		b.featWall[i], b.featRSS[i] = m.Wall.Seconds(), float64(m.MaxRSS)/(1<<20)
		fmt.Fprintf(b.log, "  clvflow backtest: %.2f s, %.0f MiB\n", b.featWall[i], b.featRSS[i])
	}
	if b.pandas == "" {
		return
	}
	m, err = runMeasured(b.ctx, nil, c.python, b.pandas, c.data, c.cutoff, fmt.Sprint(c.horizon))
	if err == nil {
		_, err = parsePandas(m.Out)
	}
	if err != nil {
		b.fail("pandas_features.py", err)
		return
	}
	b.pdWall[i], b.pdRSS[i] = m.Wall.Seconds(), float64(m.MaxRSS)/(1<<20)
	fmt.Fprintf(b.log, "  pandas_features.py: %.2f s, %.0f MiB\n", b.pdWall[i], b.pdRSS[i])
}

// training measures one ZILN epoch: nn's benchmark at 1 and all cores and
// the PyTorch peer (1 thread, also its single-row inference).
func (b *bench) training(i int) {
	m, err := runMeasured(b.ctx, nil, b.nnTest, "-test.run", "^$", "-test.bench", "^BenchmarkTrainEpoch$/^ziln$",
		"-test.benchtime", "10x", "-test.cpu", fmt.Sprintf("1,%d", b.procs))
	if err == nil {
		var res []benchResult
		res, err = parseGoBench(bytes.NewReader(m.Out))
		if err == nil {
			b.train1[i], err = findBench(res, "BenchmarkTrainEpoch/ziln", 1, "examples/s")
		}
		if err == nil && b.procs > 1 {
			b.trainAll[i], err = findBench(res, "BenchmarkTrainEpoch/ziln", b.procs, "examples/s")
		}
	}
	if err != nil {
		b.fail("nn BenchmarkTrainEpoch/ziln", err)
	} else {
		fmt.Fprintf(b.log, "  nn TrainEpoch/ziln: %.0f examples/s (1 proc), %.0f (%d procs)\n", b.train1[i], b.trainAll[i], b.procs)
	}
	if b.torch == "" {
		return
	}
	m, err = runMeasured(b.ctx, nil, b.c.python, b.torch, "18856", "9", "6", "256", "1")
	if err == nil {
		b.torchTrain[i], b.torchB1[i], err = parseTorch(m.Out, 1)
	}
	if err != nil {
		b.fail("torch_ziln.py", err)
		return
	}
	fmt.Fprintf(b.log, "  torch_ziln.py: %.0f examples/s, single row %.1f µs/call\n", b.torchTrain[i], b.torchB1[i])
}

// scoring measures single-row p50 of the production ZILN and seq models.
func (b *bench) scoring(i int) {
	m, err := runMeasured(b.ctx, nil, b.ortTest, "-test.run", "^$", "-test.bench", "^BenchmarkProd(Seq)?PredictBatch1$")
	if err == nil {
		var res []benchResult
		res, err = parseGoBench(bytes.NewReader(m.Out))
		if err == nil {
			b.p50[i], err = findBench(res, "BenchmarkProdPredictBatch1", 0, "p50-µs")
		}
		if err == nil {
			b.seqP50[i], err = findBench(res, "BenchmarkProdSeqPredictBatch1", 0, "p50-µs")
		}
	}
	if err != nil {
		b.fail("onnxrt BenchmarkProd*PredictBatch1", err)
		return
	}
	fmt.Fprintf(b.log, "  onnxrt single row p50: ziln %.2f µs, seq %.2f µs\n", b.p50[i], b.seqP50[i])
}

// rows are the table's rows with their targets.
func (b *bench) rows() []row {
	pdName := "pandas_features.py"
	tName := "torch_ziln.py, 1 thread"
	who := countName(b.c.customers) + " customers"
	rows := []row{
		{Work: "read + clean + featurize, " + who + ": wall (whole process)", Unit: "s", Digits: 2, Better: lowerBetter,
			Go: b.featWall, Peer: b.pdWall, PeerName: pdName, PeerSkip: b.pandasSkip,
			Target: "≥ 10× pandas", Met: atLeastRatio(10), NeedsPeer: true},
		{Work: "read + clean + featurize, " + who + ": peak RSS", Unit: "MiB", Digits: 0, Better: lowerBetter,
			Go: b.featRSS, Peer: b.pdRSS, PeerName: pdName, PeerSkip: b.pandasSkip,
			Target: "≤ 400 MB (381 MiB)", Met: atMost(400e6 / (1 << 20))},
		{Work: "ZILN training 9→64→32→3, batch 256, one epoch (GOMAXPROCS 1)", Unit: "examples/s", Digits: 0, Better: higherBetter,
			Go: b.train1, Peer: b.torchTrain, PeerName: tName, PeerSkip: b.torchSkip,
			Target: "≥ 1.0× PyTorch", Met: atLeastRatio(1), NeedsPeer: true},
	}
	if b.procs > 1 {
		rows = append(rows, row{Work: fmt.Sprintf("ZILN training, same, GOMAXPROCS %d", b.procs), Unit: "examples/s", Digits: 0, Better: higherBetter,
			Go: b.trainAll, Peer: b.torchTrain, PeerName: tName, PeerSkip: b.torchSkip})
	}
	return append(rows,
		row{Work: "single-row scoring in process, production ZILN model (3 members): p50", Unit: "µs", Digits: 2, Better: lowerBetter,
			Go: b.p50, Peer: b.torchB1, PeerName: "torch single-row mean µs/call, 1 member", PeerSkip: b.torchSkip,
			Target: "≤ 10 µs", Met: atMost(10)},
		row{Work: "single-row scoring in process, production sequence model: p50", Unit: "µs", Digits: 2, Better: lowerBetter,
			Go: b.seqP50, Target: "≤ 10 µs", Met: atMost(10)},
	)
}
