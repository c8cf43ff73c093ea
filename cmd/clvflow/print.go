package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	"github.com/clvflow/clvflow/workflows"
)

// printPipelineResult writes a pipeline run's result as text: outcome,
// metrics per model, gate checks, parity, decision and compensations.
func printPipelineResult(w io.Writer, res *workflows.PipelineResult) {
	fmt.Fprintf(w, "\noutcome: %s", orDash(res.Outcome))
	if res.Version != "" {
		fmt.Fprintf(w, "   version: %s", res.Version)
	}
	fmt.Fprintf(w, "   champion: %s → %s\n", orDash(res.ChampionBefore), orDash(res.ChampionAfter))
	if res.RawDataset.SHA256 != "" {
		fmt.Fprintf(w, "data: raw sha256 %s, clean sha256 %s\n", res.RawDataset.SHA256, orDash(res.CleanDataset.SHA256))
	}
	if res.Cutoff != "" {
		fmt.Fprintf(w, "cutoff %s, horizon %d days, %d test customers\n", res.Cutoff, res.HorizonDays, res.TestCustomers)
	}
	printPipelineMetrics(w, res)
	printPipelineGate(w, res)
	if res.Parity != nil {
		fmt.Fprintf(w, "onnx parity: passed=%v on %d rows, tolerance %g\n", res.Parity.Passed, res.Parity.Rows, res.Parity.Tolerance)
	}
	if res.ONNX != nil {
		fmt.Fprintf(w, "onnx: sha256 %s\n", res.ONNX.SHA256)
	}
	if res.Report != nil && res.Version != "" {
		fmt.Fprintf(w, "evaluation report: clvflow report %s --output DIR (s3://%s/%s)\n", res.Version, res.Report.Bucket, res.Report.Key)
	}
	if res.Decision != nil {
		printDecision(w, res.Decision)
	}
	for _, c := range res.Compensations {
		fmt.Fprintf(w, "compensation: %s\n", c)
	}
}

// printPipelineMetrics writes one row per model, sorted by name, the
// challenger marked with *; nothing without metrics.
func printPipelineMetrics(w io.Writer, res *workflows.PipelineResult) {
	if len(res.Metrics) == 0 {
		return
	}
	names := make([]string, 0, len(res.Metrics))
	for n := range res.Metrics {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tgini\tspearman\tdecile_mape\tmae\trmse\tauc\tf1\tpred_total\tactual_total\t")
	for _, n := range names {
		m := res.Metrics[n]
		mark := ""
		if n == res.Challenger {
			mark = " *"
		}
		fmt.Fprintf(tw, "%s%s\t%.4f\t%.4f\t%.4f\t%.2f\t%.2f\t%.4f\t%.4f\t%.0f\t%.0f\t\n", n, mark, m.NormalizedGini, m.Spearman, m.DecileMAPE, m.MAE, m.RMSE, m.AUC, m.F1, m.TotalPredicted, m.TotalActual)
	}
	tw.Flush()
}

// printPipelineGate writes the gate verdict and its checks; nothing when
// the run stopped before the gate.
func printPipelineGate(w io.Writer, res *workflows.PipelineResult) {
	if len(res.Gate.Checks) == 0 {
		return
	}
	fmt.Fprintf(w, "gate: %s\n", verdict(res.Gate.Passed))
	for _, c := range res.Gate.Checks {
		ok := "ok  "
		if !c.Passed {
			ok = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s = %.4f (%s %.4g)", ok, c.Name, c.Value, c.Op, c.Threshold)
		if iv := c.Interval; iv != nil {
			fmt.Fprintf(w, " estimate %.4f, %.0f%% interval [%.4f, %.4f], %d resamples, seed %d", iv.Estimate, 100*iv.Confidence, iv.Lo, iv.Hi, iv.Resamples, iv.Seed)
		}
		fmt.Fprintln(w)
	}
}

func printDecision(w io.Writer, d *workflows.Decision) {
	word := "rejected"
	if d.Approve {
		word = "approved"
	}
	auto := ""
	if d.Auto {
		auto = " (automatic)"
	}
	fmt.Fprintf(w, "decision: %s by %s%s %s\n", word, d.Approver, auto, d.Comment)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// verdict names a passed or failed check or gate.
func verdict(passed bool) string {
	if passed {
		return "pass"
	}
	return "FAIL"
}

// writeJSON writes v as indented JSON, the --json output of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
