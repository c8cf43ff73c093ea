package workflows

import (
	"time"

	"github.com/clvflow/clvflow/activities"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// defaultHeartbeat is how long a heartbeating activity may stay silent.
const defaultHeartbeat = 2 * time.Minute

// DefaultRetryBudget is how long an activity keeps being retried after its
// first attempt's time (config temporal.activity_retry_budget): a run waits
// through an outage of the object store, the worker or the Temporal server
// that ends within it.
const DefaultRetryBudget = time.Hour

// activityOptions is the one builder of activity options: each attempt may
// take timeout; failed attempts are retried with exponential backoff (1 s,
// doubling, at most a minute apart) for as long as budget allows after the
// first attempt's time — a budget in time, not in attempts. The error types
// of package activities that retrying cannot fix are never retried.
func activityOptions(timeout, budget time.Duration) workflow.ActivityOptions {
	if budget <= 0 {
		budget = DefaultRetryBudget
	}
	return workflow.ActivityOptions{
		StartToCloseTimeout:    timeout,
		ScheduleToCloseTimeout: timeout + budget,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: activities.NonRetryableErrorTypes,
		},
	}
}

// withHeartbeat sets the heartbeat timeout (defaultHeartbeat when hb ≤ 0).
func withHeartbeat(o workflow.ActivityOptions, hb time.Duration) workflow.ActivityOptions {
	if hb <= 0 {
		hb = defaultHeartbeat
	}
	o.HeartbeatTimeout = hb
	return o
}

// registryOptions: registry reads and writes, small and quick.
func registryOptions(budget time.Duration) workflow.ActivityOptions {
	return activityOptions(2*time.Minute, budget)
}

// dataOptions: activities that stream a dataset (validate, featurize,
// evaluate, export); they heartbeat.
func dataOptions(budget time.Duration) workflow.ActivityOptions {
	return withHeartbeat(activityOptions(time.Hour, budget), defaultHeartbeat)
}

// ingestOptions: the upload of a transaction log; it heartbeats every few
// seconds.
func ingestOptions(budget time.Duration) workflow.ActivityOptions {
	return withHeartbeat(activityOptions(30*time.Minute, budget), time.Minute)
}

// trainOptions: model training, on the GPU queue when the input names one;
// networks heartbeat every epoch and resume from their last checkpoint.
func trainOptions(in PipelineInput) workflow.ActivityOptions {
	o := withHeartbeat(activityOptions(4*time.Hour, in.RetryBudget), in.TrainHeartbeatTimeout)
	o.TaskQueue = in.TrainTaskQueue
	return o
}

// canaryOptions: the new champion's canary scoring.
func canaryOptions(budget time.Duration) workflow.ActivityOptions {
	return activityOptions(5*time.Minute, budget)
}

// compensationOptions: compensations get the same budget as the step they
// undo, on a context that survives the run's cancellation.
func compensationOptions(budget time.Duration) workflow.ActivityOptions {
	return activityOptions(2*time.Minute, budget)
}
