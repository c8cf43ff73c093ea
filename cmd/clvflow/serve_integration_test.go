package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
	"github.com/clvflow/clvflow/registry"
)

// registerTestModel stores an ONNX file and registers it as a version.
func registerTestModel(t *testing.T, s *stack, reg *registry.Registry, seed uint64) registry.Version {
	t.Helper()
	ctx := context.Background()
	m := onnxrttest.MustBuild(onnxrttest.Spec{Seed: seed, Version: fmt.Sprintf("test-%d", seed)})
	st := s.store(t)
	if err := st.EnsureBucket(ctx, s.buckets[1]); err != nil {
		t.Fatal(err)
	}
	ref, err := st.PutBytes(ctx, s.buckets[1], "onnx", m.Bytes, artifacts.PutOptions{ContentType: "application/onnx"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := reg.Register(ctx, registry.Version{
		ModelName: "test-ziln", ModelKind: "ziln", Seed: seed,
		Dataset: registry.DatasetRef{Raw: ref, Clean: ref},
		Gate:    registry.NewGate(registry.NewCheck("test", 1, registry.OpGE, 0)),
		ONNX:    ref,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestIntegrationServeFollowsChampion starts `clvflow serve` on the real
// registry, scores customers, moves the champion while clients keep
// sending requests, and checks that no request failed and the new version
// answers afterwards; then that a tampered model is refused.
func TestIntegrationServeFollowsChampion(t *testing.T) {
	s := newStack(t, false)
	bin := clvflowBinary(t)
	a := &app{out: io.Discard, errOut: io.Discard}
	a.root = newRootCmd(a.out, a.errOut)
	ctx := context.Background()
	reg, err := a.openRegistry(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v1 := registerTestModel(t, s, reg, 1)
	v2 := registerTestModel(t, s, reg, 2)
	if _, err := reg.MoveAlias(ctx, registry.Move{Alias: "champion", To: v1.ID, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "serve", "--listen", addr, "--log-level", "warn")
	cmd.Env = append(os.Environ(), "CLVFLOW_SERVING_RELOAD_INTERVAL=200ms", "CLVFLOW_SERVING_CACHE_DIR="+t.TempDir())
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	base := "http://" + addr
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; server log:\n%s", what, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	servedVersion := func() string { return servedVersionAt(base) }
	waitFor("the champion to be served", func() bool { return servedVersion() == v1.ID })

	body := []byte(`{"customers":[{"id":"c1","features":{"x":3,"t_x":20,"T":38,"recency":18,"cal_spend":120.5,"mbar":30.1,"first_value":30}},` +
		`{"id":"c2","features":{"x":0,"t_x":0,"T":10,"recency":10,"cal_spend":15,"mbar":0,"first_value":15}}]}`)
	var ok, failed atomic.Int64
	seen := sync.Map{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 4; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Post(base+"/v1/predict", "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				var out struct {
					ModelVersion string `json:"model_version"`
					Predictions  []struct {
						ExpectedValue float64 `json:"expected_value"`
					} `json:"predictions"`
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || len(out.Predictions) != 2 {
					failed.Add(1)
					continue
				}
				seen.Store(out.ModelVersion, true)
				ok.Add(1)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := reg.MoveAlias(ctx, registry.Move{Alias: "champion", To: v2.ID, Actor: "test", Reason: "swap under load"}); err != nil {
		t.Fatal(err)
	}
	waitFor("the new champion", func() bool { return servedVersion() == v2.ID })
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the swap; log:\n%s", failed.Load(), failed.Load()+ok.Load(), logs.String())
	}
	for _, v := range []string{v1.ID, v2.ID} {
		if _, ok := seen.Load(v); !ok {
			t.Errorf("no response from %s", v)
		}
	}
	t.Logf("%d requests during the swap, 0 failed", ok.Load())

	// Metrics expose the reload.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	var reloadLine bool
	for sc.Scan() {
		if strings.Contains(sc.Text(), "reload") && !strings.HasPrefix(sc.Text(), "#") {
			reloadLine = true
		}
	}
	resp.Body.Close()
	if !reloadLine {
		t.Error("/metrics has no reload counter")
	}

	// A model whose stored bytes do not match its registered sha256 is
	// refused: nothing is served from it and v2 keeps answering.
	other := onnxrttest.MustBuild(onnxrttest.Spec{Seed: 4})
	st := s.store(t)
	ref, err := st.PutBytes(ctx, s.buckets[1], "onnx", other.Bytes, artifacts.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claimed := onnxrttest.MustBuild(onnxrttest.Spec{Seed: 3})
	bad, err := reg.Register(ctx, registry.Version{
		ModelName: "test-ziln", ModelKind: "ziln", Seed: 3,
		Dataset: registry.DatasetRef{Raw: ref, Clean: ref},
		Gate:    registry.NewGate(registry.NewCheck("test", 1, registry.OpGE, 0)),
		ONNX:    artifacts.Ref{Bucket: ref.Bucket, Key: ref.Key, VersionID: ref.VersionID, SHA256: claimed.SHA256, Size: ref.Size},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.MoveAlias(ctx, registry.Move{Alias: "champion", To: bad.ID, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	waitFor("the integrity failure to be logged", func() bool {
		return strings.Contains(strings.ToLower(logs.String()), "integrity") || strings.Contains(logs.String(), "sha256")
	})
	if got := servedVersion(); got != v2.ID {
		t.Fatalf("after a tampered champion the server serves %q, want it to keep %s", got, v2.ID)
	}
}

// syncBuffer is a bytes.Buffer safe for a writing process and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// servedVersionAt is the version serve at base answers with ("" while it
// does not answer).
func servedVersionAt(base string) string {
	resp, err := http.Get(base + "/v1/model")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var m struct {
		Version string `json:"version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m.Version
}
