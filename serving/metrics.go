package serving

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus collectors.
type metrics struct {
	latency        *prometheus.HistogramVec
	predictions    prometheus.Counter
	modelInfo      *prometheus.GaugeVec
	reloads        prometheus.Counter
	reloadFailures prometheus.Counter
	degraded       prometheus.Gauge
	failuresInRow  prometheus.Gauge
	fallback       prometheus.Gauge
	rejected       prometheus.Counter
	driftFailures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clvflow_serving_request_duration_seconds",
			Help:    "HTTP request latency by route and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "code"}),
		predictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvflow_serving_predictions_total",
			Help: "Customers scored.",
		}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clvflow_serving_model_info",
			Help: "The served model (value 1); no series while no model is loaded.",
		}, []string{"version", "sha256", "kind", "name"}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvflow_serving_model_reloads_total",
			Help: "Model swaps (the first load included).",
		}),
		reloadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvflow_serving_model_reload_failures_total",
			Help: "Reload attempts that failed (the previous model kept serving) or were answered by the source's fallback.",
		}),
		degraded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clvflow_serving_degraded",
			Help: "1 while a model is served but the last reload failed or the model came from the source's fallback (/readyz status degraded), else 0.",
		}),
		failuresInRow: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clvflow_serving_model_reload_consecutive_failures",
			Help: "Reloads in a row that failed or were answered by the fallback; 0 after one that reached the model source.",
		}),
		fallback: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clvflow_serving_fallback",
			Help: "1 while the served model came from the source's fallback (the local cache) and the source has not answered since, else 0.",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvflow_serving_requests_rejected_at_capacity_total",
			Help: "/v1/ requests answered 503 because serving.max_in_flight requests were in flight already.",
		}),
		driftFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvflow_drift_reference_failures_total",
			Help: "Models swapped in whose training-data drift reference could not be had: drift monitoring is off for them.",
		}),
	}
	reg.MustRegister(m.latency, m.predictions, m.modelInfo, m.reloads, m.reloadFailures, m.degraded, m.failuresInRow, m.fallback, m.rejected, m.driftFailures)
	return m
}

func modelLabels(s *served) prometheus.Labels {
	md := s.model.Metadata()
	return prometheus.Labels{"version": s.ref.Version, "sha256": s.ref.SHA256, "kind": string(md.Kind), "name": md.Name}
}

// setModel moves the info gauge from old to next (either may be nil).
func (m *metrics) setModel(old, next *served) {
	if old != nil {
		m.modelInfo.Delete(modelLabels(old))
	}
	if next != nil {
		m.modelInfo.With(modelLabels(next)).Set(1)
	}
}

// setHealth updates the degraded, consecutive-failures and fallback gauges
// (h may be nil: no reload yet).
func (m *metrics) setHealth(serving bool, h *health) {
	var failures int
	var fallback bool
	if h != nil {
		failures, fallback = h.failures, h.fallback != ""
	}
	m.degraded.Set(b2f(serving && (failures > 0 || fallback)))
	m.failuresInRow.Set(float64(failures))
	m.fallback.Set(b2f(serving && fallback))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// statusRecorder captures the status code written by a handler.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument records request latency by route (the ServeMux pattern's path,
// "unmatched" for 404/405) and status code.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		route := "unmatched"
		if _, path, ok := strings.Cut(r.Pattern, " "); ok && path != "/" {
			route = path
		}
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		s.metrics.latency.WithLabelValues(route, strconv.Itoa(code)).Observe(time.Since(start).Seconds())
	})
}
