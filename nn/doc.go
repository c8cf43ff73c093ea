// Package nn trains the neural customer-lifetime-value models of clvflow with
// gorgonia and evaluates them in plain Go.
//
// Two model kinds share a zero-inflated lognormal (ZILN) head (Wang, Liu &
// Miao 2019): the network emits a purchase logit, mu and a raw sigma; the loss
// is the binary cross-entropy of "bought in the holdout" plus the lognormal
// negative log-likelihood of the positive labels, and the predicted value is
// p·exp(mu + sigma²/2), capped at the largest label seen in training.
//
//   - [modelkind.ZILN]: a ReLU MLP on the seven tabular base features
//     ([TabularColumns]).
//   - [modelkind.Seq]: a strided 1-D convolution (+ReLU) over the weekly
//     [spend, purchase-days] sequence, flattened and concatenated with the
//     standardised tabular features, followed by the same MLP and head.
//
// Pre-processing (log1p of selected columns, the derived per-week rates x/T
// and spend/T, standardisation with statistics of the training rows and
// clamping to the training range) is part of the [Model], so a model
// consumes raw feature values. The forward/backward passes of training run
// on mini-batches: for [modelkind.ZILN] in a hand-written plain-Go pass
// whose matrix products are fused multiply-add chains in a fixed order (AVX2
// kernels on amd64 CPUs that have them, with bit-identical results), for
// [modelkind.Seq] in a gorgonia graph of fixed batch size (the last partial
// batch is padded and masked); Adam with L2 weight decay, early stopping and the optimiser state are plain
// Go so that a [Checkpoint] captures everything and a resumed run is
// bit-identical to an uninterrupted one. An ensemble of independently seeded
// members is averaged (mean of their expected values, combined in log space).
//
// [Model.Predict] is the float64 forward pass; [Model.PredictFloat32] is the
// float32 reference that mirrors, operation by operation, the ONNX graph
// written by package onnxexport (see [Model.PredictFloat32] for the graph).
package nn

import (
	// gorgonia v0.9.18 panics at init on Go ≥ 1.22 without this assertion.
	_ "go4.org/unsafe/assume-no-moving-gc"
)
