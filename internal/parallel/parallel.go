// Package parallel splits the index range of a computation over the cores.
package parallel

import (
	"runtime"
	"sync"
)

// Ranges calls f on disjoint consecutive ranges covering [0, n) from as
// many goroutines and waits for them: GOMAXPROCS ranges at most, each of
// at least minSize indices (one range, on the calling goroutine's behalf,
// when n is smaller).
func Ranges(n, minSize int, f func(lo, hi int)) {
	_ = RangesErr(n, minSize, func(lo, hi int) error { f(lo, hi); return nil })
}

// RangesErr is Ranges for an f that can fail. It returns the error of the
// first failing range in index order: what a single f(0, n) that stops at
// its first failure would return.
func RangesErr(n, minSize int, f func(lo, hi int) error) error {
	parts := max(1, min(runtime.GOMAXPROCS(0), n/max(minSize, 1)))
	if parts == 1 {
		return f(0, n)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() { errs[p] = f(p*n/parts, (p+1)*n/parts) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
