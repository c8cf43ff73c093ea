package activities

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
)

// HeavyActivities are the activities whose memory grows with the data
// (a whole feature set, a shard's transactions, a network's training
// arrays): a [HeavyLimiter] bounds how many of them run at once.
var HeavyActivities = []string{"Featurize", "FeaturizeShard", "TrainModel", "Evaluate", "ExportONNX", "ScoreShard"}

// HeavyLimiter bounds the heavy activities running at once in one worker
// process (config worker.max_heavy_activities), so that its peak memory is
// a few feature sets, not one per activity Temporal hands it. It is a
// semaphore taken by an activity interceptor ([HeavyLimiter.Interceptor])
// before the activity starts: the other activities (registry, approvals,
// canary) and the workflows are not held up. A waiting activity heartbeats
// (with the previous attempt's details, so a retried training still finds
// its checkpoint) and ends when it is canceled.
//
// Temporal's worker.Options.MaxConcurrentActivityExecutionSize would bound
// every activity of the task queue instead, light ones included, and a
// pipeline's registry steps would queue behind another run's training.
type HeavyLimiter struct {
	slots   chan struct{}
	waiting atomic.Int64
}

// NewHeavyLimiter returns a limiter of n slots; n ≤ 0 means no bound (nil).
func NewHeavyLimiter(n int) *HeavyLimiter {
	if n <= 0 {
		return nil
	}
	return &HeavyLimiter{slots: make(chan struct{}, n)}
}

// Slots is the bound (0: none).
func (l *HeavyLimiter) Slots() int {
	if l == nil {
		return 0
	}
	return cap(l.slots)
}

// InUse is the number of slots taken.
func (l *HeavyLimiter) InUse() int {
	if l == nil {
		return 0
	}
	return len(l.slots)
}

// Waiting is the number of callers waiting for a slot.
func (l *HeavyLimiter) Waiting() int {
	if l == nil {
		return 0
	}
	return int(l.waiting.Load())
}

// waitHeartbeat is the longest a waiting activity stays silent (less when
// its heartbeat timeout is shorter).
const waitHeartbeat = 10 * time.Second

// Acquire takes a slot, waiting until one is free or ctx ends (then it
// returns ctx's error). In an activity it heartbeats at once when it has
// to wait and then every third of the heartbeat timeout (at most 10 s):
// with the previous attempt's heartbeat details when there are some, so
// that they survive the wait, else with "waiting for a heavy-activity
// slot". release gives the slot back (idempotent).
func (l *HeavyLimiter) Acquire(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	var released atomic.Bool
	release = func() {
		if released.CompareAndSwap(false, true) {
			<-l.slots
		}
	}
	select {
	case l.slots <- struct{}{}:
		return release, nil
	default:
	}
	l.waiting.Add(1)
	defer l.waiting.Add(-1)
	heartbeat := func() {}
	if activity.IsActivity(ctx) {
		var details any = "waiting for a heavy-activity slot"
		if activity.HasHeartbeatDetails(ctx) {
			var prev converter.RawValue
			if activity.GetHeartbeatDetails(ctx, &prev) == nil {
				details = prev
			}
		}
		heartbeat = func() { activity.RecordHeartbeat(ctx, details) }
		start := time.Now()
		activity.GetLogger(ctx).Info("waiting for a heavy-activity slot", "slots", cap(l.slots), "waiting", l.waiting.Load())
		defer func() {
			activity.GetLogger(ctx).Info("heavy-activity slot wait over", "waited", time.Since(start).Round(time.Millisecond).String(), "canceled", ctx.Err() != nil)
		}()
	}
	heartbeat()
	tick := time.NewTicker(heartbeatInterval(ctx, waitHeartbeat))
	defer tick.Stop()
	for {
		select {
		case l.slots <- struct{}{}:
			return release, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			heartbeat()
		}
	}
}

// Interceptor returns a worker interceptor that runs the activities named
// in [HeavyActivities] under the limiter (nil: none).
func (l *HeavyLimiter) Interceptor() interceptor.WorkerInterceptor {
	if l == nil {
		return nil
	}
	return &heavyInterceptor{l: l}
}

type heavyInterceptor struct {
	interceptor.WorkerInterceptorBase
	l *HeavyLimiter
}

func (h *heavyInterceptor) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &heavyInbound{l: h.l}
	i.Next = next
	return i
}

type heavyInbound struct {
	interceptor.ActivityInboundInterceptorBase
	l *HeavyLimiter
}

func (i *heavyInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if !slices.Contains(HeavyActivities, activity.GetInfo(ctx).ActivityType.Name) {
		return i.Next.ExecuteActivity(ctx, in)
	}
	release, err := i.l.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return i.Next.ExecuteActivity(ctx, in)
}
