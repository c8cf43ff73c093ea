// Package onnxrt wraps ONNX Runtime (github.com/yalue/onnxruntime_go) for
// clvflow's exported CLV models.
//
// It locates the ONNX Runtime shared library (see FindLibrary), initialises the
// process-wide runtime environment exactly once (Init), loads model files after
// verifying their sha256 (Load), reads the clvflow metadata_props that describe
// a model's inputs (ReadMetadata), scores batches (Model.Predict), keeps one
// session per model version (Cache) and implements the pipeline's parity gate
// between ONNX Runtime and the Go reference forward pass (Parity, EdgeRows).
//
// The model file contract (input and output names, shapes and metadata keys)
// is the one written by package onnxexport: input "features" float32
// [batch, 7] with the raw base features in the order of TabularColumns, for
// kind "seq" also "sequence" float32 [batch, 2, W], and the float32 [batch, 1]
// outputs "expected_value", "purchase_probability", "mu" and "sigma".
package onnxrt
