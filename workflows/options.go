package workflows

import (
	"time"

	"github.com/clvflow/clvflow/activities"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// defaultHeartbeat is how long a heartbeating activity may stay silent.
const defaultHeartbeat = 2 * time.Minute

// activityOptions is the one builder of activity options: a start-to-close
// timeout and a number of attempts with exponential backoff (1 s, doubling,
// at most a minute apart). The error types of package activities that
// retrying cannot fix are never retried.
func activityOptions(timeout time.Duration, attempts int32) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			MaximumAttempts:        attempts,
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
func registryOptions() workflow.ActivityOptions { return activityOptions(2*time.Minute, 5) }

// dataOptions: activities that stream a dataset (validate, featurize,
// evaluate, export); they heartbeat.
func dataOptions() workflow.ActivityOptions {
	return withHeartbeat(activityOptions(time.Hour, 5), defaultHeartbeat)
}

// ingestOptions: the upload of a transaction log; it heartbeats every few
// seconds.
func ingestOptions() workflow.ActivityOptions {
	return withHeartbeat(activityOptions(30*time.Minute, 5), time.Minute)
}

// trainOptions: model training, on the GPU queue when the input names one;
// networks heartbeat every epoch and resume from their last checkpoint.
func trainOptions(in PipelineInput) workflow.ActivityOptions {
	o := withHeartbeat(activityOptions(4*time.Hour, 10), in.TrainHeartbeatTimeout)
	o.TaskQueue = in.TrainTaskQueue
	return o
}

// canaryOptions: the new champion's canary scoring.
func canaryOptions() workflow.ActivityOptions { return activityOptions(5*time.Minute, 3) }

// compensationOptions: compensations retry harder than the step they undo.
func compensationOptions() workflow.ActivityOptions { return activityOptions(2*time.Minute, 10) }
