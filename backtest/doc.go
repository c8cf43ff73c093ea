// Package backtest is the modelling glue shared by `clvflow backtest` and the
// Temporal training activities: it fits the four CLV models of clvflow on the
// training customers of a [features.Set], predicts holdout spend and purchase
// probability, scores the predictions on held-out customers with package
// metrics, and stores fitted models as JSON artifacts.
//
// # Models
//
//   - naive: calibration spend scaled to the horizon,
//     cal_spend / max(T, 1 week) · horizon weeks. Its purchase probability
//     treats the calibration purchase-day rate λ = (x+1) / max(T, 1 week) as
//     a Poisson rate: P(buy in holdout) = 1 − exp(−λ · horizon weeks).
//   - bgnbd: BG/NBD × Gamma-Gamma (package btyd) fitted on every customer's
//     calibration data (no labels): value = E[X(h) | x, t_x, T] · E[M | x, m̄],
//     probability P(X(h) > 0 | x, t_x, T). When no training customer has a
//     repeat purchase with a positive mean value, Gamma-Gamma cannot be
//     fitted; the value per purchase then falls back to the training
//     customers' mean spend per purchase day and a warning says so.
//   - ziln and seq: the neural models of package nn (value = expected value,
//     capped at the largest training label; probability = the ZILN purchase
//     probability), trained on the training customers' labels only.
//
// # Training snapshots
//
// With FitOptions.Snapshots (Options.Snapshots in [Run]) the neural models
// also learn from the training customers at earlier cutoffs: one horizon
// before the cutoff and then every step days back (features.SnapshotCutoffs),
// each with its own horizon-long label window that ends on or before the
// cutoff, so only calibration data is read and no test customer's row is
// used. A customer is new, young and established at different snapshots,
// which gives the networks many more examples of the customers that one
// cutoff has few of (on Online Retail 2,685 training rows become 12,398).
// The rows of one customer share an nn.Data group, so early stopping
// validates on customers the member did not train on.
//
// naive and bgnbd read no labels at all; they predict over the horizon they
// were fitted for (FitOptions.HorizonDays, else the set's), whatever the
// horizon of the set they are later applied to. The neural models learn the
// horizon of their training labels.
//
// # Backtest
//
// [Run] reads and cleans a transaction log (package dataset), builds the
// features at the cutoff (package features; the default cutoff is the last
// transaction day minus the horizon, found by a first validation-only pass
// over the file so that nothing but per-customer-day state is ever held in
// memory), splits the scored customers into train and test with a seeded
// permutation, fits every requested model on the training customers and
// computes the metrics on the test customers. Its [Result] encodes to the
// JSON object of `clvflow backtest --json` (DESIGN §3); undefined metrics
// (NaN) and any non-finite parameter are written as null.
package backtest
