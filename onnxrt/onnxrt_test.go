package onnxrt_test

import (
	"encoding/csv"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/clvflow/clvflow/modelfile"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

func TestFindLibrary(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libonnxruntime.so.1.24.1")
	if err := os.WriteFile(lib, []byte("not really a library"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope.so")
	tests := []struct {
		name      string
		explicit  string
		env       string
		want      string
		wantTried string // substring of an entry of LibraryNotFoundError.Tried
	}{
		{name: "explicit path wins", explicit: lib, env: missing, want: lib},
		{name: "explicit path missing is an error", explicit: missing, env: lib, wantTried: missing + " (onnx.library_path"},
		{name: "env path", env: lib, want: lib},
		{name: "env path missing is an error", env: missing, wantTried: missing + " (" + onnxrt.EnvLibraryPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(onnxrt.EnvLibraryPath, tt.env)
			got, err := onnxrt.FindLibrary(tt.explicit)
			if tt.wantTried != "" {
				var nf *onnxrt.LibraryNotFoundError
				if !errors.As(err, &nf) {
					t.Fatalf("FindLibrary = %q, %v; want *LibraryNotFoundError", got, err)
				}
				if !slices.ContainsFunc(nf.Tried, func(s string) bool { return strings.Contains(s, tt.wantTried) }) {
					t.Fatalf("Tried %q lacks %q", nf.Tried, tt.wantTried)
				}
				if !strings.Contains(err.Error(), "clvflow dev up") || !strings.Contains(err.Error(), "onnx.library_path") {
					t.Fatalf("error does not say how to fix: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("FindLibrary = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestFindLibraryRepoSearch(t *testing.T) {
	t.Setenv(onnxrt.EnvLibraryPath, "")
	repo := t.TempDir()
	libDir := filepath.Join(repo, ".tools", "lib")
	if err := os.MkdirAll(libDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", ".tools/lib/libonnxruntime.so.1", ".tools/lib/libonnxruntime.so.1.24.1", ".tools/lib/libonnxruntime.so.1.9.0"} {
		if err := os.WriteFile(filepath.Join(repo, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sub := filepath.Join(repo, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	got, err := onnxrt.FindLibrary("")
	if want := filepath.Join(libDir, "libonnxruntime.so.1.24.1"); err != nil || got != want {
		t.Fatalf("FindLibrary from %s = %q, %v; want %q", sub, got, err, want)
	}

	// Without go.mod above the working dir the search goes on next to the
	// executable; the go test binary lives outside any repository.
	t.Chdir(t.TempDir())
	got, err = onnxrt.FindLibrary("")
	var nf *onnxrt.LibraryNotFoundError
	if !errors.As(err, &nf) {
		t.Skipf("test binary sits in a tree with a library (%q); cannot test the not-found path", got)
	}
	if !slices.ContainsFunc(nf.Tried, func(s string) bool { return strings.HasPrefix(s, "go.mod above") }) ||
		!slices.ContainsFunc(nf.Tried, func(s string) bool { return strings.HasSuffix(s, "libonnxruntime.so* (no match)") }) {
		t.Fatalf("Tried should list the repo search and the executable dir: %q", nf.Tried)
	}
}

func TestInitOptionsConflict(t *testing.T) {
	onnxrttest.RequireORT(t)
	info, err := onnxrt.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.IntraOpThreads != 1 || info.Version == "" || info.LibraryPath == "" {
		t.Fatalf("Info = %+v; want 1 thread, a version and a path", info)
	}
	tests := []struct {
		name    string
		opts    onnxrt.Options
		wantErr string
	}{
		{name: "same options", opts: onnxrt.Options{IntraOpThreads: 1}},
		{name: "same library", opts: onnxrt.Options{LibraryPath: info.LibraryPath}},
		{name: "other thread count", opts: onnxrt.Options{IntraOpThreads: 3}, wantErr: "already initialised with 1 intra-op threads"},
		{name: "other library", opts: onnxrt.Options{LibraryPath: "/elsewhere/libonnxruntime.so"}, wantErr: "cannot switch to /elsewhere"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := onnxrt.Init(tt.opts)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Init(%+v) = %v", tt.opts, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Init(%+v) = %v; want error containing %q", tt.opts, err, tt.wantErr)
			}
		})
	}
}

func TestLoadIntegrity(t *testing.T) {
	tm := build(t, onnxrttest.Spec{Version: "v7"})
	other := onnxrt.SHA256Hex([]byte("something else"))
	tests := []struct {
		name     string
		expected string
	}{
		{name: "wrong sha", expected: other},
		{name: "empty sha", expected: ""},
		{name: "truncated sha", expected: tm.SHA256[:32]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := onnxrt.Load("v7", tm.Bytes, tt.expected)
			var ie *onnxrt.IntegrityError
			if !errors.As(err, &ie) {
				t.Fatalf("Load = %v, %v; want *IntegrityError", m, err)
			}
			if ie.Version != "v7" || ie.Expected != tt.expected || ie.Actual != tm.SHA256 {
				t.Fatalf("IntegrityError = %+v", ie)
			}
		})
	}
	t.Run("corrupted bytes", func(t *testing.T) {
		bad := slices.Clone(tm.Bytes)
		bad[len(bad)/2] ^= 0xff
		_, err := onnxrt.Load("v7", bad, tm.SHA256)
		var ie *onnxrt.IntegrityError
		if !errors.As(err, &ie) || ie.Actual == tm.SHA256 {
			t.Fatalf("Load(corrupted) = %v; want *IntegrityError", err)
		}
	})
}

func TestReadMetadata(t *testing.T) {
	okSeq := build(t, onnxrttest.Spec{Kind: modelkind.Seq, Weeks: 12, Version: "s1", ValueCap: 1234.5})
	seqSchema := `{"tabular_input":"features","tabular_columns":["x","t_x","T","recency","cal_spend","mbar","first_value"],"sequence_input":"sequence","sequence_channels":["spend","purchase_days"],"sequence_weeks":12,"outputs":["expected_value","purchase_probability","mu","sigma"]}`
	tests := []struct {
		name    string
		bytes   []byte
		wantKey string // SchemaError.Key; "" = success
	}{
		{name: "ziln", bytes: build(t, onnxrttest.Spec{}).Bytes},
		{name: "seq", bytes: okSeq.Bytes},
		{name: "bad kind", bytes: build(t, onnxrttest.Spec{Props: map[string]string{onnxrt.MetaModelKind: "gbm"}}).Bytes, wantKey: onnxrt.MetaModelKind},
		{name: "missing cap", bytes: build(t, onnxrttest.Spec{Props: map[string]string{onnxrt.MetaValueCap: ""}}).Bytes, wantKey: onnxrt.MetaValueCap},
		{name: "cap not a number", bytes: build(t, onnxrttest.Spec{Props: map[string]string{onnxrt.MetaValueCap: "lots"}}).Bytes, wantKey: onnxrt.MetaValueCap},
		{name: "missing schema", bytes: build(t, onnxrttest.Spec{Props: map[string]string{onnxrt.MetaFeatureSchema: ""}}).Bytes, wantKey: onnxrt.MetaFeatureSchema},
		{name: "schema not JSON", bytes: build(t, onnxrttest.Spec{Props: map[string]string{onnxrt.MetaFeatureSchema: "{"}}).Bytes, wantKey: onnxrt.MetaFeatureSchema},
		{name: "columns reordered", bytes: build(t, onnxrttest.Spec{Props: map[string]string{onnxrt.MetaFeatureSchema: strings.Replace(seqSchema, `"x","t_x"`, `"t_x","x"`, 1)}}).Bytes, wantKey: onnxrt.MetaFeatureSchema + ".tabular_columns"},
		{name: "seq schema on ziln kind", bytes: build(t, onnxrttest.Spec{Props: map[string]string{onnxrt.MetaFeatureSchema: seqSchema}}).Bytes, wantKey: onnxrt.MetaFeatureSchema + ".sequence_input"},
		{name: "seq schema on a graph without sequence input", bytes: build(t, onnxrttest.Spec{Props: map[string]string{onnxrt.MetaModelKind: string(modelkind.Seq), onnxrt.MetaFeatureSchema: seqSchema}}).Bytes, wantKey: "graph.input"},
		{name: "weeks disagree with graph", bytes: build(t, onnxrttest.Spec{Kind: modelkind.Seq, Weeks: 8, Props: map[string]string{onnxrt.MetaFeatureSchema: seqSchema}}).Bytes, wantKey: "graph.input.sequence"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md, err := onnxrt.ReadMetadata(tt.bytes)
			if tt.wantKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se *onnxrt.SchemaError
			if !errors.As(err, &se) || se.Key != tt.wantKey {
				t.Fatalf("ReadMetadata = %+v, %v; want SchemaError at %s", md, err, tt.wantKey)
			}
		})
	}
	md, err := onnxrt.ReadMetadata(okSeq.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if md.Kind != modelkind.Seq || md.Version != "s1" || md.ValueCap != 1234.5 || md.Schema.SequenceWeeks != 12 || md.Schema.SequenceLen() != 24 {
		t.Fatalf("metadata = %+v", md)
	}
	if _, err := onnxrt.ReadMetadata([]byte("definitely not protobuf \xff\xff")); err == nil {
		t.Fatal("ReadMetadata(garbage) succeeded")
	}
}

// TestReadMetadataDatasets: both dataset hashes are read; a file written
// before they were named carries the raw one under the legacy key.
func TestReadMetadataDatasets(t *testing.T) {
	raw, clean := strings.Repeat("1", 64), strings.Repeat("2", 64)
	for _, tt := range []struct {
		name             string
		props            map[string]string
		wantRaw, wantCln string
	}{
		{"both", map[string]string{modelfile.MetaRawDatasetSHA256: raw, modelfile.MetaCleanDatasetSHA256: clean}, raw, clean},
		{"legacy", map[string]string{modelfile.MetaRawDatasetSHA256: "", modelfile.MetaCleanDatasetSHA256: "", modelfile.MetaLegacyDatasetSHA256: raw}, raw, ""},
		{"none", map[string]string{modelfile.MetaRawDatasetSHA256: "", modelfile.MetaCleanDatasetSHA256: ""}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			md, err := onnxrt.ReadMetadata(build(t, onnxrttest.Spec{Props: tt.props}).Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if md.RawDatasetSHA256 != tt.wantRaw || md.CleanDatasetSHA256 != tt.wantCln {
				t.Errorf("raw %q clean %q, want %q %q", md.RawDatasetSHA256, md.CleanDatasetSHA256, tt.wantRaw, tt.wantCln)
			}
		})
	}
}

func TestEdgeRows(t *testing.T) {
	for _, tt := range []struct {
		name  string
		spec  onnxrttest.Spec
		weeks int
	}{
		{name: "ziln", spec: onnxrttest.Spec{}},
		{name: "seq 52", spec: onnxrttest.Spec{Kind: modelkind.Seq}, weeks: 52},
		{name: "seq 1", spec: onnxrttest.Spec{Kind: modelkind.Seq, Weeks: 1}, weeks: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, s := onnxrt.EdgeRows(tt.spec.Schema())
			if len(f) != len(onnxrt.EdgeRowNames) {
				t.Fatalf("%d rows for %d names", len(f), len(onnxrt.EdgeRowNames))
			}
			for i, r := range f {
				if len(r) != len(onnxrt.TabularColumns) {
					t.Fatalf("row %d: %d features", i, len(r))
				}
				if d := math.Abs(float64(r[2] - r[1] - r[3])); d > 1e-3 {
					t.Errorf("row %d (%s): recency %v != T−t_x (%v−%v)", i, onnxrt.EdgeRowNames[i], r[3], r[2], r[1])
				}
			}
			if tt.weeks == 0 {
				if s != nil {
					t.Fatalf("seq = %d rows for a model without sequence", len(s))
				}
				return
			}
			if len(s) != len(f) {
				t.Fatalf("%d seq rows for %d feature rows", len(s), len(f))
			}
			for i, r := range s {
				if len(r) != 2*tt.weeks {
					t.Fatalf("seq row %d has %d values, want %d", i, len(r), 2*tt.weeks)
				}
			}
			if s[1][tt.weeks-1] != 25 || s[1][2*tt.weeks-1] != 1 {
				t.Fatalf("brand-new customer should buy 25 in the last week: %v", s[1])
			}
		})
	}
}

func TestPredictMatchesReference(t *testing.T) {
	tests := []struct {
		name string
		spec onnxrttest.Spec
		rows int
	}{
		{name: "ziln batch 1", spec: onnxrttest.Spec{Seed: 1}, rows: 1},
		{name: "ziln batch 1024", spec: onnxrttest.Spec{Seed: 2}, rows: 1024},
		{name: "seq batch 3", spec: onnxrttest.Spec{Kind: modelkind.Seq, Seed: 3, Weeks: 8}, rows: 3},
		{name: "seq batch 500", spec: onnxrttest.Spec{Kind: modelkind.Seq, Seed: 4}, rows: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm, m := load(t, tt.spec)
			weeks := 0
			if m.Schema().HasSequence() {
				weeks = m.Schema().SequenceWeeks
			}
			f, s := onnxrttest.Rows(tt.rows, tt.spec.Seed, weeks)
			ef, es := onnxrt.EdgeRows(m.Schema())
			f, s = append(f, ef...), append(s, es...)
			rep, err := onnxrt.Parity(tm.Reference, m, f, s, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !rep.Passed || rep.Rows != len(f) || rep.Tol != onnxrt.DefaultParityTol || len(rep.Outputs) != 4 {
				t.Fatalf("report = %+v", rep)
			}
			for _, d := range rep.Outputs {
				t.Logf("%s: max|Δ| %.3g (row %d), worst ratio %.3g", d.Name, d.MaxAbsDiff, d.MaxAbsRow, d.WorstRatio)
				if d.WorstRatio > 0.1 {
					t.Errorf("%s uses %.0f%% of its tolerance; the test model should agree far better", d.Name, 100*d.WorstRatio)
				}
			}
			out, err := m.Predict(f, s)
			if err != nil {
				t.Fatal(err)
			}
			varied := false
			for i := range out.Len() {
				if out.Expected[i] < 0 || float64(out.Expected[i]) > float64(tm.Spec.ValueCap)+1e-3 || out.Prob[i] <= 0 || out.Prob[i] >= 1 || out.Sigma[i] <= 0 {
					t.Fatalf("row %d out of range: ev %v p %v sigma %v", i, out.Expected[i], out.Prob[i], out.Sigma[i])
				}
				varied = varied || out.Mu[i] != out.Mu[0]
			}
			if !varied {
				t.Fatal("every row has the same mu: the inputs do not reach the graph")
			}
		})
	}
}

func TestPredictInputErrors(t *testing.T) {
	_, ziln := load(t, onnxrttest.Spec{})
	_, seq := load(t, onnxrttest.Spec{Kind: modelkind.Seq, Weeks: 4})
	row := []float32{1, 2, 3, 1, 50, 20, 30}
	seqRow := make([]float32, 8)
	tests := []struct {
		name    string
		m       *onnxrt.Model
		f, s    [][]float32
		wantIn  string
		wantRow int
	}{
		{name: "short feature row", m: ziln, f: [][]float32{row, row[:6]}, wantIn: "features", wantRow: 1},
		{name: "sequence for ziln", m: ziln, f: [][]float32{row}, s: [][]float32{seqRow}, wantIn: "sequence", wantRow: -1},
		{name: "missing sequence", m: seq, f: [][]float32{row}, wantIn: "sequence", wantRow: -1},
		{name: "sequence too long", m: seq, f: [][]float32{row, row}, s: [][]float32{seqRow, append(seqRow, 1)}, wantIn: "sequence", wantRow: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.m.Predict(tt.f, tt.s)
			var ie *onnxrt.InputError
			if !errors.As(err, &ie) || ie.Input != tt.wantIn || ie.Row != tt.wantRow {
				t.Fatalf("Predict = %v; want InputError{%s row %d}", err, tt.wantIn, tt.wantRow)
			}
		})
	}
	out, err := ziln.Predict(nil, nil)
	if err != nil || out.Len() != 0 {
		t.Fatalf("empty batch = %+v, %v", out, err)
	}
}

// perturb wraps a reference so that one output of one row is shifted.
func perturb(ref func(f, s [][]float32) (onnxrt.Outputs, error), output string, row int, delta float32) func(f, s [][]float32) (onnxrt.Outputs, error) {
	return func(f, s [][]float32) (onnxrt.Outputs, error) {
		out, err := ref(f, s)
		if err != nil {
			return out, err
		}
		target := map[string][]float32{onnxrt.OutputExpectedValue: out.Expected, onnxrt.OutputPurchaseProb: out.Prob, onnxrt.OutputMu: out.Mu, onnxrt.OutputSigma: out.Sigma}[output]
		if math.IsNaN(float64(delta)) {
			target[row] = delta
		} else {
			target[row] += delta
		}
		return out, nil
	}
}

func TestParityDetectsMismatch(t *testing.T) {
	tm, m := load(t, onnxrttest.Spec{Seed: 11, ValueCap: 1e6})
	f, _ := onnxrttest.Rows(64, 11, 0)
	ref, err := tm.Reference(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := 0 // row with the largest expected value
	for i, v := range ref.Expected {
		if v > ref.Expected[big] {
			big = i
		}
	}
	bigV := ref.Expected[big]
	if bigV < 20 { // the relative rule must make a difference: 5e-5·v > 1e-4
		t.Fatalf("test needs an expected value ≥ 20, largest is %v", bigV)
	}
	tests := []struct {
		name    string
		output  string
		row     int
		delta   float32
		wantErr bool
	}{
		{name: "mu off by 1e-3", output: onnxrt.OutputMu, row: 5, delta: 1e-3, wantErr: true},
		{name: "probability off by 2e-4", output: onnxrt.OutputPurchaseProb, row: 9, delta: 2e-4, wantErr: true},
		{name: "sigma NaN", output: onnxrt.OutputSigma, row: 3, delta: float32(math.NaN()), wantErr: true},
		{name: "expected value within relative allowance", output: onnxrt.OutputExpectedValue, row: big, delta: bigV * 5e-5},
		{name: "expected value beyond relative allowance", output: onnxrt.OutputExpectedValue, row: big, delta: bigV * 3e-4, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := onnxrt.Parity(perturb(tm.Reference, tt.output, tt.row, tt.delta), m, f, nil, 1e-4)
			if !tt.wantErr {
				if err != nil || !rep.Passed {
					t.Fatalf("Parity = %+v, %v; want pass", rep, err)
				}
				return
			}
			var pe *onnxrt.ParityError
			if !errors.As(err, &pe) {
				t.Fatalf("Parity error = %v; want *ParityError", err)
			}
			if rep.Passed || pe.Output != tt.output || pe.Row != tt.row || !slices.Equal(pe.Features, f[tt.row]) {
				t.Fatalf("ParityError = %+v (report passed=%v); want output %s row %d", pe, rep.Passed, tt.output, tt.row)
			}
			if !strings.Contains(err.Error(), "row "+strconv.Itoa(tt.row)) {
				t.Fatalf("error does not name the row: %v", err)
			}
		})
	}
}

func TestCache(t *testing.T) {
	onnxrttest.RequireORT(t)
	models := map[string]*onnxrttest.Model{}
	for i, v := range []string{"v1", "v2", "v3"} {
		models[v] = build(t, onnxrttest.Spec{Version: v, Seed: uint64(i)})
	}
	fetches := map[string]int{}
	var mu sync.Mutex
	fetch := func(v string) func() ([]byte, error) {
		return func() ([]byte, error) {
			mu.Lock()
			defer mu.Unlock()
			fetches[v]++
			return models[v].Bytes, nil
		}
	}
	c := onnxrt.NewCache(1)
	acquire := func(v string) *onnxrt.Model {
		t.Helper()
		m, err := c.Acquire(v, models[v].SHA256, fetch(v))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a1 := acquire("v1")
	a1b := acquire("v1")
	if a1 != a1b || fetches["v1"] != 1 {
		t.Fatalf("second Acquire of v1 should reuse the session (same=%v, fetches=%d)", a1 == a1b, fetches["v1"])
	}
	a2 := acquire("v2")
	for _, m := range []*onnxrt.Model{a1, a1b, a2} {
		if err := c.Release(m); err != nil {
			t.Fatal(err)
		}
	}
	if !a1.Closed() || a2.Closed() || c.Len() != 1 {
		t.Fatalf("capacity 1 should keep only the most recently released v2 (v1 closed=%v, v2 closed=%v, len=%d)", a1.Closed(), a2.Closed(), c.Len())
	}
	if _, err := a1.Predict([][]float32{{1, 1, 1, 0, 1, 1, 1}}, nil); !errors.Is(err, onnxrt.ErrModelClosed) {
		t.Fatalf("Predict on evicted model = %v; want ErrModelClosed", err)
	}
	if err := c.Release(a1); err == nil {
		t.Fatal("releasing an evicted model should fail")
	}
	again := acquire("v2")
	if again != a2 || fetches["v2"] != 1 {
		t.Fatal("v2 should come from the cache")
	}

	// Failures are not cached.
	if _, err := c.Acquire("v3", models["v1"].SHA256, fetch("v3")); err == nil {
		t.Fatal("Acquire with the wrong sha256 succeeded")
	} else if ie := new(onnxrt.IntegrityError); !errors.As(err, &ie) {
		t.Fatalf("Acquire with the wrong sha256 = %v; want *IntegrityError", err)
	}
	boom := errors.New("object store down")
	if _, err := c.Acquire("v3", models["v3"].SHA256, func() ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("fetch error = %v; want it wrapped", err)
	}
	a3 := acquire("v3")
	if c.Len() != 2 {
		t.Fatalf("cache holds %d models, want 2 (v2 referenced, v3)", c.Len())
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if !a3.Closed() || !again.Closed() {
		t.Fatal("Close should close every cached model")
	}
	if _, err := c.Acquire("v1", models["v1"].SHA256, fetch("v1")); err == nil {
		t.Fatal("Acquire after Close succeeded")
	}
}

// TestConcurrentPredictAndClose: Close waits for in-flight calls; every call
// either succeeds or reports ErrModelClosed.
func TestConcurrentPredictAndClose(t *testing.T) {
	tm, m := load(t, onnxrttest.Spec{Seed: 21})
	f, _ := onnxrttest.Rows(32, 21, 0)
	want, err := tm.Reference(f, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	started := make(chan struct{})
	var once sync.Once
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for {
				out, err := m.Predict(f, nil)
				once.Do(func() { close(started) })
				if errors.Is(err, onnxrt.ErrModelClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				if math.Abs(float64(out.Mu[0]-want.Mu[0])) > 1e-4 {
					errs <- errors.New("wrong prediction during concurrent use")
					return
				}
			}
		})
	}
	<-started
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestWarm(t *testing.T) {
	_, m := load(t, onnxrttest.Spec{Kind: modelkind.Seq, Seed: 5})
	if err := m.Warm(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := m.Warm(); !errors.Is(err, onnxrt.ErrModelClosed) {
		t.Fatalf("Warm on closed model = %v", err)
	}
}

// TestParityOnCDNOWSample runs the parity rule on the real CDNOW sample
// customers (featurised per the contract) plus the edge rows.
func TestParityOnCDNOWSample(t *testing.T) {
	dir := sharedData(t)
	const weeks = 52
	custs := readCDNOWSample(t, filepath.Join(dir, "cdnow_sample.txt"), weeks)
	checkAgainstHardie(t, filepath.Join(dir, "cdnow_customers_summary_with_transactions.csv"), custs)
	for _, spec := range []onnxrttest.Spec{{Kind: modelkind.ZILN, Seed: 31, ValueCap: 3000}, {Kind: modelkind.Seq, Seed: 32, Weeks: weeks, ValueCap: 3000}} {
		t.Run(string(spec.Kind), func(t *testing.T) {
			tm, m := load(t, spec)
			var f, s [][]float32
			for _, c := range custs {
				f = append(f, c.features)
				if m.Schema().HasSequence() {
					s = append(s, c.seq)
				}
			}
			ef, es := onnxrt.EdgeRows(m.Schema())
			f, s = append(f, ef...), append(s, es...)
			rep, err := onnxrt.Parity(tm.Reference, m, f, s, 1e-4)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range rep.Outputs {
				t.Logf("%s: max|Δ| %.3g over %d rows, worst ratio %.3g at row %d", d.Name, d.MaxAbsDiff, rep.Rows, d.WorstRatio, d.WorstRow)
			}
		})
	}
}

// checkAgainstHardie compares the featurised x, t_x, T with Hardie's summary.
func checkAgainstHardie(t *testing.T, path string, custs []cdnowCustomer) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	recs, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs)-1 != len(custs) {
		t.Fatalf("%d customers featurised, summary has %d", len(custs), len(recs)-1)
	}
	for i, rec := range recs[1:] {
		c := custs[i]
		for j, col := range []int{1, 2, 3} { // x, t_x, T
			want, err := strconv.ParseFloat(rec[col], 64)
			if err != nil {
				t.Fatalf("%s:%d: %v", path, i+2, err)
			}
			if math.Abs(float64(c.features[j])-want) > 0.006 { // summary rounds to 2 decimals
				t.Fatalf("customer %s: %s = %v, Hardie's summary says %v", c.id, onnxrt.TabularColumns[j], c.features[j], want)
			}
		}
	}
}
