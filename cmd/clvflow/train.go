package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
)

// trainFlags are the options shared by `train` and `schedule create`.
type trainFlags struct {
	input, format, cutoff, asOf, autoApprove string
	maxEpochs                                int
	csv                                      dataset.CSVMapping
	config                                   configFlags // training.* overrides
}

func (f *trainFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.input, "input", "", "local transaction log, uploaded to the datasets bucket before the run starts")
	fs.StringVar(&f.format, "format", "auto", "input format: auto, cdnow, online-retail, csv, parquet")
	fs.StringVar(&f.cutoff, "cutoff", "", "calibration cutoff YYYY-MM-DD (default: last day of data minus the horizon)")
	fs.StringVar(&f.asOf, "as-of", "", "ignore transactions after this day YYYY-MM-DD (train as if run then)")
	bindTrainingFlags(&f.config, fs)
	fs.IntVar(&f.maxEpochs, "max-epochs", 0, "epoch budget of the neural models (default: the model's own)")
	fs.StringVar(&f.autoApprove, "auto-approve-as", "", "approve automatically on behalf of NAME (demos; recorded as automatic)")
	fs.StringVar(&f.csv.Customer, "customer-col", "", "csv: customer id column")
	fs.StringVar(&f.csv.Time, "time-col", "", "csv: timestamp column")
	fs.StringVar(&f.csv.Amount, "amount-col", "", "csv: amount column")
	fs.StringVar(&f.csv.Quantity, "quantity-col", "", "csv: quantity column (with --price-col)")
	fs.StringVar(&f.csv.Price, "price-col", "", "csv: unit price column (with --quantity-col)")
}

// pipelineInput applies the given flags over cfg and returns the validated
// workflow input.
func (f *trainFlags) pipelineInput(fs *pflag.FlagSet, cfg config.Config, requireInput bool) (workflows.PipelineInput, error) {
	if err := f.config.apply(fs, &cfg); err != nil {
		return workflows.PipelineInput{}, err
	}
	in := f.inputFromConfig(cfg)
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
		if format != dataset.FormatCSV && format != dataset.FormatAuto && format != dataset.FormatParquet {
			return in, fmt.Errorf("--*-col flags need --format csv or parquet")
		}
		in.CSV = &f.csv
		if format != dataset.FormatParquet {
			format = dataset.FormatCSV
		}
	}
	if f.input == "" {
		if requireInput {
			return in, errors.New("--input FILE is required")
		}
	} else if in.Input, err = checkedInput(f.input, format); err != nil {
		return in, err
	}
	if err := in.Validate(); err != nil && (requireInput || f.input != "") {
		return in, err
	}
	return in, nil
}

// inputFromConfig is the workflow input of the effective configuration
// and the flags that are no config keys, without the input file. The gate
// thresholds, the approvers and the approval deadline are the worker's
// policy and are not sent.
func (f *trainFlags) inputFromConfig(cfg config.Config) workflows.PipelineInput {
	tr := cfg.Training
	in := workflows.PipelineInput{
		MaxRejectedFraction: tr.MaxRejectedFraction, DropReversed: tr.DropReversedOrders,
		Cutoff: f.cutoff, AsOf: f.asOf,
		HorizonDays: tr.HorizonDays, SeqWeeks: tr.SeqWeeks, TestFraction: tr.TestFraction,
		Seed: tr.Seed, Models: tr.Models, MaxEpochs: f.maxEpochs,
		Snapshots: tr.Snapshots, SnapshotStepDays: tr.SnapshotStepDays,
		ShardRows: cfg.Featurize.ShardRows, MaxShards: cfg.Featurize.MaxShards,
		AutoApproveAs: f.autoApprove, RetryBudget: cfg.Temporal.ActivityRetryBudget,
	}
	if cfg.Temporal.TrainOnGPUQueue {
		in.TrainTaskQueue = cfg.Temporal.GPUTaskQueue
	}
	return in
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
			in, err := f.pipelineInput(cmd.Flags(), cfg, true)
			if err != nil {
				return fmt.Errorf("train: %w", err)
			}
			in.RequestedBy = currentUser()
			tc, cfg, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			if in.Input, err = a.uploadInput(cmd.Context(), f.input, dataset.Format(in.Input.Format)); err != nil {
				return fmt.Errorf("train: %w", err)
			}
			id := workflowID("train", f.input, time.Now())
			run, err := tc.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true}, workflows.TrainingPipeline, in)
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
