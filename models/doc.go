// Package models is the production model code of clvflow: the [Model]
// interface, fitting ([Fit]), prediction, scoring ([Evaluate]) and the JSON
// (un)marshalling ([MarshalModel], [UnmarshalModel]) of the six CLV models
// naive, bgnbd, pnbd, mbgnbd, ziln and seq (package modelkind names them).
// The pipeline's Temporal activities train, store, load and evaluate models
// with it, and package backtest builds its offline experiment on top of it.
//
// A model is fitted on the training customers of a [features.Set] and
// predicts, for any customers of a set, the holdout spend and the
// probability of buying in the holdout.
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
//   - pnbd and mbgnbd: the same with Pareto/NBD or MBG/NBD purchase counts
//     in place of BG/NBD (package btyd; same Gamma-Gamma part, fallback and
//     JSON layout, the count parameters under "pnbd" or "mbgnbd"). Like
//     bgnbd they are not networks and are not exported to ONNX.
//   - ziln and seq: the neural models of package nn (value = expected value,
//     capped at the largest training label; probability = the ZILN purchase
//     probability), trained on the training customers' labels only.
//     [NetModel] returns their nn ensemble for the ONNX export.
//
// # Training snapshots
//
// With FitOptions.Snapshots the neural models also learn from the training
// customers at earlier cutoffs: one horizon before the cutoff and then every
// step days back (features.SnapshotCutoffs), each with its own horizon-long
// label window that ends on or before the cutoff, so only calibration data
// is read and no test customer's row is used. A customer is new, young and
// established at different snapshots, which gives the networks many more
// examples of the customers that one cutoff has few of (on Online Retail
// 2,685 training rows become 12,398). The rows of one customer share an
// nn.Data group, so early stopping validates on customers the member did not
// train on.
//
// naive and the BTYD kinds (bgnbd, pnbd, mbgnbd) read no labels at all; they predict over the horizon they
// were fitted for (FitOptions.HorizonDays, else the set's), whatever the
// horizon of the set they are later applied to. The neural models learn the
// horizon of their training labels.
//
// # Artifacts
//
// [MarshalModel] writes the JSON envelope {"kind": KIND, "model": {...}};
// floats are written so that they read back bit-identically, and
// [UnmarshalModel] validates what it reads.
package models
