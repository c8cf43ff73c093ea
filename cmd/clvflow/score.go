package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

type scoreFlags struct {
	input, format, model, asOf string
	shards                     int
	writeCSV, wait, asJSON     bool
}

func (a *app) scoreCmd() *cobra.Command {
	var f scoreFlags
	c := &cobra.Command{
		Use:   "score --input FILE [--model champion] [--as-of YYYY-MM-DD]",
		Short: "Start a BatchScore run: score every customer in shards, write Parquet (and CSV) to MinIO, check drift",
		Long: `Uploads the transaction log, then the BatchScore workflow validates it, pins the
model (default: the champion), scores the customers as of --as-of (default: the
last day in the data) in scoring.shards parallel activities on any worker, ranks
them together into value deciles and segments (scoring.segments,
scoring.dormant_below) and writes one Parquet file per shard (and a CSV with
--csv) under scores/<version>/<dataset sha256>/<as-of>/ in the models bucket,
with summary.json. Re-running the same data, model and day reuses that output.
The population stability (PSI) of every model input and of the score against
the champion's training data is in the summary; above drift.psi_threshold,
drift.action retrain starts one TrainingPipeline on this data (workflow id
clvflow-drift-retrain; it still needs the gate and a signed approval).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.score(cmd.Context(), f) },
	}
	fs := c.Flags()
	fs.StringVar(&f.input, "input", "", "transaction log to score (uploaded to MinIO first)")
	fs.StringVar(&f.format, "format", "auto", "transaction format: auto, cdnow, online-retail, csv, parquet")
	fs.StringVar(&f.model, "model", workflows.AliasChampion, "registry version or alias (pinned when the run starts)")
	fs.StringVar(&f.asOf, "as-of", "", "score as of this day YYYY-MM-DD (default: the last day in the data)")
	fs.IntVar(&f.shards, "shards", 0, "parallel scoring activities (default scoring.shards)")
	fs.BoolVar(&f.writeCSV, "csv", false, "also write scores.csv")
	fs.BoolVar(&f.wait, "wait", false, "show progress and wait for the result")
	fs.BoolVar(&f.asJSON, "json", false, "print JSON")
	return c
}

func (a *app) score(ctx context.Context, f scoreFlags) error {
	if f.input == "" {
		return errors.New("score: --input FILE is required")
	}
	in, err := a.scoreInput(f)
	if err != nil {
		return fmt.Errorf("score: %w", err)
	}
	tc, cfg, err := a.temporal(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	if in.Input, err = a.uploadInput(ctx, f.input, dataset.Format(f.format)); err != nil {
		return fmt.Errorf("score: %w", err)
	}
	id := workflowID("score", f.input, time.Now())
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true}, workflows.BatchScore, in)
	if err != nil {
		return fmt.Errorf("score: cannot start: %w", err)
	}
	url := runURL(cfg, id, run.GetRunID())
	if !f.wait {
		if f.asJSON {
			return writeJSON(a.out, map[string]string{"workflow_id": id, "run_id": run.GetRunID(), "ui": url})
		}
		fmt.Fprintf(a.out, "scoring run %s started\n  watch: %s\n", id, url)
		return nil
	}
	return a.waitScore(ctx, tc, run, url, f.asJSON)
}

// scoreInput is the workflow input of the flags and the config.
func (a *app) scoreInput(f scoreFlags) (workflows.BatchScoreInput, error) {
	cfg, err := a.config()
	if err != nil {
		return workflows.BatchScoreInput{}, err
	}
	segs, err := scoringSegments(cfg)
	if err != nil {
		return workflows.BatchScoreInput{}, err
	}
	retrain := (&trainFlags{}).inputFromConfig(cfg)
	retrain.RequestedBy = "drift"
	in := workflows.BatchScoreInput{Model: f.model, AsOf: f.asOf, Shards: cmpOr(f.shards, cfg.Scoring.Shards), WriteCSV: f.writeCSV,
		Segments: segs, PSIThreshold: cfg.Drift.PSIThreshold, DriftAction: cfg.Drift.Action, Retrain: &retrain,
		MaxRejectedFraction: cfg.Training.MaxRejectedFraction, RetryBudget: cfg.Temporal.ActivityRetryBudget}
	return in, nil
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// waitScore prints progress on stderr until the run ends, then its result.
func (a *app) waitScore(ctx context.Context, tc client.Client, run client.WorkflowRun, url string, asJSON bool) error {
	done := make(chan struct{})
	go a.scoreProgress(ctx, tc, run.GetID(), done)
	var res workflows.BatchScoreResult
	err := run.Get(ctx, &res)
	close(done)
	if err != nil {
		return fmt.Errorf("scoring failed: %s (see %s)", rootCause(err), url)
	}
	if asJSON {
		return writeJSON(a.out, map[string]any{"workflow_id": run.GetID(), "run_id": run.GetRunID(), "ui": url, "result": res})
	}
	return printScoreResult(a.out, res)
}

func (a *app) scoreProgress(ctx context.Context, tc client.Client, id string, done <-chan struct{}) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var st workflows.ScoreStatus
		if v, err := tc.QueryWorkflow(ctx, id, "", workflows.QueryScoreStatus); err == nil && v.Get(&st) == nil {
			line := fmt.Sprintf("%s: %d/%d shards scored (model %s)", st.Stage, st.ShardsDone, st.Shards, st.Version)
			if line != last {
				fmt.Fprintln(a.errOut, line)
				last = line
			}
		}
	}
}

func printScoreResult(w io.Writer, r workflows.BatchScoreResult) error {
	reused := ""
	if r.Reused {
		reused = " (reused an identical earlier run)"
	}
	fmt.Fprintf(w, "scored %d customers with %s as of %s%s\noutput: s3://…/%s/ (%d Parquet files)\n", r.Customers, r.Version, r.AsOf, reused, r.Prefix, len(r.Parts))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEGMENT\tCUSTOMERS\tEXPECTED VALUE")
	for _, s := range r.Segments {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\n", s.Name, s.Customers, s.ExpectedValue)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "drift: max PSI %.3f (%s), threshold %.3f", r.Drift.Max, r.Drift.MaxOf, r.Drift.Threshold)
	switch {
	case r.Retrain != "":
		fmt.Fprintf(w, " → retraining: %s\n", r.Retrain)
	case r.Drift.Drifted:
		fmt.Fprintln(w, " → drifted (drift.action alert)")
	default:
		fmt.Fprintln(w, " → stable")
	}
	return nil
}
