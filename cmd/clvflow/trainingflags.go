package main

import (
	"fmt"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/features"
	"github.com/spf13/pflag"
)

// bindTrainingFlags defines the flags over training.* keys that train,
// schedule create and backtest share.
func bindTrainingFlags(cf *configFlags, fs *pflag.FlagSet) {
	bindConfigFlag(cf, fs.IntVar, "horizon-days", "training.horizon_days", "holdout horizon in days",
		func(c *config.Config) *int { return &c.Training.HorizonDays },
		checkValue(func(d int) bool { return d > 0 }, "want a number of days > 0"))
	bindConfigFlag(cf, fs.StringSliceVar, "models", "training.models", "models to fit: naive,bgnbd,pnbd,mbgnbd,ziln,seq",
		func(c *config.Config) *[]string { return &c.Training.Models }, nil)
	bindConfigFlag(cf, fs.Uint64Var, "seed", "training.seed", "seed of the train/test split and the neural models",
		func(c *config.Config) *uint64 { return &c.Training.Seed },
		checkValue(func(s uint64) bool { return s > 0 }, "0 is reserved for the default seed; choose a seed > 0"))
	bindConfigFlag(cf, fs.Float64Var, "test-fraction", "training.test_fraction", "share of customers held out for the metrics, in (0,1)",
		func(c *config.Config) *float64 { return &c.Training.TestFraction },
		checkValue(func(f float64) bool { return f > 0 && f < 1 }, "want a share in (0,1)"))
	bindConfigFlag(cf, fs.IntVar, "seq-weeks", "training.seq_weeks", "weeks of activity history of the sequence model",
		func(c *config.Config) *int { return &c.Training.SeqWeeks }, nil)
	bindConfigFlag(cf, fs.IntVar, "snapshots", "training.snapshots", "earlier training snapshots the neural models also learn from, 0 = none",
		func(c *config.Config) *int { return &c.Training.Snapshots },
		checkValue(func(n int) bool { return n >= 0 && n <= features.MaxSnapshots },
			fmt.Sprintf("want a number in [0, %d] (0 disables them)", features.MaxSnapshots)))
}
