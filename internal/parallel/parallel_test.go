package parallel

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// TestRangesCoverOnce: every index of [0, n) is visited exactly once, for
// sizes around the minimum and any number of cores.
func TestRangesCoverOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3, 8} {
		runtime.GOMAXPROCS(procs)
		for _, n := range []int{0, 1, 15, 16, 17, 100, 1000} {
			seen := make([]atomic.Int32, n)
			var calls atomic.Int32
			Ranges(n, 16, func(lo, hi int) {
				calls.Add(1)
				for i := lo; i < hi; i++ {
					seen[i].Add(1)
				}
			})
			for i := range seen {
				if seen[i].Load() != 1 {
					t.Fatalf("procs %d n %d: index %d visited %d times", procs, n, i, seen[i].Load())
				}
			}
			if want := max(1, min(procs, n/16)); int(calls.Load()) != want {
				t.Fatalf("procs %d n %d: %d ranges, want %d", procs, n, calls.Load(), want)
			}
		}
	}
}

// TestRangesErrFirstInOrder: the error is the first failing range's in
// index order, whichever goroutine fails first.
func TestRangesErrFirstInOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	err := RangesErr(400, 10, func(lo, hi int) error {
		if lo >= 100 {
			return fmt.Errorf("range at %d", lo)
		}
		return nil
	})
	if err == nil || err.Error() != "range at 100" {
		t.Fatalf("err %v, want the range at 100's", err)
	}
	boom := errors.New("boom")
	if err := RangesErr(5, 10, func(lo, hi int) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("one range: err %v", err)
	}
}
