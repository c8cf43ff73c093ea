package activities

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/clvflow/clvflow/features"
)

// FeatureCache shares the feature sets a worker has loaded between the
// activities that use them at the same time (a pipeline's TrainModel
// activities, then Evaluate and ExportONNX), so that a worker holds one
// copy of a run's features however many activities read it.
//
// Entries are keyed by the artifact's sha256 (content-addressed: the same
// key is the same bytes). Loading is single-flight: concurrent users of a
// key wait for one load. Each user holds a reference and releases it when
// done; when the last reference goes, the set is kept for a next user only
// while the released sets together take at most the retention budget
// (least recently released dropped first), otherwise it is dropped at once.
// A failed load is not cached.
//
// The sets are shared read-only: no model fit, prediction or evaluation
// writes to a features.Set or its Customers (TestFitDoesNotMutateTheSet in
// package models checks it); a user that needs to change rows copies them.
//
// A nil *FeatureCache loads every time and shares nothing.
type FeatureCache struct {
	retain int64

	mu      sync.Mutex
	entries map[string]*featEntry
	kept    []*featEntry // released entries kept for reuse, oldest first
	keptB   int64
	loads   int
}

type featEntry struct {
	key   string
	done  chan struct{} // closed when the load ended
	set   *features.Set
	err   error
	size  int64
	users int

	indexOnce sync.Once
	index     map[string]int
}

// NewFeatureCache returns a cache that keeps released feature sets of up
// to retainBytes in total (estimated in-memory size) for a next user; 0
// drops a set as soon as its last user releases it.
func NewFeatureCache(retainBytes int64) *FeatureCache {
	return &FeatureCache{retain: max(retainBytes, 0), entries: map[string]*featEntry{}}
}

// Loads is the number of loads the cache started (for tests and logs).
func (c *FeatureCache) Loads() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loads
}

// Resident is the number of sets the cache holds (in use or kept).
func (c *FeatureCache) Resident() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// acquire returns the set of key, loading it with load unless it is loaded
// or being loaded; release must be called once when the caller is done
// with the set (and anything sharing its memory). An empty key, or a nil
// cache, loads without sharing.
func (c *FeatureCache) acquire(ctx context.Context, key string, load func(context.Context) (*features.Set, error)) (*featEntry, func(), error) {
	if c == nil || key == "" {
		set, err := load(ctx)
		if err != nil {
			return nil, nil, err
		}
		return &featEntry{set: set}, func() {}, nil
	}
	for {
		c.mu.Lock()
		e, ok := c.entries[key]
		if !ok {
			e = &featEntry{key: key, done: make(chan struct{}), users: 1}
			c.entries[key] = e
			c.loads++
			c.mu.Unlock()
			return c.fill(ctx, e, load)
		}
		if e.users == 0 { // kept: in use again
			c.unkeep(e)
		}
		e.users++
		c.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			c.releaser(e)()
			return nil, nil, ctx.Err()
		}
		if e.err == nil {
			return e, c.releaser(e), nil
		}
		// The load failed (and was not cached). A load that its own
		// caller's cancellation stopped says nothing about the data: load
		// again for this caller; any other error is this caller's too.
		if ctx.Err() == nil && (errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded)) {
			continue
		}
		return nil, nil, e.err
	}
}

// fill loads the set of the new entry e for its first user and wakes the
// users waiting for it; a failed load is not cached.
func (c *FeatureCache) fill(ctx context.Context, e *featEntry, load func(context.Context) (*features.Set, error)) (*featEntry, func(), error) {
	set, err := loadRecovered(ctx, load)
	c.mu.Lock()
	e.set, e.err = set, err
	if err != nil {
		delete(c.entries, e.key)
	} else {
		e.size = setBytes(set)
	}
	close(e.done)
	c.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	return e, c.releaser(e), nil
}

// loadRecovered is load with a panic turned into an error, so that the
// users waiting for the load are not left waiting forever.
func loadRecovered(ctx context.Context, load func(context.Context) (*features.Set, error)) (set *features.Set, err error) {
	defer func() {
		if r := recover(); r != nil {
			set, err = nil, fmt.Errorf("loading features: panic: %v", r)
		}
	}()
	return load(ctx)
}

// releaser returns the (idempotent) release of one reference to e.
func (c *FeatureCache) releaser(e *featEntry) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			e.users--
			if e.users > 0 || c.entries[e.key] != e {
				return // still in use, or a failed load already removed
			}
			if e.size > c.retain {
				delete(c.entries, e.key)
				return
			}
			c.kept = append(c.kept, e)
			c.keptB += e.size
			for c.keptB > c.retain {
				old := c.kept[0]
				c.kept = c.kept[1:]
				c.keptB -= old.size
				delete(c.entries, old.key)
			}
		})
	}
}

// unkeep takes a kept entry back into use (c.mu held).
func (c *FeatureCache) unkeep(e *featEntry) {
	for i, k := range c.kept {
		if k == e {
			c.kept = append(c.kept[:i], c.kept[i+1:]...)
			c.keptB -= e.size
			return
		}
	}
}

// ids maps the customer ids of the entry's set to their indices; built
// once per loaded set and shared read-only like the set.
func (e *featEntry) ids() map[string]int {
	e.indexOnce.Do(func() {
		e.index = make(map[string]int, e.set.Len())
		for i := range e.set.Customers {
			e.index[e.set.Customers[i].ID] = i
		}
	})
	return e.index
}

// setBytes estimates the memory of a loaded set: the customers, their ids
// and their weekly sequences.
func setBytes(s *features.Set) int64 {
	if s == nil {
		return 0
	}
	n := int64(len(s.Customers)) * int64(unsafe.Sizeof(features.Customer{}))
	for i := range s.Customers {
		c := &s.Customers[i]
		n += int64(len(c.ID)) + 8*int64(len(c.Seq[0])+len(c.Seq[1]))
	}
	return n
}
