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
package backtest
