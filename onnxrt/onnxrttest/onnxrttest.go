// Package onnxrttest builds small, fully specified ONNX models that follow
// clvflow's model file contract, together with a float32 Go reference forward
// pass, for tests and benchmarks of packages onnxrt and serving (in the
// spirit of net/http/httptest). The models are real ONNX graphs (log1p of the
// raw inputs, a Gemm-Relu-Gemm MLP, sigmoid/softplus heads and the capped
// expected value) with seeded random weights; they are not trained.
package onnxrttest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/clvflow/clvflow/modelfile"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/onnxrt"
)

// Spec describes a test model. Zero fields take the defaults noted.
type Spec struct {
	// Kind is modelkind.ZILN (default) or modelkind.Seq.
	Kind modelkind.Kind
	// Version is written to clvflow.version (default "test").
	Version string
	// Name is written to clvflow.model_name (default "test-<kind>").
	Name string
	// Seed drives the weights (math/rand/v2 PCG).
	Seed uint64
	// Hidden is the hidden layer width (default 8).
	Hidden int
	// Weeks is the sequence length W of kind seq (default 52).
	Weeks int
	// ValueCap caps expected_value (default 5000).
	ValueCap float32
	// Props overrides metadata_props entries (applied last); an empty value
	// removes the key. Use it to build contract-violating files.
	Props map[string]string
}

// Model is a built test model: the ONNX file bytes, their sha256 and the
// weights the Go reference uses.
type Model struct {
	Spec   Spec
	Bytes  []byte
	SHA256 string

	in     int       // MLP input width: 7, or 9 with the sequence summary
	w1, b1 []float32 // [in, hidden], [hidden]
	w2, b2 []float32 // [hidden, 3], [3]
}

func (s Spec) withDefaults() Spec {
	if s.Kind == "" {
		s.Kind = modelkind.ZILN
	}
	if s.Version == "" {
		s.Version = "test"
	}
	if s.Name == "" {
		s.Name = "test-" + string(s.Kind)
	}
	if s.Hidden <= 0 {
		s.Hidden = 8
	}
	if s.Kind == modelkind.Seq && s.Weeks <= 0 {
		s.Weeks = 52
	}
	if s.ValueCap <= 0 {
		s.ValueCap = 5000
	}
	return s
}

// Schema returns the feature schema the model's metadata declares.
func (s Spec) Schema() onnxrt.FeatureSchema {
	s = s.withDefaults()
	fs := onnxrt.FeatureSchema{
		TabularInput:     onnxrt.InputFeatures,
		TabularColumns:   slices.Clone(onnxrt.TabularColumns),
		SequenceChannels: slices.Clone(onnxrt.SequenceChannels),
		Outputs:          slices.Clone(onnxrt.OutputNames),
	}
	if s.Kind == modelkind.Seq {
		fs.SequenceInput = onnxrt.InputSequence
		fs.SequenceWeeks = s.Weeks
	}
	return fs
}

// Build creates the model described by spec.
func Build(spec Spec) (*Model, error) {
	spec = spec.withDefaults()
	if !spec.Kind.IsNetwork() {
		return nil, fmt.Errorf("onnxrttest: unknown kind %q", spec.Kind)
	}
	m := &Model{Spec: spec, in: len(onnxrt.TabularColumns)}
	if spec.Kind == modelkind.Seq {
		m.in += len(onnxrt.SequenceChannels)
	}
	m.initWeights()
	schema, err := json.Marshal(spec.Schema())
	if err != nil {
		return nil, err
	}
	mp := &pb.ModelProto{
		IrVersion:       8,
		ProducerName:    "clvflow-onnxrttest",
		ProducerVersion: "1",
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: "", Version: 13}},
		Graph:           m.graph(),
		MetadataProps:   spec.metadata(string(schema)),
	}
	m.Bytes, err = proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnxrttest: marshal model: %w", err)
	}
	m.SHA256 = onnxrt.SHA256Hex(m.Bytes)
	return m, nil
}

// initWeights draws the weights from the spec's seed.
func (m *Model) initWeights() {
	h := m.Spec.Hidden
	rng := rand.New(rand.NewPCG(m.Spec.Seed, m.Spec.Seed^0x9e3779b97f4a7c15))
	uniform := func(n int, a float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32((rng.Float64()*2 - 1) * a)
		}
		return out
	}
	m.w1 = uniform(m.in*h, math.Sqrt(6/float64(m.in+h)))
	m.b1 = uniform(h, 0.1)
	m.w2 = uniform(h*3, 0.15)
	m.b2 = []float32{0.3, 5.0, -0.5} // logit, mu, softplus⁻¹(sigma)
	for i, v := range uniform(3, 0.2) {
		m.b2[i] += v
	}
}

// graph is the model's graph: log1p of the inputs (and of each sequence
// channel's sum), one hidden layer, the ZILN head.
func (m *Model) graph() *pb.GraphProto {
	spec, h := m.Spec, m.Spec.Hidden
	g := &pb.GraphProto{Name: spec.Name}
	g.Input = append(g.Input, modelfile.FloatTensor(onnxrt.InputFeatures, modelfile.BatchDim, len(onnxrt.TabularColumns)))
	for _, name := range onnxrt.OutputNames {
		g.Output = append(g.Output, modelfile.FloatTensor(name, modelfile.BatchDim, 1))
	}
	g.Initializer = []*pb.TensorProto{
		floatTensor("one", []int64{1}, []float32{1}),
		floatTensor("half", []int64{1}, []float32{0.5}),
		floatTensor("cap", []int64{1}, []float32{spec.ValueCap}),
		floatTensor("W1", []int64{int64(m.in), int64(h)}, m.w1),
		floatTensor("B1", []int64{int64(h)}, m.b1),
		floatTensor("W2", []int64{int64(h), 3}, m.w2),
		floatTensor("B2", []int64{3}, m.b2),
		{Name: "split3", Dims: []int64{3}, DataType: int32(pb.TensorProto_INT64), Int64Data: []int64{1, 1, 1}},
	}
	node := func(op string, in []string, out []string, attrs ...*pb.AttributeProto) {
		g.Node = append(g.Node, &pb.NodeProto{OpType: op, Name: fmt.Sprintf("%s_%d", op, len(g.Node)), Input: in, Output: out, Attribute: attrs})
	}
	node("Relu", []string{onnxrt.InputFeatures}, []string{"f_relu"})
	node("Add", []string{"f_relu", "one"}, []string{"f_p1"})
	node("Log", []string{"f_p1"}, []string{"f_log"})
	z := "f_log"
	if spec.Kind == modelkind.Seq {
		g.Input = append(g.Input, modelfile.FloatTensor(onnxrt.InputSequence, modelfile.BatchDim, len(onnxrt.SequenceChannels), spec.Weeks))
		g.Initializer = append(g.Initializer, &pb.TensorProto{Name: "axis2", Dims: []int64{1}, DataType: int32(pb.TensorProto_INT64), Int64Data: []int64{2}})
		node("ReduceSum", []string{onnxrt.InputSequence, "axis2"}, []string{"s_sum"}, intAttr("keepdims", 0))
		node("Relu", []string{"s_sum"}, []string{"s_relu"})
		node("Add", []string{"s_relu", "one"}, []string{"s_p1"})
		node("Log", []string{"s_p1"}, []string{"s_log"})
		node("Concat", []string{"f_log", "s_log"}, []string{"z"}, intAttr("axis", 1))
		z = "z"
	}
	node("Gemm", []string{z, "W1", "B1"}, []string{"h_pre"})
	node("Relu", []string{"h_pre"}, []string{"h"})
	node("Gemm", []string{"h", "W2", "B2"}, []string{"o"})
	zilnHead(node)
	return g
}

// zilnHead adds the nodes from the head's output o to the model outputs.
func zilnHead(node func(op string, in []string, out []string, attrs ...*pb.AttributeProto)) {
	node("Split", []string{"o", "split3"}, []string{"logit", onnxrt.OutputMu, "sigma_raw"}, intAttr("axis", 1))
	node("Sigmoid", []string{"logit"}, []string{onnxrt.OutputPurchaseProb})
	node("Softplus", []string{"sigma_raw"}, []string{onnxrt.OutputSigma})
	node("Mul", []string{onnxrt.OutputSigma, onnxrt.OutputSigma}, []string{"s2"})
	node("Mul", []string{"s2", "half"}, []string{"hs2"})
	node("Add", []string{onnxrt.OutputMu, "hs2"}, []string{"e_arg"})
	node("Exp", []string{"e_arg"}, []string{"e"})
	node("Mul", []string{onnxrt.OutputPurchaseProb, "e"}, []string{"pe"})
	node("Min", []string{"pe", "cap"}, []string{onnxrt.OutputExpectedValue})
}

// metadata is the model's metadata, sorted by key: the standard entries,
// changed or removed ("") by spec.Props.
func (spec Spec) metadata(schema string) []*pb.StringStringEntryProto {
	props := map[string]string{
		onnxrt.MetaModelKind:             string(spec.Kind),
		onnxrt.MetaModelName:             spec.Name,
		onnxrt.MetaVersion:               spec.Version,
		onnxrt.MetaSeed:                  strconv.FormatUint(spec.Seed, 10),
		modelfile.MetaRawDatasetSHA256:   onnxrt.SHA256Hex([]byte("onnxrttest raw dataset")),
		modelfile.MetaCleanDatasetSHA256: onnxrt.SHA256Hex([]byte("onnxrttest clean dataset")),
		onnxrt.MetaValueCap:              strconv.FormatFloat(float64(spec.ValueCap), 'g', -1, 32),
		onnxrt.MetaFeatureSchema:         schema,
	}
	for k, v := range spec.Props {
		if v == "" {
			delete(props, k)
		} else {
			props[k] = v
		}
	}
	var out []*pb.StringStringEntryProto
	for _, k := range slices.Sorted(maps.Keys(props)) {
		out = append(out, &pb.StringStringEntryProto{Key: k, Value: props[k]})
	}
	return out
}

// MustBuild is Build for test set-up; it panics on error.
func MustBuild(spec Spec) *Model {
	m, err := Build(spec)
	if err != nil {
		panic(err)
	}
	return m
}

func floatTensor(name string, dims []int64, data []float32) *pb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return &pb.TensorProto{Name: name, Dims: dims, DataType: int32(pb.TensorProto_FLOAT), RawData: raw}
}

func intAttr(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INT, I: v}
}

// Reference is the float32 Go forward pass of the model, with the signature
// onnxrt.Parity expects. Every operation rounds to float32 like ONNX Runtime;
// dot products accumulate in float64 (ONNX Runtime's vectorised float32
// accumulation differs by a few ulp).
func (m *Model) Reference(features, seq [][]float32) (onnxrt.Outputs, error) {
	nf := len(onnxrt.TabularColumns)
	hasSeq := m.Spec.Kind == modelkind.Seq
	w := m.Spec.Weeks
	if hasSeq && len(seq) != len(features) {
		return onnxrt.Outputs{}, fmt.Errorf("onnxrttest: %d sequence rows for %d feature rows", len(seq), len(features))
	}
	if !hasSeq && len(seq) != 0 {
		return onnxrt.Outputs{}, errors.New("onnxrttest: sequence given to a model without sequence input")
	}
	n := len(features)
	out := onnxrt.Outputs{Expected: make([]float32, n), Prob: make([]float32, n), Mu: make([]float32, n), Sigma: make([]float32, n)}
	h := m.Spec.Hidden
	z := make([]float32, m.in)
	hid := make([]float32, h)
	for r, row := range features {
		if len(row) != nf {
			return onnxrt.Outputs{}, fmt.Errorf("onnxrttest: row %d has %d features, want %d", r, len(row), nf)
		}
		for j, v := range row {
			z[j] = log1pRelu(v)
		}
		if hasSeq {
			if len(seq[r]) != 2*w {
				return onnxrt.Outputs{}, fmt.Errorf("onnxrttest: sequence row %d has %d values, want %d", r, len(seq[r]), 2*w)
			}
			for c := range 2 {
				var s float32
				for _, v := range seq[r][c*w : (c+1)*w] {
					s += v
				}
				z[nf+c] = log1pRelu(s)
			}
		}
		for k := range h {
			acc := 0.0
			for j := range m.in {
				acc += float64(z[j]) * float64(m.w1[j*h+k])
			}
			hid[k] = max(float32(acc)+m.b1[k], 0)
		}
		var o [3]float32
		for k := range 3 {
			acc := 0.0
			for j := range h {
				acc += float64(hid[j]) * float64(m.w2[j*3+k])
			}
			o[k] = float32(acc) + m.b2[k]
		}
		p := float32(1 / (1 + math.Exp(-float64(o[0]))))
		sigma := softplus(o[2])
		mu := o[1]
		arg := mu + sigma*sigma*0.5
		ev := p * float32(math.Exp(float64(arg)))
		out.Prob[r], out.Mu[r], out.Sigma[r], out.Expected[r] = p, mu, sigma, min(ev, m.Spec.ValueCap)
	}
	return out, nil
}

func log1pRelu(v float32) float32 {
	return float32(math.Log(float64(max(v, 0) + 1)))
}

func softplus(x float32) float32 {
	f := float64(x)
	return float32(math.Max(f, 0) + math.Log1p(math.Exp(-math.Abs(f))))
}

// Rows returns n synthetic but plausible customers (base features consistent
// with each other, and a matching flattened [2, weeks] sequence per row when
// weeks > 0; seq is nil otherwise), drawn from a PCG seeded with seed.
func Rows(n int, seed uint64, weeks int) (features, seq [][]float32) {
	rng := rand.New(rand.NewPCG(seed, ^seed))
	for range n {
		x := math.Floor(rng.ExpFloat64() * 2)
		T := rng.Float64() * 78
		tx := 0.0
		if x > 0 {
			tx = rng.Float64() * T
		}
		first := math.Exp(3 + 0.8*rng.NormFloat64())
		mbar := 0.0
		if x > 0 {
			mbar = math.Exp(3.3 + 0.7*rng.NormFloat64())
		}
		features = append(features, []float32{float32(x), float32(tx), float32(T), float32(T - tx),
			float32(first + x*mbar), float32(mbar), float32(first)})
		if weeks <= 0 {
			continue
		}
		s := make([]float32, 2*weeks)
		put := func(weeksAgo float64, value float64) {
			k := weeks - 1 - int(weeksAgo)
			if k >= 0 && k < weeks {
				s[k] += float32(value)
				s[weeks+k]++
			}
		}
		put(T, first)
		for i := range int(x) {
			ago := T - tx
			if int(x) > 1 {
				ago = T - tx*float64(i+1)/x
			}
			put(ago, mbar)
		}
		seq = append(seq, s)
	}
	return features, seq
}

// RequireORT initialises ONNX Runtime with default options, or skips the
// test when the shared library is not installed.
func RequireORT(tb testing.TB) {
	tb.Helper()
	err := onnxrt.Init(onnxrt.Options{})
	if onnxrt.IsLibraryNotFound(err) {
		tb.Skipf("ONNX Runtime library not installed (run `clvflow dev up` or set %s): %v", onnxrt.EnvLibraryPath, err)
	}
	if err != nil {
		tb.Fatal(err)
	}
}
