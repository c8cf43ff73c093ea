package onnxrt

import (
	"errors"
	"fmt"
	"sync"
)

// Cache keeps at most Capacity idle sessions keyed by model version and
// sha256, so switching back to a recent version (a rollback) needs neither a
// fetch nor a new session. Models are reference-counted: Acquire hands out a
// model and counts a reference, Release drops it; only models without
// references are evicted (least recently released first) and closed. A model
// evicted while a Predict is still running is closed once that call returns
// (Model.Close waits), and later Predict calls see ErrModelClosed.
type Cache struct {
	capacity int

	mu      sync.Mutex
	entries map[string]*cacheEntry
	clock   uint64
	closed  bool
}

type cacheEntry struct {
	key     string
	ready   chan struct{} // closed when model/err are set
	model   *Model
	err     error
	refs    int
	lastUse uint64
}

// NewCache returns a cache keeping up to capacity unreferenced sessions
// (minimum 0: every model is closed as soon as its last reference goes).
func NewCache(capacity int) *Cache {
	return &Cache{capacity: max(capacity, 0), entries: map[string]*cacheEntry{}}
}

func cacheKey(version, sha string) string { return version + "@" + sha }

// Acquire returns the model for version whose file has sha256 expectedSHA256,
// loading it with fetch (then Load) when it is not cached. Concurrent
// Acquires of the same model share one load. Every successful Acquire must be
// paired with one Release.
func (c *Cache) Acquire(version, expectedSHA256 string, fetch func() ([]byte, error)) (*Model, error) {
	key := cacheKey(version, expectedSHA256)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("onnxrt: cache is closed")
	}
	e, ok := c.entries[key]
	if ok {
		e.refs++
		c.mu.Unlock()
		<-e.ready
		if e.err != nil {
			c.mu.Lock()
			e.refs--
			c.mu.Unlock()
			return nil, e.err
		}
		return e.model, nil
	}
	e = &cacheEntry{key: key, ready: make(chan struct{}), refs: 1}
	c.entries[key] = e
	c.mu.Unlock()

	model, err := c.load(version, expectedSHA256, fetch)
	c.mu.Lock()
	if err == nil && (c.closed || c.entries[key] != e) {
		err = errors.New("onnxrt: cache closed while model " + version + " was loading")
		c.mu.Unlock()
		model.Close()
		c.mu.Lock()
		model = nil
	}
	e.model, e.err = model, err
	if err != nil && c.entries[key] == e {
		delete(c.entries, key)
	}
	close(e.ready)
	c.mu.Unlock()
	return model, err
}

func (c *Cache) load(version, expectedSHA256 string, fetch func() ([]byte, error)) (*Model, error) {
	data, err := fetch()
	if err != nil {
		return nil, fmt.Errorf("onnxrt: fetch model %s: %w", version, err)
	}
	return Load(version, data, expectedSHA256)
}

// Release drops one reference to m (obtained from Acquire) and closes the
// least recently used unreferenced models beyond the capacity.
func (c *Cache) Release(m *Model) error {
	if m == nil {
		return nil
	}
	c.mu.Lock()
	e, ok := c.entries[cacheKey(m.version, m.sha256)]
	if !ok || e.model != m || e.refs == 0 {
		c.mu.Unlock()
		return fmt.Errorf("onnxrt: release of model %s that the cache does not hold a reference to", m.version)
	}
	e.refs--
	c.clock++
	e.lastUse = c.clock
	evict := c.evictLocked()
	c.mu.Unlock()
	return closeAll(evict)
}

// evictLocked removes idle entries beyond capacity, oldest first, and
// returns their models for closing outside the lock.
func (c *Cache) evictLocked() []*Model {
	var out []*Model
	for {
		idle := 0
		var oldest *cacheEntry
		for _, e := range c.entries {
			if e.refs > 0 || e.model == nil {
				continue
			}
			idle++
			if oldest == nil || e.lastUse < oldest.lastUse {
				oldest = e
			}
		}
		if idle <= c.capacity || oldest == nil {
			return out
		}
		delete(c.entries, oldest.key)
		out = append(out, oldest.model)
	}
}

func closeAll(ms []*Model) error {
	var errs []error
	for _, m := range ms {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

// Len returns the number of cached models (referenced or idle).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Close closes every cached model (waiting for their in-flight predictions)
// and makes later Acquire calls fail.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	var ms []*Model
	for _, e := range c.entries {
		if e.model != nil {
			ms = append(ms, e.model)
		}
	}
	c.entries = map[string]*cacheEntry{}
	c.mu.Unlock()
	return closeAll(ms)
}
