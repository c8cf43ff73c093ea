package workflows

import "go.temporal.io/sdk/workflow"

// heavyQueueVersion marks runs that schedule the heavy activities
// (activities.HeavyActivities) on the heavy task queue; runs recorded
// before it scheduled them on the workflow's own queue.
const heavyQueueVersion = "heavy-task-queue"

// HeavyTaskQueue is the task queue of the heavy activities of workflows
// on queue. Every worker polls it with at most worker.max_heavy_activities
// of them at once, so Temporal hands a heavy activity only to a worker
// with a free slot: a busy worker leaves it to an idle one instead of
// holding it until a slot frees up.
func HeavyTaskQueue(queue string) string { return queue + "-heavy" }

// onHeavyQueue returns ctx with its activity options on the heavy task
// queue of the workflow's queue; options that name a queue (training on
// the GPU queue) keep it, and so do runs recorded before the heavy queue.
func onHeavyQueue(ctx workflow.Context) workflow.Context {
	if workflow.GetVersion(ctx, heavyQueueVersion, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return ctx
	}
	o, own := workflow.GetActivityOptions(ctx), workflow.GetInfo(ctx).TaskQueueName
	if o.TaskQueue != "" && o.TaskQueue != own { // named, not the default
		return ctx
	}
	o.TaskQueue = HeavyTaskQueue(own)
	return workflow.WithActivityOptions(ctx, o)
}
