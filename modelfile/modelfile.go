// Package modelfile is the contract of a clvflow ONNX model file, shared by
// the writer (package onnxexport) and the readers (package onnxrt, serving):
// the names of the input and output tensors, the metadata_props keys and the
// feature schema stored under MetaFeatureSchema. It is pure Go, so that the
// exporter does not depend on ONNX Runtime.
package modelfile

import (
	pb "github.com/advancedclimatesystems/gonnx/onnx"

	"github.com/clvflow/clvflow/features"
)

// Input and output tensor names.
const (
	InputFeatures        = "features"
	InputSequence        = "sequence"
	OutputExpectedValue  = "expected_value"
	OutputPurchaseProb   = "purchase_probability"
	OutputMu             = "mu"
	OutputSigma          = "sigma"
	SequenceChannelSpend = "spend"
	SequenceChannelDays  = "purchase_days"
)

// BatchDim is the symbolic batch dimension of every input and output.
const BatchDim = "batch"

// metadata_props keys.
const (
	// MetaModelKind holds the model kind, a neural kind of package
	// modelkind (ziln or seq).
	MetaModelKind = "clvflow.model_kind"
	MetaModelName = "clvflow.model_name"
	MetaVersion   = "clvflow.version"
	MetaSeed      = "clvflow.seed"
	// MetaRawDatasetSHA256 is the sha256 of the raw transaction log as
	// ingested, MetaCleanDatasetSHA256 that of the clean dataset validation
	// made from it; the registry's Version.Dataset names the same two.
	MetaRawDatasetSHA256   = "clvflow.raw_dataset_sha256"
	MetaCleanDatasetSHA256 = "clvflow.clean_dataset_sha256"
	// MetaLegacyDatasetSHA256 is the raw dataset's key in files written
	// before both datasets were named; readers fall back to it.
	MetaLegacyDatasetSHA256 = "clvflow.dataset_sha256"
	MetaValueCap            = "clvflow.value_cap"
	MetaFeatureSchema       = "clvflow.feature_schema"
	// MetaEnsemble is informational: the number of averaged members.
	MetaEnsemble = "clvflow.ensemble"
)

// TabularColumns are the per-customer base features in the order of the
// "features" input: the columns of package features.
var TabularColumns = features.TabularColumns

// SequenceChannels are the channels of the "sequence" input, in order.
var SequenceChannels = []string{SequenceChannelSpend, SequenceChannelDays}

// OutputNames are the model outputs, in graph order.
var OutputNames = []string{OutputExpectedValue, OutputPurchaseProb, OutputMu, OutputSigma}

// FeatureSchema is the JSON value of the MetaFeatureSchema key.
type FeatureSchema struct {
	TabularInput     string   `json:"tabular_input"`
	TabularColumns   []string `json:"tabular_columns"`
	SequenceInput    string   `json:"sequence_input"`
	SequenceChannels []string `json:"sequence_channels"`
	SequenceWeeks    int      `json:"sequence_weeks"`
	Outputs          []string `json:"outputs"`
}

// HasSequence reports whether the model takes the weekly sequence input.
func (s FeatureSchema) HasSequence() bool { return s.SequenceInput != "" }

// SequenceLen is the flattened per-row length of the sequence input
// (channels × weeks), 0 for models without one.
func (s FeatureSchema) SequenceLen() int {
	if !s.HasSequence() {
		return 0
	}
	return len(s.SequenceChannels) * s.SequenceWeeks
}

// FloatTensor declares a float32 graph input or output; a string dimension
// is symbolic (BatchDim), an int fixed.
func FloatTensor(name string, dims ...any) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{}
	for _, d := range dims {
		switch d := d.(type) {
		case string:
			shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: d}})
		case int:
			shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
		}
	}
	return &pb.ValueInfoProto{Name: name, Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: int32(pb.TensorProto_FLOAT), Shape: shape}}}}
}
