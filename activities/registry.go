package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sort"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/provenance"
	"github.com/clvflow/clvflow/registry"
)

// RegisterVersion records a model version with its full lineage and returns
// its id. It is idempotent per workflow run and model kind: a retry after a
// lost response returns the version the first attempt created.
func (a *Activities) RegisterVersion(ctx context.Context, in RegisterInput) (string, error) {
	existing, err := a.Registry.List(ctx)
	if err != nil {
		return "", registryError(err)
	}
	for _, v := range existing {
		if in.WorkflowID != "" && v.WorkflowID == in.WorkflowID && v.RunID == in.RunID && v.ModelKind == in.Kind {
			return v.ID, a.attestVersion(ctx, v.ID) // a retry after a crash between the two writes
		}
	}
	v, err := newVersion(in, a.CodeRevision)
	if err != nil {
		return "", err
	}
	got, err := a.Registry.Register(ctx, v)
	if err != nil {
		return "", registryError(err)
	}
	a.log().Info("model version registered", "version", got.ID, "kind", in.Kind, "gate_passed", in.Gate.Passed)
	return got.ID, a.attestVersion(ctx, got.ID)
}

// attestVersion signs the provenance of a registered version (its registry
// entry's exact bytes, its ONNX file, its lineage) with the worker's key and
// stores the envelope next to the entry. Without a signing key it does
// nothing (such versions fail `clvflow models verify` and a serve that
// requires signatures).
func (a *Activities) attestVersion(ctx context.Context, id string) error {
	if a.Provenance == nil {
		return nil
	}
	obj, v, err := a.Registry.VersionObject(ctx, id)
	if err != nil {
		return registryError(err)
	}
	if v.ONNX.IsZero() {
		return nil // a challenger that failed its gate: nothing to serve, nothing to sign
	}
	env, err := provenance.SignVersion(ctx, a.Provenance, obj, v)
	if err != nil {
		return nonRetryable(ErrTypeIntegrity, fmt.Errorf("sign the provenance of %s: %w", id, err))
	}
	return registryError(a.Registry.PutAttestation(ctx, a.Registry.VersionAttestationKey(id), env))
}

// attestMove signs an alias move (the entry's exact bytes, the target's ONNX
// file, the signed decision behind it) and stores the envelope.
func (a *Activities) attestMove(ctx context.Context, e registry.AliasEntry, decision *registry.SignedDecision) error {
	if a.Provenance == nil {
		return nil
	}
	obj, _, err := a.Registry.AliasEntryObject(ctx, e.Alias, e.Seq)
	if err != nil {
		return registryError(err)
	}
	target, err := a.Registry.Get(ctx, e.To)
	if err != nil {
		return registryError(err)
	}
	env, err := provenance.SignAliasMove(ctx, a.Provenance, obj, e, target, decision)
	if err != nil {
		return nonRetryable(ErrTypeIntegrity, fmt.Errorf("sign the move of %s: %w", e.Alias, err))
	}
	return registryError(a.Registry.PutAttestation(ctx, a.Registry.AliasAttestationKey(e.Alias, e.Seq), env))
}

// newVersion builds the registry record of a RegisterInput.
func newVersion(in RegisterInput, codeRevision string) (registry.Version, error) {
	hp, err := json.Marshal(in.Params)
	if err != nil {
		return registry.Version{}, nonRetryable(ErrTypeBadInput, err)
	}
	v := registry.Version{
		ModelName: "clv-" + in.Kind, ModelKind: in.Kind, HyperParams: hp, Seed: in.Seed,
		Dataset: in.Dataset, Cleaning: in.Cleaning, Metrics: map[string]map[string]float64{}, Gate: in.Gate,
		CodeRevision: codeRevision, WorkflowID: in.WorkflowID, RunID: in.RunID, Labels: map[string]string{}, Policy: in.Policy,
		Artifacts: map[string]artifacts.Ref{
			"features": in.Features, "split": in.Split, "evaluation": in.Evaluation,
			"quarantine": in.Quarantine, "trained_model": in.Model,
		},
	}
	if !in.HTMLReport.IsZero() {
		v.Artifacts["report"] = in.HTMLReport
	}
	for name, m := range in.Metrics {
		v.Metrics[name] = metricMap(m)
	}
	for k, val := range in.Labels {
		if val != "" {
			v.Labels[k] = val
		}
	}
	v.Labels["cutoff"] = in.Cutoff
	v.Labels["horizon_days"] = fmt.Sprint(in.HorizonDays)
	v.Labels["challenger"] = in.Kind
	if n := len(in.Snapshots); n > 0 {
		v.Labels["training_snapshots"] = fmt.Sprint(n)
		for _, s := range in.Snapshots {
			v.Artifacts["features_snapshot_"+s.Cutoff] = s.Features
		}
	}
	maps.DeleteFunc(v.Artifacts, func(_ string, r artifacts.Ref) bool { return r.IsZero() })
	if in.Export != nil {
		v.ONNX = in.Export.ONNX
		v.Parity = in.Export.Parity
		v.FeatureSchema = json.RawMessage(in.Export.FeatureSchema)
		v.Labels["model_digest"] = in.Export.ModelVersion
	}
	return v, nil
}

// RecordEvent appends a status event to a version.
func (a *Activities) RecordEvent(ctx context.Context, in EventInput) error {
	if in.Version == "" {
		return nil
	}
	_, err := a.Registry.AddEvent(ctx, registry.Event{Version: in.Version, Type: in.Type, Actor: in.Actor, Comment: in.Comment,
		WorkflowID: in.WorkflowID, RunID: in.RunID, Signed: in.Signed})
	return registryError(err)
}

// MoveAlias moves an alias with compare-and-swap semantics and records the
// move in the alias history. Retries of the same move by the same run are
// recognised by the registry and return the recorded entry.
func (a *Activities) MoveAlias(ctx context.Context, in MoveAliasInput) (registry.AliasEntry, error) {
	e, err := a.Registry.MoveAlias(ctx, registry.Move{Alias: in.Alias, To: in.To, ExpectFrom: in.ExpectFrom, Actor: in.Actor,
		Reason: in.Reason, WorkflowID: in.WorkflowID, RunID: in.RunID})
	if err != nil {
		return e, registryError(err)
	}
	if err := a.attestMove(ctx, e, in.Decision); err != nil {
		return e, err
	}
	a.log().Info("alias moved", "alias", in.Alias, "from", e.From, "to", e.To, "actor", in.Actor)
	return e, nil
}

// CurrentChampion returns the version an alias points at, or an empty
// result when the alias was never set.
func (a *Activities) CurrentChampion(ctx context.Context, alias string) (ChampionInfo, error) {
	v, err := a.Registry.Resolve(ctx, alias)
	if errors.Is(err, registry.ErrNotFound) {
		return ChampionInfo{}, nil
	}
	if err != nil {
		return ChampionInfo{}, registryError(err)
	}
	return ChampionInfo{Version: v.ID, Kind: v.ModelKind, ONNX: v.ONNX}, nil
}

// ResolveRollbackTarget finds where a rollback should move the alias: the
// explicit target, or the version the alias pointed at before its current
// one.
func (a *Activities) ResolveRollbackTarget(ctx context.Context, in RollbackTargetInput) (RollbackTarget, error) {
	hist, err := a.Registry.History(ctx, in.Alias)
	if err != nil {
		return RollbackTarget{}, registryError(fmt.Errorf("rollback: %w", err))
	}
	cur := hist[len(hist)-1].To
	if in.To != "" {
		if in.To == cur {
			return RollbackTarget{}, nonRetryablef(ErrTypeBadInput, "rollback: %s is already the %s", in.To, in.Alias)
		}
		return a.approvedTarget(ctx, RollbackTarget{Current: cur, Target: in.To})
	}
	if hist[len(hist)-1].From == "" {
		return RollbackTarget{}, nonRetryablef(ErrTypeBadInput, "rollback: %s has no previous version (it was first set to %s); name one with --to", in.Alias, cur)
	}
	return a.approvedTarget(ctx, RollbackTarget{Current: cur, Target: hist[len(hist)-1].From})
}

// approvedTarget refuses a rollback target that no person approved (a
// version rejected, orphaned or never decided): rolling back never makes
// an unapproved model champion.
func (a *Activities) approvedTarget(ctx context.Context, t RollbackTarget) (RollbackTarget, error) {
	v, err := a.Registry.Get(ctx, t.Target)
	if err != nil {
		return RollbackTarget{}, registryError(fmt.Errorf("rollback target: %w", err))
	}
	t.TargetONNXSHA256 = v.ONNX.SHA256
	events, err := a.Registry.Events(ctx, t.Target)
	if err != nil {
		return RollbackTarget{}, registryError(fmt.Errorf("rollback target %s: %w", t.Target, err))
	}
	if st := registry.StatusOf(events); st != string(registry.EventApproved) {
		return RollbackTarget{}, nonRetryablef(ErrTypeBadInput, "rollback: %s is %s, not approved: only a version a person approved may become champion", t.Target, st)
	}
	return t, nil
}

// DiscardArtifacts deletes artifacts a failed run left behind. Content-
// addressed objects can be shared with earlier runs, so any object that a
// registered version references is kept.
func (a *Activities) DiscardArtifacts(ctx context.Context, in DiscardInput) (DiscardResult, error) {
	var res DiscardResult
	versions, err := a.Registry.List(ctx)
	if err != nil {
		return res, registryError(err)
	}
	referenced := map[string]bool{}
	for _, v := range versions {
		referenced[v.ONNX.Bucket+"/"+v.ONNX.Key] = true
		for _, r := range v.Artifacts {
			referenced[r.Bucket+"/"+r.Key] = true
		}
	}
	refs := append([]artifacts.Ref(nil), in.Refs...)
	sort.Slice(refs, func(i, j int) bool { return refs[i].Key < refs[j].Key })
	for _, r := range refs {
		if r.Key == "" {
			continue
		}
		if referenced[r.Bucket+"/"+r.Key] {
			res.Kept = append(res.Kept, r)
			continue
		}
		if err := a.Store.Delete(ctx, r); err != nil && !artifacts.IsNotFound(err) {
			return res, Classify(err)
		}
		res.Deleted = append(res.Deleted, r)
	}
	a.log().Info("discarded artifacts", "reason", in.Reason, "deleted", len(res.Deleted), "kept", len(res.Kept))
	return res, nil
}

// metricMap flattens a metrics report into name → value using its JSON
// field names, the names the registry and the CLI show.
func metricMap(r metrics.Report) map[string]float64 {
	b, _ := json.Marshal(r)
	var raw map[string]any
	_ = json.Unmarshal(b, &raw)
	out := make(map[string]float64, len(raw))
	for k, v := range raw {
		if f, ok := v.(float64); ok {
			out[k] = f
		}
	}
	return out
}
