package workflows

import (
	"testing"
	"time"
)

// Retries are bounded in time, not in attempts: every activity may be
// retried until its first attempt's time plus the run's budget.
func TestActivityOptionsBudgetInTime(t *testing.T) {
	in := PipelineInput{RetryBudget: 10 * time.Minute, TrainHeartbeatTimeout: 30 * time.Second, TrainTaskQueue: "gpu"}
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		budget  time.Duration
		got     func() (start, total time.Duration, attempts int32)
	}{
		{"registry", 2 * time.Minute, 10 * time.Minute, func() (time.Duration, time.Duration, int32) {
			o := registryOptions(in.RetryBudget)
			return o.StartToCloseTimeout, o.ScheduleToCloseTimeout, o.RetryPolicy.MaximumAttempts
		}},
		{"train", 4 * time.Hour, 10 * time.Minute, func() (time.Duration, time.Duration, int32) {
			o := trainOptions(in)
			if o.TaskQueue != "gpu" || o.HeartbeatTimeout != 30*time.Second {
				t.Errorf("train options %+v lost the task queue or heartbeat", o)
			}
			return o.StartToCloseTimeout, o.ScheduleToCloseTimeout, o.RetryPolicy.MaximumAttempts
		}},
		{"canary, default budget", 5 * time.Minute, DefaultRetryBudget, func() (time.Duration, time.Duration, int32) {
			o := canaryOptions(0)
			return o.StartToCloseTimeout, o.ScheduleToCloseTimeout, o.RetryPolicy.MaximumAttempts
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, total, attempts := tc.got()
			if start != tc.timeout || total != tc.timeout+tc.budget || attempts != 0 {
				t.Errorf("start-to-close %v, schedule-to-close %v, max attempts %d; want %v, %v, unlimited (0)",
					start, total, attempts, tc.timeout, tc.timeout+tc.budget)
			}
		})
	}
	if err := (PipelineInput{RetryBudget: -time.Second}).Validate(); err == nil {
		t.Error("a negative retry budget is accepted")
	}
}
