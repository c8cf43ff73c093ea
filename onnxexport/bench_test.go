package onnxexport_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/clvflow/clvflow/modelfile"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
	"github.com/clvflow/clvflow/onnxexport"
	ort "github.com/yalue/onnxruntime_go"
)

// benchModel is a ziln model with the production architecture (64-32,
// 3-member ensemble), trained briefly on synthetic customers.
func benchModel(b *testing.B) (*nn.Model, [][]float64) {
	b.Helper()
	cfg := nn.DefaultConfig(modelkind.ZILN)
	cfg.MaxEpochs = 2
	ds := nntest.Synthetic(2048, cfg.SeqWeeks, 5)
	m, err := nn.Train(context.Background(), cfg, nn.Data{Tabular: ds.Tabular, Label: ds.Label}, nn.TrainOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return m, ds.Tabular
}

func rows32(rows [][]float64, n int) ([][]float32, []float32) {
	out := make([][]float32, n)
	flat := make([]float32, 0, n*nn.NumTabular)
	for i := 0; i < n; i++ {
		r := rows[i%len(rows)]
		out[i] = make([]float32, len(r))
		for j, v := range r {
			out[i][j] = float32(v)
		}
		flat = append(flat, out[i]...)
	}
	return out, flat
}

// reportLatency adds p50/p99 per call and predictions/s to a benchmark.
func reportLatency(b *testing.B, d []time.Duration, batch int) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	if len(d) == 0 {
		return
	}
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
	var total time.Duration
	for _, x := range d {
		total += x
	}
	b.ReportMetric(float64(batch*len(d))/total.Seconds(), "predictions/s")
}

func benchORT(b *testing.B, batch int) {
	if ortSkip != "" {
		b.Skip(ortSkip)
	}
	m, rows := benchModel(b)
	blob, err := onnxexport.Export(m, meta())
	if err != nil {
		b.Fatal(err)
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		b.Fatal(err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		b.Fatal(err)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(blob, []string{modelfile.InputFeatures}, modelfile.OutputNames, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer sess.Destroy()
	_, flat := rows32(rows, batch)
	in, err := ort.NewTensor(ort.NewShape(int64(batch), nn.NumTabular), flat)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Destroy()
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		outs := make([]ort.Value, len(modelfile.OutputNames))
		t0 := time.Now()
		if err := sess.Run([]ort.Value{in}, outs); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
		for _, o := range outs {
			o.Destroy()
		}
	}
	b.StopTimer()
	reportLatency(b, d, batch)
}

func benchGo32(b *testing.B, batch int) {
	m, rows := benchModel(b)
	tab, _ := rows32(rows, batch)
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := m.PredictFloat32(tab, nil); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	reportLatency(b, d, batch)
}

// ONNX Runtime (1 intra-op thread) vs the in-process Go forward pass
// (float32 reference) on the same exported model; run them in one command
// to compare: go test -run '^$' -bench 'Batch' ./onnxexport
func BenchmarkORTBatch1(b *testing.B)      { benchORT(b, 1) }
func BenchmarkORTBatch1024(b *testing.B)   { benchORT(b, 1024) }
func BenchmarkGoRefBatch1(b *testing.B)    { benchGo32(b, 1) }
func BenchmarkGoRefBatch1024(b *testing.B) { benchGo32(b, 1024) }
