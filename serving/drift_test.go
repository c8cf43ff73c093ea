package serving

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/clvflow/clvflow/features"
	clvmetrics "github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
	"github.com/clvflow/clvflow/scoring"
)

// driftColumns are the columns of every drift report.
var driftColumns = append(append([]string(nil), onnxrt.TabularColumns...), scoring.ScoreColumn)

// syntheticSet is a feature set of n customers drawn like onnxrttest.Rows.
func syntheticSet(n int, seed uint64) *features.Set {
	rows, _ := onnxrttest.Rows(n, seed, 0)
	set := &features.Set{}
	for i, r := range rows {
		set.Customers = append(set.Customers, features.Customer{ID: "r" + strconv.Itoa(i), X: int(r[0]), TX: float64(r[1]), T: float64(r[2]),
			Recency: float64(r[3]), CalSpend: float64(r[4]), MBar: float64(r[5]), FirstValue: float64(r[6])})
	}
	return set
}

// fakeEV is the expected value the pure window tests pretend a model gives.
func fakeEV(row []float32) float32 { return row[4]/2 + row[0] }

// shiftSpend multiplies cal_spend of every row by f (in place).
func shiftSpend(rows [][]float32, f float32) [][]float32 {
	for _, r := range rows {
		r[4] *= f
	}
	return rows
}

func evs(rows [][]float32) []float32 {
	out := make([]float32, len(rows))
	for i, r := range rows {
		out[i] = fakeEV(r)
	}
	return out
}

// pureReference is a reference of 3000 synthetic customers scored by fakeEV.
func pureReference(t *testing.T) scoring.DriftReference {
	t.Helper()
	set := syntheticSet(3000, 7)
	rows, _ := onnxrttest.Rows(3000, 7, 0)
	preds := make([]scoring.Prediction, len(rows))
	for i, r := range rows {
		preds[i].ExpectedValue = float64(fakeEV(r))
	}
	return scoring.NewDriftReference(set, preds)
}

// TestDriftWindowCountsExactlyTheLastN feeds batches of uneven sizes and
// checks after each that the window's counts are the histograms of exactly
// the last size customers.
func TestDriftWindowCountsExactlyTheLastN(t *testing.T) {
	ref := pureReference(t)
	const size = 250
	w, err := newDriftWindow(ref, size, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := onnxrttest.Rows(1200, 8, 0)
	var seen [][]float32
	for lo, k := 0, 1; lo < len(all); lo, k = lo+k, k*2+1 {
		batch := all[lo:min(lo+k, len(all))]
		w.observe(batch, evs(batch))
		seen = append(seen, batch...)
		last := seen[max(0, len(seen)-size):]
		if w.n != len(last) {
			t.Fatalf("after %d customers the window holds %d, want %d", len(seen), w.n, len(last))
		}
		for col, name := range driftColumns {
			vals := make([]float64, len(last))
			for i, r := range last {
				if col < len(onnxrt.TabularColumns) {
					vals[i] = float64(r[col])
				} else {
					vals[i] = float64(fakeEV(r))
				}
			}
			edges := make([]float64, len(ref.Edges[name]))
			for i, e := range ref.Edges[name] {
				edges[i] = float64(float32(e))
			}
			if want := clvmetrics.Histogram(vals, edges); !equalCounts(w.counts[col], want) {
				t.Fatalf("after %d customers column %s counts %v, want %v", len(seen), name, w.counts[col], want)
			}
		}
	}
}

func equalCounts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDriftWindowPSI: customers drawn like the reference give PSI near 0,
// customers with a shifted cal_spend give a large PSI for it only, and once
// size unshifted customers followed, the shift is out of the window.
func TestDriftWindowPSI(t *testing.T) {
	w, err := newDriftWindow(pureReference(t), 1000, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	same, _ := onnxrttest.Rows(1000, 9, 0)
	w.observe(same, evs(same))
	st := w.status()
	if st.Drifted || len(st.PSI) != len(driftColumns) || st.Max > 0.05 {
		t.Fatalf("customers drawn like the reference: %+v, want every column's PSI ≤ 0.05", st)
	}
	shifted := shiftSpend(rowsOf(1000, 10), 4)
	w.observe(shifted, evs(shifted))
	st = w.status()
	if st.PSI["cal_spend"] <= 0.25 || st.PSI["x"] > 0.05 || !st.Drifted || st.WindowCustomers != 1000 {
		t.Fatalf("cal_spend ×4: %+v, want cal_spend PSI > 0.25, x ≤ 0.05, drifted", st)
	}
	again := rowsOf(1000, 11)
	w.observe(again, evs(again))
	if st = w.status(); st.Max > 0.05 {
		t.Fatalf("after 1000 unshifted customers the shifted ones still count: %+v", st)
	}
}

func rowsOf(n int, seed uint64) [][]float32 {
	rows, _ := onnxrttest.Rows(n, seed, 0)
	return rows
}

func TestDriftWindowRejectsIncompleteReference(t *testing.T) {
	ref := pureReference(t)
	delete(ref.Edges, "mbar")
	if _, err := newDriftWindow(ref, 10, 0.1); err == nil || !strings.Contains(err.Error(), "mbar") {
		t.Fatalf("reference without mbar: err %v, want one naming mbar", err)
	}
	if _, err := newDriftWindow(pureReference(t), 0, 0.1); err == nil {
		t.Fatal("window of 0 customers accepted")
	}
}

// driftDir is a model directory that is also a DriftReferenceSource: the
// reference of a version is syntheticSet(3000, 7) scored by the model.
type driftDir struct {
	*modelDir
	mu       sync.Mutex
	err      error
	fallback string // when set, Current answers as a fallback with this reason
	calls    map[string]int
}

func (d *driftDir) Current(ctx context.Context) (ModelRef, error) {
	ref, err := d.modelDir.Current(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && d.fallback != "" {
		err = &FallbackError{Reason: d.fallback, Err: errors.New("connection refused")}
	}
	return ref, err
}

func (d *driftDir) setFallback(reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fallback = reason
}

func (d *driftDir) DriftReference(_ context.Context, ref ModelRef, m *onnxrt.Model) (*scoring.DriftReference, error) {
	d.mu.Lock()
	d.calls[ref.Version]++
	err := d.err
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	set := syntheticSet(3000, 7)
	preds, err := scoring.Score(m, set)
	if err != nil {
		return nil, err
	}
	r := scoring.NewDriftReference(set, preds)
	return &r, nil
}

func (d *driftDir) callsOf(version string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[version]
}

// newDriftServer serves v1 (and has v2) from a driftDir.
func newDriftServer(t *testing.T, cfg Config, refErr error) (*Server, *driftDir) {
	t.Helper()
	onnxrttest.RequireORT(t)
	d := &driftDir{modelDir: newModelDir(t), err: refErr, calls: map[string]int{}}
	d.add("v1", onnxrttest.Spec{Seed: 21})
	d.add("v2", onnxrttest.Spec{Seed: 22})
	d.point("v1")
	s := New(cfg, d, WithLogger(quietLogger(t)))
	t.Cleanup(func() { s.Close() })
	if swapped, err := s.Reload(context.Background()); err != nil || !swapped {
		t.Fatalf("initial Reload = %v, %v", swapped, err)
	}
	return s, d
}

// predictRows posts rows in batches of 250 and fails on any non-200.
func predictRows(t *testing.T, s *Server, rows [][]float32) {
	t.Helper()
	for lo := 0; lo < len(rows); lo += 250 {
		rec := doRequest(s.Handler(), http.MethodPost, "/v1/predict", "", predictBody(rows[lo:min(lo+250, len(rows))], nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("predict = %d %s", rec.Code, rec.Body)
		}
	}
}

// modelDrift returns GET /v1/model's drift (nil when absent).
func modelDrift(t *testing.T, s *Server) *driftStatus {
	t.Helper()
	rec := doRequest(s.Handler(), http.MethodGet, "/v1/model", "", nil)
	var body struct {
		Drift *driftStatus `json:"drift"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
		t.Fatalf("/v1/model = %d %s", rec.Code, rec.Body)
	}
	return body.Drift
}

// gauge returns the value of the sample line starting with prefix+" ".
func gauge(text, prefix string) (float64, bool) {
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, prefix+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return math.NaN(), false
}

// TestServeDriftOfOnlineRequests drives the server end to end: requests
// drawn like the model's training data, then with cal_spend shifted, as seen
// by GET /v1/model and /metrics; a model change starts a fresh window.
func TestServeDriftOfOnlineRequests(t *testing.T) {
	s, d := newDriftServer(t, Config{DriftWindow: 1000, DriftThreshold: 0.2}, nil)
	if st := modelDrift(t, s); st == nil || st.WindowCustomers != 0 || st.WindowSize != 1000 || len(st.PSI) != 0 {
		t.Fatalf("fresh window: drift %+v, want an empty window of 1000", st)
	}
	predictRows(t, s, rowsOf(1000, 12))
	st := modelDrift(t, s)
	if st == nil || st.WindowCustomers != 1000 || len(st.PSI) != len(driftColumns) || st.Max > 0.05 || st.Drifted || st.Threshold != 0.2 {
		t.Fatalf("requests drawn like the training data: drift %+v, want 8 columns with PSI ≤ 0.05", st)
	}
	predictRows(t, s, shiftSpend(rowsOf(1000, 13), 4))
	text := scrape(t, s.Handler())
	if v, ok := gauge(text, "clvflow_drift_window_customers"); !ok || v != 1000 {
		t.Fatalf("clvflow_drift_window_customers = %v (present %v), want 1000:\n%s", v, ok, text)
	}
	for _, col := range driftColumns {
		v, ok := gauge(text, `clvflow_drift_psi{column="`+col+`"}`)
		switch {
		case !ok:
			t.Fatalf("no clvflow_drift_psi for column %s:\n%s", col, text)
		case col == "cal_spend" && v <= 0.25, col == "x" && v > 0.05:
			t.Fatalf("cal_spend ×4: clvflow_drift_psi{column=%q} = %g", col, v)
		}
	}
	if st := modelDrift(t, s); !st.Drifted || st.Max < st.PSI["cal_spend"] {
		t.Fatalf("cal_spend ×4: drift %+v, want drifted", st)
	}

	d.point("v2")
	if swapped, err := s.Reload(context.Background()); err != nil || !swapped {
		t.Fatalf("Reload to v2 = %v, %v", swapped, err)
	}
	if st := modelDrift(t, s); st == nil || st.WindowCustomers != 0 || len(st.PSI) != 0 || d.callsOf("v2") != 1 {
		t.Fatalf("after the swap to v2: drift %+v, %d reference calls for v2; want a fresh window from one call", st, d.callsOf("v2"))
	}
	text = scrape(t, s.Handler())
	if v, ok := gauge(text, "clvflow_drift_window_customers"); !ok || v != 0 || strings.Contains(text, "clvflow_drift_psi{") {
		t.Fatalf("after the swap: window %v (present %v), want 0 and no PSI series:\n%s", v, ok, text)
	}
}

// TestServeDriftReferenceFailureKeepsServing: a source that cannot give the
// reference leaves the model served, without drift.
func TestServeDriftReferenceFailureKeepsServing(t *testing.T) {
	s, d := newDriftServer(t, Config{}, errors.New("no training features"))
	if ref, ok := s.Current(); !ok || ref.Version != "v1" || d.callsOf("v1") != 1 {
		t.Fatalf("served %v %v after %d reference calls, want v1 after 1", ref, ok, d.callsOf("v1"))
	}
	predictRows(t, s, rowsOf(10, 14))
	rec := doRequest(s.Handler(), http.MethodGet, "/v1/model", "", nil)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"drift"`) {
		t.Fatalf("/v1/model = %d %s, want no drift field", rec.Code, rec.Body)
	}
	text := scrape(t, s.Handler())
	if strings.Contains(text, "clvflow_drift_window_customers ") || !metricLine(text, "clvflow_drift_reference_failures_total 1") {
		t.Fatalf("want no drift gauges and one reference failure:\n%s", text)
	}
}

// TestServeDriftWaitsForTheAuthority: a model served from the source's
// fallback (registry down) gets no reference request; the first reload the
// registry answers asks for it, without a swap.
func TestServeDriftWaitsForTheAuthority(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := &driftDir{modelDir: newModelDir(t), fallback: "registry unreachable at start", calls: map[string]int{}}
	d.add("v1", onnxrttest.Spec{Seed: 21})
	d.point("v1")
	s := New(Config{}, d, WithLogger(quietLogger(t)))
	t.Cleanup(func() { s.Close() })
	if swapped, err := s.Reload(context.Background()); err != nil || !swapped {
		t.Fatalf("Reload from the fallback = %v, %v", swapped, err)
	}
	if st := modelDrift(t, s); st != nil || d.callsOf("v1") != 0 {
		t.Fatalf("served from the fallback: drift %+v after %d reference calls, want none", st, d.callsOf("v1"))
	}
	d.setFallback("")
	if swapped, err := s.Reload(context.Background()); err != nil || swapped {
		t.Fatalf("Reload with the registry back = %v, %v; want no swap", swapped, err)
	}
	if st := modelDrift(t, s); st == nil || st.WindowSize != DefaultDriftWindow || d.callsOf("v1") != 1 {
		t.Fatalf("registry back: drift %+v after %d reference calls, want a window of %d from one call", st, d.callsOf("v1"), DefaultDriftWindow)
	}
	s.Reload(context.Background())
	if n := d.callsOf("v1"); n != 1 {
		t.Fatalf("%d reference calls for v1 after another reload, want 1", n)
	}
}

func TestServeDriftDisabled(t *testing.T) {
	s, d := newDriftServer(t, Config{DriftWindow: DriftDisabled}, nil)
	predictRows(t, s, rowsOf(10, 15))
	if st := modelDrift(t, s); st != nil || d.callsOf("v1") != 0 {
		t.Fatalf("drift disabled: drift %+v after %d reference calls, want none", st, d.callsOf("v1"))
	}
}

// TestServeDriftConcurrent predicts and scrapes while the model swaps back
// and forth (run with -race); every window stays consistent.
func TestServeDriftConcurrent(t *testing.T) {
	s, d := newDriftServer(t, Config{DriftWindow: 300}, nil)
	body := predictBody(rowsOf(50, 16), nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if rec := doRequest(s.Handler(), http.MethodPost, "/v1/predict", "", body); rec.Code != http.StatusOK {
					t.Errorf("predict = %d %s", rec.Code, rec.Body)
				}
				scrape(t, s.Handler())
			}
		})
	}
	wg.Go(func() {
		for i := range 6 {
			d.point([]string{"v2", "v1"}[i%2])
			if _, err := s.Reload(context.Background()); err != nil {
				t.Errorf("Reload: %v", err)
			}
		}
	})
	wg.Wait()
	w := s.currentDrift()
	if w == nil {
		t.Fatal("no drift window after the swaps")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for col, counts := range w.counts {
		var sum int64
		for _, c := range counts {
			sum += c
		}
		if sum != int64(w.n) || w.n > w.size || w.n%50 != 0 {
			t.Fatalf("column %s counts %v sum to %d for %d customers in a window of %d", driftColumns[col], counts, sum, w.n, w.size)
		}
	}
}
