package main

import (
	"errors"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
)

func (a *app) scheduleRealiseCmd() *cobra.Command {
	var input, format string
	var horizon int
	var sf scheduleCreateFlags
	c := &cobra.Command{
		Use:   "create-realise ID --input FILE --horizon-days N (--cron EXPR | --every DURATION)",
		Short: "Create a schedule that realises every scoring run whose horizon has passed (RealiseDue runs)",
		Long: `Each run reads the transaction log (with --worker-path: the path the workers
re-read at each run, which a growing log needs), finds every BatchScore run whose
as-of day plus N days lies within the data and has no realised record over N
days yet, and records how its predictions turned out (clvflow models decay).`,
		Example: `  clvflow schedule create-realise monthly --input /data/orders.csv.gz --worker-path --horizon-days 90 --cron "0 5 1 * *"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if input == "" || horizon <= 0 {
				return errors.New("schedule create-realise: --input and --horizon-days are required")
			}
			cfg, err := a.config()
			if err != nil {
				return err
			}
			in := workflows.RealiseDueInput{HorizonDays: horizon, MaxRejectedFraction: cfg.Training.MaxRejectedFraction, RetryBudget: cfg.Temporal.ActivityRetryBudget}
			if in.Input, err = checkedInput(input, dataset.Format(format)); err != nil {
				return err
			}
			return a.createScheduleOf(cmd, args[0], sf, scheduledAction{idPrefix: "realise-", workflow: workflows.RealiseDue,
				arg: func() any { return in }, input: &in.Input, file: input, format: format})
		},
	}
	fs := c.Flags()
	fs.StringVar(&input, "input", "", "transaction log covering the horizons")
	fs.StringVar(&format, "format", "auto", "transaction format: auto, cdnow, online-retail, csv, parquet")
	fs.IntVar(&horizon, "horizon-days", 0, "the horizon to realise scoring runs over")
	sf.register(fs)
	return c
}
