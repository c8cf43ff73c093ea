package onnxrt_test

import (
	"testing"

	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

func benchmarkPredict(b *testing.B, rows int) {
	_, m := load(b, onnxrttest.Spec{Seed: 41, Hidden: 32})
	f, _ := onnxrttest.Rows(rows, 41, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Predict(f, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "predictions/s")
}

// BenchmarkORTBatch1 measures one-customer scoring through ONNX Runtime.
func BenchmarkORTBatch1(b *testing.B) { benchmarkPredict(b, 1) }

// BenchmarkORTBatch1024 measures 1024-customer batches.
func BenchmarkORTBatch1024(b *testing.B) { benchmarkPredict(b, 1024) }
