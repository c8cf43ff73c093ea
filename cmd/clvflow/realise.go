package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

func (a *app) realiseCmd() *cobra.Command {
	var rf realiseFlags
	c := &cobra.Command{
		Use:   "realise --scores PREFIX --input FILE --horizon-days N",
		Short: "Compare a scoring run's predictions with what customers spent once the horizon passed, and record it on the version",
		Long: `Runs the Realised workflow: the predictions of the BatchScore run whose output is
PREFIX (the "prefix" of its result) against the spend in (as-of, as-of + N days]
read from FILE, which must cover that horizon. The normalized Gini, decile MAPE
and predicted vs actual totals are recorded on the version; clvflow models
decay shows them for every past champion.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.realise(cmd, rf) },
	}
	fs := c.Flags()
	fs.StringVar(&rf.scores, "scores", "", "the scoring run's output prefix (scores/<version>/<dataset>/<as-of>/s<shards>)")
	fs.StringVar(&rf.input, "input", "", "transaction log covering the horizon")
	fs.StringVar(&rf.format, "format", "auto", "transaction format: auto, cdnow, online-retail, csv, parquet")
	fs.IntVar(&rf.horizon, "horizon-days", 0, "days after the as-of day to compare with")
	fs.BoolVar(&rf.asJSON, "json", false, "print JSON")
	return c
}

type realiseFlags struct {
	input, format, scores string
	horizon               int
	asJSON                bool
}

// realise runs the Realised workflow and prints what it recorded.
func (a *app) realise(cmd *cobra.Command, f realiseFlags) error {
	if f.input == "" || f.scores == "" || f.horizon <= 0 {
		return errors.New("realise: --scores, --input and --horizon-days are required")
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	tc, _, err := a.temporal(cmd.Context())
	if err != nil {
		return err
	}
	defer tc.Close()
	in := workflows.RealisedInput{ScoresPrefix: f.scores, HorizonDays: f.horizon, MaxRejectedFraction: cfg.Training.MaxRejectedFraction, RetryBudget: cfg.Temporal.ActivityRetryBudget}
	if in.Input, err = a.uploadInput(cmd.Context(), f.input, dataset.Format(f.format)); err != nil {
		return fmt.Errorf("realise: %w", err)
	}
	id := workflowID("realise", f.input, time.Now())
	run, err := tc.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true}, workflows.Realised, in)
	if err != nil {
		return err
	}
	var rec registry.Realised
	if err := run.Get(cmd.Context(), &rec); err != nil {
		return fmt.Errorf("realise failed: %s (see %s)", rootCause(err), runURL(cfg, id, run.GetRunID()))
	}
	if f.asJSON {
		return writeJSON(a.out, rec)
	}
	return renderDecay(a.out, []registry.Realised{rec})
}
