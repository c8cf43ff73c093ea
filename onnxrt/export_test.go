package onnxrt

// PredictORT is Predict with every row through ONNX Runtime, never the
// one-row Go path (for the benchmarks' same-run comparison).
func (m *Model) PredictORT(features, seq [][]float32) (Outputs, error) {
	return m.predict(features, seq, false)
}

// CompilerFusesFMA reports whether the Go compiler may fuse x*y+z on this
// target (see compilerFusesFMA).
const CompilerFusesFMA = compilerFusesFMA
