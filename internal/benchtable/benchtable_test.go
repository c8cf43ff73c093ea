package main

import (
	"bytes"
	"math"
	"os"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseGoBenchFixtures: the result lines of real go test -bench output
// (captured from the nn and onnxrt test binaries) parse into names without
// the procs suffix, procs, iterations and every metric; header and PASS
// lines are skipped.
func TestParseGoBenchFixtures(t *testing.T) {
	res, err := parseGoBench(bytes.NewReader(readFixture(t, "nn_bench.txt")))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Name != "BenchmarkTrainEpoch/ziln" || res[0].Procs != 2 || res[0].N != 3 {
		t.Fatalf("nn: %+v", res)
	}
	if v, err := findBench(res, "BenchmarkTrainEpoch/ziln", 2, "examples/s"); err != nil || v != 778703 {
		t.Fatalf("examples/s = %v, %v", v, err)
	}
	if _, err := findBench(res, "BenchmarkTrainEpoch/ziln", 1, "examples/s"); err == nil {
		t.Fatal("found a procs-1 line that is not there")
	}

	res, err = parseGoBench(bytes.NewReader(readFixture(t, "onnxrt_bench.txt")))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("onnxrt: %d results, want 2: %+v", len(res), res)
	}
	want := map[string]float64{"BenchmarkProdPredictBatch1": 3.028, "BenchmarkProdSeqPredictBatch1": 7.156}
	for name, p50 := range want {
		if v, err := findBench(res, name, 0, "p50-µs"); err != nil || v != p50 {
			t.Errorf("%s p50 = %v, %v; want %v", name, v, err, p50)
		}
	}
	if v := res[0].Metrics["allocs/op"]; v != 1 {
		t.Errorf("allocs/op = %v", v)
	}
	if _, err := findBench(res, "BenchmarkProdPredictBatch1", 0, "p90-µs"); err == nil {
		t.Error("a missing metric was found")
	}
}

// TestParseBenchLine: GOMAXPROCS 1 lines carry no suffix, names with
// dashes keep them, and lines that only look like results are skipped.
func TestParseBenchLine(t *testing.T) {
	b, ok := parseBenchLine("BenchmarkTrainEpoch/ziln   \t 10\t 24215972 ns/op\t 778703 examples/s")
	if !ok || b.Name != "BenchmarkTrainEpoch/ziln" || b.Procs != 1 || b.N != 10 || b.Metrics["examples/s"] != 778703 {
		t.Fatalf("%+v %v", b, ok)
	}
	b, ok = parseBenchLine("BenchmarkFoo/a-b-16 100 5 ns/op")
	if !ok || b.Name != "BenchmarkFoo/a-b" || b.Procs != 16 {
		t.Fatalf("%+v %v", b, ok)
	}
	for _, l := range []string{
		"--- BENCH: BenchmarkProdSeqPredictBatch1-2",
		"    prod_bench_test.go:104: one-row path: onnxruntime",
		"BenchmarkX-2 skipped",
		"BenchmarkX-2 12 3.0",
		"BenchmarkX-2 12 abc ns/op",
		"PASS",
		"ok  \tgithub.com/clvflow/clvflow/nn\t1.2s",
	} {
		if b, ok := parseBenchLine(l); ok {
			t.Errorf("%q parsed as %+v", l, b)
		}
	}
}

// TestParsePeers: the peers' JSON lines (captured real outputs) give the
// pandas total and the torch 1-thread training rate and single-row time;
// output without a JSON line or of the wrong script is an error.
func TestParsePeers(t *testing.T) {
	p, err := parsePandas(readFixture(t, "pandas_features.json"))
	if err != nil || p.TotalS != 10.325 || p.RowsIn != 7458806 || p.Customers != 1000000 {
		t.Fatalf("pandas %+v, %v", p, err)
	}
	train, b1, err := parseTorch(append([]byte("some warning\n"), readFixture(t, "torch_ziln.json")...), 1)
	if err != nil || train != 190162 || b1 != 67.2 {
		t.Fatalf("torch %v %v %v", train, b1, err)
	}
	if _, _, err := parseTorch(readFixture(t, "torch_ziln.json"), 2); err == nil {
		t.Error("found a 2-thread torch result that is not there")
	}
	if _, err := parsePandas(readFixture(t, "torch_ziln.json")); err == nil {
		t.Error("torch output accepted as pandas")
	}
	if _, err := parsePandas([]byte("Traceback (most recent call last):\n  ImportError")); err == nil {
		t.Error("no JSON line accepted")
	}
}

// TestMedianAndRatio: medians skip failed runs (NaN), the ratio is
// clvflow's advantage in both directions, and a skipped peer has none.
func TestMedianAndRatio(t *testing.T) {
	nan := math.NaN()
	if m := (samples{3, 1, 2}).median(); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := (samples{4, nan, 1, 2}).median(); m != 2 {
		t.Errorf("median with a failed run = %v", m)
	}
	if m := (samples{nan}).median(); !math.IsNaN(m) {
		t.Errorf("median of nothing = %v", m)
	}
	time := row{Better: lowerBetter, Go: samples{1, 1, 1}, Peer: samples{10, 12, 11}, PeerName: "p"}
	if r := time.ratio(); r != 11 {
		t.Errorf("time ratio = %v, want 11", r)
	}
	rate := row{Better: higherBetter, Go: samples{300}, Peer: samples{200}, PeerName: "p"}
	if r := rate.ratio(); r != 1.5 {
		t.Errorf("rate ratio = %v, want 1.5", r)
	}
	rate.PeerSkip = "no torch"
	if r := rate.ratio(); !math.IsNaN(r) {
		t.Errorf("ratio with a skipped peer = %v", r)
	}
}

// TestRender: the markdown table has the header, one line per row with
// the medians, the ratio, the target and yes/**no**, the skip message in
// the peer cell, and the per-run samples.
func TestRender(t *testing.T) {
	rows := []row{
		{Work: "featurize wall", Unit: "s", Digits: 2, Better: lowerBetter, Go: samples{2, 1, 3}, Peer: samples{10, 11, 12},
			PeerName: "pandas", Target: "≥ 10× pandas", Met: atLeastRatio(10)},
		{Work: "peak RSS", Unit: "MiB", Better: lowerBetter, Go: samples{500, 510, 490}, PeerSkip: "/usr/bin/python3 cannot import pandas",
			PeerName: "pandas", Target: "≤ 400 MB", Met: atMost(381)},
		{Work: "seq p50", Unit: "µs", Digits: 2, Better: lowerBetter, Go: samples{7, nan(), 8}, Target: "≤ 10 µs", Met: atMost(10)},
		{Work: "training", Unit: "examples/s", Better: higherBetter, Go: samples{5}, PeerName: "torch", PeerSkip: "no torch",
			Target: "≥ 1.0× PyTorch", Met: atLeastRatio(1), NeedsPeer: true},
	}
	var b strings.Builder
	render(&b, rows)
	out := b.String()
	for _, want := range []string{
		"| work | clvflow | peer in the same run | ratio (clvflow advantage) | target | met |",
		"| featurize wall | 2.00 s | 11.00 s (pandas) | 5.50× | ≥ 10× pandas | **no** |",
		"| peak RSS | 500 MiB | skipped: /usr/bin/python3 cannot import pandas | — | ≤ 400 MB | **no** |",
		"| seq p50 | 7.50 µs | — | — | ≤ 10 µs | yes |",
		"| training | 5 examples/s | skipped: no torch | — | ≥ 1.0× PyTorch | n/a (no peer) |",
		"- featurize wall: clvflow [2.00, 1.00, 3.00], peer [10.00, 11.00, 12.00]",
		"- seq p50: clvflow [7.00, n/a, 8.00]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func nan() float64 { return math.NaN() }
