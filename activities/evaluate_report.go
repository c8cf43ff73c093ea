package activities

import (
	"bytes"
	"context"
	"fmt"
	"slices"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/report"
)

// ReportsPrefix is where evaluation reports go in the models bucket.
const ReportsPrefix = "reports"

// putHTMLReport renders the evaluation report of every model scored (in the
// canonical model order, the champion last) and stores it.
func (a *Activities) putHTMLReport(ctx context.Context, set *features.Set, res EvaluateResult, scored map[string]models.Scored) (artifacts.Ref, error) {
	d := report.Data{Title: "clvflow evaluation: challenger " + res.Challenger, Cutoff: set.Split.Cutoff.Format("2006-01-02"),
		HorizonDays: set.Split.HorizonDays, Customers: set.Len()}
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
		d.Models = append(d.Models, report.ModelResult{Name: label, Predicted: sc.Predicted, Actual: sc.Actual, Metrics: report.MetricsOf(res.Metrics[name])})
	}
	var buf bytes.Buffer
	if err := report.Render(&buf, d); err != nil {
		return artifacts.Ref{}, nonRetryable(ErrTypeBadData, fmt.Errorf("evaluation report: %w", err))
	}
	ref, err := a.Store.PutBytes(ctx, a.Buckets.Models, ReportsPrefix, buf.Bytes(), artifacts.PutOptions{ContentType: "text/html; charset=utf-8", Filename: "report.html"})
	return ref, Classify(err)
}
