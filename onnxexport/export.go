// Package onnxexport writes trained nn models as ONNX files (opset 13,
// float32) following clvflow's model-file contract (package modelfile):
//
//   - inputs: "features" float32 [batch, 7] (raw base features) and, for kind
//     seq, "sequence" float32 [batch, 2, W]; "batch" is a symbolic dimension;
//   - outputs, all float32 [batch, 1]: "expected_value",
//     "purchase_probability", "mu", "sigma";
//   - log1p, standardisation (clamped to the training range), the
//     convolution and the ensemble average (in log space) all happen inside
//     the graph; the op sequence is documented on nn.Model.PredictFloat32,
//     which evaluates the same graph in Go;
//   - metadata_props: the clvflow.* keys of package modelfile, including the
//     JSON feature schema.
//
// Export is deterministic: the same model and metadata give the same bytes.
package onnxexport

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/clvflow/clvflow/modelfile"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
)

// Opset and IR version of the written files.
const (
	Opset     = 13
	IRVersion = 7
)

// Metadata describes the exported model version.
type Metadata struct {
	// Name is the model name (required).
	Name string
	// Version is the model version (required).
	Version string
	// RawDatasetSHA256 and CleanDatasetSHA256 are the hex SHA-256 of the
	// raw transaction log and of the clean dataset the model was trained on
	// (64 hex digits each, or empty when unknown).
	RawDatasetSHA256   string
	CleanDatasetSHA256 string
	// ProducerVersion is written as producer_version (default "dev").
	ProducerVersion string
	// Extra are additional metadata_props; keys must not collide with the
	// clvflow.* keys of package modelfile. Written sorted by key.
	Extra map[string]string
}

// SchemaFor returns the feature schema of a model.
func SchemaFor(m *nn.Model) modelfile.FeatureSchema {
	s := modelfile.FeatureSchema{
		TabularInput:     modelfile.InputFeatures,
		TabularColumns:   slices.Clone(modelfile.TabularColumns),
		SequenceChannels: slices.Clone(modelfile.SequenceChannels),
		Outputs:          slices.Clone(modelfile.OutputNames),
	}
	if m.Kind() == modelkind.Seq {
		s.SequenceInput = modelfile.InputSequence
		s.SequenceWeeks = m.SeqWeeks()
	}
	return s
}

// FormatValueCap renders the value cap as stored in modelfile.MetaValueCap.
func FormatValueCap(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Export writes m as an ONNX model with the given metadata.
func Export(m *nn.Model, meta Metadata) ([]byte, error) {
	if m == nil {
		return nil, errors.New("onnxexport: nil model")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("onnxexport: invalid model: %w", err)
	}
	props, err := metadataProps(m, meta)
	if err != nil {
		return nil, err
	}
	g, err := buildGraph(m)
	if err != nil {
		return nil, err
	}
	pv := meta.ProducerVersion
	if pv == "" {
		pv = "dev"
	}
	mp := &pb.ModelProto{
		IrVersion:       IRVersion,
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: "", Version: Opset}},
		ProducerName:    "clvflow",
		ProducerVersion: pv,
		DocString:       fmt.Sprintf("clvflow %s CLV model (zero-inflated lognormal head, %d member(s))", m.Kind(), len(m.Members)),
		Graph:           g,
		MetadataProps:   props,
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnxexport: marshal: %w", err)
	}
	return b, nil
}

func metadataProps(m *nn.Model, meta Metadata) ([]*pb.StringStringEntryProto, error) {
	var errs []error
	if strings.TrimSpace(meta.Name) == "" {
		errs = append(errs, errors.New("onnxexport: metadata: model name is required"))
	}
	if strings.TrimSpace(meta.Version) == "" {
		errs = append(errs, errors.New("onnxexport: metadata: version is required"))
	}
	for name, s := range map[string]string{"raw_dataset_sha256": meta.RawDatasetSHA256, "clean_dataset_sha256": meta.CleanDatasetSHA256} {
		if b, err := hex.DecodeString(s); s != "" && (err != nil || len(b) != 32 || strings.ToLower(s) != s) {
			errs = append(errs, fmt.Errorf("onnxexport: metadata: %s %q is not 64 lower-case hex digits", name, s))
		}
	}
	schema, err := json.Marshal(SchemaFor(m))
	if err != nil {
		errs = append(errs, fmt.Errorf("onnxexport: feature schema: %w", err))
	}
	kv := map[string]string{
		modelfile.MetaModelKind:          string(m.Kind()),
		modelfile.MetaModelName:          meta.Name,
		modelfile.MetaVersion:            meta.Version,
		modelfile.MetaSeed:               strconv.FormatUint(m.Config.Seed, 10),
		modelfile.MetaRawDatasetSHA256:   meta.RawDatasetSHA256,
		modelfile.MetaCleanDatasetSHA256: meta.CleanDatasetSHA256,
		modelfile.MetaValueCap:           FormatValueCap(m.ValueCap),
		modelfile.MetaFeatureSchema:      string(schema),
		modelfile.MetaEnsemble:           strconv.Itoa(len(m.Members)),
	}
	for k, v := range meta.Extra {
		if _, clash := kv[k]; clash {
			errs = append(errs, fmt.Errorf("onnxexport: metadata: extra key %q is reserved", k))
			continue
		}
		if k == "" {
			errs = append(errs, errors.New("onnxexport: metadata: empty extra key"))
			continue
		}
		kv[k] = v
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	props := make([]*pb.StringStringEntryProto, len(keys))
	for i, k := range keys {
		props[i] = &pb.StringStringEntryProto{Key: k, Value: kv[k]}
	}
	return props, nil
}

// graphBuilder accumulates nodes and initialisers with unique names.
type graphBuilder struct {
	nodes []*pb.NodeProto
	inits []*pb.TensorProto
	names map[string]bool
}

func (b *graphBuilder) init(name string, dims []int64, data []float32) string {
	if b.names[name] {
		panic("onnxexport: duplicate tensor name " + name) // programming error
	}
	b.names[name] = true
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	b.inits = append(b.inits, &pb.TensorProto{Name: name, Dims: dims, DataType: int32(pb.TensorProto_FLOAT), RawData: raw})
	return name
}

func (b *graphBuilder) scalar(name string, v float32) string { return b.init(name, nil, []float32{v}) }

// initInt64 adds an int64 initialiser (e.g. Gather indices).
func (b *graphBuilder) initInt64(name string, dims []int64, data []int64) string {
	if b.names[name] {
		panic("onnxexport: duplicate tensor name " + name)
	}
	b.names[name] = true
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	b.inits = append(b.inits, &pb.TensorProto{Name: name, Dims: dims, DataType: int32(pb.TensorProto_INT64), RawData: raw})
	return name
}

// op adds a node whose single output is named out and returns out.
func (b *graphBuilder) op(opType, out string, inputs []string, attrs ...*pb.AttributeProto) string {
	if b.names[out] {
		panic("onnxexport: duplicate tensor name " + out)
	}
	b.names[out] = true
	b.nodes = append(b.nodes, &pb.NodeProto{OpType: opType, Name: out, Input: inputs, Output: []string{out}, Attribute: attrs})
	return out
}

func intsAttr(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INTS, Ints: v}
}

func intAttr(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: name, Type: pb.AttributeProto_INT, I: v}
}

func narrow(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(f)
	}
	return out
}

// buildGraph mirrors nn.Model.PredictFloat32 operation by operation. The
// order of its nodes and initializers is part of the exported bytes.
func buildGraph(m *nn.Model) (g *pb.GraphProto, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	b := &graphBuilder{names: map[string]bool{modelfile.InputFeatures: true, modelfile.InputSequence: true}}
	c := m.Constants32()
	k := graphScalars{one: b.scalar("one", 1), half: b.scalar("half", 0.5),
		sigmaFloor: b.scalar("sigma_floor", c.SigmaFloor), valueCap: b.scalar("value_cap", c.ValueCap)}
	z := b.tabular(m, c, k.one)
	inputs := []*pb.ValueInfoProto{modelfile.FloatTensor(modelfile.InputFeatures, modelfile.BatchDim, nn.NumTabular)}
	var q string
	if m.Kind() == modelkind.Seq {
		inputs = append(inputs, modelfile.FloatTensor(modelfile.InputSequence, modelfile.BatchDim, nn.NumSeqChannels, m.SeqWeeks()))
		q = b.sequence(c, k.one)
	}
	outs := make([]memberOut, len(m.Members))
	for i := range m.Members {
		outs[i] = b.member(&m.Members[i], fmt.Sprintf("m%d_", i), len(m.Members) == 1, z, q, k)
	}
	b.op("Min", modelfile.OutputExpectedValue, []string{b.mixture(outs, k.half), k.valueCap})
	var outputs []*pb.ValueInfoProto
	for _, o := range modelfile.OutputNames {
		outputs = append(outputs, modelfile.FloatTensor(o, modelfile.BatchDim, 1))
	}
	return &pb.GraphProto{
		Name:        "clvflow_" + string(m.Kind()),
		Node:        b.nodes,
		Initializer: b.inits,
		Input:       inputs,
		Output:      outputs,
	}, nil
}

// graphScalars are the graph's scalar constants.
type graphScalars struct{ one, half, sigmaFloor, valueCap string }

// tabular adds the pre-processing of the tabular features (log of the
// skewed columns, the derived rates, standardising, clipping) and returns
// the name of its output.
func (b *graphBuilder) tabular(m *nn.Model, c nn.Constants32, one string) string {
	nt, nz := int64(nn.NumTabular), int64(len(c.TabMean)) // nz: transformed columns incl. derived rates
	keep := b.init("tab_keep", []int64{nt}, c.Keep)
	logMask := b.init("tab_logmask", []int64{nt}, c.LogMask)
	tabMean := b.init("tab_mean", []int64{nz}, c.TabMean)
	tabInv := b.init("tab_invstd", []int64{nz}, c.TabInvStd)
	tabLo := b.init("tab_lo", []int64{nz}, c.TabLo)
	tabHi := b.init("tab_hi", []int64{nz}, c.TabHi)
	tl := b.op("Log", "tab_log", []string{b.op("Add", "tab_plus1", []string{b.op("Relu", "tab_relu", []string{modelfile.InputFeatures}), one})})
	tt := b.op("Add", "tab_t", []string{
		b.op("Mul", "tab_keep_part", []string{modelfile.InputFeatures, keep}),
		b.op("Mul", "tab_log_part", []string{tl, logMask}),
	})
	if rates := m.Prep.Rates; len(rates) > 0 {
		num, den := make([]int64, len(rates)), make([]int64, len(rates))
		for i, r := range rates {
			num[i], den[i] = int64(r[0]), int64(r[1])
		}
		nr := int64(len(rates))
		gn := b.op("Gather", "rate_num", []string{modelfile.InputFeatures, b.initInt64("rate_num_idx", []int64{nr}, num)}, intAttr("axis", 1))
		gd := b.op("Gather", "rate_den", []string{modelfile.InputFeatures, b.initInt64("rate_den_idx", []int64{nr}, den)}, intAttr("axis", 1))
		ratio := b.op("Div", "rate", []string{gn, b.op("Max", "rate_den_floor", []string{gd, one})})
		rl := b.op("Log", "rate_log", []string{b.op("Add", "rate_plus1", []string{b.op("Relu", "rate_relu", []string{ratio}), one})})
		tt = b.op("Concat", "tab_t_rates", []string{tt, rl}, intAttr("axis", 1))
	}
	zs := b.op("Mul", "tab_scaled", []string{b.op("Sub", "tab_centered", []string{tt, tabMean}), tabInv})
	return b.op("Min", "tab_z", []string{b.op("Max", "tab_z_lo", []string{zs, tabLo}), tabHi})
}

// sequence adds the pre-processing of the weekly sequences and returns
// the name of its output.
func (b *graphBuilder) sequence(c nn.Constants32, one string) string {
	sm := b.init("seq_mean", []int64{1, nn.NumSeqChannels, 1}, c.SeqMean)
	si := b.init("seq_invstd", []int64{1, nn.NumSeqChannels, 1}, c.SeqInvStd)
	sLo := b.init("seq_lo", []int64{1, nn.NumSeqChannels, 1}, c.SeqLo)
	sHi := b.init("seq_hi", []int64{1, nn.NumSeqChannels, 1}, c.SeqHi)
	sl := b.op("Log", "seq_log", []string{b.op("Add", "seq_plus1", []string{b.op("Relu", "seq_relu", []string{modelfile.InputSequence}), one})})
	qs := b.op("Mul", "seq_scaled", []string{b.op("Sub", "seq_centered", []string{sl, sm}), si})
	return b.op("Min", "seq_q", []string{b.op("Max", "seq_q_lo", []string{qs, sLo}), sHi})
}

// memberOut names the outputs of one ensemble member.
type memberOut struct{ p, mu, sigma, e, logE, logP string }

// member adds one ensemble member (convolution, hidden layers, ZILN head)
// on the tabular input z and the sequence input q; the only member of a
// model writes the model's outputs itself.
func (b *graphBuilder) member(net *nn.Network, pre string, single bool, z, q string, k graphScalars) memberOut {
	x := z
	if cv := net.Conv; cv != nil {
		cw := b.init(pre+"conv_w", []int64{int64(cv.Filters), int64(cv.InChannels), int64(cv.Kernel)}, narrow(cv.W))
		cb := b.init(pre+"conv_b", []int64{int64(cv.Filters)}, narrow(cv.B))
		conv := b.op("Conv", pre+"conv", []string{q, cw, cb},
			intsAttr("kernel_shape", int64(cv.Kernel)), intsAttr("strides", int64(cv.Stride)),
			intsAttr("pads", 0, 0), intsAttr("dilations", 1), intAttr("group", 1))
		tr := b.op("Transpose", pre+"conv_t", []string{b.op("Relu", pre+"conv_relu", []string{conv})}, intsAttr("perm", 0, 2, 1))
		flat := b.op("Flatten", pre+"conv_flat", []string{tr}, intAttr("axis", 1))
		x = b.op("Concat", pre+"concat", []string{z, flat}, intAttr("axis", 1))
	}
	for i, d := range net.Hidden {
		wn := b.init(fmt.Sprintf("%sdense%d_w", pre, i), []int64{int64(d.In), int64(d.Out)}, narrow(d.W))
		bn := b.init(fmt.Sprintf("%sdense%d_b", pre, i), []int64{int64(d.Out)}, narrow(d.B))
		x = b.op("Relu", fmt.Sprintf("%sdense%d_relu", pre, i), []string{b.op("Gemm", fmt.Sprintf("%sdense%d", pre, i), []string{x, wn, bn})})
	}
	name := func(local, output string) string {
		if single && output != "" {
			return output
		}
		return pre + local
	}
	logit := b.head(net, x, pre, nn.HeadLogit, "logit", pre+"logit")
	mu := b.head(net, x, pre, nn.HeadMu, "mu", name("mu", modelfile.OutputMu))
	raw := b.head(net, x, pre, nn.HeadSigma, "sigma", pre+"sigma_raw")
	p := b.op("Sigmoid", name("p", modelfile.OutputPurchaseProb), []string{logit})
	sigma := b.op("Add", name("sigma", modelfile.OutputSigma), []string{b.op("Softplus", pre+"sigma_sp", []string{raw}), k.sigmaFloor})
	hs := b.op("Mul", pre+"half_s2", []string{b.op("Mul", pre+"s2", []string{sigma, sigma}), k.half})
	a := b.op("Add", pre+"mu_plus", []string{mu, hs})
	nlp := b.op("Softplus", pre+"neg_logp", []string{b.op("Neg", pre+"neg_logit", []string{logit})})
	out := memberOut{p: p, mu: mu, sigma: sigma, logE: b.op("Sub", pre+"log_e", []string{a, nlp})}
	if single {
		out.e = b.op("Exp", pre+"e", []string{out.logE})
	} else {
		out.logP = b.op("Neg", pre+"log_p", []string{nlp})
	}
	return out
}

// head adds column col of a member's ZILN head (a Gemm on x) as node out.
func (b *graphBuilder) head(net *nn.Network, x, pre string, col int, name, out string) string {
	h := net.Head
	w := make([]float32, h.In)
	for r := range w {
		w[r] = float32(h.W[r*nn.HeadWidth+col])
	}
	wn := b.init(pre+"head_"+name+"_w", []int64{int64(h.In), 1}, w)
	bn := b.init(pre+"head_"+name+"_b", []int64{1}, []float32{float32(h.B[col])})
	return b.op("Gemm", out, []string{x, wn, bn})
}

// mixture adds the ensemble's outputs from its members' and returns the
// name of the expected value before its cap (the one member's, alone).
// The mixture is combined in log space (ReduceLogSumExp), so members whose
// E or p under- or overflow float32 on extreme inputs cannot make ONNX
// Runtime and the Go reference disagree:
//
//	log Ē = LSE_k(log E_k) − log K,  log p̄ = LSE_k(log p_k) − log K
//	mu = log Ē − log p̄ − σ̄²/2,  E = exp(log Ē).
func (b *graphBuilder) mixture(outs []memberOut, half string) string {
	if len(outs) == 1 {
		return outs[0].e
	}
	ps, ss, les, lps := make([]string, len(outs)), make([]string, len(outs)), make([]string, len(outs)), make([]string, len(outs))
	for k, o := range outs {
		ps[k], ss[k], les[k], lps[k] = o.p, o.sigma, o.logE, o.logP
	}
	logK := b.scalar("log_k", float32(math.Log(float64(len(outs)))))
	lse := func(name string, in []string) string {
		cat := b.op("Concat", name+"_members", in, intAttr("axis", 1))
		r := b.op("ReduceLogSumExp", name+"_lse", []string{cat}, intsAttr("axes", 1), intAttr("keepdims", 1))
		return b.op("Sub", name+"_mean", []string{r, logK})
	}
	b.op("Mean", modelfile.OutputPurchaseProb, ps)
	sigma := b.op("Mean", modelfile.OutputSigma, ss)
	le := lse("log_e", les)
	lp := lse("log_p", lps)
	e := b.op("Exp", "e_mean", []string{le})
	hs := b.op("Mul", "half_s2_mean", []string{b.op("Mul", "s2_mean", []string{sigma, sigma}), half})
	b.op("Sub", modelfile.OutputMu, []string{b.op("Sub", "log_ratio", []string{le, lp}), hs})
	return e
}
