// Package backtest is the offline experiment of `clvflow backtest`, built on
// package models (which holds the models themselves: fitting, prediction,
// scoring and artifacts; see there for what each model does).
//
// [Run] reads and cleans a transaction log (package dataset), builds the
// features at the cutoff (package features; the default cutoff is the last
// transaction day minus the horizon, found by a first validation-only pass
// over the file so that nothing but per-customer-day state is ever held in
// memory), splits the scored customers into train and test with a seeded
// permutation, fits every requested model on the training customers
// (models.Fit, with Options.Snapshots earlier training snapshots for the
// neural models) and computes the metrics on the test customers
// (models.Evaluate). Its [Result] encodes to the JSON object of
// `clvflow backtest --json` (DESIGN §3); undefined metrics (NaN) and any
// non-finite parameter are written as null.
//
// Repeated splits: with Options.Repeats = K > 1, Run reads the data and
// builds the features once, fits the split-independent models once (naive;
// the BTYD kinds, fitted on every customer) and runs the K splits with
// seeds Seed … Seed+K−1 in parallel (up to GOMAXPROCS at a time; each
// split's result depends on its seed only, so the output is the same
// whatever GOMAXPROCS, fit times aside). The JSON keeps the fields of a
// K = 1 run, describing the first split (seed Seed), and adds "repeats" (the
// metrics of every split) and "summary": per model and metric the mean,
// sample standard deviation and 95% t-interval of the mean over the splits
// ([Stat]), and for every two models the per-split differences of
// normalized Gini and decile MAPE ([Comparison]: mean and sd over splits,
// win counts, and a paired percentile bootstrap of the mean difference
// built from metrics.PairedGiniDiff / PairedDecileMAPEDiff: resample r of
// the mean is the average over splits of each split's resample r, split k
// seeded Bootstrap.Seed+k). The splits share customers, so the t-interval
// describes the split-to-split variation of the mean, not independent
// replications; sd is the spread of a single split's verdict.
package backtest
