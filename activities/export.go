package activities

import (
	"context"
	"fmt"
	"math"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/onnxexport"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/registry"
)

// ExportONNX writes the challenger as ONNX and proves parity: training rows
// plus edge rows go through ONNX Runtime and through the Go float32
// reference forward pass; any difference above the tolerance is a
// non-retryable ParityFailed error naming the worst row. The file is only
// stored once parity holds.
func (a *Activities) ExportONNX(ctx context.Context, in ExportInput) (ExportResult, error) {
	var res ExportResult
	if err := a.ensureONNX(); err != nil {
		return res, err
	}
	m, modelSHA, err := a.loadModelDigest(ctx, in.Model)
	if err != nil {
		return res, err
	}
	net, ok := models.NetModel(m)
	if !ok {
		return res, nonRetryablef(ErrTypeBadInput, "export: %s is not a neural model; only ziln and seq are exported", m.Kind())
	}
	digest := in.Kind + "-" + modelSHA[:12]
	data, err := onnxexport.Export(net, onnxexport.Metadata{Name: "clv-" + in.Kind, Version: digest, RawDatasetSHA256: in.RawDatasetSHA256, CleanDatasetSHA256: in.CleanDatasetSHA256})
	if err != nil {
		return res, nonRetryable(ErrTypeBadInput, fmt.Errorf("export: %w", err))
	}
	sha := onnxrt.SHA256Hex(data)
	om, err := onnxrt.Load(digest, data, sha)
	if err != nil {
		return res, nonRetryable(ErrTypeParityFailed, fmt.Errorf("export: ONNX Runtime cannot load the exported model: %w", err))
	}
	defer om.Close()
	rep, summary, err := a.checkParity(ctx, in, net, om)
	if err != nil {
		return res, err
	}
	onnxRef, err := a.Store.PutBytes(ctx, a.Buckets.Models, ONNXPrefix, data, artifacts.PutOptions{ContentType: "application/onnx", Filename: "clv-" + in.Kind + ".onnx"})
	if err != nil {
		return res, Classify(err)
	}
	repRef, err := a.Store.PutJSON(ctx, a.Buckets.Models, "parity/"+sha+".json", rep)
	if err != nil {
		return res, Classify(err)
	}
	summary.Report = repRef
	schema := om.Metadata().Props["clvflow.feature_schema"]
	a.log().Info("model exported", "kind", in.Kind, "onnx_sha256", sha, "parity_rows", rep.Rows, "max_abs_diff", summary.MaxAbsDiff)
	return ExportResult{ONNX: onnxRef, ModelVersion: digest, FeatureSchema: schema, Parity: summary}, nil
}

// parityRowsOf is the parity check's input: the first n training rows (all
// when n ≤ 0) plus the edge rows of the model's schema.
func parityRowsOf(set *features.Set, train []int, n int, schema onnxrt.FeatureSchema) (tab, seq [][]float32) {
	if n <= 0 || n > len(train) {
		n = len(train)
	}
	withSeq := schema.SequenceInput != ""
	tab, seq = set.Float32Rows(train[:n], withSeq)
	et, es := onnxrt.EdgeRows(schema)
	tab = append(tab, et...)
	if !withSeq {
		return tab, nil
	}
	return tab, append(seq, es...)
}

// checkParity scores parity rows of the training customers with the
// exported model om and with nn's float32 reference; a difference beyond
// the tolerance fails the export (non-retryable, with the summary).
func (a *Activities) checkParity(ctx context.Context, in ExportInput, net *nn.Model, om *onnxrt.Model) (onnxrt.ParityReport, registry.ParitySummary, error) {
	set, train, _, release, err := a.loadFeatures(ctx, in.Features, in.Split)
	if err != nil {
		return onnxrt.ParityReport{}, registry.ParitySummary{}, err
	}
	defer release()
	tab, seq := parityRowsOf(set, train, in.ParityRows, om.Schema())
	tol := in.ParityTolerance
	if tol <= 0 {
		tol = onnxrt.DefaultParityTol
	}
	rep, err := onnxrt.Parity(goReference(net), om, tab, seq, tol)
	summary := paritySummary(&rep, tol, len(tab), err == nil)
	if err != nil {
		return rep, summary, nonRetryable(ErrTypeParityFailed, fmt.Errorf("parity: %w", err), summary)
	}
	return rep, summary, nil
}

// goReference is the Go float32 forward pass the parity check compares ONNX
// Runtime with.
func goReference(net *nn.Model) func(f, s [][]float32) (onnxrt.Outputs, error) {
	return func(f, s [][]float32) (onnxrt.Outputs, error) {
		preds, err := net.PredictFloat32(f, s)
		if err != nil {
			return onnxrt.Outputs{}, err
		}
		var o onnxrt.Outputs
		for _, p := range preds {
			o.Expected = append(o.Expected, p.Expected)
			o.Prob = append(o.Prob, p.Prob)
			o.Mu = append(o.Mu, p.Mu)
			o.Sigma = append(o.Sigma, p.Sigma)
		}
		return o, nil
	}
}

// paritySummary condenses a parity report for the registry. JSON (and so
// Temporal payloads) cannot carry Inf: a non-finite difference is reported
// as the largest float, in the summary and in the stored report.
func paritySummary(rep *onnxrt.ParityReport, tolerance float64, rows int, passed bool) registry.ParitySummary {
	summary := registry.ParitySummary{Passed: passed, Tolerance: tolerance, Rows: rows, MaxAbsDiff: map[string]float64{}}
	finite := func(f *float64) {
		if math.IsInf(*f, 0) || math.IsNaN(*f) {
			*f = math.MaxFloat64
		}
	}
	for i := range rep.Outputs {
		finite(&rep.Outputs[i].MaxAbsDiff)
		finite(&rep.Outputs[i].WorstRatio)
		summary.MaxAbsDiff[rep.Outputs[i].Name] = rep.Outputs[i].MaxAbsDiff
	}
	finite(&rep.Worst.MaxAbsDiff)
	finite(&rep.Worst.WorstRatio)
	return summary
}
