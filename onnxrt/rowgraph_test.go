package onnxrt_test

import (
	"context"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
	"github.com/clvflow/clvflow/onnxexport"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// oneRow scores every row in its own Predict call.
func oneRow(m *onnxrt.Model) func(features, _ [][]float32) (onnxrt.Outputs, error) {
	return func(features, _ [][]float32) (onnxrt.Outputs, error) {
		var all onnxrt.Outputs
		for i := range features {
			o, err := m.Predict(features[i:i+1], nil)
			if err != nil {
				return onnxrt.Outputs{}, err
			}
			all.Expected, all.Prob = append(all.Expected, o.Expected...), append(all.Prob, o.Prob...)
			all.Mu, all.Sigma = append(all.Mu, o.Mu...), append(all.Sigma, o.Sigma...)
		}
		return all, nil
	}
}

// TestOneRowGoPathParity: on the exported production model, one-row
// Predict goes through the Go path and agrees with ONNX Runtime (batch
// calls) and with nn's float32 reference within the parity tolerance, on
// training rows and the edge rows.
func TestOneRowGoPathParity(t *testing.T) {
	nm, m, rows := prodModel(t)
	if path, err := m.OneRowPath(); path != "go" {
		t.Fatalf("OneRowPath = %s (%v), want go", path, err)
	}
	edge, _ := onnxrt.EdgeRows(m.Schema())
	rows = append(rows[:512:512], edge...)
	if _, err := onnxrt.Parity(oneRow(m), m, rows, nil, 0); err != nil {
		t.Fatalf("Go path vs ONNX Runtime: %v", err)
	}
	ref := func(f, _ [][]float32) (onnxrt.Outputs, error) {
		p, err := nm.PredictFloat32(f, nil)
		var o onnxrt.Outputs
		for _, r := range p {
			o.Expected, o.Prob, o.Mu, o.Sigma = append(o.Expected, r.Expected), append(o.Prob, r.Prob), append(o.Mu, r.Mu), append(o.Sigma, r.Sigma)
		}
		return o, err
	}
	got, err := oneRow(m)(rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref(rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	parityUsesORT(t, m, rows, got)
	for i := range rows {
		if got.Expected[i] != want.Expected[i] || got.Prob[i] != want.Prob[i] || got.Mu[i] != want.Mu[i] || got.Sigma[i] != want.Sigma[i] {
			t.Fatalf("row %d: Go path %v/%v/%v/%v, nn reference %v/%v/%v/%v", i, got.Expected[i], got.Prob[i], got.Mu[i], got.Sigma[i],
				want.Expected[i], want.Prob[i], want.Mu[i], want.Sigma[i])
		}
	}
}

// TestOneRowPathFallback: graphs the Go path does not cover (sequence
// input; the test models' Split) keep one-row calls on ONNX Runtime.
func TestOneRowPathFallback(t *testing.T) {
	onnxrttest.RequireORT(t)
	cfg := nn.DefaultConfig(modelkind.Seq)
	cfg.MaxEpochs = 1
	ds := nntest.Synthetic(256, cfg.SeqWeeks, 3)
	nm, err := nn.Train(context.Background(), cfg, nn.Data{Tabular: ds.Tabular, Seq: ds.Seq, Label: ds.Label}, nn.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := onnxexport.Export(nm, onnxexport.Metadata{Name: "seq", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	seq, err := onnxrt.Load("v1", blob, onnxrt.SHA256Hex(blob))
	if err != nil {
		t.Fatal(err)
	}
	defer seq.Close()
	_, split := load(t, onnxrttest.Spec{Seed: 5})
	for name, m := range map[string]*onnxrt.Model{"seq": seq, "split": split} {
		if path, err := m.OneRowPath(); path != "onnxruntime" || err == nil {
			t.Errorf("%s: OneRowPath = %s, %v; want onnxruntime with a reason", name, path, err)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}

// parityUsesORT checks that Parity on one row scores it through ONNX
// Runtime, not the Go path: on a row where the Go path (goOut) and ONNX
// Runtime differ in some bit, Parity against goOut must see a difference.
func parityUsesORT(t *testing.T, m *onnxrt.Model, rows [][]float32, goOut onnxrt.Outputs) {
	t.Helper()
	batch, err := m.Predict(rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if batch.Mu[i] == goOut.Mu[i] {
			continue
		}
		ref := func(_, _ [][]float32) (onnxrt.Outputs, error) {
			return onnxrt.Outputs{Expected: goOut.Expected[i : i+1], Prob: goOut.Prob[i : i+1], Mu: goOut.Mu[i : i+1], Sigma: goOut.Sigma[i : i+1]}, nil
		}
		rep, err := onnxrt.Parity(ref, m, rows[i:i+1], nil, 0)
		if err != nil || rep.Outputs[2].MaxAbsDiff == 0 {
			t.Fatalf("Parity on row %d: mu |Δ| %v (%v); ONNX Runtime %v vs Go %v: the gate compared the Go path with itself",
				i, rep.Outputs[2].MaxAbsDiff, err, batch.Mu[i], goOut.Mu[i])
		}
		return
	}
	t.Fatal("no row where the Go path and ONNX Runtime differ in mu; cannot check which side Parity ran")
}
