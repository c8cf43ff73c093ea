package workflows

import (
	"context"
	"sync"

	"github.com/clvflow/clvflow/activities"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
)

// TestHeavyActivitiesOnHeavyQueue: a run schedules its heavy activities
// (featurize or its shards, training, evaluation, export) on the heavy
// task queue of its own queue and every other activity (shard log, merge,
// registry) on its queue; training named onto another queue (GPU) stays
// there.
func (s *PipelineSuite) TestHeavyActivitiesOnHeavyQueue() {
	for _, c := range []struct {
		gpu     string
		sharded bool
	}{{"", false}, {"clvflow-gpu", false}, {"", true}} {
		gpu := c.gpu
		if c.sharded {
			s.setup(goodEval(""), "", "Featurize")
			s.mockShards(-1, nil)
		} else {
			s.setup(goodEval(""), "")
		}
		var mu sync.Mutex
		queues := map[string]map[string]bool{}
		s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			mu.Lock()
			defer mu.Unlock()
			if queues[info.ActivityType.Name] == nil {
				queues[info.ActivityType.Name] = map[string]bool{}
			}
			queues[info.ActivityType.Name][info.TaskQueue] = true
		})
		in := baseInput()
		in.AutoApproveAs, in.TrainTaskQueue = "demo", gpu
		if c.sharded {
			in.ShardRows, in.MaxShards = 300, 16
		}
		s.env.ExecuteWorkflow(TrainingPipeline, in)
		s.Equal(OutcomePromoted, s.result().Outcome)
		var main string
		for q := range queues["ValidateDataset"] {
			main = q
		}
		s.NotEmpty(main)
		for name, qs := range queues {
			want := main
			switch {
			case name == "TrainModel" && gpu != "":
				want = gpu
			case isHeavy(name):
				want = HeavyTaskQueue(main)
			}
			s.Equal(map[string]bool{want: true}, qs, "activity %s (train queue %q)", name, gpu)
		}
		featurize := map[bool]string{false: "Featurize", true: "FeaturizeShard"}[c.sharded]
		for _, name := range []string{featurize, "TrainModel", "Evaluate", "ExportONNX", "RegisterVersion"} {
			s.Contains(queues, name)
		}
	}
}

func isHeavy(name string) bool {
	for _, h := range activities.HeavyActivities {
		if h == name {
			return true
		}
	}
	return false
}
