package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// benchResult is one result line of `go test -bench` output, e.g.
//
//	BenchmarkTrainEpoch/ziln-2   3   24215972 ns/op   778703 examples/s
type benchResult struct {
	Name    string // without the -GOMAXPROCS suffix: BenchmarkTrainEpoch/ziln
	Procs   int    // the -N suffix; 1 when absent (GOMAXPROCS 1 prints none)
	N       int    // iterations
	Metrics map[string]float64
}

// parseGoBench returns the result lines of go test -bench output in order;
// everything else (goos:, PASS, log lines, --- BENCH blocks) is skipped.
func parseGoBench(r io.Reader) ([]benchResult, error) {
	var out []benchResult
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if b, ok := parseBenchLine(sc.Text()); ok {
			out = append(out, b)
		}
	}
	return out, sc.Err()
}

// parseBenchLine parses one result line: the name, the iteration count,
// then value-unit pairs. Lines that do not have that form return false.
func parseBenchLine(line string) (benchResult, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
		return benchResult{}, false
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return benchResult{}, false
	}
	b := benchResult{Name: f[0], Procs: 1, N: n, Metrics: map[string]float64{}}
	if i := strings.LastIndexByte(f[0], '-'); i > 0 {
		if p, err := strconv.Atoi(f[0][i+1:]); err == nil {
			b.Name, b.Procs = f[0][:i], p
		}
	}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchResult{}, false
		}
		b.Metrics[f[i+1]] = v
	}
	return b, true
}

// findBench returns the metric unit of the result named name with procs
// (0: any procs).
func findBench(results []benchResult, name string, procs int, unit string) (float64, error) {
	for _, b := range results {
		if b.Name == name && (procs == 0 || b.Procs == procs) {
			v, ok := b.Metrics[unit]
			if !ok {
				return 0, fmt.Errorf("%s: no %q metric", name, unit)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("no result line for %s (procs %d)", name, procs)
}

// pandasResult is the part of pandas_features.py's JSON line the table uses.
type pandasResult struct {
	Script    string  `json:"script"`
	RowsIn    int     `json:"rows_in"`
	Customers int     `json:"customers"`
	TotalS    float64 `json:"total_s"`
	PeakRSSMB float64 `json:"peak_rss_mb"`
}

// torchResult is the part of torch_ziln.py's JSON line the table uses.
type torchResult struct {
	Script  string `json:"script"`
	Torch   string `json:"torch"`
	Results []struct {
		Threads          int     `json:"threads"`
		TrainExamplesPS  float64 `json:"train_examples_per_s"`
		InferB1USPerCall float64 `json:"infer_b1_us_per_call"`
	} `json:"results"`
}

// lastJSONLine decodes the last line of out that starts with '{' into v
// (the peers print one JSON line; anything before it is noise).
func lastJSONLine(out []byte, v any) error {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "{") {
			return json.Unmarshal([]byte(l), v)
		}
	}
	return fmt.Errorf("no JSON line in output %q", tail(string(out), 300))
}

func parsePandas(out []byte) (pandasResult, error) {
	var p pandasResult
	if err := lastJSONLine(out, &p); err != nil {
		return p, err
	}
	if p.Script != "pandas_features" || p.TotalS <= 0 {
		return p, fmt.Errorf("not a pandas_features result: %+v", p)
	}
	return p, nil
}

// parseTorch returns the result for threads threads.
func parseTorch(out []byte, threads int) (trainPerS, b1US float64, err error) {
	var t torchResult
	if err := lastJSONLine(out, &t); err != nil {
		return 0, 0, err
	}
	if t.Script != "torch_ziln" {
		return 0, 0, fmt.Errorf("not a torch_ziln result")
	}
	for _, r := range t.Results {
		if r.Threads == threads {
			return r.TrainExamplesPS, r.InferB1USPerCall, nil
		}
	}
	return 0, 0, fmt.Errorf("torch_ziln: no result for %d threads", threads)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
