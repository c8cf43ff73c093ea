package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/registry"
)

// objRef converts an artifact reference to the registry's form.
func objRef(r artifacts.Ref) registry.ObjectRef {
	return registry.ObjectRef{Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionID, SHA256: r.SHA256, Size: r.Size}
}

// artRef converts a registry reference to the artifact store's form.
func artRef(r registry.ObjectRef) artifacts.Ref {
	return artifacts.Ref{Bucket: r.Bucket, Key: r.Key, VersionID: r.VersionID, SHA256: r.SHA256, Size: r.Size}
}

// registryError maps registry errors to activity errors: not-found,
// conflicts and invalid requests cannot succeed on retry.
func registryError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return nonRetryable(ErrTypeNotFound, err)
	case errors.Is(err, registry.ErrConflict):
		return nonRetryable(ErrTypeConflict, err)
	case errors.Is(err, registry.ErrInvalid):
		return nonRetryable(ErrTypeBadInput, err)
	}
	return err
}

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
			return v.ID, nil
		}
	}
	metricsByModel := map[string]map[string]float64{}
	for name, m := range in.Evaluation.Metrics {
		metricsByModel[name] = metricMap(m)
	}
	var params map[string]any
	for _, t := range in.Trained {
		if t.Kind == in.Kind {
			params = t.Params
		}
	}
	hp, err := json.Marshal(params)
	if err != nil {
		return "", nonRetryable(ErrTypeBadInput, err)
	}
	v := registry.Version{
		ModelName:   "clv-" + in.Kind,
		ModelKind:   in.Kind,
		HyperParams: hp,
		Seed:        in.Seed,
		Dataset: registry.DatasetRef{
			ObjectRef: objRef(in.Validate.Clean),
			Manifest:  objRef(in.Ingest.Manifest),
		},
		Cleaning: registry.CleaningRef{
			Report: objRef(in.Validate.Report), RowsIn: in.Validate.Rows, RowsClean: in.Validate.Accepted,
			RowsRejected: in.Validate.Rejected, Customers: in.Validate.Customers, RuleCounts: in.Validate.RuleCounts,
		},
		Metrics:      metricsByModel,
		Gate:         in.Gate,
		CodeRevision: a.CodeRevision,
		WorkflowID:   in.WorkflowID,
		RunID:        in.RunID,
		Labels:       map[string]string{},
		Artifacts: map[string]registry.ObjectRef{
			"raw_dataset":   objRef(in.Ingest.Dataset),
			"features":      objRef(in.Featurize.Features),
			"split":         objRef(in.Featurize.Split),
			"evaluation":    objRef(in.Evaluation.Report),
			"quarantine":    objRef(in.Validate.Quarantine),
			"trained_model": {},
		},
	}
	for k, val := range in.Labels {
		if val != "" {
			v.Labels[k] = val
		}
	}
	v.Labels["cutoff"] = in.Featurize.Cutoff
	v.Labels["horizon_days"] = fmt.Sprint(in.Featurize.HorizonDays)
	v.Labels["challenger"] = in.Evaluation.Challenger
	if n := len(in.Featurize.Snapshots); n > 0 {
		v.Labels["training_snapshots"] = fmt.Sprint(n)
		for _, s := range in.Featurize.Snapshots {
			v.Artifacts["features_snapshot_"+s.Cutoff] = objRef(s.Features)
		}
	}
	for _, t := range in.Trained {
		if t.Kind == in.Kind {
			v.Artifacts["trained_model"] = objRef(t.Model)
		}
	}
	for k, r := range v.Artifacts {
		if r.IsZero() {
			delete(v.Artifacts, k)
		}
	}
	if in.Export != nil {
		v.ONNX = objRef(in.Export.ONNX)
		v.Parity = in.Export.Parity
		v.FeatureSchema = json.RawMessage(in.Export.FeatureSchema)
		v.Labels["model_digest"] = in.Export.ModelVersion
	}
	got, err := a.Registry.Register(ctx, v)
	if err != nil {
		return "", registryError(err)
	}
	a.log().Info("model version registered", "version", got.ID, "kind", in.Kind, "gate_passed", in.Gate.Passed)
	return got.ID, nil
}

// RecordEvent appends a status event to a version.
func (a *Activities) RecordEvent(ctx context.Context, in EventInput) error {
	if in.Version == "" {
		return nil
	}
	_, err := a.Registry.AddEvent(ctx, registry.Event{Version: in.Version, Type: in.Type, Actor: in.Actor, Comment: in.Comment,
		WorkflowID: in.WorkflowID, RunID: in.RunID})
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
	return ChampionInfo{Version: v.ID, Kind: v.ModelKind, ONNX: artRef(v.ONNX)}, nil
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
		if _, err := a.Registry.Get(ctx, in.To); err != nil {
			return RollbackTarget{}, registryError(fmt.Errorf("rollback target: %w", err))
		}
		return RollbackTarget{Current: cur, Target: in.To}, nil
	}
	if hist[len(hist)-1].From == "" {
		return RollbackTarget{}, nonRetryablef(ErrTypeBadInput, "rollback: %s has no previous version (it was first set to %s); name one with --to", in.Alias, cur)
	}
	return RollbackTarget{Current: cur, Target: hist[len(hist)-1].From}, nil
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
			return res, storeError(err)
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
