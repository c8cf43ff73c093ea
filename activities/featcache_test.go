package activities_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

// Concurrent training activities of one worker and the evaluation after
// them read the feature file once through the worker's feature cache, and
// their results are those of activities that each load their own copy.
func TestFeatureCacheSharedByTrainAndEvaluate(t *testing.T) {
	p := sharedPipeline(t)
	acts := *p.acts
	acts.Features = activities.NewFeatureCache(1 << 30)
	kinds := []string{"naive", "bgnbd", "ziln"}
	type result struct {
		kind string
		res  activities.TrainResult
		err  error
	}
	results := make(chan result, len(kinds))
	for _, k := range kinds {
		env := newEnv(t, &acts)
		go func() {
			r, err := run[activities.TrainResult](t, env, acts.TrainModel, p.trainInput(k))
			results <- result{k, r, err}
		}()
	}
	var trained []activities.TrainResult
	for range kinds {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s: %v", r.kind, r.err)
		}
		if got, want := r.res.Model.SHA256, p.trained[r.kind].Model.SHA256; got != want {
			t.Errorf("%s trained through the cache: model %s, without it %s", r.kind, got, want)
		}
		trained = append(trained, r.res)
	}
	ev := mustRun[activities.EvaluateResult](t, newEnv(t, &acts), acts.Evaluate, activities.EvaluateInput{
		Features: p.featurize.Features, Split: p.featurize.Split, Models: trained, HorizonDays: p.featurize.HorizonDays,
	})
	for _, k := range kinds {
		got, _ := json.Marshal(ev.Metrics[k])
		want, _ := json.Marshal(p.evaluation.Metrics[k])
		if string(got) != string(want) {
			t.Errorf("%s metrics through the cache %s, without it %s", k, got, want)
		}
	}
	if n := acts.Features.Loads(); n != 1 {
		t.Errorf("three trainings and an evaluation of one feature file loaded it %d times, want 1", n)
	}
	if n := acts.Features.Resident(); n != 1 {
		t.Errorf("%d feature sets kept after the run, want 1 (within feature_cache_bytes)", n)
	}
}

// A heavy activity waits for a slot of the worker's limiter heartbeating
// the previous attempt's details (a retried training keeps its checkpoint)
// and ends when canceled; light activities do not wait; once a slot is
// free the heavy activity runs.
func TestHeavyActivityWaitsForASlot(t *testing.T) {
	acts := unreachable(t)
	lim := activities.NewHeavyLimiter(1)
	acts.Heavy = lim
	hold, err := lim.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	beats := make(chan []any, 16)
	ctx, cancelCause := context.WithCancelCause(context.Background())
	cancel := func() { cancelCause(temporal.NewCanceledError()) } // as a workflow's cancel
	defer cancel()
	opts := onHeartbeat(func(d []any) {
		select {
		case beats <- d:
		default:
		}
	})
	opts.BackgroundActivityContext = ctx
	opts.Interceptors = append([]interceptor.WorkerInterceptor{lim.Interceptor()}, opts.Interceptors...)
	env := newEnvWith(t, acts, opts)
	prev := activities.TrainProgress{Kind: "ziln", Epoch: 3, Checkpoint: artifacts.Ref{Bucket: "m", Key: "checkpoints/x"}}
	env.SetHeartbeatDetails(prev)
	in := activities.TrainInput{Kind: "ziln", Features: artifacts.Ref{Bucket: "unreachable-ds", Key: "features/x"}}
	errc := make(chan error, 1)
	go func() {
		_, err := run[activities.TrainResult](t, env, acts.TrainModel, in)
		errc <- err
	}()
	var d []any
	select {
	case d = <-beats: // the first heartbeat comes as soon as it waits
	case err := <-errc:
		t.Fatalf("the heavy activity ran while the only slot was taken: %v", err)
	}
	if len(d) != 1 {
		t.Fatalf("waiting heartbeat details %v, want one value", d)
	}
	raw, ok := d[0].(converter.RawValue)
	if !ok {
		t.Fatalf("waiting heartbeat details %T, want the previous attempt's (raw)", d[0])
	}
	var got activities.TrainProgress
	if err := converter.GetDefaultDataConverter().FromPayload(raw.Payload(), &got); err != nil || got != prev {
		t.Fatalf("waiting heartbeat %+v (%v), want the previous attempt's %+v", got, err, prev)
	}
	if lim.Waiting() != 1 {
		t.Fatalf("%d waiting, want 1", lim.Waiting())
	}
	// A light activity is not held up by the full limiter.
	light := newEnvWith(t, acts, worker.Options{Interceptors: []interceptor.WorkerInterceptor{lim.Interceptor()}})
	_, err = run[activities.ChampionInfo](t, light, acts.CurrentChampion, "champion")
	wantRetryable(t, err, refusedCause) // it ran: it met the unreachable store
	cancel()
	wantCanceled(t, <-errc)
	if lim.Waiting() != 0 || lim.InUse() != 1 {
		t.Fatalf("after the cancel: waiting %d, in use %d; want 0, 1", lim.Waiting(), lim.InUse())
	}
	hold()
	// With the slot free the activity runs (and meets the unreachable store).
	_, err = run[activities.TrainResult](t, light, acts.TrainModel, in)
	wantRetryable(t, err, refusedCause)
	if lim.InUse() != 0 {
		t.Fatalf("the finished activity kept its slot: %d in use", lim.InUse())
	}
}
