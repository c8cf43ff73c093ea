package activities

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/clvflow/clvflow/features"
)

// countingLoader loads a fresh set per call after gate is closed (nil
// gate: at once) and counts its calls.
type countingLoader struct {
	mu    sync.Mutex
	calls int
	gate  chan struct{}
	err   error
}

func (l *countingLoader) load(ctx context.Context) (*features.Set, error) {
	l.mu.Lock()
	l.calls++
	gate, err := l.gate, l.err
	l.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return &features.Set{Customers: []features.Customer{{ID: "a"}, {ID: "b"}}}, nil
}

func (l *countingLoader) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls
}

// waitFor yields until cond holds (the goroutines it waits for need no
// wall-clock time, only to be scheduled).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 10_000_000 {
			t.Fatalf("never: %s", what)
		}
		runtime.Gosched()
	}
}

// users is how many references the entry of key has (-1: none cached).
func (c *FeatureCache) users(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		return e.users
	}
	return -1
}

func TestFeatureCacheSingleFlight(t *testing.T) {
	c := NewFeatureCache(0)
	l := &countingLoader{gate: make(chan struct{})}
	const n = 8
	type got struct {
		set     *features.Set
		release func()
		err     error
	}
	results := make(chan got, n)
	for range n {
		go func() {
			e, rel, err := c.acquire(context.Background(), "sha", l.load)
			var s *features.Set
			if e != nil {
				s = e.set
			}
			results <- got{s, rel, err}
		}()
	}
	// All n wait on one load.
	waitFor(t, "n users of one entry", func() bool { return c.users("sha") == n })
	close(l.gate)
	var first *features.Set
	var releases []func()
	for range n {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		if first == nil {
			first = r.set
		} else if r.set != first {
			t.Fatal("concurrent users got different sets")
		}
		releases = append(releases, r.release)
	}
	if l.count() != 1 || c.Loads() != 1 {
		t.Fatalf("%d concurrent users: %d loads (cache counted %d), want 1", n, l.count(), c.Loads())
	}
	// Released by all but one: still resident and shared.
	for _, r := range releases[1:] {
		r()
		r() // idempotent
	}
	if c.Resident() != 1 || c.users("sha") != 1 {
		t.Fatalf("after %d of %d releases: resident %d, users %d; want 1, 1", n-1, n, c.Resident(), c.users("sha"))
	}
	e, rel, err := c.acquire(context.Background(), "sha", l.load)
	if err != nil || e.set != first || l.count() != 1 {
		t.Fatalf("a user while it is held: %v, same set %v, loads %d", err, e != nil && e.set == first, l.count())
	}
	rel()
	releases[0]()
	// Retention 0: the last release drops it; the next user loads again.
	if c.Resident() != 0 {
		t.Fatalf("after the last release %d sets resident, want 0", c.Resident())
	}
	e, rel, err = c.acquire(context.Background(), "sha", l.load)
	if err != nil || l.count() != 2 || e.set == first {
		t.Fatalf("after release: %v, loads %d (want 2), same set %v", err, l.count(), e != nil && e.set == first)
	}
	rel()
}

func TestFeatureCacheErrorNotCached(t *testing.T) {
	c := NewFeatureCache(1 << 30)
	l := &countingLoader{gate: make(chan struct{}), err: errors.New("broken file")}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, _, err := c.acquire(context.Background(), "sha", l.load)
			errs <- err
		}()
	}
	waitFor(t, "2 users", func() bool { return c.users("sha") == 2 })
	close(l.gate)
	for range 2 {
		if err := <-errs; err == nil || err.Error() != "broken file" {
			t.Fatalf("got %v, want the load's error", err)
		}
	}
	if l.count() != 1 {
		t.Fatalf("%d loads for two concurrent users of a failing load, want 1", l.count())
	}
	if c.Resident() != 0 {
		t.Fatal("a failed load stays cached")
	}
	l.err = nil
	e, rel, err := c.acquire(context.Background(), "sha", l.load)
	if err != nil || e.set == nil || l.count() != 2 {
		t.Fatalf("after a failed load: %v, loads %d; want a fresh load", err, l.count())
	}
	rel()
}

// A load stopped by its own caller's cancellation is not the data's
// fault: a waiting user loads again for itself; a waiting user canceled
// itself gives up its reference.
func TestFeatureCacheCanceledLoader(t *testing.T) {
	c := NewFeatureCache(0)
	l := &countingLoader{gate: make(chan struct{})}
	loaderCtx, cancelLoader := context.WithCancel(context.Background())
	loaderErr := make(chan error, 1)
	go func() {
		_, _, err := c.acquire(loaderCtx, "sha", l.load)
		loaderErr <- err
	}()
	waitFor(t, "the load started", func() bool { return l.count() == 1 })
	waiterCtx, cancelWaiter := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, _, err := c.acquire(waiterCtx, "sha", l.load)
		gaveUp <- err
	}()
	type got struct {
		set     *features.Set
		release func()
		err     error
	}
	waiter := make(chan got, 1)
	go func() {
		e, rel, err := c.acquire(context.Background(), "sha", l.load)
		if err != nil {
			waiter <- got{err: err}
			return
		}
		waiter <- got{e.set, rel, nil}
	}()
	waitFor(t, "3 users", func() bool { return c.users("sha") == 3 })
	cancelWaiter()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", err)
	}
	if u := c.users("sha"); u != 2 {
		t.Fatalf("a canceled waiter kept its reference: %d users, want 2", u)
	}
	cancelLoader()
	if err := <-loaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled loader: %v", err)
	}
	// The remaining waiter now loads for itself.
	waitFor(t, "the second load", func() bool { return l.count() == 2 })
	close(l.gate)
	r := <-waiter
	if r.err != nil || r.set == nil {
		t.Fatalf("waiter after its loader was canceled: %v", r.err)
	}
	r.release()
}

// Released sets are kept up to the byte budget, the least recently
// released dropped first.
func TestFeatureCacheRetention(t *testing.T) {
	one := setBytes(&features.Set{Customers: []features.Customer{{ID: "a"}, {ID: "b"}}})
	c := NewFeatureCache(2 * one)
	l := &countingLoader{}
	use := func(key string) {
		t.Helper()
		_, rel, err := c.acquire(context.Background(), key, l.load)
		if err != nil {
			t.Fatal(err)
		}
		rel()
	}
	use("a")
	use("b")
	use("a") // kept: no load
	if l.count() != 2 {
		t.Fatalf("%d loads, want 2 (a kept)", l.count())
	}
	use("c") // evicts b, the least recently released
	if c.Resident() != 2 {
		t.Fatalf("%d resident, want 2", c.Resident())
	}
	use("a")
	if l.count() != 3 {
		t.Fatalf("%d loads, want 3 (a still kept)", l.count())
	}
	use("b")
	if l.count() != 4 {
		t.Fatalf("%d loads, want 4 (b was evicted)", l.count())
	}
	// A nil cache or an empty key never shares.
	var none *FeatureCache
	for _, tc := range []struct {
		c   *FeatureCache
		key string
	}{{none, "x"}, {c, ""}} {
		before := l.count()
		e1, r1, _ := tc.c.acquire(context.Background(), tc.key, l.load)
		e2, r2, _ := tc.c.acquire(context.Background(), tc.key, l.load)
		if e1.set == e2.set || l.count() != before+2 {
			t.Errorf("cache %v key %q shared a set", tc.c != nil, tc.key)
		}
		r1()
		r2()
	}
}

func TestHeavyLimiterBound(t *testing.T) {
	const slots, callers = 2, 6
	l := NewHeavyLimiter(slots)
	var mu sync.Mutex
	running, most := 0, 0
	proceed := make(chan struct{})
	entered := make(chan int, callers)
	done := make(chan error, callers)
	for i := range callers {
		go func() {
			release, err := l.Acquire(context.Background())
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			entered <- i
			<-proceed
			mu.Lock()
			running--
			mu.Unlock()
			release()
			release() // idempotent: gives back one slot only
			done <- nil
		}()
	}
	waitFor(t, "callers-slots waiting", func() bool { return l.Waiting() == callers-slots })
	if l.InUse() != slots || len(entered) != slots {
		t.Fatalf("in use %d, entered %d; want %d", l.InUse(), len(entered), slots)
	}
	for range callers {
		proceed <- struct{}{}
	}
	for range callers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if most != slots {
		t.Fatalf("at most %d ran at once, want %d", most, slots)
	}
	if l.InUse() != 0 {
		t.Fatalf("%d slots still taken", l.InUse())
	}
	if NewHeavyLimiter(0) != nil {
		t.Fatal("0 slots is not unbounded")
	}
	var none *HeavyLimiter
	if r, err := none.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	} else {
		r()
	}
}

func TestHeavyLimiterCancel(t *testing.T) {
	l := NewHeavyLimiter(1)
	hold, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := l.Acquire(ctx)
		errc <- err
	}()
	waitFor(t, "a waiter", func() bool { return l.Waiting() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", err)
	}
	if l.InUse() != 1 || l.Waiting() != 0 {
		t.Fatalf("after the cancel: in use %d, waiting %d; want 1, 0", l.InUse(), l.Waiting())
	}
	hold()
	r, err := l.Acquire(context.Background())
	if err != nil {
		t.Fatal(fmt.Errorf("slot after release: %w", err))
	}
	r()
}

// A load that panics fails its users instead of leaving them waiting, and
// is not cached.
func TestFeatureCacheLoadPanics(t *testing.T) {
	c := NewFeatureCache(1 << 30)
	_, _, err := c.acquire(context.Background(), "sha", func(context.Context) (*features.Set, error) { panic("bad row") })
	if err == nil || c.Resident() != 0 {
		t.Fatalf("panicking load: %v, %d resident; want an error and nothing cached", err, c.Resident())
	}
}
