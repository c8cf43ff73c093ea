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
			Help: "Reload attempts that failed; the previous model kept serving.",
		}),
	}
	reg.MustRegister(m.latency, m.predictions, m.modelInfo, m.reloads, m.reloadFailures)
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
