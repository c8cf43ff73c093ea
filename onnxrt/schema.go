package onnxrt

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"

	"github.com/clvflow/clvflow/modelfile"
	"github.com/clvflow/clvflow/modelkind"
)

// The model file contract (package modelfile), re-exported for the callers
// of this package.
const (
	InputFeatures        = modelfile.InputFeatures
	InputSequence        = modelfile.InputSequence
	OutputExpectedValue  = modelfile.OutputExpectedValue
	OutputPurchaseProb   = modelfile.OutputPurchaseProb
	OutputMu             = modelfile.OutputMu
	OutputSigma          = modelfile.OutputSigma
	SequenceChannelSpend = modelfile.SequenceChannelSpend
	SequenceChannelDays  = modelfile.SequenceChannelDays

	MetaModelKind     = modelfile.MetaModelKind
	MetaModelName     = modelfile.MetaModelName
	MetaVersion       = modelfile.MetaVersion
	MetaSeed          = modelfile.MetaSeed
	MetaValueCap      = modelfile.MetaValueCap
	MetaFeatureSchema = modelfile.MetaFeatureSchema
)

// TabularColumns, SequenceChannels and OutputNames are modelfile's.
var (
	TabularColumns   = modelfile.TabularColumns
	SequenceChannels = modelfile.SequenceChannels
	OutputNames      = modelfile.OutputNames
)

// FeatureSchema is the JSON value of the clvflow.feature_schema metadata key.
type FeatureSchema = modelfile.FeatureSchema

// Metadata is the clvflow description of a model file, read from its
// metadata_props.
type Metadata struct {
	// Kind is a neural model kind (modelkind.ZILN or modelkind.Seq).
	Kind    modelkind.Kind
	Name    string
	Version string
	Seed    string
	// RawDatasetSHA256 and CleanDatasetSHA256 name the data the model was
	// trained on (see modelfile.MetaRawDatasetSHA256).
	RawDatasetSHA256   string
	CleanDatasetSHA256 string
	// ValueCap is the cap applied to expected_value inside the graph.
	ValueCap float64
	Schema   FeatureSchema
	// Props holds every metadata_props entry, including unknown keys.
	Props map[string]string
}

// SchemaError reports a model file that does not follow the clvflow model
// contract; Key names the metadata key or graph element at fault.
type SchemaError struct {
	Key    string
	Reason string
}

// Error implements error.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("onnxrt: model contract violation at %s: %s", e.Key, e.Reason)
}

// ReadMetadata parses an ONNX model file (pure Go, no ONNX Runtime needed),
// reads its clvflow metadata_props and checks them and the graph's inputs and
// outputs against the model contract.
func ReadMetadata(onnxBytes []byte) (Metadata, error) {
	var m pb.ModelProto
	if err := proto.Unmarshal(onnxBytes, &m); err != nil {
		return Metadata{}, fmt.Errorf("onnxrt: parse ONNX model (%d bytes): %w", len(onnxBytes), err)
	}
	if m.GetGraph() == nil {
		return Metadata{}, &SchemaError{Key: "graph", Reason: "model has no graph (not an ONNX model file?)"}
	}
	props := make(map[string]string, len(m.GetMetadataProps()))
	for _, p := range m.GetMetadataProps() {
		props[p.GetKey()] = p.GetValue()
	}
	md, err := metadataFromProps(props)
	if err != nil {
		return Metadata{}, err
	}
	if err := checkGraph(m.GetGraph(), md.Schema); err != nil {
		return Metadata{}, err
	}
	return md, nil
}

func metadataFromProps(props map[string]string) (Metadata, error) {
	md := Metadata{
		Kind:               modelkind.Kind(props[MetaModelKind]),
		Name:               props[MetaModelName],
		Version:            props[MetaVersion],
		Seed:               props[MetaSeed],
		RawDatasetSHA256:   props[modelfile.MetaRawDatasetSHA256],
		CleanDatasetSHA256: props[modelfile.MetaCleanDatasetSHA256],
		Props:              props,
	}
	if md.RawDatasetSHA256 == "" {
		md.RawDatasetSHA256 = props[modelfile.MetaLegacyDatasetSHA256]
	}
	if !md.Kind.IsNetwork() {
		return Metadata{}, &SchemaError{Key: MetaModelKind, Reason: fmt.Sprintf("got %q, want %q or %q", md.Kind, modelkind.ZILN, modelkind.Seq)}
	}
	capStr, ok := props[MetaValueCap]
	if !ok {
		return Metadata{}, &SchemaError{Key: MetaValueCap, Reason: "missing"}
	}
	vc, err := strconv.ParseFloat(strings.TrimSpace(capStr), 64)
	if err != nil || math.IsNaN(vc) || vc <= 0 {
		return Metadata{}, &SchemaError{Key: MetaValueCap, Reason: fmt.Sprintf("got %q, want a positive number", capStr)}
	}
	md.ValueCap = vc
	raw, ok := props[MetaFeatureSchema]
	if !ok {
		return Metadata{}, &SchemaError{Key: MetaFeatureSchema, Reason: "missing"}
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&md.Schema); err != nil {
		return Metadata{}, &SchemaError{Key: MetaFeatureSchema, Reason: "invalid JSON: " + err.Error()}
	}
	if err := checkSchema(md.Kind, md.Schema); err != nil {
		return Metadata{}, err
	}
	return md, nil
}

func checkSchema(kind modelkind.Kind, s FeatureSchema) error {
	key := MetaFeatureSchema
	if s.TabularInput != InputFeatures {
		return &SchemaError{Key: key + ".tabular_input", Reason: fmt.Sprintf("got %q, want %q", s.TabularInput, InputFeatures)}
	}
	if !slices.Equal(s.TabularColumns, TabularColumns) {
		return &SchemaError{Key: key + ".tabular_columns", Reason: fmt.Sprintf("got %v, want %v", s.TabularColumns, TabularColumns)}
	}
	for _, o := range OutputNames {
		if !slices.Contains(s.Outputs, o) {
			return &SchemaError{Key: key + ".outputs", Reason: fmt.Sprintf("%v lacks %q", s.Outputs, o)}
		}
	}
	switch kind {
	case modelkind.Seq:
		if s.SequenceInput != InputSequence {
			return &SchemaError{Key: key + ".sequence_input", Reason: fmt.Sprintf("got %q, want %q for kind %s", s.SequenceInput, InputSequence, kind)}
		}
		if !slices.Equal(s.SequenceChannels, SequenceChannels) {
			return &SchemaError{Key: key + ".sequence_channels", Reason: fmt.Sprintf("got %v, want %v", s.SequenceChannels, SequenceChannels)}
		}
		if s.SequenceWeeks <= 0 {
			return &SchemaError{Key: key + ".sequence_weeks", Reason: fmt.Sprintf("got %d, want > 0", s.SequenceWeeks)}
		}
	default:
		if s.SequenceInput != "" {
			return &SchemaError{Key: key + ".sequence_input", Reason: fmt.Sprintf("got %q, want \"\" for kind %s", s.SequenceInput, kind)}
		}
	}
	return nil
}

// checkGraph verifies the graph's real inputs and outputs against the schema:
// names, element type float32 and the fixed dimensions.
func checkGraph(g *pb.GraphProto, s FeatureSchema) error {
	inits := map[string]bool{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = true
	}
	inputs := map[string]*pb.ValueInfoProto{}
	var names []string
	for _, in := range g.GetInput() {
		if inits[in.GetName()] {
			continue // old-style IR: initialisers listed as inputs
		}
		inputs[in.GetName()] = in
		names = append(names, in.GetName())
	}
	want := map[string][]int64{InputFeatures: {-1, int64(len(s.TabularColumns))}}
	if s.HasSequence() {
		want[InputSequence] = []int64{-1, int64(len(s.SequenceChannels)), int64(s.SequenceWeeks)}
	}
	if len(inputs) != len(want) {
		return &SchemaError{Key: "graph.input", Reason: fmt.Sprintf("got inputs %v, want %d input(s) named after the feature schema", names, len(want))}
	}
	for _, name := range []string{InputFeatures, InputSequence} {
		dims, ok := want[name]
		if !ok {
			continue
		}
		in, ok := inputs[name]
		if !ok {
			return &SchemaError{Key: "graph.input", Reason: fmt.Sprintf("got inputs %v, missing %q", names, name)}
		}
		if err := checkValueInfo("graph.input."+name, in, dims); err != nil {
			return err
		}
	}
	outputs := map[string]*pb.ValueInfoProto{}
	for _, o := range g.GetOutput() {
		outputs[o.GetName()] = o
	}
	for _, name := range OutputNames {
		o, ok := outputs[name]
		if !ok {
			return &SchemaError{Key: "graph.output", Reason: fmt.Sprintf("missing output %q", name)}
		}
		if err := checkValueInfo("graph.output."+name, o, []int64{-1, 1}); err != nil {
			return err
		}
	}
	return nil
}

// checkValueInfo checks a float tensor's rank and fixed dims; -1 in want
// accepts any dimension (the symbolic batch).
func checkValueInfo(key string, v *pb.ValueInfoProto, want []int64) error {
	tt := v.GetType().GetTensorType()
	if tt == nil {
		return &SchemaError{Key: key, Reason: "not a tensor"}
	}
	if tt.GetElemType() != int32(pb.TensorProto_FLOAT) {
		return &SchemaError{Key: key, Reason: fmt.Sprintf("element type %s, want float32", pb.TensorProto_DataType(tt.GetElemType()))}
	}
	if tt.GetShape() == nil {
		return nil // shape unspecified: ONNX Runtime checks at run time
	}
	dims := tt.GetShape().GetDim()
	if len(dims) != len(want) {
		return &SchemaError{Key: key, Reason: fmt.Sprintf("rank %d, want %d", len(dims), len(want))}
	}
	for i, d := range dims {
		if want[i] < 0 {
			continue
		}
		if dv, ok := d.GetValue().(*pb.TensorShapeProto_Dimension_DimValue); ok && dv.DimValue != want[i] {
			return &SchemaError{Key: key, Reason: fmt.Sprintf("dimension %d is %d, want %d", i, dv.DimValue, want[i])}
		}
	}
	return nil
}
