package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// activityTime is the activity's start time as Temporal recorded it, so a
// retried activity writes the same manifest.
func activityTime(ctx context.Context) time.Time {
	if activity.IsActivity(ctx) {
		return activity.GetInfo(ctx).StartedTime.UTC()
	}
	return time.Now().UTC()
}

// heartbeatEvery records progress every interval until stop is called.
func heartbeatEvery(ctx context.Context, every time.Duration, details func() any) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details())
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// activityID names the workflow run an activity works for ("local" outside
// Temporal), for temporary names that must not collide between runs.
func activityID(ctx context.Context) string {
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		return info.WorkflowExecution.ID + "-" + info.WorkflowExecution.RunID
	}
	return "local"
}

// heartbeatInterval is a third of the activity's heartbeat timeout, at most
// max (max outside Temporal or without a timeout).
func heartbeatInterval(ctx context.Context, max time.Duration) time.Duration {
	if !activity.IsActivity(ctx) {
		return max
	}
	if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 && hb/3 < max {
		return hb / 3
	}
	return max
}
