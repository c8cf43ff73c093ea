package registry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"github.com/clvflow/clvflow/artifacts"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// VersionSummary is one row of `clvflow models list`: the version plus its
// current status and the aliases pointing at it.
type VersionSummary struct {
	Version
	Status  string   `json:"status"`
	Aliases []string `json:"aliases"`
}

// VersionDetail is what `clvflow models show` prints: the version, how it was
// named (Ref: the id or alias given), its status, aliases and events.
type VersionDetail struct {
	Ref     string   `json:"ref"`
	Version Version  `json:"version"`
	Status  string   `json:"status"`
	Aliases []string `json:"aliases"`
	Events  []Event  `json:"events"`
}

// aliasesByVersion maps version id → alias names pointing at it (sorted).
func (r *Registry) aliasesByVersion(ctx context.Context) (map[string][]string, error) {
	states, err := r.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for _, s := range states { // sorted by alias name
		m[s.Version] = append(m[s.Version], s.Alias)
	}
	return m, nil
}

// Summaries returns every version with its status and aliases, sorted by id.
func (r *Registry) Summaries(ctx context.Context) ([]VersionSummary, error) {
	versions, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	byVersion, err := r.aliasesByVersion(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]VersionSummary, 0, len(versions))
	for _, v := range versions {
		events, err := r.Events(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, VersionSummary{Version: v, Status: StatusOf(events), Aliases: nonNil(byVersion[v.ID])})
	}
	return out, nil
}

// Detail returns a version (by id or alias) with status, aliases and events.
func (r *Registry) Detail(ctx context.Context, ref string) (VersionDetail, error) {
	v, err := r.Lookup(ctx, ref)
	if err != nil {
		return VersionDetail{}, err
	}
	events, err := r.Events(ctx, v.ID)
	if err != nil {
		return VersionDetail{}, err
	}
	byVersion, err := r.aliasesByVersion(ctx)
	if err != nil {
		return VersionDetail{}, err
	}
	return VersionDetail{Ref: ref, Version: v, Status: StatusOf(events), Aliases: nonNil(byVersion[v.ID]), Events: nonNil(events)}, nil
}

// AllHistory returns the histories of every alias merged, ordered by time
// (then alias name and sequence number).
func (r *Registry) AllHistory(ctx context.Context) ([]AliasEntry, error) {
	states, err := r.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	var all []AliasEntry
	for _, s := range states {
		h, err := r.History(ctx, s.Alias)
		if err != nil {
			return nil, err
		}
		all = append(all, h...)
	}
	slices.SortStableFunc(all, func(a, b AliasEntry) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Alias, b.Alias), cmp.Compare(a.Seq, b.Seq))
	})
	return nonNil(all), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// NewModelsCommand returns `models` with the subcommands list, show
// VERSION|ALIAS, history [ALIAS] and diff A B. Each prints a human table, or
// JSON with --json. open is called once per invocation to get the registry.
func NewModelsCommand(open func(ctx context.Context) (*Registry, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Inspect the model registry: versions, aliases and their history",
	}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")

	withRegistry := func(run func(ctx context.Context, r *Registry, out io.Writer, args []string) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			r, err := open(ctx)
			if err != nil {
				return err
			}
			return run(ctx, r, c.OutOrStdout(), args)
		}
	}

	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List model versions with status, gate verdict and aliases",
		Args:  cobra.NoArgs,
		RunE: withRegistry(func(ctx context.Context, r *Registry, out io.Writer, _ []string) error {
			rows, err := r.Summaries(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(out, rows)
			}
			return renderList(out, rows)
		}),
	}, &cobra.Command{
		Use:   "show VERSION|ALIAS",
		Short: "Show one version's lineage, metrics, gate checks and events",
		Args:  cobra.ExactArgs(1),
		RunE: withRegistry(func(ctx context.Context, r *Registry, out io.Writer, args []string) error {
			d, err := r.Detail(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(out, d)
			}
			return renderShow(out, d)
		}),
	}, &cobra.Command{
		Use:   "history [ALIAS]",
		Short: "Show the move history of one alias, or of all aliases",
		Args:  cobra.MaximumNArgs(1),
		RunE: withRegistry(func(ctx context.Context, r *Registry, out io.Writer, args []string) error {
			var entries []AliasEntry
			var err error
			if len(args) == 1 {
				entries, err = r.History(ctx, args[0])
			} else {
				entries, err = r.AllHistory(ctx)
			}
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(out, entries)
			}
			return renderHistory(out, entries)
		}),
	}, &cobra.Command{
		Use:   "diff A B",
		Short: "Compare two versions (ids or aliases): params, metrics, gate, lineage",
		Args:  cobra.ExactArgs(2),
		RunE: withRegistry(func(ctx context.Context, r *Registry, out io.Writer, args []string) error {
			d, err := r.Diff(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(out, d)
			}
			_, err = io.WriteString(out, d.String())
			return err
		}),
	})
	return cmd
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
	return dash(s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func verdict(passed bool) string {
	if passed {
		return "pass"
	}
	return "FAIL"
}

// headlineMetric is the version's own model's normalized Gini (metrics keyed
// by model name or kind), the number a
// reader scans a list for.
func headlineMetric(v Version) string {
	for _, key := range []string{v.ModelName, v.ModelKind} {
		if g, ok := v.Metrics[key]["normalized_gini"]; ok {
			return strconv.FormatFloat(g, 'f', 4, 64)
		}
	}
	return "-"
}

func renderList(w io.Writer, rows []VersionSummary) error {
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "no model versions registered")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tCREATED\tMODEL\tKIND\tGINI\tGATE\tSTATUS\tALIASES\tDATASET")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, fmtTime(r.CreatedAt), r.ModelName, r.ModelKind,
			headlineMetric(r.Version), verdict(r.Gate.Passed), r.Status, dash(strings.Join(r.Aliases, ",")), shortSHA(r.Dataset.Raw.SHA256))
	}
	return tw.Flush()
}

// datasetLine shows a dataset reference with its full sha256, the hash a
// person compares with the ONNX metadata and `sha256sum`.
func datasetLine(r artifacts.Ref) string {
	if r.IsZero() {
		return "-"
	}
	return fmt.Sprintf("%s sha256 %s, %d bytes", refLine(r), dash(r.SHA256), r.Size)
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

func renderShow(w io.Writer, d VersionDetail) error {
	v := d.Version
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	kv := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	id := v.ID
	if d.Ref != "" && d.Ref != v.ID {
		id += " (alias " + d.Ref + ")"
	}
	kv("Version", "%s", id)
	kv("Created", "%s", fmtTime(v.CreatedAt))
	kv("Model", "%s (kind %s)", v.ModelName, v.ModelKind)
	kv("Status", "%s", d.Status)
	kv("Aliases", "%s", dash(strings.Join(d.Aliases, ", ")))
	kv("Seed", "%d", v.Seed)
	kv("Raw dataset", "%s", datasetLine(v.Dataset.Raw))
	kv("Clean dataset", "%s", datasetLine(v.Dataset.Clean))
	kv("Manifest", "%s", refLine(v.Dataset.Manifest))
	c := v.Cleaning
	kv("Cleaning", "%d rows in, %d clean, %d rejected, %d customers; report %s", c.RowsIn, c.RowsClean, c.RowsRejected, c.Customers, refLine(c.Report))
	for _, rule := range sortedKeys(c.RuleCounts) {
		kv("", "rule %s: %d", rule, c.RuleCounts[rule])
	}
	kv("ONNX", "%s sha256 %s", refLine(v.ONNX), dash(v.ONNX.SHA256))
	for _, role := range sortedKeys(v.Artifacts) {
		kv("Artifact", "%s: %s", role, refLine(v.Artifacts[role]))
	}
	p := v.Parity
	parity := fmt.Sprintf("%s at tolerance %s over %d rows", verdict(p.Passed), fmtFloat(p.Tolerance), p.Rows)
	for _, out := range sortedKeys(p.MaxAbsDiff) {
		parity += fmt.Sprintf("; %s max|Δ| %s", out, fmtFloat(p.MaxAbsDiff[out]))
	}
	kv("Parity", "%s", parity)
	kv("Code", "%s", dash(v.CodeRevision))
	kv("Workflow", "%s run %s", dash(v.WorkflowID), dash(v.RunID))
	for _, k := range sortedKeys(v.Labels) {
		kv("Label", "%s=%s", k, v.Labels[k])
	}
	kv("Params", "%s", compactJSON(v.HyperParams))
	kv("Features", "%s", compactJSON(v.FeatureSchema))
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(v.Metrics) > 0 {
		var names []string
		for _, m := range v.Metrics {
			for name := range m {
				if !slices.Contains(names, name) {
					names = append(names, name)
				}
			}
		}
		slices.Sort(names)
		fmt.Fprintln(w, "\nMETRICS")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "MODEL\t%s\n", strings.ToUpper(strings.Join(names, "\t")))
		for _, model := range sortedKeys(v.Metrics) {
			cells := make([]string, len(names))
			for i, name := range names {
				cells[i] = "-"
				if val, ok := v.Metrics[model][name]; ok {
					cells[i] = fmtFloat(val)
				}
			}
			fmt.Fprintf(tw, "%s\t%s\n", model, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintf(w, "\nGATE %s\n", strings.ToUpper(verdict(v.Gate.Passed)))
	if len(v.Gate.Checks) > 0 {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHECK\tVALUE\tOP\tTHRESHOLD\tRESULT")
		for _, ch := range v.Gate.Checks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ch.Name, fmtFloat(ch.Value), ch.Op, fmtFloat(ch.Threshold), verdict(ch.Passed))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	fmt.Fprintln(w, "\nEVENTS")
	if len(d.Events) == 0 {
		_, err := fmt.Fprintln(w, "(none)")
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tTYPE\tACTOR\tCOMMENT")
	for _, e := range d.Events {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Seq, fmtTime(e.Time), e.Type, e.Actor, dash(e.Comment))
	}
	return tw.Flush()
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

func renderHistory(w io.Writer, entries []AliasEntry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no alias moves recorded")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALIAS\tSEQ\tTIME\tFROM\tTO\tACTOR\tREASON\tWORKFLOW")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Alias, e.Seq, fmtTime(e.Time), dash(e.From), e.To, e.Actor, dash(e.Reason), dash(e.WorkflowID))
	}
	return tw.Flush()
}
