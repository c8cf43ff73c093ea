package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

func init() {
	extraCommands = append(extraCommands, (*app).trainCmd, (*app).approveCmd, (*app).rejectCmd, (*app).rollbackCmd, (*app).statusCmd, (*app).resultCmd)
}

// trainFlags are the options shared by `train` and `schedule create`.
type trainFlags struct {
	input, format, cutoff, asOf, autoApprove string
	horizon, seqWeeks, maxEpochs             int
	snapshots                                int
	seed                                     uint64
	testFraction                             float64
	models                                   []string
	csv                                      dataset.CSVMapping
}

func (f *trainFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.input, "input", "", "transaction log (path on the worker's file system)")
	fs.StringVar(&f.format, "format", "auto", "input format: auto, cdnow, online-retail, csv")
	fs.StringVar(&f.cutoff, "cutoff", "", "calibration cutoff YYYY-MM-DD (default: last day of data minus the horizon)")
	fs.StringVar(&f.asOf, "as-of", "", "ignore transactions after this day YYYY-MM-DD (train as if run then)")
	fs.IntVar(&f.horizon, "horizon-days", 0, "holdout horizon in days (default training.horizon_days)")
	fs.IntVar(&f.seqWeeks, "seq-weeks", 0, "weeks of activity history for the sequence model (default training.seq_weeks)")
	fs.IntVar(&f.maxEpochs, "max-epochs", 0, "epoch budget of the neural models (default: the model's own)")
	fs.IntVar(&f.snapshots, "snapshots", -1, "earlier training snapshots the neural models also learn from, 0 = none (default training.snapshots)")
	fs.Uint64Var(&f.seed, "seed", 0, "training seed (default training.seed)")
	fs.Float64Var(&f.testFraction, "test-fraction", 0, "share of customers held out for evaluation (default training.test_fraction)")
	fs.StringSliceVar(&f.models, "models", nil, "models to train: naive,bgnbd,ziln,seq (default training.models)")
	fs.StringVar(&f.autoApprove, "auto-approve-as", "", "approve automatically on behalf of NAME (demos; recorded as automatic)")
	fs.StringVar(&f.csv.Customer, "customer-col", "", "csv: customer id column")
	fs.StringVar(&f.csv.Time, "time-col", "", "csv: timestamp column")
	fs.StringVar(&f.csv.Amount, "amount-col", "", "csv: amount column")
	fs.StringVar(&f.csv.Quantity, "quantity-col", "", "csv: quantity column (with --price-col)")
	fs.StringVar(&f.csv.Price, "price-col", "", "csv: unit price column (with --quantity-col)")
}

// pipelineInput merges flags over config into a validated workflow input.
func (f *trainFlags) pipelineInput(cfg config.Config, requireInput bool) (workflows.PipelineInput, error) {
	in := workflows.PipelineInput{
		MaxRejectedFraction: cfg.Training.MaxRejectedFraction, DropReversed: cfg.Training.DropReversedOrders,
		Cutoff: f.cutoff, AsOf: f.asOf,
		HorizonDays: cfg.Training.HorizonDays, SeqWeeks: cfg.Training.SeqWeeks, TestFraction: cfg.Training.TestFraction,
		Seed: cfg.Training.Seed, Models: cfg.Training.Models, MaxEpochs: f.maxEpochs,
		Snapshots: cfg.Training.Snapshots, SnapshotStepDays: cfg.Training.SnapshotStepDays,
		Gate:      cfg.Gate,
		Approvers: cfg.Approvals.Approvers, ApprovalTimeout: cfg.Approvals.Timeout, AutoApproveAs: f.autoApprove,
	}
	if cfg.Temporal.TrainOnGPUQueue {
		in.TrainTaskQueue = cfg.Temporal.GPUTaskQueue
	}
	if f.horizon > 0 {
		in.HorizonDays = f.horizon
	}
	if f.seqWeeks > 0 {
		in.SeqWeeks = f.seqWeeks
	}
	if f.seed > 0 {
		in.Seed = f.seed
	}
	if f.snapshots >= 0 {
		in.Snapshots = f.snapshots
	}
	if f.testFraction > 0 {
		in.TestFraction = f.testFraction
	}
	if len(f.models) > 0 {
		in.Models = f.models
	}
	for _, d := range []struct{ name, val string }{{"--cutoff", f.cutoff}, {"--as-of", f.asOf}} {
		if d.val != "" {
			if _, err := time.Parse("2006-01-02", d.val); err != nil {
				return in, fmt.Errorf("%s %q is not a date YYYY-MM-DD", d.name, d.val)
			}
		}
	}
	format, err := dataset.ParseFormat(f.format)
	if err != nil {
		return in, err
	}
	if f.csv != (dataset.CSVMapping{}) {
		if format != dataset.FormatCSV && format != dataset.FormatAuto {
			return in, fmt.Errorf("--*-col flags need --format csv")
		}
		in.CSV = &f.csv
		format = dataset.FormatCSV
	}
	if f.input == "" {
		if requireInput {
			return in, errors.New("--input FILE is required")
		}
	} else {
		abs, err := filepath.Abs(f.input)
		if err != nil {
			return in, err
		}
		fh, err := activities.OpenInput(abs)
		if err != nil {
			return in, err
		}
		fh.Close()
		in.Input = activities.IngestInput{Path: abs, Format: string(format)}
	}
	if err := in.Validate(); err != nil && (requireInput || f.input != "") {
		return in, err
	}
	return in, nil
}

func (a *app) trainCmd() *cobra.Command {
	var f trainFlags
	var wait, asJSON bool
	c := &cobra.Command{
		Use:   "train --input FILE",
		Short: "Start a TrainingPipeline run (ingest → … → approval → promote)",
		Example: `  clvflow train --input testdata/demo/transactions.csv.gz --horizon-days 90 --wait
  clvflow train --input orders.csv --format csv --customer-col user --time-col ts --amount-col total`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			in, err := f.pipelineInput(cfg, true)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			in.RequestedBy = currentUser()
			tc, cfg, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			id := workflowID("train", in.Input.Path, time.Now())
			run, err := tc.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue}, workflows.TrainingPipeline, in)
			if err != nil {
				return fmt.Errorf("train: cannot start the pipeline: %w", err)
			}
			url := runURL(cfg, id, run.GetRunID())
			if !asJSON {
				fmt.Fprintf(a.out, "pipeline %s started\n  watch: %s\n  status: clvflow status %s\n", id, url, id)
			}
			if !wait {
				if asJSON {
					return writeJSON(a.out, map[string]string{"workflow_id": id, "run_id": run.GetRunID(), "ui": url})
				}
				return nil
			}
			if !asJSON && in.AutoApproveAs == "" {
				go a.announceApproval(cmd.Context(), tc, id)
			}
			return a.reportRun(cmd.Context(), run, url, asJSON)
		},
	}
	f.register(c)
	c.Flags().BoolVar(&wait, "wait", false, "wait for the run to finish and print its result")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// reportRun waits for a pipeline run and prints its result (also the
// verdict a GateFailed error carries), as a table or JSON.
func (a *app) reportRun(ctx context.Context, run client.WorkflowRun, url string, asJSON bool) error {
	var res workflows.PipelineResult
	err := run.Get(ctx, &res)
	if err != nil {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) && ae.HasDetails() {
			_ = ae.Details(&res)
		}
	}
	if asJSON {
		out := map[string]any{"workflow_id": run.GetID(), "run_id": run.GetRunID(), "ui": url, "result": res}
		if err != nil {
			out["error"] = rootCause(err)
		}
		if jerr := writeJSON(a.out, out); jerr != nil {
			return jerr
		}
	} else {
		printPipelineResult(a.out, &res)
	}
	if err != nil {
		return fmt.Errorf("pipeline failed: %s (see %s)", rootCause(err), url)
	}
	return nil
}

// announceApproval prints the command a person types once the run waits.
func (a *app) announceApproval(ctx context.Context, tc client.Client, id string) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := tc.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
		if err != nil {
			continue
		}
		var st workflows.PipelineStatus
		if v.Get(&st) != nil {
			continue
		}
		if st.PendingApproval != nil {
			fmt.Fprintf(a.out, "waiting for approval of %s until %s:\n  clvflow approve %s --approver NAME [--comment ...]\n  clvflow reject %s --approver NAME --reason ...\n",
				st.PendingApproval.Version, st.PendingApproval.Deadline.Format(time.RFC3339), st.PendingApproval.Version, st.PendingApproval.Version)
			return
		}
		if st.Stage == "done" || st.Stage == "failed" {
			return
		}
	}
}

func printPipelineResult(w io.Writer, res *workflows.PipelineResult) {
	fmt.Fprintf(w, "\noutcome: %s", orDash(res.Outcome))
	if res.Version != "" {
		fmt.Fprintf(w, "   version: %s", res.Version)
	}
	fmt.Fprintf(w, "   champion: %s → %s\n", orDash(res.ChampionBefore), orDash(res.ChampionAfter))
	if res.Cutoff != "" {
		fmt.Fprintf(w, "cutoff %s, horizon %d days, %d test customers\n", res.Cutoff, res.HorizonDays, res.TestCustomers)
	}
	if len(res.Metrics) > 0 {
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
	if len(res.Gate.Checks) > 0 {
		verdict := "FAIL"
		if res.Gate.Passed {
			verdict = "pass"
		}
		fmt.Fprintf(w, "gate: %s\n", verdict)
		for _, c := range res.Gate.Checks {
			ok := "ok  "
			if !c.Passed {
				ok = "FAIL"
			}
			fmt.Fprintf(w, "  %s %s = %.4f (%s %.4g)\n", ok, c.Name, c.Value, c.Op, c.Threshold)
		}
	}
	if res.Parity != nil {
		fmt.Fprintf(w, "onnx parity: passed=%v on %d rows, tolerance %g\n", res.Parity.Passed, res.Parity.Rows, res.Parity.Tolerance)
	}
	if res.Decision != nil {
		d := "rejected"
		if res.Decision.Approve {
			d = "approved"
		}
		auto := ""
		if res.Decision.Auto {
			auto = " (automatic)"
		}
		fmt.Fprintf(w, "decision: %s by %s%s %s\n", d, res.Decision.Approver, auto, res.Decision.Comment)
	}
	for _, c := range res.Compensations {
		fmt.Fprintf(w, "compensation: %s\n", c)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// decide sends an approval Update to the run that registered version.
func (a *app) decide(cmd *cobra.Command, version string, d workflows.Decision) error {
	if strings.TrimSpace(d.Approver) == "" {
		return errors.New("--approver NAME is required")
	}
	reg, err := a.openRegistry(cmd.Context())
	if err != nil {
		return err
	}
	v, err := reg.Get(cmd.Context(), version)
	if err != nil {
		return err
	}
	if v.WorkflowID == "" {
		return fmt.Errorf("version %s was not registered by a pipeline run; nothing waits for its approval", version)
	}
	tc, cfg, err := a.temporal(cmd.Context())
	if err != nil {
		return err
	}
	defer tc.Close()
	d.Version = version
	h, err := tc.UpdateWorkflow(cmd.Context(), client.UpdateWorkflowOptions{
		WorkflowID: v.WorkflowID, RunID: v.RunID, UpdateName: workflows.UpdateApproval,
		Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err != nil {
		return fmt.Errorf("%s refused: %s", version, rootCause(err))
	}
	var got workflows.Decision
	if err := h.Get(cmd.Context(), &got); err != nil {
		return fmt.Errorf("%s refused: %s", version, rootCause(err))
	}
	word := "rejected"
	if got.Approve {
		word = "approved"
	}
	fmt.Fprintf(a.out, "%s %s by %s; the pipeline continues: %s\n", version, word, got.Approver, runURL(cfg, v.WorkflowID, v.RunID))
	return nil
}

func (a *app) approveCmd() *cobra.Command {
	var approver, comment string
	c := &cobra.Command{
		Use:   "approve VERSION --approver NAME",
		Short: "Approve a registered version that a pipeline waits on (it is then promoted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd, args[0], workflows.Decision{Approve: true, Approver: approver, Comment: comment})
		},
	}
	c.Flags().StringVar(&approver, "approver", "", "who approves (must be in approvals.approvers when that is set)")
	c.Flags().StringVar(&comment, "comment", "", "why")
	return c
}

func (a *app) rejectCmd() *cobra.Command {
	var approver, reason string
	c := &cobra.Command{
		Use:   "reject VERSION --approver NAME --reason TEXT",
		Short: "Reject a registered version that a pipeline waits on (the champion stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required when rejecting")
			}
			return a.decide(cmd, args[0], workflows.Decision{Approve: false, Approver: approver, Comment: reason})
		},
	}
	c.Flags().StringVar(&approver, "approver", "", "who rejects (must be in approvals.approvers when that is set)")
	c.Flags().StringVar(&reason, "reason", "", "why")
	return c
}

func (a *app) rollbackCmd() *cobra.Command {
	var to, actor, reason string
	var asJSON bool
	c := &cobra.Command{
		Use:   "rollback [--to VERSION]",
		Short: "Move the champion back (to the previous one, or --to VERSION) through the Rollback workflow",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if actor == "" {
				actor = currentUser()
			}
			tc, cfg, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			id := "rollback-" + time.Now().UTC().Format("20060102T150405Z")
			run, err := tc.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue},
				workflows.Rollback, workflows.RollbackInput{To: to, Actor: actor, Reason: reason})
			if err != nil {
				return err
			}
			var res workflows.RollbackResult
			if err := run.Get(cmd.Context(), &res); err != nil {
				return fmt.Errorf("rollback failed: %s (see %s)", rootCause(err), runURL(cfg, id, run.GetRunID()))
			}
			if asJSON {
				return writeJSON(a.out, map[string]any{"workflow_id": id, "from": res.From, "to": res.To, "actor": actor})
			}
			fmt.Fprintf(a.out, "champion rolled back from %s to %s by %s (%s)\n", res.From, res.To, actor, runURL(cfg, id, run.GetRunID()))
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "version to roll back to (default: the previous champion)")
	c.Flags().StringVar(&actor, "actor", "", "who asks for it (default: $USER)")
	c.Flags().StringVar(&reason, "reason", "", "why")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func (a *app) statusCmd() *cobra.Command {
	var waitApproval bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "status WORKFLOW_ID",
		Short: "Show a pipeline run's stage, progress and pending approval (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tc, _, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			deadline := time.Now().Add(timeout)
			for {
				v, err := tc.QueryWorkflow(cmd.Context(), args[0], "", workflows.QueryStatus)
				if err != nil {
					return fmt.Errorf("status of %s: %s", args[0], rootCause(err))
				}
				var st workflows.PipelineStatus
				if err := v.Get(&st); err != nil {
					return err
				}
				if !waitApproval {
					return writeJSON(a.out, st)
				}
				if st.PendingApproval != nil {
					fmt.Fprintln(a.out, st.PendingApproval.Version)
					return nil
				}
				if st.Stage == "done" || st.Stage == "failed" {
					return fmt.Errorf("%s ended (%s: %s) without waiting for an approval", args[0], st.Stage, st.Progress)
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s still at stage %s after %s", args[0], st.Stage, timeout)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(time.Second):
				}
			}
		},
	}
	c.Flags().BoolVar(&waitApproval, "wait-for-approval", false, "block until the run waits for an approval, then print the version")
	c.Flags().DurationVar(&timeout, "timeout", time.Hour, "give up waiting after this long")
	return c
}

func (a *app) resultCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "result WORKFLOW_ID",
		Short: "Wait for a pipeline run to finish and print its result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tc, cfg, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			run := tc.GetWorkflow(cmd.Context(), args[0], "")
			return a.reportRun(cmd.Context(), run, runURL(cfg, args[0], run.GetRunID()), asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
