package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/clvflow/clvflow/backtest"
)

// summaryMetrics are the metrics of the --repeats table: JSON key, label,
// decimals.
var summaryMetrics = []struct {
	key, label string
	decimals   int
}{
	{"normalized_gini", "gini", 4}, {"spearman", "spearman", 4}, {"decile_mape", "decile MAPE", 4},
	{"mae", "MAE", 2}, {"rmse", "RMSE", 2}, {"auc", "AUC", 4}, {"f1", "F1", 4},
}

// printSummary writes the per-model distribution of the metrics over the
// splits and the paired comparisons.
func printSummary(w io.Writer, s *backtest.Summary) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tmetric\tmean ± sd\t95% t-interval of the mean\tsplits\t")
	for _, name := range summaryModelNames(s) {
		for _, m := range summaryMetrics {
			st, ok := s.Models[name][m.key]
			if !ok || st.N == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s ± %s\t[%s, %s]\t%d\t\n", name, m.label, fmtMetric(st.Mean, m.decimals), fmtMetric(st.SD, m.decimals),
				fmtMetric(st.Lo, m.decimals), fmtMetric(st.Hi, m.decimals), st.N)
		}
	}
	tw.Flush()
	if len(s.Comparisons) == 0 {
		return
	}
	fmt.Fprintf(w, "\npaired comparisons on the same test customers (A − B; mean over splits, 95%% paired bootstrap interval, %d resamples per split; wins A/B/ties):\n",
		s.Comparisons[0].NormalizedGini.Bootstrap.Resamples)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "A − B\tΔ gini\tinterval\twins\tΔ decile MAPE\tinterval\twins\t")
	for _, c := range s.Comparisons {
		g, d := c.NormalizedGini, c.DecileMAPE
		fmt.Fprintf(tw, "%s − %s\t%s\t%s\t%d/%d/%d\t%s\t%s\t%d/%d/%d\t\n", c.A, c.B,
			fmtSigned(g.MeanDiff), fmtInterval(g.Bootstrap.Lo, g.Bootstrap.Hi), g.WinsA, g.WinsB, g.Ties,
			fmtSigned(d.MeanDiff), fmtInterval(d.Bootstrap.Lo, d.Bootstrap.Hi), d.WinsA, d.WinsB, d.Ties)
	}
	tw.Flush()
}

// summaryModelNames lists the summary's models in canonical order.
func summaryModelNames(s *backtest.Summary) []string {
	r := backtest.Result{Models: map[string]backtest.ModelResult{}}
	for name := range s.Models {
		r.Models[name] = backtest.ModelResult{}
	}
	return r.ModelNames()
}

// fmtSigned prints a difference with 4 decimals and its sign.
func fmtSigned(v float64) string {
	if s := fmtMetric(v, 4); s != "-" && v >= 0 {
		return "+" + s
	}
	return fmtMetric(v, 4)
}

// fmtInterval prints [lo, hi] with signs.
func fmtInterval(lo, hi float64) string { return "[" + fmtSigned(lo) + ", " + fmtSigned(hi) + "]" }
