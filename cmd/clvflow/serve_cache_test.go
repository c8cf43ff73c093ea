package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/serving"
)

// fakeRegistry is a registryModels whose answers the test sets.
type fakeRegistry struct {
	mu      sync.Mutex
	err     error // returned by Current and Fetch when set
	ref     serving.ModelRef
	data    map[string][]byte // by sha256
	fetches int
}

func (f *fakeRegistry) Current(context.Context) (serving.ModelRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return serving.ModelRef{}, f.err
	}
	return f.ref, nil
}

func (f *fakeRegistry) Fetch(_ context.Context, ref serving.ModelRef) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fetches++
	if f.err != nil {
		return nil, f.err
	}
	return f.data[ref.SHA256], nil
}

func (f *fakeRegistry) resolved(version string) (registry.Version, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if version != f.ref.Version {
		return registry.Version{}, false
	}
	return registry.Version{ID: version, ModelName: "m", ModelKind: "ziln", ONNX: artifacts.Ref{Bucket: "b", Key: "k", SHA256: f.ref.SHA256, Size: int64(len(f.data[f.ref.SHA256]))}}, true
}

func (f *fakeRegistry) set(ref serving.ModelRef, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ref, f.err = ref, err
}

func (f *fakeRegistry) add(version, content string) serving.ModelRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	sha := onnxrt.SHA256Hex([]byte(content))
	if f.data == nil {
		f.data = map[string][]byte{}
	}
	f.data[sha] = []byte(content)
	return serving.ModelRef{Version: version, SHA256: sha}
}

func newTestCachingSource(t *testing.T, dir string, reg *fakeRegistry) *cachingSource {
	t.Helper()
	mc, err := openModelCache(dir, "champion")
	if err != nil {
		t.Fatal(err)
	}
	return &cachingSource{src: reg, cache: mc, log: slog.New(slog.DiscardHandler), ctx: context.Background(), timeout: time.Second}
}

// TestServeCacheFallsBackOnlyWhenUnreachableAtStart drives the caching
// source like the server does: a first run stores the registry's model and
// entry; a second run with the registry unreachable answers from the cache
// (verified) as a FallbackError; a tampered or missing cache is refused with
// a clear error; registry answers (even errors that are answers) and any
// model served from the registry end the fallback.
func TestServeCacheFallsBackOnlyWhenUnreachableAtStart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "serve-cache")
	ctx := context.Background()
	reg := &fakeRegistry{}
	v1 := reg.add("v1", "model one")
	reg.set(v1, nil)
	refused := fmt.Errorf("model registry unreachable (MinIO at 127.0.0.1:1): %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})

	// First run: nothing cached; the registry is unreachable: a clear error.
	cs := newTestCachingSource(t, dir, reg)
	reg.set(serving.ModelRef{}, refused)
	if _, err := cs.Current(ctx); err == nil || !errors.Is(err, refused) || !strings.Contains(err.Error(), "no cached champion in "+dir) {
		t.Fatalf("Current without cache, registry down = %v", err)
	}
	for _, p := range []string{dir, filepath.Join(dir, "models")} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("%s: %v, mode %v; want a 0700 directory", p, err, st.Mode())
		}
	}
	// The registry answers: its model is fetched, stored and recorded.
	reg.set(v1, nil)
	ref, err := cs.Current(ctx)
	if err != nil || ref != v1 {
		t.Fatalf("Current = %+v, %v", ref, err)
	}
	data, err := cs.Fetch(ctx, ref)
	if err != nil || string(data) != "model one" {
		t.Fatalf("Fetch = %q, %v", data, err)
	}
	cs.observe(serving.ReloadResult{Ref: v1, Swapped: true})
	e, err := cs.cache.load()
	if err != nil || e.Version != "v1" || e.SHA256 != v1.SHA256 || e.Alias != "champion" || e.ModelName != "m" || e.ONNX.Key != "k" || e.Size != int64(len("model one")) {
		t.Fatalf("cached entry = %+v, %v", e, err)
	}
	for _, p := range []string{cs.cache.entryPath(), cs.cache.modelPath(v1.SHA256)} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v; want a 0600 file", p, err)
		}
	}
	// Later the registry goes away: the served model stays (the server's
	// job); the source does not fall back any more.
	reg.set(serving.ModelRef{}, refused)
	if _, err := cs.Current(ctx); err == nil || errors.As(err, new(*serving.FallbackError)) {
		t.Fatalf("Current after a registry model was served = %v; want the plain error", err)
	}

	// Second run, registry unreachable at start: the verified cache answers.
	cs = newTestCachingSource(t, dir, reg)
	fetches := reg.fetches
	ref, err = cs.Current(ctx)
	var fb *serving.FallbackError
	if !errors.As(err, &fb) || ref != v1 || !errors.Is(err, refused) ||
		!strings.HasPrefix(fb.Reason, "registry unreachable at start; serving cached v1") {
		t.Fatalf("Current from the cache = %+v, %v", ref, err)
	}
	data, err = cs.Fetch(ctx, ref)
	if err != nil || string(data) != "model one" || reg.fetches != fetches {
		t.Fatalf("Fetch from the cache = %q, %v (registry fetches %d → %d)", data, err, fetches, reg.fetches)
	}
	// A fallback result is not recorded as a registry model.
	cs.observe(serving.ReloadResult{Ref: v1, Swapped: true, Fallback: fb})
	if _, err := cs.Current(ctx); !errors.As(err, new(*serving.FallbackError)) {
		t.Fatalf("Current after serving the fallback = %v; want the fallback again until the registry answers", err)
	}
	// An answer that is not "unreachable" is not a reason to fall back.
	reg.set(serving.ModelRef{}, fmt.Errorf("registry: alias %q: %w", "champion", registry.ErrNotFound))
	if _, err := cs.Current(ctx); err == nil || errors.As(err, new(*serving.FallbackError)) {
		t.Fatalf("Current with alias not found = %v; want the plain error", err)
	}

	// Third run: the cached file was tampered with: refused, clearly.
	reg.set(serving.ModelRef{}, refused)
	if err := os.WriteFile(cs.cache.modelPath(v1.SHA256), []byte("model 1ne"), 0o600); err != nil {
		t.Fatal(err)
	}
	cs = newTestCachingSource(t, dir, reg)
	_, err = cs.Current(ctx)
	if err == nil || errors.As(err, new(*serving.FallbackError)) || !strings.Contains(err.Error(), "tampered") ||
		!strings.Contains(err.Error(), onnxrt.SHA256Hex([]byte("model 1ne"))) || !strings.Contains(err.Error(), v1.SHA256) {
		t.Fatalf("Current with a tampered cache = %v", err)
	}
	// Once the registry answers, the bad copy is replaced by a fetch.
	reg.set(v1, nil)
	if ref, err := cs.Current(ctx); err != nil || ref != v1 {
		t.Fatalf("Current = %+v, %v", ref, err)
	}
	if data, err := cs.Fetch(ctx, v1); err != nil || string(data) != "model one" {
		t.Fatalf("Fetch replacing the tampered copy = %q, %v", data, err)
	}
	if _, err := cs.cache.load(); err != nil {
		t.Fatalf("cache after the re-fetch: %v", err)
	}

	// Missing model file behind a valid entry: refused.
	os.Remove(cs.cache.modelPath(v1.SHA256))
	reg.set(serving.ModelRef{}, refused)
	cs = newTestCachingSource(t, dir, reg)
	if _, err := cs.Current(ctx); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("Current with the model file missing = %v", err)
	}
}

// TestServeCacheRecordsSwapsAndPrunes: a swap to a model whose file is not
// cached (a rollback served from the session cache) re-fetches it; old
// model files are pruned; no temporary file is left behind.
func TestServeCacheRecordsSwapsAndPrunes(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	reg := &fakeRegistry{}
	cs := newTestCachingSource(t, dir, reg)
	var refs []serving.ModelRef
	for i := range 5 {
		ref := reg.add(fmt.Sprintf("v%d", i+1), fmt.Sprintf("model %d", i+1))
		refs = append(refs, ref)
		reg.set(ref, nil)
		if _, err := cs.Current(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.Fetch(ctx, ref); err != nil {
			t.Fatal(err)
		}
		cs.observe(serving.ReloadResult{Ref: ref, Swapped: true})
	}
	files, _ := filepath.Glob(filepath.Join(dir, "models", "*"))
	if len(files) != 1+keepModels {
		t.Fatalf("models/ holds %v; want the entry's model and %d more", files, keepModels)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "*", ".tmp-*")); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	// Roll back to v1 (pruned) without a Fetch, as a session-cache hit does.
	reg.set(refs[0], nil)
	if _, err := cs.Current(ctx); err != nil {
		t.Fatal(err)
	}
	before := reg.fetches
	cs.observe(serving.ReloadResult{Ref: refs[0], Swapped: true})
	if e, err := cs.cache.load(); err != nil || e.Version != "v1" || reg.fetches != before+1 {
		t.Fatalf("after a rollback to v1: entry %+v, %v, re-fetches %d", e, err, reg.fetches-before)
	}
}

func TestServeIsUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("x: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("x: %w", io.ErrUnexpectedEOF), true},
		{&artifacts.Error{Kind: artifacts.Unreachable}, true},
		{&artifacts.Error{Kind: artifacts.Transient}, true},
		{fmt.Errorf("x: %w", minio.ErrorResponse{Code: "XMinioServerNotInitialized", StatusCode: 503}), true},
		{fmt.Errorf("x: %w", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}), false},
		{&artifacts.Error{Kind: artifacts.BadCredentials}, false},
		{&artifacts.Error{Kind: artifacts.Integrity}, false},
		{fmt.Errorf("x: %w", registry.ErrNotFound), false},
		{context.Canceled, false},
		{nil, false},
	} {
		if got := isUnreachable(tc.err); got != tc.want {
			t.Errorf("isUnreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
