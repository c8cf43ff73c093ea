package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/onnxrt"
	"go.temporal.io/sdk/activity"
)

// ensureONNX initialises ONNX Runtime (once per worker process; later
// calls with the same settings are no-ops).
func (a *Activities) ensureONNX() error {
	if err := onnxrt.Init(onnxrt.Options{LibraryPath: a.ONNXLibrary, IntraOpThreads: 1}); err != nil {
		return nonRetryable(ErrTypeBadInput, err)
	}
	return nil
}

// Evaluate scores every trained model (and the current champion, through
// ONNX Runtime exactly as serving would) on the test customers and picks
// the challenger: the neural model with the highest normalized Gini.
func (a *Activities) Evaluate(ctx context.Context, in EvaluateInput) (EvaluateResult, error) {
	res := EvaluateResult{Metrics: map[string]metrics.Report{}, Baseline: string(modelkind.Baseline)}
	if in.Baseline != "" {
		res.Baseline = in.Baseline
	}
	set, _, test, release, err := a.loadFeatures(ctx, in.Features, in.Split)
	if err != nil {
		return res, err
	}
	defer release()
	res.TestCustomers = len(test)
	scored := map[string]models.Scored{}
	for _, t := range in.Models {
		m, err := a.loadModel(ctx, t.Model)
		if err != nil {
			return res, err
		}
		rep, sc, err := models.EvaluateScored(m, set, test)
		if err != nil {
			return res, ClassifyData(fmt.Errorf("evaluate %s: %w", t.Kind, err))
		}
		res.Metrics[t.Kind], scored[t.Kind] = rep, sc
		activity.RecordHeartbeat(ctx, t.Kind)
	}
	if res.Challenger = pickChallenger(res.Metrics); res.Challenger == "" {
		return res, nonRetryablef(ErrTypeBadData, "evaluate: no neural model produced a usable Gini on %d test customers", len(test))
	}
	if in.Champion != nil && in.Champion.Version != "" {
		rep, sc, err := a.scoreChampion(ctx, *in.Champion, set, test)
		if err != nil {
			return res, err
		}
		res.Metrics[ChampionMetrics], scored[ChampionMetrics] = rep, sc
		res.ChampionVersion = in.Champion.Version
	}
	var liftSamples []float64
	if in.Confidence > 0 {
		if res.Bootstrap, liftSamples, err = gateBootstrap(in, res, scored); err != nil {
			return res, err
		}
	}
	if res.HTMLReport, err = a.putHTMLReport(ctx, set, in, res, scored, liftSamples); err != nil {
		return res, err
	}
	ref, err := a.Store.PutJSON(ctx, a.Buckets.Models, fmt.Sprintf("evaluations/%s-%s.json", refDigest(in.Features)[:16], activityID(ctx)), res)
	if err != nil {
		return res, Classify(err)
	}
	res.Report = ref
	return res, nil
}

// pickChallenger is the neural model with the highest normalized Gini
// (the first by name on a tie; "" when none has a usable Gini).
func pickChallenger(byModel map[string]metrics.Report) string {
	best, challenger := math.Inf(-1), ""
	for _, k := range slices.Sorted(maps.Keys(byModel)) {
		g := byModel[k].NormalizedGini
		if modelkind.Kind(k).IsNetwork() && !math.IsNaN(g) && g > best {
			best, challenger = g, k
		}
	}
	return challenger
}

// scoreChampion scores the champion's ONNX file on the test customers.
func (a *Activities) scoreChampion(ctx context.Context, champ ChampionInfo, set *features.Set, test []int) (metrics.Report, models.Scored, error) {
	var sc models.Scored
	m, err := a.loadONNX(ctx, champ.Version, champ.ONNX)
	if err != nil {
		return metrics.Report{}, sc, err
	}
	defer m.Close()
	if m.Schema().SequenceInput != "" && !set.HasSequences() {
		return metrics.Report{}, sc, nonRetryablef(ErrTypeBadInput, "champion %s is a sequence model but this run's features were built without weekly sequences (none of its models needed them when it featurized); run again to compare with it", champ.Version)
	}
	tab, seq := set.Float32Rows(test, m.Schema().SequenceInput != "")
	out, err := m.Predict(tab, seq)
	if err != nil {
		return metrics.Report{}, sc, nonRetryable(ErrTypeBadInput, fmt.Errorf("champion %s: %w", champ.Version, err))
	}
	labels := set.Labels()
	sc = models.Scored{Predicted: make([]float64, len(test)), Probability: make([]float64, len(test)), Actual: make([]float64, len(test))}
	for i, idx := range test {
		sc.Predicted[i], sc.Probability[i], sc.Actual[i] = float64(out.Expected[i]), float64(out.Prob[i]), labels[idx]
	}
	rep, err := metrics.Evaluate(sc.Predicted, sc.Probability, sc.Actual)
	if err != nil && !errors.Is(err, metrics.ErrUndefined) {
		return rep, sc, nonRetryable(ErrTypeBadData, err)
	}
	return rep, sc, nil
}

// refDigest is a reference's sha256, or (when it has none) the sha256 of
// its location, to name artifacts derived from it.
func refDigest(r artifacts.Ref) string {
	if r.SHA256 != "" {
		return r.SHA256
	}
	return sha256Hex([]byte(r.Bucket + "/" + r.Key + "@" + r.VersionID))
}
