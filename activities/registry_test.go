package activities_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/registry"
)

// lineage is what a pipeline run knows when it registers a model version.
type lineage struct {
	Kind       string
	Seed       uint64
	Ingest     activities.IngestResult
	Validate   activities.ValidateResult
	Featurize  activities.FeaturizeResult
	Trained    []activities.TrainResult
	Evaluation activities.EvaluateResult
	Gate       registry.Gate
	Export     *activities.ExportResult // nil: the gate failed, nothing exported
	WorkflowID string
	RunID      string
	Labels     map[string]string
}

// registerInput is the RegisterVersion input for l. It is the one place
// that knows the input's fields.
func registerInput(l lineage) activities.RegisterInput {
	var challenger activities.TrainResult
	for _, t := range l.Trained {
		if t.Kind == l.Kind {
			challenger = t
		}
	}
	val, feat := l.Validate, l.Featurize
	return activities.RegisterInput{
		Run:  activities.Run{WorkflowID: l.WorkflowID, RunID: l.RunID},
		Kind: l.Kind, Seed: l.Seed, Params: challenger.Params, Model: challenger.Model,
		Dataset: registry.DatasetRef{Raw: l.Ingest.Dataset, Clean: val.Clean, Manifest: l.Ingest.Manifest},
		Cleaning: registry.CleaningRef{Report: val.Report, RowsIn: val.Rows, RowsClean: val.Accepted, RowsRejected: val.Rejected,
			Customers: val.Customers, RuleCounts: val.RuleCounts},
		Quarantine: val.Quarantine, Features: feat.Features, Split: feat.Split, Snapshots: feat.Snapshots,
		Cutoff: feat.Cutoff, HorizonDays: feat.HorizonDays,
		Metrics: l.Evaluation.Metrics, Evaluation: l.Evaluation.Report, Gate: l.Gate, Export: l.Export, Labels: l.Labels,
	}
}

func passedGate() registry.Gate {
	return registry.NewGate(registry.NewCheck("gini_vs_baseline", 0.4, registry.OpGE, 0.1))
}

// placeholderExport stores stand-in bytes for an ONNX file (the registry
// only records references) and returns an export result naming them.
func placeholderExport(t *testing.T, f *fixture, name string) *activities.ExportResult {
	t.Helper()
	ref, err := f.store.PutBytes(context.Background(), f.acts.Buckets.Models, activities.ONNXPrefix, []byte("stand-in ONNX file "+name), artifacts.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &activities.ExportResult{ONNX: ref, ModelVersion: "ziln-" + ref.SHA256[:12], FeatureSchema: `{"tabular_input":"features"}`,
		Parity: registry.ParitySummary{Passed: true, Tolerance: 1e-4, Rows: 10, MaxAbsDiff: map[string]float64{"expected_value": 1e-6}}}
}

// pipelineLineage is the lineage of the shared pipeline's challenger, with a
// stand-in export.
func pipelineLineage(t *testing.T, p *pipeline, f *fixture, workflowID, runID string) lineage {
	t.Helper()
	return lineage{
		Kind: p.evaluation.Challenger, Seed: pipeSeed, Ingest: p.ingest, Validate: p.validate, Featurize: p.featurize,
		Trained: p.trainedAll, Evaluation: p.evaluation, Gate: passedGate(), Export: placeholderExport(t, f, workflowID),
		WorkflowID: workflowID, RunID: runID, Labels: map[string]string{"requested_by": "tester", "empty": ""},
	}
}

// minimalLineage is a lineage of stand-in objects: enough for the registry,
// no training needed.
func minimalLineage(t *testing.T, f *fixture, kind, workflowID, runID string) lineage {
	t.Helper()
	ctx := context.Background()
	put := func(prefix, content string) artifacts.Ref {
		ref, err := f.store.PutBytes(ctx, f.acts.Buckets.Datasets, prefix, []byte(content), artifacts.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	clean := put(activities.CleanPrefix, "customer,timestamp,amount\nc1,2020-01-01T00:00:00Z,1\n")
	return lineage{
		Kind: kind, Seed: 1,
		Ingest:   activities.IngestResult{Dataset: put(activities.RawPrefix, "customer,date,amount\nc1,2020-01-01,1\n")},
		Validate: activities.ValidateResult{Clean: clean, Rows: 1, Accepted: 1, Customers: 1},
		Trained:  []activities.TrainResult{{Kind: kind, Model: put("models/"+kind, `{"kind":"`+kind+`"}`), Params: map[string]any{"seed": 1}}},
		Gate:     passedGate(), Export: placeholderExport(t, f, workflowID+"/"+runID+"/"+kind),
		WorkflowID: workflowID, RunID: runID,
	}
}

func register(t *testing.T, f *fixture, l lineage) string {
	t.Helper()
	return mustRun[string](t, newEnv(t, f.acts), f.acts.RegisterVersion, registerInput(l))
}

func TestRegisterVersion(t *testing.T) {
	p := sharedPipeline(t)
	f := newFixture(t)
	env := newEnv(t, f.acts)
	ctx := context.Background()
	l := pipelineLineage(t, p, f, "wf-register", "run-1")
	l.Featurize.Snapshots = []activities.SnapshotRef{{Cutoff: "1997-06-30", Features: p.featurize.Split, Customers: 3}}

	id := mustRun[string](t, env, f.acts.RegisterVersion, registerInput(l))
	if !registry.IsVersionID(id) {
		t.Fatalf("RegisterVersion returned %q", id)
	}
	v, err := f.reg.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	kind := l.Kind
	if v.ModelKind != kind || v.ModelName != "clv-"+kind || v.Seed != pipeSeed || v.CodeRevision != "test-revision" || v.WorkflowID != "wf-register" || v.RunID != "run-1" {
		t.Errorf("version %s: kind %q name %q seed %d revision %q run %s/%s", id, v.ModelKind, v.ModelName, v.Seed, v.CodeRevision, v.WorkflowID, v.RunID)
	}
	// Lineage: the clean dataset and its manifest, the cleaning summary and
	// every intermediate artifact.
	if v.Dataset.Clean != p.validate.Clean || v.Dataset.Raw != p.ingest.Dataset || v.Dataset.Manifest != p.ingest.Manifest {
		t.Errorf("dataset %+v, want the clean dataset %+v and manifest %+v", v.Dataset, p.validate.Clean, p.ingest.Manifest)
	}
	wantCleaning := registry.CleaningRef{Report: p.validate.Report, RowsIn: p.validate.Rows, RowsClean: p.validate.Accepted,
		RowsRejected: p.validate.Rejected, Customers: p.validate.Customers, RuleCounts: p.validate.RuleCounts}
	if !reflect.DeepEqual(jsonValue(t, v.Cleaning), jsonValue(t, wantCleaning)) {
		t.Errorf("cleaning %+v, want %+v", v.Cleaning, wantCleaning)
	}
	wantArtifacts := map[string]artifacts.Ref{
		"features":                     p.featurize.Features,
		"split":                        p.featurize.Split,
		"evaluation":                   p.evaluation.Report,
		"quarantine":                   p.validate.Quarantine,
		"trained_model":                p.trained[kind].Model,
		"features_snapshot_1997-06-30": p.featurize.Split,
	}
	if !maps.Equal(v.Artifacts, wantArtifacts) {
		t.Errorf("artifacts %v, want %v", v.Artifacts, wantArtifacts)
	}
	if v.ONNX != l.Export.ONNX || !reflect.DeepEqual(v.Parity, l.Export.Parity) || !reflect.DeepEqual(jsonValue(t, v.FeatureSchema), jsonValue(t, json.RawMessage(l.Export.FeatureSchema))) {
		t.Errorf("onnx %+v parity %+v schema %s, want the export's", v.ONNX, v.Parity, v.FeatureSchema)
	}
	wantLabels := map[string]string{"requested_by": "tester", "cutoff": pipeCutoff, "horizon_days": fmt.Sprint(pipeHorizon),
		"challenger": kind, "model_digest": l.Export.ModelVersion, "training_snapshots": "1"}
	if !maps.Equal(v.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", v.Labels, wantLabels)
	}
	if !reflect.DeepEqual(v.Gate, l.Gate) {
		t.Errorf("gate %+v, want %+v", v.Gate, l.Gate)
	}
	if !slices.Equal(slices.Sorted(maps.Keys(v.Metrics)), slices.Sorted(maps.Keys(p.evaluation.Metrics))) {
		t.Errorf("metrics of %v, want every evaluated model", slices.Sorted(maps.Keys(v.Metrics)))
	}
	for name, rep := range p.evaluation.Metrics {
		if got, ok := v.Metrics[name]["normalized_gini"]; ok != !math.IsNaN(rep.NormalizedGini) || ok && got != rep.NormalizedGini {
			t.Errorf("metrics[%s][normalized_gini] = %v (recorded %t), want %v", name, got, ok, rep.NormalizedGini)
		}
		if got := v.Metrics[name]["n"]; got != float64(rep.N) {
			t.Errorf("metrics[%s][n] = %v, want %d", name, got, rep.N)
		}
	}
	var hp any
	if err := json.Unmarshal(v.HyperParams, &hp); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(hp, jsonValue(t, p.trained[kind].Params)) {
		t.Errorf("hyper params %s, want the %s model's params", v.HyperParams, kind)
	}

	t.Run("retry returns the same version", func(t *testing.T) {
		again := mustRun[string](t, env, f.acts.RegisterVersion, registerInput(l))
		if again != id {
			t.Errorf("retry registered %s, first attempt %s", again, id)
		}
		if all, err := f.reg.List(ctx); err != nil || len(all) != 1 {
			t.Errorf("registry holds %d versions (%v), want 1", len(all), err)
		}
	})

	t.Run("another run or kind is a new version", func(t *testing.T) {
		other := l
		other.RunID = "run-2"
		id2 := mustRun[string](t, env, f.acts.RegisterVersion, registerInput(other))
		otherKind := l
		otherKind.Kind = map[string]string{"ziln": "seq", "seq": "ziln"}[kind]
		id3 := mustRun[string](t, env, f.acts.RegisterVersion, registerInput(otherKind))
		if id2 == id || id3 == id || id2 == id3 {
			t.Errorf("versions %s, %s, %s: want three distinct", id, id2, id3)
		}
	})

	t.Run("undefined metrics are left out", func(t *testing.T) {
		undefined := l
		undefined.RunID = "run-undefined"
		undefined.Evaluation.Metrics = map[string]metrics.Report{kind: {N: 5, NormalizedGini: 0.5, MAE: math.Inf(1), AUC: math.NaN()}}
		id := mustRun[string](t, env, f.acts.RegisterVersion, registerInput(undefined))
		v, err := f.reg.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		m := v.Metrics[kind]
		_, hasMAE := m["mae"]
		_, hasAUC := m["auc"]
		if m["normalized_gini"] != 0.5 || m["n"] != 5 || hasMAE || hasAUC {
			t.Errorf("metrics %v, want gini 0.5 and n 5 without the undefined mae and auc", m)
		}
	})

	t.Run("failed gate, nothing exported", func(t *testing.T) {
		failed := l
		failed.RunID, failed.Export = "run-failed", nil
		failed.Gate = registry.NewGate(registry.NewCheck("gini_vs_baseline", 0.01, registry.OpGE, 0.1))
		id := mustRun[string](t, env, f.acts.RegisterVersion, registerInput(failed))
		v, err := f.reg.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !v.ONNX.IsZero() || v.Gate.Passed || v.Labels["model_digest"] != "" {
			t.Errorf("version without export: onnx %+v, gate %+v, labels %v", v.ONNX, v.Gate, v.Labels)
		}
	})
}

func TestRegisterVersionErrors(t *testing.T) {
	f := newFixture(t)
	env := newEnv(t, f.acts)
	base := minimalLineage(t, f, "ziln", "wf-errors", "run-1")

	noDataset := base
	noDataset.Validate.Clean = artifacts.Ref{}
	badKind := base
	badKind.Kind = "Not A Kind"
	inconsistentGate := base
	inconsistentGate.Gate = registry.Gate{Passed: true, Checks: []registry.Check{{Name: "gini", Value: 0, Op: registry.OpGE, Threshold: 1}}}
	badDigest := base
	badDigest.Ingest.Dataset.SHA256 = "not-a-digest"

	for _, tc := range []struct {
		name     string
		l        lineage
		contains string
	}{
		{"no clean dataset", noDataset, "dataset"},
		{"malformed kind", badKind, "Not A Kind"},
		{"gate verdict contradicts its checks", inconsistentGate, "gate"},
		{"malformed artifact digest", badDigest, "not-a-digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[string](t, env, f.acts.RegisterVersion, registerInput(tc.l))
			wantNonRetryable(t, err, activities.ErrTypeBadInput, tc.contains)
		})
	}
	if all, err := f.reg.List(context.Background()); err != nil || len(all) != 0 {
		t.Errorf("refused registrations left %d versions (%v)", len(all), err)
	}
}

func TestRecordEvent(t *testing.T) {
	f := newFixture(t)
	env := newEnv(t, f.acts)
	ctx := context.Background()
	id := register(t, f, minimalLineage(t, f, "ziln", "wf-events", "run-1"))
	ev := activities.EventInput{Version: id, Type: registry.EventApproved, Actor: "alice", Comment: "looks good", Run: activities.Run{WorkflowID: "wf-events", RunID: "run-1"}}

	if _, err := run[struct{}](t, env, f.acts.RecordEvent, ev); err != nil {
		t.Fatal(err)
	}
	// A retry of the same event by the same run does not duplicate it.
	if _, err := run[struct{}](t, env, f.acts.RecordEvent, ev); err != nil {
		t.Fatal(err)
	}
	events, err := f.reg.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Type != registry.EventApproved || events[0].Actor != "alice" || events[0].Comment != "looks good" || events[0].RunID != "run-1" {
		t.Errorf("events %+v, want the one approval", events)
	}
	if st := registry.StatusOf(events); st != "approved" {
		t.Errorf("status %q", st)
	}

	t.Run("no version is a no-op", func(t *testing.T) {
		if _, err := run[struct{}](t, env, f.acts.RecordEvent, activities.EventInput{Type: registry.EventOrphaned, Actor: "pipeline"}); err != nil {
			t.Errorf("RecordEvent without a version: %v", err)
		}
	})
	for _, tc := range []struct {
		name    string
		in      activities.EventInput
		errType string
	}{
		{"unknown version", activities.EventInput{Version: "v999", Type: registry.EventNote, Actor: "bob"}, activities.ErrTypeNotFound},
		{"unknown event type", activities.EventInput{Version: id, Type: "celebrated", Actor: "bob"}, activities.ErrTypeBadInput},
		{"no actor", activities.EventInput{Version: id, Type: registry.EventNote}, activities.ErrTypeBadInput},
		{"malformed version", activities.EventInput{Version: "latest", Type: registry.EventNote, Actor: "bob"}, activities.ErrTypeBadInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[struct{}](t, env, f.acts.RecordEvent, tc.in)
			wantNonRetryable(t, err, tc.errType)
		})
	}
}

func TestMoveAliasAndCurrentChampion(t *testing.T) {
	f := newFixture(t)
	env := newEnv(t, f.acts)
	v1 := register(t, f, minimalLineage(t, f, "ziln", "wf-alias", "run-1"))
	v2 := register(t, f, minimalLineage(t, f, "seq", "wf-alias", "run-2"))
	noONNX := minimalLineage(t, f, "ziln", "wf-alias", "run-3")
	noONNX.Export = nil
	v3 := register(t, f, noONNX)

	champ := mustRun[activities.ChampionInfo](t, env, f.acts.CurrentChampion, "champion")
	if champ != (activities.ChampionInfo{}) {
		t.Errorf("champion before any move: %+v, want none", champ)
	}

	unset := ""
	move := activities.MoveAliasInput{Alias: "champion", To: v1, ExpectFrom: &unset, Actor: "alice", Reason: "first", Run: activities.Run{WorkflowID: "wf-alias", RunID: "run-1"}}
	e1 := mustRun[registry.AliasEntry](t, env, f.acts.MoveAlias, move)
	if e1.Seq != 1 || e1.From != "" || e1.To != v1 || e1.Actor != "alice" {
		t.Errorf("first move %+v", e1)
	}
	t.Run("retry of the same move", func(t *testing.T) {
		again := mustRun[registry.AliasEntry](t, env, f.acts.MoveAlias, move)
		if again.Seq != e1.Seq || again.To != v1 {
			t.Errorf("retry gave entry %+v, want entry %d again", again, e1.Seq)
		}
	})

	champ = mustRun[activities.ChampionInfo](t, env, f.acts.CurrentChampion, "champion")
	v, err := f.reg.Get(context.Background(), v1)
	if err != nil {
		t.Fatal(err)
	}
	if champ.Version != v1 || champ.Kind != "ziln" || champ.ONNX != v.ONNX {
		t.Errorf("champion %+v, want %s (ziln) with ONNX %+v", champ, v1, v.ONNX)
	}

	stale := "v42"
	for _, tc := range []struct {
		name    string
		in      activities.MoveAliasInput
		errType string
	}{
		{"compare-and-swap conflict", activities.MoveAliasInput{Alias: "champion", To: v2, ExpectFrom: &stale, Actor: "bob"}, activities.ErrTypeConflict},
		{"expected unset but set", activities.MoveAliasInput{Alias: "champion", To: v2, ExpectFrom: &unset, Actor: "bob"}, activities.ErrTypeConflict},
		{"target not found", activities.MoveAliasInput{Alias: "champion", To: "v999", Actor: "bob"}, activities.ErrTypeNotFound},
		{"target has no ONNX file", activities.MoveAliasInput{Alias: "champion", To: v3, Actor: "bob"}, activities.ErrTypeBadInput},
		{"already there", activities.MoveAliasInput{Alias: "champion", To: v1, Actor: "bob"}, activities.ErrTypeBadInput},
		{"malformed alias", activities.MoveAliasInput{Alias: "Champion!", To: v2, Actor: "bob"}, activities.ErrTypeBadInput},
		{"no actor", activities.MoveAliasInput{Alias: "champion", To: v2}, activities.ErrTypeBadInput},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[registry.AliasEntry](t, env, f.acts.MoveAlias, tc.in)
			wantNonRetryable(t, err, tc.errType)
		})
	}

	e2 := mustRun[registry.AliasEntry](t, env, f.acts.MoveAlias, activities.MoveAliasInput{Alias: "champion", To: v2, ExpectFrom: &v1, Actor: "bob"})
	if e2.Seq != 2 || e2.From != v1 || e2.To != v2 {
		t.Errorf("second move %+v", e2)
	}
	if champ := mustRun[activities.ChampionInfo](t, env, f.acts.CurrentChampion, "champion"); champ.Version != v2 || champ.Kind != "seq" {
		t.Errorf("champion after the second move: %+v", champ)
	}
	t.Run("malformed alias name", func(t *testing.T) {
		_, err := run[activities.ChampionInfo](t, env, f.acts.CurrentChampion, "Not An Alias")
		wantNonRetryable(t, err, activities.ErrTypeBadInput)
	})
}

func TestResolveRollbackTarget(t *testing.T) {
	f := newFixture(t)
	env := newEnv(t, f.acts)
	var ids []string
	for i, kind := range []string{"ziln", "seq", "ziln", "seq", "ziln"} {
		ids = append(ids, register(t, f, minimalLineage(t, f, kind, "wf-rollback", fmt.Sprint("run-", i))))
	}
	// ids[0..2] approved, ids[3] rejected after an approval, ids[4] never decided.
	for _, d := range []struct {
		id  string
		typ registry.EventType
	}{{ids[0], registry.EventApproved}, {ids[1], registry.EventApproved}, {ids[2], registry.EventApproved},
		{ids[3], registry.EventApproved}, {ids[3], registry.EventRejected}} {
		if _, err := run[struct{}](t, env, f.acts.RecordEvent, activities.EventInput{Version: d.id, Type: d.typ, Actor: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	moveTo := func(alias, to string) {
		t.Helper()
		mustRun[registry.AliasEntry](t, env, f.acts.MoveAlias, activities.MoveAliasInput{Alias: alias, To: to, Actor: "tester"})
	}
	moveTo("once", ids[0])
	moveTo("champion", ids[0])
	moveTo("champion", ids[1])

	onnxOf := func(id string) string {
		v, err := f.acts.Registry.Get(context.Background(), id)
		if err != nil || v.ONNX.SHA256 == "" {
			t.Fatalf("%s: %v (ONNX %q)", id, err, v.ONNX.SHA256)
		}
		return v.ONNX.SHA256
	}
	got := mustRun[activities.RollbackTarget](t, env, f.acts.ResolveRollbackTarget, activities.RollbackTargetInput{Alias: "champion"})
	if got != (activities.RollbackTarget{Current: ids[1], Target: ids[0], TargetONNXSHA256: onnxOf(ids[0])}) {
		t.Errorf("rollback of champion: %+v, want %s → %s", got, ids[1], ids[0])
	}
	got = mustRun[activities.RollbackTarget](t, env, f.acts.ResolveRollbackTarget, activities.RollbackTargetInput{Alias: "champion", To: ids[2]})
	if got != (activities.RollbackTarget{Current: ids[1], Target: ids[2], TargetONNXSHA256: onnxOf(ids[2])}) {
		t.Errorf("rollback of champion to %s: %+v", ids[2], got)
	}

	for _, tc := range []struct {
		name     string
		in       activities.RollbackTargetInput
		errType  string
		contains string
	}{
		{"no previous version", activities.RollbackTargetInput{Alias: "once"}, activities.ErrTypeBadInput, "no previous version"},
		{"explicit target is the current one", activities.RollbackTargetInput{Alias: "champion", To: ids[1]}, activities.ErrTypeBadInput, "already"},
		{"explicit target not found", activities.RollbackTargetInput{Alias: "champion", To: "v999"}, activities.ErrTypeNotFound, "v999"},
		{"explicit target rejected", activities.RollbackTargetInput{Alias: "champion", To: ids[3]}, activities.ErrTypeBadInput, "is rejected, not approved"},
		{"explicit target never decided", activities.RollbackTargetInput{Alias: "champion", To: ids[4]}, activities.ErrTypeBadInput, "is registered, not approved"},
		{"alias never set", activities.RollbackTargetInput{Alias: "staging"}, activities.ErrTypeNotFound, "staging"},
		{"malformed alias", activities.RollbackTargetInput{Alias: "v1"}, activities.ErrTypeBadInput, "v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[activities.RollbackTarget](t, env, f.acts.ResolveRollbackTarget, tc.in)
			wantNonRetryable(t, err, tc.errType, tc.contains)
		})
	}
}

// DiscardArtifacts deletes what no registered version references and keeps
// the rest.
func TestDiscardArtifacts(t *testing.T) {
	f := newFixture(t)
	env := newEnv(t, f.acts)
	ctx := context.Background()
	l := minimalLineage(t, f, "ziln", "wf-discard", "run-1")
	register(t, f, l)
	put := func(content string) artifacts.Ref {
		ref, err := f.store.PutBytes(ctx, f.acts.Buckets.Models, "leftovers", []byte(content), artifacts.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	onnx, model := l.Export.ONNX, l.Trained[0].Model // referenced by the version
	c, d := put("leftover c"), put("leftover d")
	gone := missing(c)
	// The referenced key in another bucket is not what the version references.
	elsewhere, err := f.store.PutBytes(ctx, f.acts.Buckets.Datasets, "onnx", []byte("stand-in ONNX file wf-discard/run-1/ziln"), artifacts.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if elsewhere.Key != onnx.Key {
		t.Fatalf("test setup: %s vs %s", elsewhere.Key, onnx.Key)
	}

	in := activities.DiscardInput{Refs: []artifacts.Ref{c, onnx, gone, {}, model, d, elsewhere}, Reason: "test"}
	res := mustRun[activities.DiscardResult](t, env, f.acts.DiscardArtifacts, in)
	sortRefs := func(rs []artifacts.Ref) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Bucket+"/"+r.Key)
		}
		slices.Sort(out)
		return out
	}
	if got, want := sortRefs(res.Kept), sortRefs([]artifacts.Ref{onnx, model}); !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
	if got, want := sortRefs(res.Deleted), sortRefs([]artifacts.Ref{c, d, gone, elsewhere}); !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	for _, r := range []artifacts.Ref{onnx, model} {
		if _, err := f.store.GetBytes(ctx, r); err != nil {
			t.Errorf("kept %s is gone: %v", r.Key, err)
		}
	}
	for _, r := range []artifacts.Ref{c, d, elsewhere} {
		if _, err := f.store.GetBytes(ctx, r); !artifacts.IsNotFound(err) {
			t.Errorf("discarded %s/%s still readable (err %v)", r.Bucket, r.Key, err)
		}
	}

	t.Run("retry", func(t *testing.T) {
		again := mustRun[activities.DiscardResult](t, env, f.acts.DiscardArtifacts, in)
		if !slices.Equal(sortRefs(again.Deleted), sortRefs(res.Deleted)) || !slices.Equal(sortRefs(again.Kept), sortRefs(res.Kept)) {
			t.Errorf("retry: %+v, first %+v", again, res)
		}
	})
	t.Run("malformed reference", func(t *testing.T) {
		bad := artifacts.Ref{Bucket: f.acts.Buckets.Models, Key: "leftovers/x", SHA256: "not-hex"}
		_, err := run[activities.DiscardResult](t, env, f.acts.DiscardArtifacts, activities.DiscardInput{Refs: []artifacts.Ref{bad}})
		wantNonRetryable(t, err, activities.ErrTypeBadInput, "not-hex")
	})
}

// Every registry activity reports an unreachable store as a retryable error
// that keeps its cause.
func TestRegistryActivitiesUnreachable(t *testing.T) {
	u := unreachable(t)
	env := newEnv(t, u)
	ref := artifacts.Ref{Bucket: "unreachable-ds", Key: "clean/x", SHA256: sha256Hex([]byte("x")), Size: 1}
	l := lineage{Kind: "ziln", Validate: activities.ValidateResult{Clean: ref}, Gate: passedGate(), WorkflowID: "wf", RunID: "run"}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"RegisterVersion", func() error { _, err := run[string](t, env, u.RegisterVersion, registerInput(l)); return err }},
		{"RecordEvent", func() error {
			_, err := run[struct{}](t, env, u.RecordEvent, activities.EventInput{Version: "v1", Type: registry.EventNote, Actor: "a"})
			return err
		}},
		{"MoveAlias", func() error {
			_, err := run[registry.AliasEntry](t, env, u.MoveAlias, activities.MoveAliasInput{Alias: "champion", To: "v1", Actor: "a"})
			return err
		}},
		{"CurrentChampion", func() error {
			_, err := run[activities.ChampionInfo](t, env, u.CurrentChampion, "champion")
			return err
		}},
		{"ResolveRollbackTarget", func() error {
			_, err := run[activities.RollbackTarget](t, env, u.ResolveRollbackTarget, activities.RollbackTargetInput{Alias: "champion"})
			return err
		}},
		{"DiscardArtifacts", func() error {
			_, err := run[activities.DiscardResult](t, env, u.DiscardArtifacts, activities.DiscardInput{Refs: []artifacts.Ref{ref}})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantRetryable(t, tc.call(), refusedCause)
		})
	}
}
