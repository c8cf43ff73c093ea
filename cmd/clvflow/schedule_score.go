package main

import (
	"fmt"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
)

func (a *app) scheduleScoreCmd() *cobra.Command {
	var f scoreFlags
	var sf scheduleCreateFlags
	c := &cobra.Command{
		Use:   "create-score ID --input FILE (--cron EXPR | --every DURATION)",
		Short: "Create a schedule that starts BatchScore runs, each scoring as of its scheduled day",
		Long: `Like create, for scoring: --input is uploaded once, or with --worker-path the
workers re-read the path (under their ingest.allowed_dirs) at every run, which
is what a refreshed file needs. Each run scores with the model as of its
scheduled day, checks drift and acts on it (drift.action).`,
		Example: `  clvflow schedule create-score nightly --input /data/orders.csv.gz --worker-path --cron "0 4 * * *"`,
		Args:    cobra.ExactArgs(1),
		RunE:    func(cmd *cobra.Command, args []string) error { return a.createScoreSchedule(cmd, args[0], f, sf) },
	}
	fs := c.Flags()
	fs.StringVar(&f.input, "input", "", "transaction log to score")
	fs.StringVar(&f.format, "format", "auto", "transaction format: auto, cdnow, online-retail, csv, parquet")
	fs.StringVar(&f.model, "model", workflows.AliasChampion, "registry version or alias (pinned by each run)")
	fs.IntVar(&f.shards, "shards", 0, "parallel scoring activities (default scoring.shards)")
	fs.BoolVar(&f.writeCSV, "csv", false, "also write scores.csv")
	sf.register(fs)
	return c
}

func (a *app) createScoreSchedule(cmd *cobra.Command, id string, f scoreFlags, sf scheduleCreateFlags) error {
	in, err := a.scoreInput(f)
	if err != nil {
		return fmt.Errorf("schedule create-score: %w", err)
	}
	in.UseScheduledTime = true
	if in.Input, err = checkedInput(f.input, dataset.Format(f.format)); err != nil {
		return err
	}
	return a.createScheduleOf(cmd, id, sf, scheduledAction{idPrefix: "score-", workflow: workflows.BatchScore,
		arg: func() any { return in }, input: &in.Input, file: f.input, format: f.format})
}
