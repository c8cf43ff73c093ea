package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/registry"
)

// The tables of `clvflow models`: list, show and history (diff prints
// registry.Diff's own text).

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func renderList(w io.Writer, rows []registry.VersionSummary) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no model versions registered")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "VERSION\tCREATED\tMODEL\tKIND\tGINI\tGATE\tSTATUS\tALIASES\tDATASET")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, fmtTime(r.CreatedAt), r.ModelName, r.ModelKind,
			headlineMetric(r.Version), verdict(r.Gate.Passed), r.Status, orDash(strings.Join(r.Aliases, ",")), shortSHA(r.Dataset.Raw.SHA256))
	}
	return tw.Flush()
}

// renderShow prints a version's fields, then its metrics, gate checks and
// events as tables.
func renderShow(w io.Writer, d registry.VersionDetail) error {
	for _, section := range []func(io.Writer, registry.VersionDetail) error{renderShowFields, renderShowMetrics, renderShowGate, renderShowEvents} {
		if err := section(w, d); err != nil {
			return err
		}
	}
	return nil
}

// showField is one "Label  value" line of `models show`; an empty label
// continues the line above.
type showField struct{ label, value string }

// showFields are the lines at the top of `models show`, in order.
func showFields(d registry.VersionDetail) []showField {
	v, c, p := d.Version, d.Version.Cleaning, d.Version.Parity
	id := v.ID
	if d.Ref != "" && d.Ref != v.ID {
		id += " (alias " + d.Ref + ")"
	}
	fields := []showField{
		{"Version", id},
		{"Created", fmtTime(v.CreatedAt)},
		{"Model", fmt.Sprintf("%s (kind %s)", v.ModelName, v.ModelKind)},
		{"Status", d.Status},
		{"Aliases", orDash(strings.Join(d.Aliases, ", "))},
		{"Seed", strconv.FormatUint(v.Seed, 10)},
		{"Raw dataset", datasetLine(v.Dataset.Raw)},
		{"Clean dataset", datasetLine(v.Dataset.Clean)},
		{"Manifest", refLine(v.Dataset.Manifest)},
		{"Cleaning", fmt.Sprintf("%d rows in, %d clean, %d rejected, %d customers; report %s", c.RowsIn, c.RowsClean, c.RowsRejected, c.Customers, refLine(c.Report))},
	}
	for _, rule := range slices.Sorted(maps.Keys(c.RuleCounts)) {
		fields = append(fields, showField{"", fmt.Sprintf("rule %s: %d", rule, c.RuleCounts[rule])})
	}
	fields = append(fields, showField{"ONNX", fmt.Sprintf("%s sha256 %s", refLine(v.ONNX), orDash(v.ONNX.SHA256))})
	for _, role := range slices.Sorted(maps.Keys(v.Artifacts)) {
		fields = append(fields, showField{"Artifact", fmt.Sprintf("%s: %s", role, refLine(v.Artifacts[role]))})
	}
	parity := fmt.Sprintf("%s at tolerance %s over %d rows", verdict(p.Passed), fmtFloat(p.Tolerance), p.Rows)
	for _, out := range slices.Sorted(maps.Keys(p.MaxAbsDiff)) {
		parity += fmt.Sprintf("; %s max|Δ| %s", out, fmtFloat(p.MaxAbsDiff[out]))
	}
	fields = append(fields,
		showField{"Parity", parity},
		showField{"Code", orDash(v.CodeRevision)},
		showField{"Workflow", fmt.Sprintf("%s run %s", orDash(v.WorkflowID), orDash(v.RunID))},
		showField{"Policy", policyLine(v.Policy)})
	for _, k := range slices.Sorted(maps.Keys(v.Labels)) {
		fields = append(fields, showField{"Label", k + "=" + v.Labels[k]})
	}
	return append(fields, showField{"Params", compactJSON(v.HyperParams)}, showField{"Features", compactJSON(v.FeatureSchema)})
}

// policyLine shows the worker policy a version was judged under.
func policyLine(p *registry.PolicyRecord) string {
	if p == nil {
		return "- (registered before worker policies were recorded)"
	}
	return fmt.Sprintf("sha256 %s from %s; %d allowed signers (sha256 %s); approval deadline %s; auto-approval %t",
		p.Digest, p.Source, p.AllowedSigners, shortSHA(p.AllowedSignersSHA256), p.ApprovalDeadline, p.AllowAutoApproval)
}

// datasetLine shows a dataset reference with its full sha256, the hash a
// person compares with the ONNX metadata and `sha256sum`.
func datasetLine(r artifacts.Ref) string {
	if r.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s sha256 %s, %d bytes", refLine(r), orDash(r.SHA256), r.Size)
}

// refLine shows a reference as s3://bucket/key[?versionId=…], "-" when
// unset.
func refLine(r artifacts.Ref) string {
	if r.IsZero() {
		return "-"
	}
	s := "s3://" + r.Bucket + "/" + r.Key
	if r.VersionID != "" {
		s += "?versionId=" + r.VersionID
	}
	return s
}

func renderShowFields(w io.Writer, d registry.VersionDetail) error {
	tw := newTable(w)
	for _, f := range showFields(d) {
		fmt.Fprintf(tw, "%s\t%s\n", f.label, f.value)
	}
	return tw.Flush()
}

// renderShowMetrics prints one row per model and one column per metric
// any model has ("-" where a model lacks it); nothing without metrics.
func renderShowMetrics(w io.Writer, d registry.VersionDetail) error {
	metrics := d.Version.Metrics
	if len(metrics) == 0 {
		return nil
	}
	var names []string
	for _, m := range metrics {
		for name := range m {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	fmt.Fprintln(w, "\nMETRICS")
	tw := newTable(w)
	fmt.Fprintf(tw, "MODEL\t%s\n", strings.ToUpper(strings.Join(names, "\t")))
	for _, model := range slices.Sorted(maps.Keys(metrics)) {
		cells := make([]string, len(names))
		for i, name := range names {
			cells[i] = "-"
			if val, ok := metrics[model][name]; ok {
				cells[i] = fmtFloat(val)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\n", model, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

func renderShowGate(w io.Writer, d registry.VersionDetail) error {
	g := d.Version.Gate
	fmt.Fprintf(w, "\nGATE %s\n", strings.ToUpper(verdict(g.Passed)))
	if len(g.Checks) == 0 {
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "CHECK\tVALUE\tOP\tTHRESHOLD\tRESULT")
	for _, ch := range g.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ch.Name, fmtFloat(ch.Value), ch.Op, fmtFloat(ch.Threshold), verdict(ch.Passed))
	}
	return tw.Flush()
}

func renderShowEvents(w io.Writer, d registry.VersionDetail) error {
	fmt.Fprintln(w, "\nEVENTS")
	if len(d.Events) == 0 {
		_, err := fmt.Fprintln(w, "(none)")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tACTOR\tCOMMENT\tSIGNATURE")
	for _, e := range d.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, fmtTime(e.Time), e.Type, e.Actor, orDash(e.Comment), signatureLine(e.Signed))
	}
	return tw.Flush()
}

// signatureLine says who signed a decision with which key.
func signatureLine(s *registry.SignedDecision) string {
	if s == nil {
		return "-"
	}
	return fmt.Sprintf("signed by %s, %s key %s", s.Principal, s.KeyType, s.Fingerprint)
}

func renderHistory(w io.Writer, entries []registry.AliasEntry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no alias moves recorded")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ALIAS\tSEQ\tTIME\tFROM\tTO\tACTOR\tREASON\tWORKFLOW")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Alias, e.Seq, fmtTime(e.Time), orDash(e.From), e.To, e.Actor, orDash(e.Reason), orDash(e.WorkflowID))
	}
	return tw.Flush()
}

func renderDiff(w io.Writer, d registry.Diff) error {
	_, err := io.WriteString(w, d.String())
	return err
}

// headlineMetric is the version's own model's normalized Gini (metrics
// keyed by model name or kind), the number a reader scans a list for.
func headlineMetric(v registry.Version) string {
	for _, key := range []string{v.ModelName, v.ModelKind} {
		if g, ok := v.Metrics[key]["normalized_gini"]; ok {
			return strconv.FormatFloat(g, 'f', 4, 64)
		}
	}
	return "-"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return orDash(s)
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "-"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	return buf.String()
}

// renderDecay shows realised evaluations: predicted vs actual per scoring run.
func renderDecay(w io.Writer, recs []registry.Realised) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "no realised evaluation recorded yet (clvflow realise)")
		return err
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "VERSION\tAS OF\tHORIZON\tCUSTOMERS\tGINI\tDECILE MAPE\tPREDICTED\tACTUAL\tACTUAL/PREDICTED")
	for _, r := range recs {
		ratio := "-"
		if r.PredictedTotal > 0 {
			ratio = fmt.Sprintf("%.3f", r.ActualTotal/r.PredictedTotal)
		}
		fmt.Fprintf(tw, "%s\t%s\t%dd\t%d\t%.4f\t%.4f\t%.2f\t%.2f\t%s\n", r.Version, r.AsOf, r.HorizonDays, r.Customers,
			r.NormalizedGini, r.DecileMAPE, r.PredictedTotal, r.ActualTotal, ratio)
	}
	return tw.Flush()
}
