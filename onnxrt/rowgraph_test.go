package onnxrt_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
	"github.com/clvflow/clvflow/onnxexport"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// oneRow scores every row in its own Predict call (with its sequence row
// when seq is given).
func oneRow(m *onnxrt.Model) func(features, seq [][]float32) (onnxrt.Outputs, error) {
	return func(features, seq [][]float32) (onnxrt.Outputs, error) {
		var all onnxrt.Outputs
		for i := range features {
			var s [][]float32
			if seq != nil {
				s = seq[i : i+1]
			}
			o, err := m.Predict(features[i:i+1], s)
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
	checkGoPath(t, nm, m, rows, nil)
}

// checkGoPath checks one-row Predict (the Go path) against ONNX Runtime
// within the parity tolerance and against nn's float32 reference to the
// bit, and that Parity itself ran ONNX Runtime.
func checkGoPath(t *testing.T, nm *nn.Model, m *onnxrt.Model, rows, seq [][]float32) {
	t.Helper()
	if rep, err := onnxrt.Parity(oneRow(m), m, rows, seq, 0); err != nil {
		t.Fatalf("Go path vs ONNX Runtime: %v", err)
	} else {
		t.Logf("Go path vs ONNX Runtime on %d rows: worst %s |Δ| %.3g (%.2f of its allowance)", rep.Rows, rep.Worst.Name, rep.Worst.MaxAbsDiff, rep.Worst.WorstRatio)
	}
	ref := func(f, s [][]float32) (onnxrt.Outputs, error) {
		p, err := nm.PredictFloat32(f, s)
		var o onnxrt.Outputs
		for _, r := range p {
			o.Expected, o.Prob, o.Mu, o.Sigma = append(o.Expected, r.Expected), append(o.Prob, r.Prob), append(o.Mu, r.Mu), append(o.Sigma, r.Sigma)
		}
		return o, err
	}
	got, err := oneRow(m)(rows, seq)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ref(rows, seq)
	if err != nil {
		t.Fatal(err)
	}
	parityUsesORT(t, m, rows, seq, got)
	if onnxrt.CompilerFusesFMA {
		t.Log("the compiler may fuse multiply-adds on this target: Go path vs nn reference checked within the parity tolerance only")
		return
	}
	for i := range rows {
		if got.Expected[i] != want.Expected[i] || got.Prob[i] != want.Prob[i] || got.Mu[i] != want.Mu[i] || got.Sigma[i] != want.Sigma[i] {
			t.Fatalf("row %d: Go path %v/%v/%v/%v, nn reference %v/%v/%v/%v", i, got.Expected[i], got.Prob[i], got.Mu[i], got.Sigma[i],
				want.Expected[i], want.Prob[i], want.Mu[i], want.Sigma[i])
		}
	}
}

// TestOneRowGoPathParitySeq: on the exported production sequence model
// (default config), one-row Predict goes through the Go path and agrees
// with ONNX Runtime within the parity tolerance and with nn's float32
// reference to the bit, on training rows, the edge rows, random customers
// and rows with all-zero, negative, tiny and huge sequences.
func TestOneRowGoPathParitySeq(t *testing.T) {
	nm, m, rows, seq := prodSeqModel(t)
	if path, err := m.OneRowPath(); path != "go" {
		t.Fatalf("OneRowPath = %s (%v), want go", path, err)
	}
	w := m.Schema().SequenceWeeks
	rows, seq = rows[:256:256], seq[:256:256]
	ef, es := onnxrt.EdgeRows(m.Schema())
	rows, seq = append(rows, ef...), append(seq, es...)
	rf, rs := onnxrttest.Rows(256, 77, w)
	rows, seq = append(rows, rf...), append(seq, rs...)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, scale := range []float64{0, -1, 1e-6, 1, 1e3, 1e6, 1e9} {
		for range 8 {
			s := make([]float32, 2*w)
			for j := range s {
				if rng.IntN(3) == 0 {
					s[j] = float32(scale * rng.ExpFloat64())
				}
			}
			rows, seq = append(rows, rf[rng.IntN(len(rf))]), append(seq, s)
		}
	}
	checkGoPath(t, nm, m, rows, seq)
}

// TestOneRowPathFallback: graphs the Go path does not cover (the test
// models' Split; a sequence model whose convolution ReLU is swapped for
// Tanh, an op ONNX Runtime runs and the Go path does not) keep one-row
// calls on ONNX Runtime, and those calls agree with ONNX Runtime's batch
// results within the parity tolerance (ONNX Runtime's own one-row and
// batch results differ in the last bit).
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
	var mp pb.ModelProto
	if err := proto.Unmarshal(blob, &mp); err != nil {
		t.Fatal(err)
	}
	swapped := 0
	for _, n := range mp.GetGraph().GetNode() {
		if n.GetOpType() == "Relu" && strings.HasSuffix(n.GetName(), "conv_relu") {
			n.OpType = "Tanh"
			swapped++
		}
	}
	if swapped == 0 {
		t.Fatal("no conv_relu node in the exported sequence graph")
	}
	tanhBlob, err := proto.Marshal(&mp)
	if err != nil {
		t.Fatal(err)
	}
	seq, err := onnxrt.Load("v1", blob, onnxrt.SHA256Hex(blob))
	if err != nil {
		t.Fatal(err)
	}
	defer seq.Close()
	if path, err := seq.OneRowPath(); path != "go" {
		t.Errorf("seq (as exported): OneRowPath = %s (%v), want go", path, err)
	}
	tanh, err := onnxrt.Load("v1", tanhBlob, onnxrt.SHA256Hex(tanhBlob))
	if err != nil {
		t.Fatal(err)
	}
	defer tanh.Close()
	_, split := load(t, onnxrttest.Spec{Seed: 5})
	for name, m := range map[string]*onnxrt.Model{"seq-tanh": tanh, "split": split} {
		path, err := m.OneRowPath()
		if path != "onnxruntime" || err == nil {
			t.Errorf("%s: OneRowPath = %s, %v; want onnxruntime with a reason", name, path, err)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := tanh.OneRowPath(); err == nil || !strings.Contains(err.Error(), "Tanh") {
		t.Errorf("seq-tanh: reason %v does not name the Tanh node", err)
	}
	f, s := onnxrttest.Rows(64, 9, cfg.SeqWeeks)
	if _, err := onnxrt.Parity(oneRow(tanh), tanh, f, s, 0); err != nil {
		t.Fatalf("seq-tanh one-row calls vs ONNX Runtime batch: %v", err)
	}
}

// parityUsesORT checks that Parity on one row scores it through ONNX
// Runtime, not the Go path: on a row where the Go path (goOut) and ONNX
// Runtime differ in some bit, Parity against goOut must see a difference.
func parityUsesORT(t *testing.T, m *onnxrt.Model, rows, seq [][]float32, goOut onnxrt.Outputs) {
	t.Helper()
	batch, err := m.Predict(rows, seq)
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
		var s [][]float32
		if seq != nil {
			s = seq[i : i+1]
		}
		rep, err := onnxrt.Parity(ref, m, rows[i:i+1], s, 0)
		if err != nil || rep.Outputs[2].MaxAbsDiff == 0 {
			t.Fatalf("Parity on row %d: mu |Δ| %v (%v); ONNX Runtime %v vs Go %v: the gate compared the Go path with itself",
				i, rep.Outputs[2].MaxAbsDiff, err, batch.Mu[i], goOut.Mu[i])
		}
		return
	}
	t.Fatal("no row where the Go path and ONNX Runtime differ in mu; cannot check which side Parity ran")
}
