package artifacts

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// retrier runs an attempt function under a RetryPolicy. sleep and now are
// replaceable so that unit tests observe the waits without waiting.
type retrier struct {
	policy RetryPolicy
	sleep  func(ctx context.Context, d time.Duration) error
	now    func() time.Time
}

func newRetrier(p RetryPolicy) retrier {
	return retrier{policy: p, sleep: sleepCtx, now: time.Now}
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do calls attempt (numbered from 1) until it succeeds, fails with an error
// that is not Transient, fails with a permanent error, or the policy's
// bounds are reached. The returned error is the last attempt's, with
// Attempts recorded when it was an *Error.
func (r retrier) do(ctx context.Context, attempt func(n int) error) error {
	start := r.now()
	for n := 1; ; n++ {
		err := attempt(n)
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return withAttempts(p.err, n)
		}
		if !IsTransient(err) || n >= r.policy.MaxAttempts {
			return withAttempts(err, n)
		}
		wait := r.policy.Backoff(n)
		if r.policy.MaxElapsed > 0 && r.now().Sub(start)+wait > r.policy.MaxElapsed {
			return withAttempts(err, n)
		}
		if serr := r.sleep(ctx, wait); serr != nil {
			e := withAttempts(err, n).(*Error)
			c := *e
			c.Kind = Other
			c.Err = fmt.Errorf("%w while waiting to retry after: %v", serr, e.Err)
			return &c
		}
	}
}

// withAttempts returns err with Attempts = n when err is an *Error (a
// copy, so shared errors are not mutated).
func withAttempts(err error, n int) error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Op: "retry", Kind: classify(err), Err: err, Attempts: n}
	}
	c := *e
	c.Attempts = n
	return &c
}
