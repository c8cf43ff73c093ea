package serving

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// TestHotSwapUnderLoad hammers /v1/predict from several clients while the
// alias moves v1 → v2 → … → v5 and back to v4 (a rollback served from the
// session cache). Every response must be 200 and numerically the answer of
// the version it names; afterwards the last version answers.
func TestHotSwapUnderLoad(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	versions := []string{"v1", "v2", "v3", "v4", "v5"}
	for i, v := range versions {
		d.add(v, onnxrttest.Spec{Seed: uint64(100 + i)})
	}
	d.point("v1")
	cache := onnxrt.NewCache(1)
	defer cache.Close()
	s := New(Config{}, d, WithLogger(quietLogger(t)), WithCache(cache))
	defer s.Close()
	if _, err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	f, _ := onnxrttest.Rows(8, 7, 0)
	body := predictBody(f, nil)
	const clients = 6
	var (
		done      = make(chan struct{})
		progress  = make(chan struct{}, 1)
		completed atomic.Int64
		failures  atomic.Int64
		firstErr  sync.Once
		errMsg    error
		seenMu    sync.Mutex
		seen      = map[string]int{}
		wg        sync.WaitGroup
	)
	fail := func(err error) {
		failures.Add(1)
		firstErr.Do(func() { errMsg = err })
	}
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				code, resp, err := post(ts.Client(), ts.URL+"/v1/predict", "", body)
				switch {
				case err != nil:
					fail(err)
				case code != http.StatusOK:
					fail(fmt.Errorf("status %d: %+v", code, resp.Error))
				case d.models[resp.ModelVersion] == nil:
					fail(fmt.Errorf("unknown model_version %q", resp.ModelVersion))
				default:
					if err := checkAgainst(d.models[resp.ModelVersion], f, nil, resp.Predictions); err != nil {
						fail(err)
					}
					seenMu.Lock()
					seen[resp.ModelVersion]++
					seenMu.Unlock()
				}
				completed.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	// waitFor blocks until n more requests have completed.
	waitFor := func(n int64) {
		target := completed.Load() + n
		for completed.Load() < target {
			<-progress
		}
	}
	waitFor(30)
	for _, v := range append(versions[1:], "v4") {
		d.point(v)
		swapped, err := s.Reload(context.Background())
		if err != nil || !swapped {
			t.Fatalf("Reload to %s = %v, %v", v, swapped, err)
		}
		waitFor(30)
	}
	close(done)
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during hot swaps; first: %v", n, completed.Load(), errMsg)
	}
	t.Logf("%d requests, by answering version: %v", completed.Load(), seen)
	code, resp, err := post(ts.Client(), ts.URL+"/v1/predict", "", body)
	if err != nil || code != http.StatusOK || resp.ModelVersion != "v4" {
		t.Fatalf("after swaps: %d %q %v; want v4", code, resp.ModelVersion, err)
	}
	if err := checkAgainst(d.models["v4"], f, nil, resp.Predictions); err != nil {
		t.Fatal(err)
	}
	if n := d.fetchCount("v4"); n != 1 {
		t.Fatalf("v4 fetched %d times; the rollback should reuse the cached session", n)
	}
	if n := cache.Len(); n != 2 {
		t.Fatalf("cache holds %d sessions, want 2 (served v4 + idle v5); older ones must be closed", n)
	}
}

// TestServePollsAndShutsDown runs the real listener and polling loop: the
// first model loads by itself, moving the alias swaps it, cancelling the
// context shuts down gracefully and closes the models.
func TestServePollsAndShutsDown(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	d.add("v1", onnxrttest.Spec{Seed: 1})
	m2 := d.add("v2", onnxrttest.Spec{Seed: 2})
	d.point("v1")
	events := make(chan ReloadResult, 64)
	hook := func(r ReloadResult) {
		if r.Swapped || r.Err != nil {
			select {
			case events <- r:
			default:
			}
		}
	}
	cache := onnxrt.NewCache(0)
	s := New(Config{ReloadInterval: 5 * time.Millisecond}, d, WithLogger(quietLogger(t)), WithReloadHook(hook), WithCache(cache))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()

	waitSwap := func(version string) {
		t.Helper()
		for r := range events {
			if r.Err != nil {
				t.Fatalf("reload error: %v", r.Err)
			}
			if r.Ref.Version == version {
				return
			}
		}
	}
	waitSwap("v1")
	resp, err := http.Get(url + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("readyz = %v, %v", resp, err)
	}
	resp.Body.Close()
	d.point("v2")
	waitSwap("v2")
	f, _ := onnxrttest.Rows(4, 2, 0)
	code, pr, err := post(http.DefaultClient, url+"/v1/predict", "", predictBody(f, nil))
	if err != nil || code != http.StatusOK || pr.ModelVersion != "v2" {
		t.Fatalf("predict after swap = %d %q %v", code, pr.ModelVersion, err)
	}
	if err := checkAgainst(m2, f, nil, pr.Predictions); err != nil {
		t.Fatal(err)
	}
	if cache.Len() != 1 {
		t.Fatalf("cache of capacity 0 holds %d sessions after the swap, want 1 (v1 closed)", cache.Len())
	}

	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve after cancel = %v", err)
	}
	if _, ok := s.Current(); ok {
		t.Fatal("a model is still served after shutdown")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("listener still accepts after shutdown")
	}
	if cache.Len() != 0 {
		t.Fatalf("cache holds %d sessions after shutdown", cache.Len())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: DefaultConfig()},
		{name: "bad listen", cfg: Config{Listen: "localhost"}, wantErr: "serving.listen"},
		{name: "negative body limit", cfg: Config{MaxBodyBytes: -1}, wantErr: "serving.max_body_bytes"},
		{name: "negative interval", cfg: Config{ReloadInterval: -1}, wantErr: "serving.reload_interval"},
		{name: "negative cache", cfg: Config{CacheSize: -1}, wantErr: "cache size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.withDefaults().Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate = %v; want %q", err, tt.wantErr)
			}
		})
	}
	s := New(Config{Listen: "nohostport"}, NewDirSource(t.TempDir(), ""))
	if err := s.Run(context.Background()); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a bad listen address = %v", err)
	}
}

// TestRequestRetriesAfterSwapRace forces the race the retry exists for: a
// request picks v1, the alias moves and v1 is closed (cache capacity 0)
// before the request predicts; it must be answered by v2, not fail.
func TestRequestRetriesAfterSwapRace(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	d.add("v1", onnxrttest.Spec{Seed: 1})
	m2 := d.add("v2", onnxrttest.Spec{Seed: 2})
	d.point("v1")
	s := New(Config{CacheSize: 0}, d, WithLogger(quietLogger(t)))
	defer s.Close()
	if _, err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	var attempts []int
	s.beforePredict = func(attempt int) {
		attempts = append(attempts, attempt)
		if attempt == 0 {
			d.point("v2")
			if swapped, err := s.Reload(context.Background()); !swapped || err != nil {
				t.Errorf("Reload inside the request = %v, %v", swapped, err)
			}
		}
	}
	f, _ := onnxrttest.Rows(3, 2, 0)
	rec := doRequest(s.Handler(), http.MethodPost, "/v1/predict", "", predictBody(f, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var resp apiResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.ModelVersion != "v2" || len(attempts) != 2 {
		t.Fatalf("answered by %q after attempts %v; want v2 on the second attempt", resp.ModelVersion, attempts)
	}
	if err := checkAgainst(m2, f, nil, resp.Predictions); err != nil {
		t.Fatal(err)
	}
}
