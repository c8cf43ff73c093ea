package onnxrt

// PredictORT is Predict with every row through ONNX Runtime, never the
// one-row Go path (for the benchmarks' same-run comparison).
func (m *Model) PredictORT(features, seq [][]float32) (Outputs, error) {
	return m.predict(features, seq, false)
}
