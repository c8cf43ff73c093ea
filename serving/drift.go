package serving

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/scoring"
)

// DriftReferenceSource is an optional interface of a ModelSource: the
// training-data reference of a model, against which the server measures the
// drift of the customers it scores online. The server asks once per model
// swap, after the model is served, passing the loaded model so the source
// can score its training features with it; a failure (or a nil reference)
// disables drift monitoring for that model and never fails the load.
type DriftReferenceSource interface {
	DriftReference(ctx context.Context, ref ModelRef, m *onnxrt.Model) (*scoring.DriftReference, error)
}

// DefaultDriftWindow is how many of the latest predicted customers the drift
// gauges cover by default (serving.drift_window).
const DefaultDriftWindow = 10000

// DriftDisabled as Config.DriftWindow turns drift monitoring off.
const DriftDisabled = -1

// driftStatus is the drift of the customers in the window against the
// served model's reference (GET /v1/model's field drift).
type driftStatus struct {
	// WindowSize is the most customers the window holds (serving.drift_window).
	WindowSize int `json:"window_size"`
	// WindowCustomers is how many it holds now (the latest predicted ones).
	WindowCustomers int `json:"window_customers"`
	scoring.DriftReport
}

// driftWindow counts the latest size predicted customers into the bins of
// a drift reference: a ring of each customer's bin per column, so the
// customer falling out of the window is subtracted in O(columns).
type driftWindow struct {
	ref       scoring.DriftReference
	names     []string    // onnxrt.TabularColumns, then scoring.ScoreColumn
	edges     [][]float32 // per column, the reference's edges as float32 (the requests' precision)
	size      int
	threshold float64

	mu     sync.Mutex
	ring   []uint8 // size × len(names) bin indices
	next   int     // the ring slot the next customer takes
	n      int     // customers in the window
	counts [][]int64
}

// newDriftWindow checks that ref bins every model input and the score.
func newDriftWindow(ref scoring.DriftReference, size int, threshold float64) (*driftWindow, error) {
	if size <= 0 {
		return nil, fmt.Errorf("serving: drift window of %d customers, want > 0", size)
	}
	w := &driftWindow{ref: ref, names: append(append([]string(nil), onnxrt.TabularColumns...), scoring.ScoreColumn), size: size, threshold: threshold}
	for _, name := range w.names {
		edges, ok := ref.Edges[name]
		if !ok || len(ref.Counts[name]) != len(edges)+1 {
			return nil, fmt.Errorf("serving: drift reference has no bins for column %s", name)
		}
		if len(edges) >= 255 {
			return nil, fmt.Errorf("serving: drift reference column %s has %d bins, at most 255 are supported", name, len(edges)+1)
		}
		e32 := make([]float32, len(edges))
		for i, e := range edges {
			e32[i] = float32(e)
		}
		w.edges = append(w.edges, e32)
		w.counts = append(w.counts, make([]int64, len(edges)+1))
	}
	w.ring = make([]uint8, size*len(w.names))
	return w, nil
}

// bin is the bin of v in column col (the bins of metrics.Histogram: the
// first edge ≥ v).
func (w *driftWindow) bin(col int, v float32) uint8 {
	e := w.edges[col]
	return uint8(sort.Search(len(e), func(i int) bool { return e[i] >= v }))
}

// observe adds predicted customers (tabular features in onnxrt.TabularColumns
// order and expected values), dropping the oldest beyond the window size.
func (w *driftWindow) observe(features [][]float32, expected []float32) {
	nf := len(w.names) - 1
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, row := range features {
		slot := w.ring[w.next*len(w.names) : (w.next+1)*len(w.names)]
		if w.n == w.size {
			for col, b := range slot {
				w.counts[col][b]--
			}
		} else {
			w.n++
		}
		for col := range nf {
			slot[col] = w.bin(col, row[col])
		}
		slot[nf] = w.bin(nf, expected[i])
		for col, b := range slot {
			w.counts[col][b]++
		}
		w.next = (w.next + 1) % w.size
	}
}

// status compares the window with the reference.
func (w *driftWindow) status() driftStatus {
	cur := make(map[string][]int64, len(w.names))
	w.mu.Lock()
	n := w.n
	for col, name := range w.names {
		cur[name] = append([]int64(nil), w.counts[col]...)
	}
	w.mu.Unlock()
	return driftStatus{WindowSize: w.size, WindowCustomers: n, DriftReport: w.ref.Compare(cur, w.threshold)}
}

// ensureDrift asks the source, once per served model, for the model's
// reference and starts its drift window; without one drift stays off for
// that model. Reload calls it after the health update (readiness never waits
// for it) and only when the source's authority answered, so a model served
// from a fallback gets its reference once the registry is back. The request
// has its own Config.ReloadTimeout.
func (s *Server) ensureDrift(ctx context.Context) {
	src, ok := s.src.(DriftReferenceSource)
	sv := s.cur.Load()
	if !ok || s.cfg.DriftWindow <= 0 || sv == nil || !sv.driftAsked.CompareAndSwap(false, true) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReloadTimeout)
	defer cancel()
	ref, err := src.DriftReference(ctx, sv.ref, sv.model)
	if err == nil && ref == nil {
		err = errors.New("the model source has no reference for this model")
	}
	var w *driftWindow
	if err == nil {
		w, err = newDriftWindow(*ref, s.cfg.DriftWindow, s.cfg.DriftThreshold)
	}
	if err != nil {
		s.metrics.driftFailures.Inc()
		s.log.Warn("drift monitoring off for this model: no usable training-data reference", "version", sv.ref.Version, "err", err)
		return
	}
	sv.drift.Store(w)
	s.log.Info("drift monitoring", "version", sv.ref.Version, "window", w.size)
}

// currentDrift is the served model's drift window (nil: none).
func (s *Server) currentDrift() *driftWindow {
	if cur := s.cur.Load(); cur != nil {
		return cur.drift.Load()
	}
	return nil
}

// driftCollector exports the served model's drift at scrape time.
type driftCollector struct {
	s              *Server
	psi, customers *prometheus.Desc
}

func newDriftCollector(s *Server) *driftCollector {
	return &driftCollector{
		s: s,
		psi: prometheus.NewDesc("clvflow_drift_psi",
			"Population stability index of a model input (or the expected_value score) of the customers in the drift window against the served model's training data; no series without a reference or customers.",
			[]string{"column"}, nil),
		customers: prometheus.NewDesc("clvflow_drift_window_customers",
			"Predicted customers in the drift window (at most serving.drift_window); no series while drift monitoring is off for the served model.",
			nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *driftCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.psi
	ch <- c.customers
}

// Collect implements prometheus.Collector.
func (c *driftCollector) Collect(ch chan<- prometheus.Metric) {
	w := c.s.currentDrift()
	if w == nil {
		return
	}
	st := w.status()
	ch <- prometheus.MustNewConstMetric(c.customers, prometheus.GaugeValue, float64(st.WindowCustomers))
	for name, psi := range st.PSI {
		ch <- prometheus.MustNewConstMetric(c.psi, prometheus.GaugeValue, psi, name)
	}
}
