package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
	"github.com/clvflow/clvflow/registry"
)

// outagePredictBody scores two customers with a tabular (ziln) model.
var outagePredictBody = []byte(`{"customers":[{"id":"c1","features":{"x":3,"t_x":20,"T":38,"recency":18,"cal_spend":120.5,"mbar":30.1,"first_value":30}},` +
	`{"id":"c2","features":{"x":0,"t_x":0,"T":10,"recency":10,"cal_spend":15,"mbar":0,"first_value":15}}]}`)

// ownRegistry is a registry in a MinIO the test owns (and may kill).
type ownRegistry struct {
	minio *testenv.OwnMinIO
	store *artifacts.Store
	reg   *registry.Registry
	env   []string // CLVFLOW_* for `clvflow serve`
}

// newOwnRegistry starts a MinIO for the test alone, opens the registry in it
// and returns the environment that points `clvflow serve` at it, with a
// fast poll, a short reload timeout and cacheDir as serving.cache_dir.
func newOwnRegistry(t *testing.T, cacheDir string) *ownRegistry {
	t.Helper()
	m := testenv.StartOwnMinIO(t)
	st, err := artifacts.New(artifacts.Config{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.EnsureBucket(ctx, "clvflow-models"); err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(st.Client(), "clvflow-registry", registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	return &ownRegistry{minio: m, store: st, reg: reg, env: []string{
		"CLVFLOW_CONFIG=",
		"CLVFLOW_STORAGE_ENDPOINT=" + m.Endpoint,
		"CLVFLOW_STORAGE_ACCESS_KEY=" + m.AccessKey,
		"CLVFLOW_STORAGE_SECRET_KEY=" + m.SecretKey,
		"CLVFLOW_STORAGE_MODELS_BUCKET=clvflow-models",
		"CLVFLOW_STORAGE_REGISTRY_BUCKET=clvflow-registry",
		"CLVFLOW_SERVING_RELOAD_INTERVAL=200ms",
		"CLVFLOW_SERVING_RELOAD_TIMEOUT=3s",
		"CLVFLOW_SERVING_CACHE_DIR=" + cacheDir,
	}}
}

// champion registers a test model and points the champion alias at it.
func (o *ownRegistry) champion(t *testing.T, seed uint64) registry.Version {
	t.Helper()
	ctx := context.Background()
	m := onnxrttest.MustBuild(onnxrttest.Spec{Seed: seed, Version: fmt.Sprintf("test-%d", seed)})
	ref, err := o.store.PutBytes(ctx, "clvflow-models", "onnx", m.Bytes, artifacts.PutOptions{ContentType: "application/onnx"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := o.reg.Register(ctx, registry.Version{
		ModelName: "test-ziln", ModelKind: "ziln", Seed: seed,
		Dataset: registry.DatasetRef{Raw: ref, Clean: ref},
		Gate:    registry.NewGate(registry.NewCheck("test", 1, registry.OpGE, 0)),
		ONNX:    ref,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.reg.MoveAlias(ctx, registry.Move{Alias: "champion", To: v.ID, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return v
}

// serveProc is a running `clvflow serve`.
type serveProc struct {
	cmd  *exec.Cmd
	base string
	logs *syncBuffer
	done chan struct{}
	err  error // exit status, once done is closed
}

// startServe runs `clvflow serve` on a free port with env added; the process
// is killed when the test ends if it still runs.
func startServe(t *testing.T, env []string) *serveProc {
	t.Helper()
	bin := clvflowBinary(t)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := &serveProc{base: "http://" + addr, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "serve", "--listen", addr, "--log-level", "info")
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and fails unless serve exits cleanly within limit.
func (p *serveProc) stop(t *testing.T, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("clvflow serve did not exit within %v of SIGTERM; log:\n%s", limit, p.logs.String())
	}
	if p.err != nil {
		t.Fatalf("clvflow serve exited with %v after SIGTERM; log:\n%s", p.err, p.logs.String())
	}
	return time.Since(start)
}

// readyz is GET /readyz's body.
type readyz struct {
	Status              string     `json:"status"`
	ModelVersion        string     `json:"model_version"`
	ServedFrom          string     `json:"served_from"`
	Reason              string     `json:"reason"`
	LastError           string     `json:"last_error"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	DegradedSince       *time.Time `json:"degraded_since"`
}

func (p *serveProc) get(path string) (int, []byte, error) {
	resp, err := http.Get(p.base + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (p *serveProc) readyz() (int, readyz, error) {
	code, b, err := p.get("/readyz")
	var r readyz
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	return code, r, err
}

// waitReadyz polls /readyz until cond holds (60s at most) and returns the
// state that satisfied it; it fails early if serve exits.
func (p *serveProc) waitReadyz(t *testing.T, what string, cond func(code int, r readyz) bool) readyz {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for {
		code, r, err := p.readyz()
		if err == nil && cond(code, r) {
			return r
		}
		last = fmt.Sprintf("%d %+v %v", code, r, err)
		select {
		case <-p.done:
			t.Fatalf("clvflow serve exited (%v) while waiting for %s; last /readyz %s; log:\n%s", p.err, what, last, p.logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last /readyz %s; log:\n%s", what, last, p.logs.String())
		}
	}
}

// predict scores outagePredictBody and returns the status, the answering
// version and the predictions as sent.
func (p *serveProc) predict() (int, string, string, error) {
	resp, err := http.Post(p.base+"/v1/predict", "application/json", bytes.NewReader(outagePredictBody))
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	var out struct {
		ModelVersion string          `json:"model_version"`
		Predictions  json.RawMessage `json:"predictions"`
		Error        *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, "", "", err
	}
	if out.Error != nil {
		return resp.StatusCode, "", out.Error.Code, nil
	}
	return resp.StatusCode, out.ModelVersion, string(out.Predictions), nil
}

// mustPredict fails unless /v1/predict answers 200 from version; it returns
// the predictions.
func (p *serveProc) mustPredict(t *testing.T, version string) string {
	t.Helper()
	code, v, preds, err := p.predict()
	if err != nil || code != http.StatusOK || v != version || !strings.Contains(preds, `"expected_value"`) {
		t.Fatalf("predict = %d %q %s %v; want 200 from %s; log:\n%s", code, v, preds, err, version, p.logs.String())
	}
	return preds
}

// servedModel is GET /v1/model's body, the fields these tests read.
type servedModel struct {
	Version        string `json:"version"`
	SHA256         string `json:"sha256"`
	ServedFrom     string `json:"served_from"`
	FallbackReason string `json:"fallback_reason"`
}

func (p *serveProc) model(t *testing.T) servedModel {
	t.Helper()
	code, b, err := p.get("/v1/model")
	var m servedModel
	if err == nil {
		err = json.Unmarshal(b, &m)
	}
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /v1/model = %d %s %v", code, b, err)
	}
	return m
}

// TestIntegrationServeThroughMinIOOutage serves the champion from a MinIO the
// test owns, kills MinIO (SIGKILL): every prediction keeps answering with the
// same scores from the last good model while /readyz says degraded, with a
// reason naming the unreachable MinIO; after MinIO restarts readiness is back
// to ready.
func TestIntegrationServeThroughMinIOOutage(t *testing.T) {
	o := newOwnRegistry(t, filepath.Join(t.TempDir(), "cache"))
	v1 := o.champion(t, 1)
	p := startServe(t, o.env)
	p.waitReadyz(t, "the champion to be served", func(code int, r readyz) bool {
		return code == http.StatusOK && r.Status == "ready" && r.ModelVersion == v1.ID
	})
	want := p.mustPredict(t, v1.ID)

	// Clients keep scoring through the whole outage.
	var ok, failed atomic.Int64
	var firstFailure atomic.Pointer[string]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, v, preds, err := p.predict()
				if err != nil || code != http.StatusOK || v != v1.ID || preds != want {
					msg := fmt.Sprintf("%d %q %s %v", code, v, preds, err)
					firstFailure.CompareAndSwap(nil, &msg)
					failed.Add(1)
					continue
				}
				ok.Add(1)
			}
		})
	}
	defer func() { // also when a wait below fails
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

	o.minio.Kill()
	r := p.waitReadyz(t, "readiness to turn degraded", func(code int, r readyz) bool {
		return code == http.StatusOK && r.Status == "degraded" && r.ConsecutiveFailures >= 2
	})
	if r.ModelVersion != v1.ID || r.ServedFrom != "source" || r.DegradedSince == nil ||
		!strings.Contains(r.Reason, "unreachable") || !strings.Contains(r.Reason, "MinIO at "+o.minio.Endpoint) || !strings.Contains(r.LastError, "unreachable") {
		t.Fatalf("degraded readiness = %+v", r)
	}
	t.Logf("degraded: %s", r.Reason)
	_, metrics, err := p.get("/metrics")
	if err != nil || !strings.Contains(string(metrics), "\nclvflow_serving_degraded 1\n") {
		t.Fatalf("/metrics during the outage lacks clvflow_serving_degraded 1 (%v)", err)
	}
	okBefore := ok.Load()
	p.waitReadyz(t, "more failed reloads while clients keep scoring", func(code int, r readyz) bool {
		return code == http.StatusOK && r.ConsecutiveFailures >= 5 && ok.Load() > okBefore+10
	})

	if err := o.minio.Restart(); err != nil {
		t.Fatal(err)
	}
	r = p.waitReadyz(t, "readiness back to ready after MinIO restarted", func(code int, r readyz) bool {
		return code == http.StatusOK && r.Status == "ready"
	})
	if r.ModelVersion != v1.ID || r.Reason != "" || r.ConsecutiveFailures != 0 {
		t.Fatalf("readiness after the restart = %+v", r)
	}
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d predictions failed or changed during the outage; first: %s", n, n+ok.Load(), *firstFailure.Load())
	}
	t.Logf("%d predictions during the outage, all 200 with the same scores", ok.Load())
	if got := p.mustPredict(t, v1.ID); got != want {
		t.Fatalf("scores after the outage %s, before %s", got, want)
	}
	p.stop(t, 15*time.Second)
}

// TestIntegrationServeStartsFromVerifiedCache: a first `clvflow serve`
// caches the champion; with MinIO down, a second one starts from that cache
// (sha256 checked against the cached registry entry), answers with the same
// scores and says so in /readyz and /v1/model; once MinIO is back it is ready
// and serves from the registry.
func TestIntegrationServeStartsFromVerifiedCache(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "serve-cache")
	o := newOwnRegistry(t, cacheDir)
	v1 := o.champion(t, 2)
	first := startServe(t, o.env)
	first.waitReadyz(t, "the champion to be served", func(code int, r readyz) bool {
		return code == http.StatusOK && r.Status == "ready" && r.ModelVersion == v1.ID
	})
	want := first.mustPredict(t, v1.ID)
	first.stop(t, 15*time.Second)

	// The cache: a 0700 directory, the entry and the verified model file.
	if st, err := os.Stat(cacheDir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("cache dir %s: %v; want mode 0700", cacheDir, err)
	}
	var e cacheEntry
	b, err := os.ReadFile(filepath.Join(cacheDir, "champion.json"))
	if err == nil {
		err = json.Unmarshal(b, &e)
	}
	if err != nil || e.Version != v1.ID || e.SHA256 != v1.ONNX.SHA256 || e.Alias != "champion" || e.ONNX.VersionID != v1.ONNX.VersionID {
		t.Fatalf("cached entry %s (%v); want version %s sha256 %s", b, err, v1.ID, v1.ONNX.SHA256)
	}
	data, err := os.ReadFile(filepath.Join(cacheDir, "models", v1.ONNX.SHA256+".onnx"))
	if err != nil || onnxrt.SHA256Hex(data) != v1.ONNX.SHA256 {
		t.Fatalf("cached model file: %v", err)
	}

	o.minio.Kill()
	second := startServe(t, o.env)
	r := second.waitReadyz(t, "the cached champion to be served", func(code int, r readyz) bool {
		return code == http.StatusOK && r.ModelVersion != ""
	})
	if r.Status != "degraded" || r.ServedFrom != "fallback" || r.ModelVersion != v1.ID ||
		!strings.HasPrefix(r.Reason, "registry unreachable at start; serving cached "+v1.ID) || !strings.Contains(r.LastError, "MinIO at "+o.minio.Endpoint) {
		t.Fatalf("readiness when started from the cache = %+v", r)
	}
	t.Logf("started from the cache: %s", r.Reason)
	m := second.model(t)
	if m.Version != v1.ID || m.SHA256 != v1.ONNX.SHA256 || m.ServedFrom != "fallback" || m.FallbackReason != r.Reason {
		t.Fatalf("/v1/model when started from the cache = %+v", m)
	}
	if got := second.mustPredict(t, v1.ID); got != want {
		t.Fatalf("scores from the cached model %s; the registry's model gave %s", got, want)
	}

	if err := o.minio.Restart(); err != nil {
		t.Fatal(err)
	}
	r = second.waitReadyz(t, "readiness once the registry answers", func(code int, r readyz) bool {
		return code == http.StatusOK && r.Status == "ready"
	})
	if r.ServedFrom != "source" || r.ModelVersion != v1.ID {
		t.Fatalf("readiness once the registry answers = %+v", r)
	}
	if m := second.model(t); m.ServedFrom != "source" || m.FallbackReason != "" {
		t.Fatalf("/v1/model once the registry answers = %+v", m)
	}
	second.stop(t, 15*time.Second)
}

// TestIntegrationServeRefusesTamperedCache: with MinIO down, a cached model
// file whose bytes were changed is refused (sha256 mismatch with the cached
// registry entry): serve is not ready, says why, and scores nothing; once
// MinIO is back it serves the champion from the registry and repairs the
// cache.
func TestIntegrationServeRefusesTamperedCache(t *testing.T) {
	cacheDir := filepath.Join(t.TempDir(), "serve-cache")
	o := newOwnRegistry(t, cacheDir)
	v1 := o.champion(t, 3)
	first := startServe(t, o.env)
	first.waitReadyz(t, "the champion to be served", func(code int, r readyz) bool {
		return code == http.StatusOK && r.Status == "ready" && r.ModelVersion == v1.ID
	})
	first.stop(t, 15*time.Second)

	o.minio.Kill()
	file := filepath.Join(cacheDir, "models", v1.ONNX.SHA256+".onnx")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff // same size, different bytes
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	second := startServe(t, o.env)
	r := second.waitReadyz(t, "the tampered cache to be refused", func(code int, r readyz) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(r.Reason, "local model cache")
	})
	if r.Status != "not_ready" || !strings.Contains(r.Reason, "tampered") || !strings.Contains(r.Reason, onnxrt.SHA256Hex(data)) ||
		!strings.Contains(r.Reason, v1.ONNX.SHA256) || !strings.Contains(r.Reason, "unreachable") {
		t.Fatalf("readiness with a tampered cache = %+v", r)
	}
	t.Logf("refused: %s", r.Reason)
	if code, _, errCode, err := second.predict(); err != nil || code != http.StatusServiceUnavailable || errCode != "no_model" {
		t.Fatalf("predict with a tampered cache = %d %q %v; want 503 no_model", code, errCode, err)
	}
	if !strings.Contains(second.logs.String(), "tampered") {
		t.Fatalf("the log does not report the tampered cache:\n%s", second.logs.String())
	}

	if err := o.minio.Restart(); err != nil {
		t.Fatal(err)
	}
	r = second.waitReadyz(t, "the registry's champion once MinIO is back", func(code int, r readyz) bool {
		return code == http.StatusOK && r.Status == "ready"
	})
	if r.ModelVersion != v1.ID || r.ServedFrom != "source" {
		t.Fatalf("readiness once MinIO is back = %+v", r)
	}
	second.mustPredict(t, v1.ID)
	if data, err := os.ReadFile(file); err != nil || onnxrt.SHA256Hex(data) != v1.ONNX.SHA256 {
		t.Fatalf("the tampered cache file was not replaced by the registry's bytes (%v)", err)
	}
	second.stop(t, 15*time.Second)
}

// hungMinIO accepts TCP connections and never answers, like a MinIO whose
// disk or process is stuck; it counts the connections.
func hungMinIO(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), &accepted
}

// TestIntegrationServeHungMinIO points `clvflow serve` at a MinIO that accepts
// connections but never answers. With a short serving.reload_timeout the
// reload gives up and serve starts from its verified local cache; with a
// reload_timeout of an hour, SIGTERM still stops serve promptly while a
// reload hangs.
func TestIntegrationServeHungMinIO(t *testing.T) {
	testenv.RequireIntegration(t)
	onnxrttest.RequireORT(t)
	endpoint, accepted := hungMinIO(t)
	cacheDir := filepath.Join(t.TempDir(), "serve-cache")
	mc, err := openModelCache(cacheDir, "champion")
	if err != nil {
		t.Fatal(err)
	}
	model := onnxrttest.MustBuild(onnxrttest.Spec{Seed: 5, Version: "v-cached"})
	if err := mc.putModel(model.SHA256, model.Bytes); err != nil {
		t.Fatal(err)
	}
	if err := mc.commit(cacheEntry{Alias: "champion", Version: "v-cached", SHA256: model.SHA256, CachedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"CLVFLOW_CONFIG=",
		"CLVFLOW_STORAGE_ENDPOINT=" + endpoint,
		"CLVFLOW_STORAGE_ACCESS_KEY=hung", "CLVFLOW_STORAGE_SECRET_KEY=hung-secret",
		"CLVFLOW_SERVING_RELOAD_INTERVAL=200ms",
		"CLVFLOW_SERVING_CACHE_DIR=" + cacheDir,
	}

	p := startServe(t, append(env, "CLVFLOW_SERVING_RELOAD_TIMEOUT=1s"))
	r := p.waitReadyz(t, "the cached model after the reload deadline", func(code int, r readyz) bool {
		return code == http.StatusOK && r.ModelVersion != ""
	})
	if r.Status != "degraded" || r.ServedFrom != "fallback" || r.ModelVersion != "v-cached" ||
		!strings.HasPrefix(r.Reason, "registry unreachable at start; serving cached v-cached") || !strings.Contains(r.LastError, "deadline exceeded") {
		t.Fatalf("readiness against a hung MinIO = %+v", r)
	}
	p.mustPredict(t, "v-cached")
	p.waitReadyz(t, "later reloads to time out too", func(code int, r readyz) bool {
		return code == http.StatusOK && r.ConsecutiveFailures >= 3
	})
	p.stop(t, 15*time.Second)

	// An hour-long reload timeout: a reload hangs when SIGTERM comes.
	p = startServe(t, append(env, "CLVFLOW_SERVING_RELOAD_TIMEOUT=1h"))
	before := accepted.Load()
	p.waitReadyz(t, "serve to listen with a reload hanging", func(code int, r readyz) bool {
		// The start-up check's connection, then the first reload's.
		return code == http.StatusServiceUnavailable && accepted.Load() >= before+2
	})
	took := p.stop(t, 10*time.Second)
	t.Logf("SIGTERM with a hung reload: exited in %v", took)
}

// TestIntegrationServeUnwritableCacheDir: a serving.cache_dir that cannot be
// created (a read-only root file system) does not stop serve: it warns and
// runs without the cache, reporting the unreachable registry in /readyz.
func TestIntegrationServeUnwritableCacheDir(t *testing.T) {
	testenv.RequireIntegration(t)
	port, err := testenv.FreePort() // nothing listens there: connections are refused
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServe(t, []string{
		"CLVFLOW_CONFIG=",
		fmt.Sprintf("CLVFLOW_STORAGE_ENDPOINT=127.0.0.1:%d", port),
		"CLVFLOW_STORAGE_ACCESS_KEY=none", "CLVFLOW_STORAGE_SECRET_KEY=none-secret",
		"CLVFLOW_SERVING_RELOAD_INTERVAL=200ms",
		"CLVFLOW_SERVING_CACHE_DIR=" + filepath.Join(file, "cache"),
	})
	r := p.waitReadyz(t, "a failed reload to be reported", func(code int, r readyz) bool {
		return code == http.StatusServiceUnavailable && r.ConsecutiveFailures >= 1
	})
	if r.Status != "not_ready" || !strings.Contains(r.Reason, "unreachable") || strings.Contains(r.Reason, "local copy") {
		t.Fatalf("readiness without a cache = %+v", r)
	}
	if !strings.Contains(p.logs.String(), "local model cache disabled") {
		t.Fatalf("no warning about the disabled cache in the log:\n%s", p.logs.String())
	}
	p.stop(t, 15*time.Second)
}
