package artifacts

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRetryPolicyBackoff(t *testing.T) {
	p := RetryPolicy{MaxAttempts: 10, InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2}
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 0},
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{60, time.Second},
	}
	for _, tc := range tests {
		if got := p.Backoff(tc.n); got != tc.want {
			t.Errorf("Backoff(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
	flat := RetryPolicy{MaxAttempts: 3, InitialBackoff: 50 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, Multiplier: 1}
	if got := flat.Backoff(3); got != 50*time.Millisecond {
		t.Errorf("flat Backoff(3) = %s", got)
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	tests := []struct {
		name    string
		p       RetryPolicy
		wantErr string
	}{
		{"default", DefaultRetryPolicy(), ""},
		{"no retries", RetryPolicy{MaxAttempts: 1, Multiplier: 1}, ""},
		{"zero attempts", RetryPolicy{MaxAttempts: 0, Multiplier: 2}, "max attempts is 0"},
		{"negative", RetryPolicy{MaxAttempts: 2, InitialBackoff: -time.Second, Multiplier: 2}, "must not be negative"},
		{"max below initial", RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Second, MaxBackoff: time.Millisecond, Multiplier: 2}, "below the initial backoff"},
		{"shrinking", RetryPolicy{MaxAttempts: 2, Multiplier: 0.5}, "multiplier 0.5 is below 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// fakeClock records waits instead of sleeping.
type fakeClock struct {
	now   time.Time
	waits []time.Duration
	// failSleep, when set, is returned by sleep (as a cancelled context would).
	failSleep error
}

func (c *fakeClock) retrier(p RetryPolicy) retrier {
	return retrier{
		policy: p,
		now:    func() time.Time { return c.now },
		sleep: func(_ context.Context, d time.Duration) error {
			if c.failSleep != nil {
				return c.failSleep
			}
			c.waits = append(c.waits, d)
			c.now = c.now.Add(d)
			return nil
		},
	}
}

func TestRetrierDo(t *testing.T) {
	transient := &Error{Op: "put", Kind: Transient, Err: errors.New("503 SlowDown")}
	notFound := &Error{Op: "get", Kind: NotFound, Err: errors.New("NoSuchKey")}
	creds := &Error{Op: "get", Kind: BadCredentials, Err: errors.New("SignatureDoesNotMatch")}
	integrity := &Error{Op: "get", Kind: Integrity, Err: errors.New("sha256 mismatch")}
	policy := RetryPolicy{MaxAttempts: 4, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 25 * time.Millisecond, Multiplier: 2}
	ms := time.Millisecond

	tests := []struct {
		name         string
		policy       RetryPolicy
		results      []error // result of attempt i; past the end: the last one repeats
		failSleep    error
		wantCalls    int
		wantWaits    []time.Duration
		wantKind     Kind
		wantNil      bool
		wantAttempts int
		wantMsg      string
	}{
		{name: "success first", policy: policy, results: []error{nil}, wantCalls: 1, wantNil: true},
		{name: "transient then success", policy: policy, results: []error{transient, transient, nil}, wantCalls: 3, wantWaits: []time.Duration{10 * ms, 20 * ms}, wantNil: true},
		{name: "transient exhausted", policy: policy, results: []error{transient}, wantCalls: 4, wantWaits: []time.Duration{10 * ms, 20 * ms, 25 * ms}, wantKind: Transient, wantAttempts: 4, wantMsg: "gave up after 4 attempts"},
		{name: "not found never retried", policy: policy, results: []error{notFound}, wantCalls: 1, wantKind: NotFound, wantAttempts: 1},
		{name: "credentials never retried", policy: policy, results: []error{creds}, wantCalls: 1, wantKind: BadCredentials, wantAttempts: 1},
		{name: "integrity never retried", policy: policy, results: []error{integrity}, wantCalls: 1, wantKind: Integrity, wantAttempts: 1},
		{name: "plain error never retried", policy: policy, results: []error{errors.New("boom")}, wantCalls: 1, wantKind: Other, wantAttempts: 1},
		{name: "permanent stops a transient", policy: policy, results: []error{transient, permanent{transient}}, wantCalls: 2, wantWaits: []time.Duration{10 * ms}, wantKind: Transient, wantAttempts: 2},
		{name: "retries disabled", policy: RetryPolicy{MaxAttempts: 1, Multiplier: 1}, results: []error{transient}, wantCalls: 1, wantKind: Transient, wantAttempts: 1},
		{name: "time bound", policy: RetryPolicy{MaxAttempts: 10, InitialBackoff: 10 * ms, MaxBackoff: 10 * ms, Multiplier: 1, MaxElapsed: 25 * ms}, results: []error{transient}, wantCalls: 3, wantWaits: []time.Duration{10 * ms, 10 * ms}, wantKind: Transient, wantAttempts: 3},
		{name: "cancelled while waiting", policy: policy, results: []error{transient}, failSleep: context.Canceled, wantCalls: 1, wantKind: Other, wantAttempts: 1, wantMsg: "context canceled while waiting to retry after: 503 SlowDown"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1_700_000_000, 0), failSleep: tc.failSleep}
			calls := 0
			err := clk.retrier(tc.policy).do(context.Background(), func(n int) error {
				calls++
				if n != calls {
					t.Fatalf("attempt number %d on call %d", n, calls)
				}
				return tc.results[min(n, len(tc.results))-1]
			})
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if len(clk.waits) != len(tc.wantWaits) {
				t.Fatalf("waits = %v, want %v", clk.waits, tc.wantWaits)
			}
			for i := range clk.waits {
				if clk.waits[i] != tc.wantWaits[i] {
					t.Errorf("wait %d = %s, want %s", i, clk.waits[i], tc.wantWaits[i])
				}
			}
			if tc.wantNil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, want *Error", err, err)
			}
			if e.Kind != tc.wantKind || e.Attempts != tc.wantAttempts {
				t.Errorf("kind, attempts = %v, %d; want %v, %d", e.Kind, e.Attempts, tc.wantKind, tc.wantAttempts)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("message %q does not contain %q", err.Error(), tc.wantMsg)
			}
		})
	}
	// The shared error value must not be mutated by the Attempts bookkeeping.
	if transient.Attempts != 0 {
		t.Errorf("shared error mutated: Attempts = %d", transient.Attempts)
	}
}

func TestSleepCtx(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleepCtx on a cancelled context = %v, want context.Canceled", err)
	}
	if err := sleepCtx(context.Background(), 0); err != nil {
		t.Fatalf("sleepCtx(0) = %v", err)
	}
}
