package onnxrt

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
	"github.com/clvflow/clvflow/onnxexport"
)

// TestGemmRowBits: gemmRow (AVX kernel where the CPU has it, Go loops
// otherwise, zero inputs skipped) equals the plain bias-then-k-order
// float32 loop to the bit (within 1e-5 of Σ|terms| where the compiler may
// fuse multiply-adds, see compilerFusesFMA), for widths that exercise the 32- and 8-column
// blocks and the scalar tail, with and without a broadcast bias.
func TestGemmRowBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 3, 8, 16, 32, 40, 64, 71, 96} {
		for _, k := range []int{1, 9, 25, 64} {
			for _, biasLen := range []int{n, 1} {
				x, w, b := make([]float32, k), make([]float32, k*n), make([]float32, biasLen)
				for i := range x {
					if rng.IntN(3) > 0 {
						x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
					}
				}
				for i := range w {
					w[i] = float32(rng.NormFloat64())
				}
				for i := range b {
					b[i] = float32(rng.NormFloat64())
				}
				got := make([]float32, n)
				gemmRow(x, w, b, got)
				for j := range n {
					want := b[min(j, biasLen-1)]
					scale := math.Abs(float64(want))
					for i := range k {
						want += x[i] * w[i*n+j]
						scale += math.Abs(float64(x[i] * w[i*n+j]))
					}
					if got[j] != want && (!compilerFusesFMA || math.Abs(float64(got[j]-want)) > 1e-5*scale) {
						t.Fatalf("n %d k %d bias %d col %d: %v, want %v", n, k, biasLen, j, got[j], want)
					}
				}
			}
		}
	}
}

// seqGraph returns the exported graph of a briefly trained sequence model
// (default config) and its schema.
func seqGraph(t *testing.T) (*pb.ModelProto, FeatureSchema) {
	t.Helper()
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
	meta, err := ReadMetadata(blob)
	if err != nil {
		t.Fatal(err)
	}
	var m pb.ModelProto
	if err := proto.Unmarshal(blob, &m); err != nil {
		t.Fatal(err)
	}
	return &m, meta.Schema
}

// TestCompileRowGraphSeq: the exported sequence graph compiles, with the
// convolution counted in the multiply-adds; graphs whose Conv, Transpose
// or Flatten go beyond what the Go path evaluates are refused with a
// reason naming the node.
func TestCompileRowGraphSeq(t *testing.T) {
	m, s := seqGraph(t)
	blob, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	g, err := compileRowGraph(blob, s)
	if err != nil {
		t.Fatalf("exported sequence graph: %v", err)
	}
	cfg := nn.DefaultConfig(modelkind.Seq)
	convMACs := cfg.Ensemble * cfg.ConvFilters * nn.NumSeqChannels * cfg.KernelSize * cfg.SeqPositions()
	if g.macs <= convMACs || g.macs > maxRowMACs {
		t.Errorf("macs %d: want above the convolutions' %d and within %d", g.macs, convMACs, maxRowMACs)
	}
	t.Logf("sequence graph: %d multiply-adds per row, %d steps", g.macs, len(g.steps))

	mutations := map[string]struct {
		edit func(n *pb.NodeProto) bool
		want string
	}{
		"padded conv": {func(n *pb.NodeProto) bool {
			if n.GetOpType() != "Conv" {
				return false
			}
			for _, a := range n.GetAttribute() {
				if a.GetName() == "pads" {
					a.Ints = []int64{1, 1}
				}
			}
			return true
		}, "pads"},
		"dilated conv": {func(n *pb.NodeProto) bool {
			if n.GetOpType() != "Conv" {
				return false
			}
			for _, a := range n.GetAttribute() {
				if a.GetName() == "dilations" {
					a.Ints = []int64{2}
				}
			}
			return true
		}, "dilations"},
		"grouped conv": {func(n *pb.NodeProto) bool {
			if n.GetOpType() != "Conv" {
				return false
			}
			for _, a := range n.GetAttribute() {
				if a.GetName() == "group" {
					a.I = 2
				}
			}
			return true
		}, "group"},
		"transpose without perm": {func(n *pb.NodeProto) bool {
			if n.GetOpType() != "Transpose" {
				return false
			}
			n.Attribute = nil
			return true
		}, "Transpose"},
		"unsupported op": {func(n *pb.NodeProto) bool {
			if n.GetOpType() != "Flatten" {
				return false
			}
			n.OpType = "Reshape2"
			return true
		}, "op not supported"},
	}
	for name, mu := range mutations {
		t.Run(name, func(t *testing.T) {
			mm := proto.Clone(m).(*pb.ModelProto)
			hit := false
			for _, n := range mm.GetGraph().GetNode() {
				hit = mu.edit(n) || hit
			}
			if !hit {
				t.Fatal("mutation matched no node")
			}
			b, err := proto.Marshal(mm)
			if err != nil {
				t.Fatal(err)
			}
			_, err = compileRowGraph(b, s)
			if err == nil || !strings.Contains(err.Error(), mu.want) {
				t.Fatalf("compile error %v, want one naming %q", err, mu.want)
			}
		})
	}
}

// TestBroadcastIndex: numpy broadcasting of the sequence model's shapes.
func TestBroadcastIndex(t *testing.T) {
	out, err := broadcastShape([]int64{1, 2, 3}, []int64{1, 2, 1})
	if err != nil || len(out) != 3 || out[0] != 1 || out[1] != 2 || out[2] != 3 {
		t.Fatalf("broadcastShape = %v, %v", out, err)
	}
	idx := broadcastIndex([]int64{1, 2, 1}, out)
	want := []int32{0, 0, 0, 1, 1, 1}
	for j := range want {
		if idx[j] != want[j] {
			t.Fatalf("index %v, want %v", idx, want)
		}
	}
	if got := broadcastIndex([]int64{3}, []int64{2, 3}); got[3] != 0 || got[5] != 2 {
		t.Fatalf("index of [3] in [2,3] = %v", got)
	}
	if _, err := broadcastShape([]int64{2, 3}, []int64{3, 2}); err == nil {
		t.Fatal("[2,3] and [3,2] broadcast")
	}
}
