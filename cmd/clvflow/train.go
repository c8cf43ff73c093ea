package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

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
		Gate: workflows.GateConfig{MinGiniLift: cfg.Gate.MinGiniLift, MaxChampionRegression: cfg.Gate.MaxChampionRegression,
			MaxDecileMAPE: cfg.Gate.MaxDecileMAPE, ParityTolerance: cfg.Gate.ParityTolerance, MinTestCustomers: cfg.Gate.MinTestCustomers},
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
