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
	nm, m, rows, _ := prodKindModel(tb, modelkind.ZILN)
	return nm, m, rows
}

// prodSeqModel is prodModel for the sequence model (default config: the
// 2×52 weekly sequence through 4 filters of width 13, stride 13, then the
// production 64-32 ziln network, 3 members); it also returns the sequence
// rows.
func prodSeqModel(tb testing.TB) (*nn.Model, *onnxrt.Model, [][]float32, [][]float32) {
	return prodKindModel(tb, modelkind.Seq)
}

func prodKindModel(tb testing.TB, kind modelkind.Kind) (*nn.Model, *onnxrt.Model, [][]float32, [][]float32) {
	tb.Helper()
	onnxrttest.RequireORT(tb)
	cfg := nn.DefaultConfig(kind)
	cfg.MaxEpochs = 2
	ds := nntest.Synthetic(2048, cfg.SeqWeeks, 5)
	data := nn.Data{Tabular: ds.Tabular, Label: ds.Label}
	var seq [][]float32
	if kind == modelkind.Seq {
		data.Seq = ds.Seq
		seq = nn.Float32Rows(ds.Seq)
	}
	nm, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{})
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
	return nm, m, nn.Float32Rows(ds.Tabular), seq
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

// BenchmarkProdSeqPredictBatch1 is BenchmarkProdPredictBatch1 for the
// sequence model (default nn config for modelkind.Seq).
func BenchmarkProdSeqPredictBatch1(b *testing.B) {
	_, m, rows, seq := prodSeqModel(b)
	if path, err := m.OneRowPath(); path != "go" {
		b.Fatalf("one-row path: %s (%v), want go", path, err)
	}
	latency(b, func(i int) error {
		k := i % len(rows)
		_, err := m.Predict(rows[k:k+1], seq[k:k+1])
		return err
	})
}

// BenchmarkProdSeqORTBatch1 is BenchmarkProdSeqPredictBatch1 with the
// one-row calls forced through ONNX Runtime (the path before the Go path
// covered the sequence graph).
func BenchmarkProdSeqORTBatch1(b *testing.B) {
	_, m, rows, seq := prodSeqModel(b)
	latency(b, func(i int) error {
		k := i % len(rows)
		_, err := m.PredictORT(rows[k:k+1], seq[k:k+1])
		return err
	})
}

// BenchmarkProdSeqGoRefBatch1 measures nn's float32 reference forward pass
// on the same sequence model and rows.
func BenchmarkProdSeqGoRefBatch1(b *testing.B) {
	nm, _, rows, seq := prodSeqModel(b)
	latency(b, func(i int) error {
		k := i % len(rows)
		_, err := nm.PredictFloat32(rows[k:k+1], seq[k:k+1])
		return err
	})
}
