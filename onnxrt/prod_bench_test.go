package onnxrt_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
	"github.com/clvflow/clvflow/onnxexport"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// prodModel trains a ziln model with the production architecture (default
// config: 64-32 hidden, 3-member ensemble) briefly, exports it and loads it
// through Load, as clvflow serve does.
func prodModel(tb testing.TB) (*nn.Model, *onnxrt.Model, [][]float32) {
	tb.Helper()
	onnxrttest.RequireORT(tb)
	cfg := nn.DefaultConfig(modelkind.ZILN)
	cfg.MaxEpochs = 2
	ds := nntest.Synthetic(2048, cfg.SeqWeeks, 5)
	nm, err := nn.Train(context.Background(), cfg, nn.Data{Tabular: ds.Tabular, Label: ds.Label}, nn.TrainOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	blob, err := onnxexport.Export(nm, onnxexport.Metadata{Name: "prod", Version: "v1"})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := onnxrt.Load("v1", blob, onnxrt.SHA256Hex(blob))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return nm, m, nn.Float32Rows(ds.Tabular)
}

// latency runs fn b.N times and reports p50/p99 per call in µs.
func latency(b *testing.B, fn func(i int) error) {
	d := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := fn(i); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkProdPredictBatch1 measures one-customer Model.Predict (the
// serving call) on the production architecture; rows vary per call.
func BenchmarkProdPredictBatch1(b *testing.B) {
	_, m, rows := prodModel(b)
	latency(b, func(i int) error {
		_, err := m.Predict(rows[i%len(rows):i%len(rows)+1], nil)
		return err
	})
}

// BenchmarkProdGoRefBatch1 measures the float32 Go reference forward pass
// on the same model and rows.
func BenchmarkProdGoRefBatch1(b *testing.B) {
	nm, _, rows := prodModel(b)
	latency(b, func(i int) error {
		_, err := nm.PredictFloat32(rows[i%len(rows):i%len(rows)+1], nil)
		return err
	})
}
