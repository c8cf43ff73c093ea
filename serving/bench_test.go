package serving

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// benchmarkHTTP posts rows customers per request over a real loopback
// connection (keep-alive) and reports p50/p99 latency and customers/s.
func benchmarkHTTP(b *testing.B, rows int) {
	onnxrttest.RequireORT(b)
	d := newModelDir(b)
	d.add("v1", onnxrttest.Spec{Seed: 41, Hidden: 32})
	d.point("v1")
	s := New(Config{}, d, WithLogger(quietLogger(b)))
	defer s.Close()
	if _, err := s.Reload(b.Context()); err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	f, _ := onnxrttest.Rows(rows, 41, 0)
	body := predictBody(f, nil)
	client := ts.Client()
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		code, resp, err := post(client, ts.URL+"/v1/predict", "", body)
		if err != nil || code != http.StatusOK || len(resp.Predictions) != rows {
			b.Fatalf("POST = %d, %d predictions, %v", code, len(resp.Predictions), err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50_ms")
	b.ReportMetric(ms(0.99), "p99_ms")
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "predictions/s")
}

// BenchmarkHTTPSingleRow measures one-customer requests end to end.
func BenchmarkHTTPSingleRow(b *testing.B) { benchmarkHTTP(b, 1) }

// BenchmarkHTTP256Rows measures 256-customer requests end to end.
func BenchmarkHTTP256Rows(b *testing.B) { benchmarkHTTP(b, 256) }
