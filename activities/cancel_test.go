package activities_test

import (
	"context"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

// An activity whose context is canceled (as when the workflow cancels it)
// reports the cancellation, not a failure of its own, and writes nothing.
// The long-running cases (TrainModel canceled mid-training, IngestDataset)
// have their own tests.
func TestActivitiesCanceledBeforeStart(t *testing.T) {
	p := sharedPipeline(t)
	f := newFixture(t) // fresh buckets: nothing may appear in them
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(temporal.NewCanceledError())
	env := newEnvWith(t, f.acts, worker.Options{BackgroundActivityContext: ctx})
	a := f.acts
	l := minimalLineage(t, newFixture(t), "ziln", "wf-cancel", "run-1")

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"ValidateDataset", func() error {
			_, err := run[activities.ValidateResult](t, env, a.ValidateDataset, activities.ValidateInput{Dataset: p.ingest.Dataset, Format: p.ingest.Format})
			return err
		}},
		{"Featurize", func() error {
			_, err := run[activities.FeaturizeResult](t, env, a.Featurize, activities.FeaturizeInput{Clean: p.validate.Clean, Cutoff: pipeCutoff, HorizonDays: pipeHorizon, TestFraction: 0.2})
			return err
		}},
		{"TrainModel", func() error {
			_, err := run[activities.TrainResult](t, env, a.TrainModel, p.trainInput("bgnbd"))
			return err
		}},
		{"Evaluate", func() error {
			_, err := run[activities.EvaluateResult](t, env, a.Evaluate, activities.EvaluateInput{Features: p.featurize.Features, Split: p.featurize.Split, Models: p.trainedAll})
			return err
		}},
		{"RegisterVersion", func() error {
			_, err := run[string](t, env, a.RegisterVersion, registerInput(l))
			return err
		}},
		{"MoveAlias", func() error {
			_, err := run[registry.AliasEntry](t, env, a.MoveAlias, activities.MoveAliasInput{Alias: "champion", To: "v1", Actor: "a"})
			return err
		}},
		{"DiscardArtifacts", func() error {
			_, err := run[activities.DiscardResult](t, env, a.DiscardArtifacts, activities.DiscardInput{Refs: []artifacts.Ref{p.ingest.Dataset}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCanceled(t, tc.call())
		})
	}
	for _, b := range []string{a.Buckets.Datasets, a.Buckets.Models} {
		if k := keys(t, f.store, b, ""); len(k) != 0 {
			t.Errorf("canceled activities wrote %v to %s", k, b)
		}
	}
	if v, err := f.reg.List(context.Background()); err != nil || len(v) != 0 {
		t.Errorf("canceled activities registered %d versions (%v)", len(v), err)
	}
	if _, err := p.store.Stat(context.Background(), p.ingest.Dataset); err != nil {
		t.Errorf("a canceled DiscardArtifacts deleted %s: %v", p.ingest.Dataset.Key, err)
	}
}
