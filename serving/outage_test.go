package serving

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// outageSource wraps a model directory with the failure modes of a remote
// registry: Current can fail (unreachable), hang until its context ends, or
// answer from a fallback; Fetch can hang.
type outageSource struct {
	*modelDir
	fail      atomic.Pointer[error]
	hang      atomic.Bool
	hangFetch atomic.Bool
	fallback  atomic.Pointer[FallbackError] // Current answers ModelRef of fallbackTo with it
	fbRef     atomic.Pointer[ModelRef]
	entered   chan string // "current" or "fetch" each time a call starts hanging
}

func newOutageSource(d *modelDir) *outageSource {
	return &outageSource{modelDir: d, entered: make(chan string, 64)}
}

func (o *outageSource) block(ctx context.Context, what string) error {
	select {
	case o.entered <- what:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (o *outageSource) Current(ctx context.Context) (ModelRef, error) {
	if o.hang.Load() {
		return ModelRef{}, o.block(ctx, "current")
	}
	if fb := o.fallback.Load(); fb != nil {
		return *o.fbRef.Load(), fb
	}
	if e := o.fail.Load(); e != nil {
		return ModelRef{}, *e
	}
	return o.modelDir.Current(ctx)
}

func (o *outageSource) Fetch(ctx context.Context, ref ModelRef) ([]byte, error) {
	if o.hangFetch.Load() {
		return nil, o.block(ctx, "fetch")
	}
	return o.modelDir.Fetch(ctx, ref)
}

func (o *outageSource) setFail(err error) {
	if err == nil {
		o.fail.Store(nil)
		return
	}
	o.fail.Store(&err)
}

// readiness fetches /readyz.
func readiness(t *testing.T, h http.Handler) (int, readyResponse) {
	t.Helper()
	rec := doRequest(h, http.MethodGet, "/readyz", "", nil)
	var r readyResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil {
		t.Fatalf("/readyz body %q: %v", rec.Body, err)
	}
	return rec.Code, r
}

// TestDegradedWhileSourceFails: a served model keeps answering while the
// source fails; /readyz stays 200 but says degraded, why, since when and how
// many reloads failed in a row; the metrics agree; the next successful
// reload makes it ready again.
func TestDegradedWhileSourceFails(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	m1 := d.add("v1", onnxrttest.Spec{Seed: 21})
	d.point("v1")
	src := newOutageSource(d)
	reg := prometheus.NewRegistry()
	s := New(Config{}, src, WithLogger(quietLogger(t)), WithRegistry(reg))
	defer s.Close()
	h := s.Handler()
	if _, err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, r := readiness(t, h); code != http.StatusOK || r.Status != "ready" || r.ModelVersion != "v1" || r.Reason != "" || r.ConsecutiveFailures != 0 || r.DegradedSince != nil {
		t.Fatalf("readyz while healthy = %d %+v", code, r)
	}
	if text := scrape(t, h); !metricLine(text, "clvflow_serving_degraded 0") {
		t.Fatal("degraded gauge is not 0 while healthy")
	}

	outage := errors.New("model registry unreachable (MinIO at 127.0.0.1:1): connection refused")
	src.setFail(outage)
	f, _ := onnxrttest.Rows(5, 21, 0)
	var firstSince time.Time
	for i := 1; i <= 3; i++ {
		if _, err := s.Reload(context.Background()); !errors.Is(err, outage) {
			t.Fatalf("Reload during the outage = %v; want it to wrap the source's error", err)
		}
		code, r := readiness(t, h)
		if code != http.StatusOK || r.Status != "degraded" || r.ModelVersion != "v1" || r.ConsecutiveFailures != i ||
			!strings.Contains(r.Reason, "unreachable") || !strings.Contains(r.Reason, "still serving v1") ||
			!strings.Contains(r.LastError, outage.Error()) || r.DegradedSince == nil {
			t.Fatalf("readyz after %d failed reloads = %d %+v", i, code, r)
		}
		if i == 1 {
			firstSince = *r.DegradedSince
		} else if !r.DegradedSince.Equal(firstSince) {
			t.Fatalf("degraded_since moved from %v to %v; want the first failure", firstSince, *r.DegradedSince)
		}
		// Predictions keep coming from the last good model.
		code, pr, err := postHandler(h, predictBody(f, nil))
		if err != nil || code != http.StatusOK || pr.ModelVersion != "v1" {
			t.Fatalf("predict during the outage = %d %q %v", code, pr.ModelVersion, err)
		}
		if err := checkAgainst(m1, f, nil, pr.Predictions); err != nil {
			t.Fatal(err)
		}
	}
	text := scrape(t, h)
	for _, line := range []string{
		"clvflow_serving_degraded 1",
		"clvflow_serving_model_reload_consecutive_failures 3",
		"clvflow_serving_model_reload_failures_total 3",
		"clvflow_serving_fallback 0",
	} {
		if !metricLine(text, line) {
			t.Errorf("/metrics during the outage lacks %s", line)
		}
	}

	src.setFail(nil)
	if swapped, err := s.Reload(context.Background()); err != nil || swapped {
		t.Fatalf("Reload after the outage = %v, %v; want no error and no swap", swapped, err)
	}
	if code, r := readiness(t, h); code != http.StatusOK || r.Status != "ready" || r.Reason != "" || r.LastError != "" || r.ConsecutiveFailures != 0 || r.DegradedSince != nil {
		t.Fatalf("readyz after recovery = %d %+v", code, r)
	}
	text = scrape(t, h)
	for _, line := range []string{"clvflow_serving_degraded 0", "clvflow_serving_model_reload_consecutive_failures 0"} {
		if !metricLine(text, line) {
			t.Errorf("/metrics after recovery lacks %s", line)
		}
	}
}

// postHandler posts a /v1/predict body to h.
func postHandler(h http.Handler, body []byte) (int, apiResponse, error) {
	rec := doRequest(h, http.MethodPost, "/v1/predict", "", body)
	var out apiResponse
	err := json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out, err
}

// TestFallbackServedAsDegraded: a model named by the source's fallback is
// served, but /readyz and /v1/model say so until the authority answers;
// a fallback that cannot be loaded leaves the server not ready with both
// reasons.
func TestFallbackServedAsDegraded(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	m1 := d.add("v1", onnxrttest.Spec{Seed: 31})
	src := newOutageSource(d)
	s := New(Config{}, src, WithLogger(quietLogger(t)))
	defer s.Close()
	h := s.Handler()
	authority := errors.New("model registry unreachable (MinIO at 127.0.0.1:1)")

	// A fallback naming a model whose bytes do not verify: not served.
	bad := ModelRef{Version: "v1", SHA256: strings.Repeat("0", 64)}
	src.fbRef.Store(&bad)
	src.fallback.Store(&FallbackError{Reason: "registry unreachable at start; serving cached v1", Err: authority})
	_, err := s.Reload(context.Background())
	if err == nil || !errors.Is(err, authority) || !strings.Contains(err.Error(), "fallback model v1 failed too") {
		t.Fatalf("Reload with an unverifiable fallback = %v", err)
	}
	if code, r := readiness(t, h); code != http.StatusServiceUnavailable || r.Status != "not_ready" || !strings.Contains(r.Reason, "sha256") {
		t.Fatalf("readyz with an unverifiable fallback = %d %+v", code, r)
	}

	good := ModelRef{Version: "v1", SHA256: m1.SHA256}
	src.fbRef.Store(&good)
	var results []ReloadResult
	s.hook = func(r ReloadResult) { results = append(results, r) }
	if swapped, err := s.Reload(context.Background()); err != nil || !swapped {
		t.Fatalf("Reload from the fallback = %v, %v", swapped, err)
	}
	if len(results) != 1 || results[0].Fallback == nil || !errors.Is(results[0].Fallback, authority) {
		t.Fatalf("hook saw %+v; want one result with the fallback", results)
	}
	code, r := readiness(t, h)
	if code != http.StatusOK || r.Status != "degraded" || r.ServedFrom != "fallback" || r.ModelVersion != "v1" ||
		r.Reason != "registry unreachable at start; serving cached v1" || !strings.Contains(r.LastError, authority.Error()) {
		t.Fatalf("readyz on the fallback = %d %+v", code, r)
	}
	rec := doRequest(h, http.MethodGet, "/v1/model", "", nil)
	var mr modelResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &mr); err != nil || mr.ServedFrom != "fallback" || mr.FallbackReason != r.Reason || mr.Version != "v1" {
		t.Fatalf("/v1/model on the fallback = %s (%v)", rec.Body, err)
	}
	f, _ := onnxrttest.Rows(3, 31, 0)
	if code, pr, err := postHandler(h, predictBody(f, nil)); err != nil || code != http.StatusOK || checkAgainst(m1, f, nil, pr.Predictions) != nil {
		t.Fatalf("predict on the fallback = %d %+v %v", code, pr, err)
	}
	if !metricLine(scrape(t, h), "clvflow_serving_fallback 1") {
		t.Error("fallback gauge is not 1")
	}

	// The authority answers with the same model: no swap, no longer degraded.
	src.fallback.Store(nil)
	d.point("v1")
	if swapped, err := s.Reload(context.Background()); err != nil || swapped {
		t.Fatalf("Reload once the authority answers = %v, %v; want no swap", swapped, err)
	}
	if code, r := readiness(t, h); code != http.StatusOK || r.Status != "ready" || r.ServedFrom != "source" || r.Reason != "" {
		t.Fatalf("readyz after the authority answered = %d %+v", code, r)
	}
	rec = doRequest(h, http.MethodGet, "/v1/model", "", nil)
	mr = modelResponse{}
	if err := json.Unmarshal(rec.Body.Bytes(), &mr); err != nil || mr.ServedFrom != "source" || mr.FallbackReason != "" {
		t.Fatalf("/v1/model after the authority answered = %s (%v)", rec.Body, err)
	}
	if !metricLine(scrape(t, h), "clvflow_serving_fallback 0") {
		t.Error("fallback gauge is not 0 after recovery")
	}
}

// TestReloadDeadline: a source that hangs (a MinIO that accepts connections
// but never answers) fails the reload after serving.reload_timeout with a
// deadline error, whether it hangs resolving or fetching; the served model
// keeps answering, and a later reload is not stalled.
func TestReloadDeadline(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	d.add("v1", onnxrttest.Spec{Seed: 41})
	m2 := d.add("v2", onnxrttest.Spec{Seed: 42})
	d.point("v1")
	src := newOutageSource(d)
	const timeout = 150 * time.Millisecond
	s := New(Config{ReloadTimeout: timeout}, src, WithLogger(quietLogger(t)))
	defer s.Close()
	h := s.Handler()
	if _, err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		hang *atomic.Bool
	}{{"resolve", &src.hang}, {"fetch", &src.hangFetch}} {
		d.point("v2")
		tc.hang.Store(true)
		start := time.Now()
		_, err := s.Reload(context.Background())
		elapsed := time.Since(start)
		tc.hang.Store(false)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "serving.reload_timeout") {
			t.Fatalf("%s: Reload against a hung source = %v; want a deadline error naming serving.reload_timeout", tc.name, err)
		}
		if elapsed < timeout || elapsed > timeout+10*time.Second {
			t.Fatalf("%s: Reload took %v with reload_timeout %v", tc.name, elapsed, timeout)
		}
		code, r := readiness(t, h)
		if code != http.StatusOK || r.Status != "degraded" || r.ModelVersion != "v1" || !strings.Contains(r.Reason, "timed out") {
			t.Fatalf("%s: readyz after the timeout = %d %+v", tc.name, code, r)
		}
		d.point("v1")
	}

	// The source answers again: the next reload swaps.
	d.point("v2")
	if swapped, err := s.Reload(context.Background()); err != nil || !swapped {
		t.Fatalf("Reload after the hang = %v, %v", swapped, err)
	}
	f, _ := onnxrttest.Rows(2, 42, 0)
	if code, pr, err := postHandler(h, predictBody(f, nil)); err != nil || code != http.StatusOK || pr.ModelVersion != "v2" || checkAgainst(m2, f, nil, pr.Predictions) != nil {
		t.Fatalf("predict after recovery = %d %q %v", code, pr.ModelVersion, err)
	}
	if code, r := readiness(t, h); code != http.StatusOK || r.Status != "ready" {
		t.Fatalf("readyz after recovery = %d %+v", code, r)
	}
}

// TestServeHungSourceKeepsPollingAndShutsDown runs the real polling loop
// against a source that never answers: each poll fails by its deadline (the
// loop is not stalled by the first), readiness says why, and cancelling the
// context shuts the server down promptly.
func TestServeHungSourceKeepsPollingAndShutsDown(t *testing.T) {
	d := newModelDir(t)
	src := newOutageSource(d)
	src.hang.Store(true)
	results := make(chan ReloadResult, 64)
	hook := func(r ReloadResult) {
		select {
		case results <- r:
		default:
		}
	}
	const shutdownTimeout = 5 * time.Second
	s := New(Config{ReloadInterval: 10 * time.Millisecond, ReloadTimeout: 50 * time.Millisecond, ShutdownTimeout: shutdownTimeout},
		src, WithLogger(quietLogger(t)), WithReloadHook(hook))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	deadline := time.After(30 * time.Second)
	for n := 0; n < 3; {
		select {
		case r := <-results:
			if !errors.Is(r.Err, context.DeadlineExceeded) {
				t.Fatalf("poll result %+v; want a deadline error", r)
			}
			n++
		case <-deadline:
			t.Fatal("the polling loop did not report 3 timed-out reloads within 30s")
		}
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var r readyResponse
	err = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || r.Status != "not_ready" || !strings.Contains(r.Reason, "timed out") || r.ConsecutiveFailures < 3 {
		t.Fatalf("readyz against a hung source = %d %+v (%v)", resp.StatusCode, r, err)
	}

	shutDownWithin(t, cancel, served, shutdownTimeout, "with a hung source")
}

// shutDownWithin cancels a running Serve and fails unless it returns
// cleanly within timeout.
func shutDownWithin(t *testing.T, cancel context.CancelFunc, served <-chan error, timeout time.Duration, why string) {
	t.Helper()
	start := time.Now()
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after cancel = %v", err)
		}
	case <-time.After(timeout):
		t.Fatalf("Serve did not return within the shutdown timeout (%v) %s", timeout, why)
	}
	t.Logf("shut down in %v", time.Since(start))
}

// TestShutdownInterruptsLongReload: with a reload timeout far longer than the
// shutdown timeout, a reload hanging on the source is cancelled by shutdown;
// Serve returns within the shutdown timeout and the interruption is not
// counted as a source failure.
func TestShutdownInterruptsLongReload(t *testing.T) {
	d := newModelDir(t)
	src := newOutageSource(d)
	src.hang.Store(true)
	var (
		mu      sync.Mutex
		results []ReloadResult
	)
	hook := func(r ReloadResult) {
		mu.Lock()
		results = append(results, r)
		mu.Unlock()
	}
	const shutdownTimeout = 3 * time.Second
	reg := prometheus.NewRegistry()
	s := New(Config{ReloadTimeout: time.Hour, ShutdownTimeout: shutdownTimeout}, src, WithLogger(quietLogger(t)), WithReloadHook(hook), WithRegistry(reg))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	select {
	case <-src.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the first reload never reached the source")
	}
	shutDownWithin(t, cancel, served, shutdownTimeout, "with a reload hanging under a 1h reload_timeout")
	mu.Lock()
	defer mu.Unlock()
	if len(results) != 1 || !errors.Is(results[0].Err, context.Canceled) {
		t.Fatalf("reload results %+v; want the one reload, cancelled", results)
	}
	if !metricLine(scrape(t, s.Handler()), "clvflow_serving_model_reload_failures_total 0") {
		t.Error("an interrupted reload was counted as a failure")
	}
}
