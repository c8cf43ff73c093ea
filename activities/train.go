package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/onnxexport"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/activity"
)

// Model artifact prefixes in the models bucket.
const (
	ModelsPrefix = "models"
	ONNXPrefix   = "onnx"
)

// TrainModel fits one model kind on the training customers and stores it.
// Neural models heartbeat every epoch and checkpoint into the models bucket;
// when the activity is retried (worker crash, heartbeat timeout) it resumes
// from the checkpoint named in its last heartbeat, and the final weights are
// bit-identical to an undisturbed run.
func (a *Activities) TrainModel(ctx context.Context, in TrainInput) (TrainResult, error) {
	res := TrainResult{Kind: in.Kind}
	set, train, _, err := a.loadFeatures(ctx, in.Features, in.Split)
	if err != nil {
		return res, err
	}
	opts := models.FitOptions{Seed: in.Seed, HorizonDays: in.HorizonDays, MaxEpochs: in.MaxEpochs, CheckpointEvery: 2}
	if modelkind.Kind(in.Kind).IsNetwork() && len(in.Snapshots) > 0 {
		if opts.Snapshots, err = a.loadSnapshots(ctx, in.Snapshots); err != nil {
			return res, err
		}
	}
	if modelkind.Kind(in.Kind).IsNetwork() && activity.IsActivity(ctx) {
		var mu sync.Mutex
		progress := TrainProgress{Kind: in.Kind}
		if activity.HasHeartbeatDetails(ctx) {
			var last TrainProgress
			if err := activity.GetHeartbeatDetails(ctx, &last); err == nil && last.Checkpoint.Key != "" {
				b, err := a.Store.GetBytes(ctx, last.Checkpoint)
				if err != nil {
					a.log().Warn("checkpoint unreadable; training from scratch", "checkpoint", last.Checkpoint.Key, "error", err)
				} else {
					var cp nn.Checkpoint
					if err := cp.UnmarshalBinary(b); err != nil {
						a.log().Warn("checkpoint corrupt; training from scratch", "checkpoint", last.Checkpoint.Key, "error", err)
					} else {
						opts.Resume = &cp
						progress = last
						a.log().Info("resuming training from checkpoint", "kind", in.Kind, "epoch", last.Epoch, "checkpoint", last.Checkpoint.Key)
					}
				}
			}
		}
		opts.Progress = func(r nn.EpochReport) {
			mu.Lock()
			progress.Epoch, progress.TrainLoss, progress.ValLoss = r.Epoch, r.TrainLoss, r.ValLoss
			p := progress
			mu.Unlock()
			activity.RecordHeartbeat(ctx, p)
		}
		prefix := in.CheckpointKey
		if prefix == "" {
			prefix = "checkpoints/" + activity.GetInfo(ctx).WorkflowExecution.ID + "/" + in.Kind
		}
		opts.Checkpoint = func(cp *nn.Checkpoint) error {
			b, err := cp.MarshalBinary()
			if err != nil {
				return err
			}
			ref, err := a.Store.PutBytes(ctx, a.Buckets.Models, prefix, b, artifacts.PutOptions{ContentType: "application/octet-stream", Filename: "checkpoint.bin"})
			if err != nil {
				return err
			}
			mu.Lock()
			progress.Checkpoint = ref
			p := progress
			mu.Unlock()
			activity.RecordHeartbeat(ctx, p)
			return nil
		}
	}
	stopHB := func() {}
	if !modelkind.Kind(in.Kind).IsNetwork() {
		stopHB = heartbeatEvery(ctx, 10*time.Second, func() any { return TrainProgress{Kind: in.Kind} })
	}
	model, info, err := models.Fit(ctx, modelkind.Kind(in.Kind), set, train, opts)
	stopHB()
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, nonRetryable(ErrTypeBadData, fmt.Errorf("train %s: %w", in.Kind, err))
	}
	b, err := models.MarshalModel(model)
	if err != nil {
		return res, err
	}
	ref, err := a.Store.PutBytes(ctx, a.Buckets.Models, ModelsPrefix+"/"+in.Kind, b, artifacts.PutOptions{ContentType: "application/json", Filename: in.Kind + ".json"})
	if err != nil {
		return res, storeError(err)
	}
	res.Model, res.Params, res.FitSeconds = ref, model.Params(), info.Seconds
	res.Epochs, res.ResumedFromEpoch, res.Warnings = info.Epochs, info.ResumedFromEpoch, info.Warnings
	res.TrainingRows = info.TrainingRows
	if modelkind.Kind(in.Kind).IsNetwork() && res.Params != nil {
		res.Params["training_rows"] = info.TrainingRows
		var cuts []string
		for _, s := range opts.Snapshots {
			cuts = append(cuts, s.Split.Cutoff.Format("2006-01-02"))
		}
		res.Params["training_snapshots"] = cuts
	}
	a.log().Info("model trained", "kind", in.Kind, "seconds", info.Seconds, "epochs", info.Epochs, "training_rows", info.TrainingRows, "resumed_from_epoch", info.ResumedFromEpoch, "sha256", ref.SHA256)
	return res, nil
}

func (a *Activities) loadModel(ctx context.Context, ref artifacts.Ref) (models.Model, error) {
	b, err := a.Store.GetBytes(ctx, ref)
	if err != nil {
		return nil, storeError(err)
	}
	m, err := models.UnmarshalModel(b)
	if err != nil {
		return nil, nonRetryable(ErrTypeBadInput, fmt.Errorf("model %s: %w", ref.Key, err))
	}
	return m, nil
}

// ensureONNX initialises ONNX Runtime (once per worker process; later
// calls with the same settings are no-ops).
func (a *Activities) ensureONNX() error {
	if err := onnxrt.Init(onnxrt.Options{LibraryPath: a.ONNXLibrary, IntraOpThreads: 1}); err != nil {
		return nonRetryable(ErrTypeBadInput, err)
	}
	return nil
}

// Evaluate scores every trained model (and the current champion, through
// ONNX Runtime exactly as serving would) on the test customers and picks
// the challenger: the neural model with the highest normalized Gini.
func (a *Activities) Evaluate(ctx context.Context, in EvaluateInput) (EvaluateResult, error) {
	res := EvaluateResult{Metrics: map[string]metrics.Report{}, Baseline: string(modelkind.Baseline)}
	set, _, test, err := a.loadFeatures(ctx, in.Features, in.Split)
	if err != nil {
		return res, err
	}
	res.TestCustomers = len(test)
	for _, t := range in.Models {
		m, err := a.loadModel(ctx, t.Model)
		if err != nil {
			return res, err
		}
		rep, err := models.Evaluate(m, set, test)
		if err != nil {
			return res, nonRetryable(ErrTypeBadData, fmt.Errorf("evaluate %s: %w", t.Kind, err))
		}
		res.Metrics[t.Kind] = rep
		activity.RecordHeartbeat(ctx, t.Kind)
	}
	best := math.Inf(-1)
	kinds := make([]string, 0, len(res.Metrics))
	for k := range res.Metrics {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		g := res.Metrics[k].NormalizedGini
		if modelkind.Kind(k).IsNetwork() && !math.IsNaN(g) && g > best {
			best, res.Challenger = g, k
		}
	}
	if res.Challenger == "" {
		return res, nonRetryablef(ErrTypeBadData, "evaluate: no neural model produced a usable Gini on %d test customers", len(test))
	}
	if in.Champion != nil && in.Champion.Version != "" {
		rep, err := a.scoreChampion(ctx, *in.Champion, set, test)
		if err != nil {
			return res, err
		}
		res.Metrics[ChampionMetrics] = rep
		res.ChampionVersion = in.Champion.Version
	}
	ref, err := a.Store.PutJSON(ctx, a.Buckets.Models, fmt.Sprintf("evaluations/%s-%s.json", in.Features.SHA256[:16], activityID(ctx)), res)
	if err != nil {
		return res, storeError(err)
	}
	res.Report = ref
	return res, nil
}

// scoreChampion scores the champion's ONNX file on the test customers.
func (a *Activities) scoreChampion(ctx context.Context, champ ChampionInfo, set *features.Set, test []int) (metrics.Report, error) {
	if err := a.ensureONNX(); err != nil {
		return metrics.Report{}, err
	}
	b, err := a.Store.GetBytes(ctx, champ.ONNX)
	if err != nil {
		return metrics.Report{}, storeError(err)
	}
	m, err := onnxrt.Load(champ.Version, b, champ.ONNX.SHA256)
	if err != nil {
		return metrics.Report{}, nonRetryable(ErrTypeIntegrity, err)
	}
	defer m.Close()
	tab, seq := set.Float32Rows(test, m.Schema().SequenceInput != "")
	out, err := m.Predict(tab, seq)
	if err != nil {
		return metrics.Report{}, nonRetryable(ErrTypeBadInput, fmt.Errorf("champion %s: %w", champ.Version, err))
	}
	labels := set.Labels()
	pred, prob, actual := make([]float64, len(test)), make([]float64, len(test)), make([]float64, len(test))
	for i, idx := range test {
		pred[i], prob[i], actual[i] = float64(out.Expected[i]), float64(out.Prob[i]), labels[idx]
	}
	rep, err := metrics.Evaluate(pred, prob, actual)
	if err != nil && !errors.Is(err, metrics.ErrUndefined) {
		return rep, nonRetryable(ErrTypeBadData, err)
	}
	return rep, nil
}

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
	m, err := a.loadModel(ctx, in.Model)
	if err != nil {
		return res, err
	}
	net, ok := models.NetModel(m)
	if !ok {
		return res, nonRetryablef(ErrTypeBadInput, "export: %s is not a neural model; only ziln and seq are exported", m.Kind())
	}
	digest := in.Kind + "-" + in.Model.SHA256[:12]
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
	set, train, _, err := a.loadFeatures(ctx, in.Features, in.Split)
	if err != nil {
		return res, err
	}
	n := in.ParityRows
	if n <= 0 || n > len(train) {
		n = len(train)
	}
	withSeq := om.Schema().SequenceInput != ""
	tab, seq := set.Float32Rows(train[:n], withSeq)
	et, es := onnxrt.EdgeRows(om.Schema())
	tab = append(tab, et...)
	if withSeq {
		seq = append(seq, es...)
	}
	ref := func(f, s [][]float32) (onnxrt.Outputs, error) {
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
	if !withSeq {
		seq = nil
	}
	rep, err := onnxrt.Parity(ref, om, tab, seq, in.ParityTolerance)
	summary := registry.ParitySummary{Passed: err == nil, Tolerance: in.ParityTolerance, Rows: len(tab), MaxAbsDiff: map[string]float64{}}
	for i, d := range rep.Outputs {
		// JSON (and so Temporal payloads) cannot carry Inf: a non-finite
		// output is reported as the largest float.
		if math.IsInf(d.MaxAbsDiff, 0) || math.IsNaN(d.MaxAbsDiff) {
			rep.Outputs[i].MaxAbsDiff = math.MaxFloat64
		}
		if math.IsInf(d.WorstRatio, 0) || math.IsNaN(d.WorstRatio) {
			rep.Outputs[i].WorstRatio = math.MaxFloat64
		}
		summary.MaxAbsDiff[d.Name] = rep.Outputs[i].MaxAbsDiff
	}
	for _, f := range []*float64{&rep.Worst.MaxAbsDiff, &rep.Worst.WorstRatio} {
		if math.IsInf(*f, 0) || math.IsNaN(*f) {
			*f = math.MaxFloat64
		}
	}
	if err != nil {
		return res, nonRetryable(ErrTypeParityFailed, fmt.Errorf("parity: %w", err), summary)
	}
	onnxRef, err := a.Store.PutBytes(ctx, a.Buckets.Models, ONNXPrefix, data, artifacts.PutOptions{ContentType: "application/onnx", Filename: "clv-" + in.Kind + ".onnx"})
	if err != nil {
		return res, storeError(err)
	}
	repRef, err := a.Store.PutJSON(ctx, a.Buckets.Models, "parity/"+sha+".json", rep)
	if err != nil {
		return res, storeError(err)
	}
	summary.Report = repRef
	schema := om.Metadata().Props["clvflow.feature_schema"]
	a.log().Info("model exported", "kind", in.Kind, "onnx_sha256", sha, "parity_rows", len(tab), "max_abs_diff", summary.MaxAbsDiff)
	return ExportResult{ONNX: onnxRef, ModelVersion: digest, FeatureSchema: schema, Parity: summary}, nil
}

// Canary loads a registered version's ONNX file the way serving does
// (sha256 verified) and scores a sample of customers; non-finite, negative
// or out-of-range outputs fail it.
func (a *Activities) Canary(ctx context.Context, in CanaryInput) (CanaryResult, error) {
	res := CanaryResult{Version: in.Version}
	if err := a.ensureONNX(); err != nil {
		return res, err
	}
	v, err := a.Registry.Get(ctx, in.Version)
	if err != nil {
		return res, registryError(err)
	}
	b, err := a.Store.GetBytes(ctx, v.ONNX)
	if err != nil {
		if artifacts.KindOf(err) == artifacts.Integrity || artifacts.KindOf(err) == artifacts.NotFound {
			return res, nonRetryable(ErrTypeCanaryFailed, fmt.Errorf("canary %s: %w", in.Version, err))
		}
		return res, storeError(err)
	}
	m, err := onnxrt.Load(v.ID, b, v.ONNX.SHA256)
	if err != nil {
		return res, nonRetryable(ErrTypeCanaryFailed, fmt.Errorf("canary %s: %w", in.Version, err))
	}
	defer m.Close()
	set, _, _, err := a.loadFeatures(ctx, in.Features, artifacts.Ref{})
	if err != nil {
		return res, err
	}
	n := min(in.Rows, set.Len())
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	tab, seq := set.Float32Rows(idx, m.Schema().SequenceInput != "")
	out, err := m.Predict(tab, seq)
	if err != nil {
		return res, nonRetryable(ErrTypeCanaryFailed, fmt.Errorf("canary %s: %w", in.Version, err))
	}
	sum := 0.0
	for i := range out.Expected {
		e, p := float64(out.Expected[i]), float64(out.Prob[i])
		if math.IsNaN(e) || math.IsInf(e, 0) || e < 0 || math.IsNaN(p) || p < 0 || p > 1 {
			return res, nonRetryablef(ErrTypeCanaryFailed, "canary %s: customer %s got expected value %g, purchase probability %g", in.Version, set.Customers[idx[i]].ID, e, p)
		}
		sum += e
	}
	res.Rows, res.Mean = n, sum/float64(max(n, 1))
	return res, nil
}
