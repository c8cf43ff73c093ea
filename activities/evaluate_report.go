package activities

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/report"
)

// ReportsPrefix is where evaluation reports go in the models bucket.
const ReportsPrefix = "reports"

// putHTMLReport renders the evaluation report of every model scored (in the
// canonical model order, the champion last) and stores it.
func (a *Activities) putHTMLReport(ctx context.Context, set *features.Set, in EvaluateInput, res EvaluateResult, scored map[string]models.Scored, liftSamples []float64) (artifacts.Ref, error) {
	d := report.Data{Title: "clvflow evaluation: challenger " + res.Challenger, Cutoff: set.Split.Cutoff.Format("2006-01-02"),
		HorizonDays: set.Split.HorizonDays, Customers: set.Len(), Rows: in.Rows, RuleCounts: in.RuleCounts, GiniLiftSamples: liftSamples}
	loss := map[string][]report.LossCurve{}
	for _, t := range in.Models {
		for _, c := range t.Loss {
			loss[t.Kind] = append(loss[t.Kind], report.LossCurve{Label: fmt.Sprintf("member %d (from epoch %d)", c.Member+1, c.FirstEpoch), Train: c.Train, Validation: c.Validation})
		}
	}
	if len(liftSamples) > 0 {
		d.GiniLiftLabel = "Gini lift of " + res.Challenger + " over " + res.Baseline
	}
	names := slices.Collect(func(yield func(string) bool) {
		for _, k := range modelkind.Names() {
			if _, ok := scored[k]; ok && !yield(k) {
				return
			}
		}
	})
	if _, ok := scored[ChampionMetrics]; ok {
		names = append(names, ChampionMetrics)
	}
	for _, name := range names {
		label := name
		if name == ChampionMetrics {
			label = "champion " + res.ChampionVersion
		}
		sc := scored[name]
		d.Models = append(d.Models, report.ModelResult{Name: label, Predicted: sc.Predicted, Actual: sc.Actual, Metrics: report.MetricsOf(res.Metrics[name]), Loss: loss[name]})
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, d); err != nil {
		return artifacts.Ref{}, nonRetryable(ErrTypeBadData, fmt.Errorf("evaluation report: %w", err))
	}
	ref, err := a.Store.PutBytes(ctx, a.Buckets.Models, ReportsPrefix, buf.Bytes(), artifacts.PutOptions{ContentType: "text/html; charset=utf-8", Filename: "report.html"})
	return ref, Classify(err)
}

// gateBootstrap draws the paired bootstrap intervals of the statistical
// gate on the test customers; it also returns the resampled Gini lifts for
// the report.
func gateBootstrap(in EvaluateInput, res EvaluateResult, scored map[string]models.Scored) (*GateBootstrap, []float64, error) {
	ch, base := scored[res.Challenger], scored[res.Baseline]
	if len(base.Actual) == 0 {
		return nil, nil, nil // no baseline scored: the gate reports the missing baseline
	}
	o := metrics.BootstrapOptions{Resamples: in.Resamples, Seed: in.Seed, Confidence: in.Confidence}
	lift, err := metrics.PairedGiniDiff(ch.Actual, ch.Predicted, base.Predicted, o)
	if err != nil {
		return nil, nil, ClassifyData(fmt.Errorf("bootstrap of the Gini lift: %w", err))
	}
	mape, err := metrics.PairedDecileMAPEDiff(ch.Actual, ch.Predicted, base.Predicted, o)
	if err != nil {
		return nil, nil, ClassifyData(fmt.Errorf("bootstrap of the decile MAPE change: %w", err))
	}
	b := &GateBootstrap{GiniLift: lift, DecileMAPEChange: mape}
	if champ, ok := scored[ChampionMetrics]; ok {
		adv, err := metrics.PairedGiniDiff(ch.Actual, champ.Predicted, ch.Predicted, o)
		if err != nil {
			return nil, nil, ClassifyData(fmt.Errorf("bootstrap of the champion's advantage: %w", err))
		}
		b.ChampionAdvantage = &adv
	}
	return b, lift.Samples, nil
}
