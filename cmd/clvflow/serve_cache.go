package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/scoring"
	"github.com/clvflow/clvflow/serving"
)

// modelCache is `clvflow serve`'s local verified cache of the model it last
// loaded from the registry, so that it can start while MinIO is unreachable.
// Layout of its directory (serving.cache_dir, 0700, files 0600):
//
//	<alias>.json          the registry entry of the served model (cacheEntry)
//	models/<sha256>.onnx  model files, named by their sha256
//
// Every file is written atomically (temporary file, fsync, rename), the model
// file before the entry that names it, so a crash never leaves an entry
// without its file. A model file is only ever used after its sha256 has been
// checked against its name and the entry.
type modelCache struct {
	dir   string
	alias string
}

// cacheEntry is the registry entry a cached model came from.
type cacheEntry struct {
	Alias     string        `json:"alias"`
	Version   string        `json:"version"`
	SHA256    string        `json:"sha256"`
	Size      int64         `json:"size"`
	ModelName string        `json:"model_name,omitempty"`
	ModelKind string        `json:"model_kind,omitempty"`
	ONNX      artifacts.Ref `json:"onnx,omitzero"`
	CachedAt  time.Time     `json:"cached_at"`
}

// keepModels is how many model files besides the entry's are kept, so a
// rollback served from the in-memory session cache finds its file.
const keepModels = 2

// openModelCache creates dir (0700) and its models/ directory when missing.
func openModelCache(dir, alias string) (*modelCache, error) {
	if err := os.MkdirAll(filepath.Join(dir, "models"), 0o700); err != nil {
		return nil, fmt.Errorf("serve: local model cache (serving.cache_dir): %w", err)
	}
	return &modelCache{dir: dir, alias: alias}, nil
}

func (c *modelCache) entryPath() string { return filepath.Join(c.dir, c.alias+".json") }

func (c *modelCache) modelPath(sha string) string {
	return filepath.Join(c.dir, "models", sha+".onnx")
}

// readModel returns the cached file of sha after checking its sha256; a
// missing file wraps fs.ErrNotExist.
func (c *modelCache) readModel(sha string) ([]byte, error) {
	if !artifacts.ValidSHA256(sha) {
		return nil, fmt.Errorf("local model cache: %q is not a sha256", sha)
	}
	p := c.modelPath(sha)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("local model cache: %w", err)
	}
	if got := onnxrt.SHA256Hex(data); got != sha {
		return nil, fmt.Errorf("local model cache: %s has sha256 %s, but the cached registry entry says %s: the file is corrupt or was tampered with; refusing it (the next fetch from the registry replaces it)", p, got, sha)
	}
	return data, nil
}

// putModel stores data as the file of sha, after checking it.
func (c *modelCache) putModel(sha string, data []byte) error {
	if got := onnxrt.SHA256Hex(data); got != sha || !artifacts.ValidSHA256(sha) {
		return fmt.Errorf("local model cache: refusing to store bytes with sha256 %s as %q", got, sha)
	}
	return writeAtomic(c.modelPath(sha), data)
}

// load returns the cached entry of the alias after checking its model file
// against it.
func (c *modelCache) load() (cacheEntry, error) {
	b, err := os.ReadFile(c.entryPath())
	if errors.Is(err, fs.ErrNotExist) {
		return cacheEntry{}, fmt.Errorf("local model cache: no cached %s in %s (this host has not served one from the registry yet)", c.alias, c.dir)
	}
	if err != nil {
		return cacheEntry{}, fmt.Errorf("local model cache: %w", err)
	}
	var e cacheEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return cacheEntry{}, fmt.Errorf("local model cache: %s is not a cache entry: %w", c.entryPath(), err)
	}
	if e.Alias != c.alias || e.Version == "" || !artifacts.ValidSHA256(e.SHA256) {
		return cacheEntry{}, fmt.Errorf("local model cache: %s is incomplete or for another alias (alias %q, version %q, sha256 %q)", c.entryPath(), e.Alias, e.Version, e.SHA256)
	}
	if _, err := c.readModel(e.SHA256); err != nil {
		return cacheEntry{}, fmt.Errorf("cached %s %s: %w", c.alias, e.Version, err)
	}
	return e, nil
}

// commit records e as the served model (its file must be stored) and
// removes older model files.
func (c *modelCache) commit(e cacheEntry) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(c.entryPath(), append(b, '\n')); err != nil {
		return err
	}
	return c.prune(e.SHA256)
}

// prune keeps the model file of keep and the keepModels newest others.
func (c *modelCache) prune(keep string) error {
	dir := filepath.Join(c.dir, "models")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	type file struct {
		name string
		mod  time.Time
	}
	var files []file
	for _, de := range ents {
		name := de.Name()
		if name == keep+".onnx" || de.IsDir() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue
		}
		if strings.HasPrefix(name, ".tmp-") && time.Since(info.ModTime()) < time.Hour {
			continue // perhaps being written by another process
		}
		files = append(files, file{name, info.ModTime()})
	}
	slices.SortFunc(files, func(a, b file) int { return b.mod.Compare(a.mod) })
	var errs []error
	kept := 0
	for _, f := range files {
		if !strings.HasPrefix(f.name, ".tmp-") && kept < keepModels {
			kept++
			continue
		}
		if err := os.Remove(filepath.Join(dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// writeAtomic writes data to path through a temporary file in the same
// directory (0600, fsynced) renamed over path, then fsyncs the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("local model cache: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("local model cache: write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: the rename is durable on most file systems without it
		d.Close()
	}
	return nil
}

// cachingSource is the registry source of `clvflow serve` with the local
// cache: it stores every model fetched from the registry, records the
// registry entry of each model the server loads, and, while no model from
// the registry has been served yet (at start), answers Current from the
// cache when the registry is unreachable — as a serving.FallbackError, so
// the server reports itself degraded until the registry answers.
type cachingSource struct {
	src   registryModels
	cache *modelCache
	log   *slog.Logger
	// ctx and timeout bound the rare re-fetch after a swap to a model whose
	// file is not cached (the serve command's context and reload timeout).
	ctx     context.Context
	timeout time.Duration

	mu       sync.Mutex
	loaded   bool // the server has served a model the registry named
	fellBack bool // the last Current answered from the cache
}

// registryModels is the registry side of a cachingSource (*registrySource).
type registryModels interface {
	serving.ModelSource
	// resolved returns the registry record of version when Current resolved it last.
	resolved(version string) (registry.Version, bool)
}

// DriftReference implements serving.DriftReferenceSource through the
// registry (the local cache keeps no training features).
func (c *cachingSource) DriftReference(ctx context.Context, ref serving.ModelRef, m *onnxrt.Model) (*scoring.DriftReference, error) {
	d, ok := c.src.(serving.DriftReferenceSource)
	if !ok {
		return nil, errors.New("the model source keeps no drift references")
	}
	return d.DriftReference(ctx, ref, m)
}

// Current implements serving.ModelSource.
func (c *cachingSource) Current(ctx context.Context) (serving.ModelRef, error) {
	ref, err := c.src.Current(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fellBack = false
	if err == nil || c.loaded || !isUnreachable(err) {
		return ref, err
	}
	e, cerr := c.cache.load()
	if cerr != nil {
		return serving.ModelRef{}, fmt.Errorf("%w; and no verified local copy to serve meanwhile: %w", err, cerr)
	}
	c.fellBack = true
	return serving.ModelRef{Version: e.Version, SHA256: e.SHA256}, &serving.FallbackError{
		Reason: fmt.Sprintf("registry unreachable at start; serving cached %s (verified local copy in %s, cached %s)", e.Version, c.cache.dir, e.CachedAt.Format(time.RFC3339)),
		Err:    err,
	}
}

// Fetch implements serving.ModelSource: the verified local file when there
// is one, else the registry's (then stored locally). A model named by the
// cache is only ever read from the cache.
func (c *cachingSource) Fetch(ctx context.Context, ref serving.ModelRef) ([]byte, error) {
	c.mu.Lock()
	fellBack := c.fellBack
	c.mu.Unlock()
	data, err := c.cache.readModel(ref.SHA256)
	if err == nil || fellBack {
		return data, err
	}
	if !errors.Is(err, fs.ErrNotExist) {
		c.log.Warn("ignoring a bad local copy; fetching the model from the registry", "version", ref.Version, "err", err)
	}
	if data, err = c.src.Fetch(ctx, ref); err != nil {
		return nil, err
	}
	if err := c.cache.putModel(ref.SHA256, data); err != nil {
		c.log.Warn("cannot store the model in the local cache", "version", ref.Version, "dir", c.cache.dir, "err", err)
	}
	return data, nil
}

// observe is the server's reload hook: once a model the registry named is
// served, record it as the cached entry.
func (c *cachingSource) observe(res serving.ReloadResult) {
	if res.Err != nil || res.Fallback != nil || res.Ref.Version == "" {
		return
	}
	c.mu.Lock()
	c.loaded = true
	c.mu.Unlock()
	if !res.Swapped {
		return
	}
	if err := c.record(res.Ref); err != nil {
		c.log.Warn("cannot update the local model cache; a start while MinIO is unreachable would lack this model", "version", res.Ref.Version, "dir", c.cache.dir, "err", err)
	}
}

func (c *cachingSource) record(ref serving.ModelRef) error {
	if _, err := c.cache.readModel(ref.SHA256); err != nil {
		// Swapped in from the in-memory session cache after its file was
		// pruned (or removed by hand): fetch it again.
		ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
		data, err := c.src.Fetch(ctx, ref)
		cancel()
		if err != nil {
			return err
		}
		if err := c.cache.putModel(ref.SHA256, data); err != nil {
			return err
		}
	}
	e := cacheEntry{Alias: c.cache.alias, Version: ref.Version, SHA256: ref.SHA256, CachedAt: time.Now().UTC()}
	if v, ok := c.src.resolved(ref.Version); ok && v.ONNX.SHA256 == ref.SHA256 {
		e.Size, e.ModelName, e.ModelKind, e.ONNX = v.ONNX.Size, v.ModelName, v.ModelKind, v.ONNX
	}
	if err := c.cache.commit(e); err != nil {
		return err
	}
	c.log.Info("local model cache updated", "version", ref.Version, "sha256", ref.SHA256, "dir", c.cache.dir)
	return nil
}

// isUnreachable reports whether err means the registry's MinIO could not be
// asked (refused, reset, timed out, DNS, 5xx), as opposed to an answer such
// as "alias not found" or "access denied".
func isUnreachable(err error) bool {
	if err == nil {
		return false
	}
	switch artifacts.KindOf(err) {
	case artifacts.Unreachable, artifacts.Transient:
		return true
	}
	var ne net.Error
	var er minio.ErrorResponse
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne):
		return true
	case errors.As(err, &er):
		return er.StatusCode >= 500
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET)
}
