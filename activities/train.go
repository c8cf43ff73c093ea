package activities

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/nn"
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
	kind := modelkind.Kind(in.Kind)
	set, train, _, release, err := a.loadFeatures(ctx, in.Features, in.Split)
	if err != nil {
		return res, err
	}
	defer release()
	opts := models.FitOptions{Seed: in.Seed, HorizonDays: in.HorizonDays, MaxEpochs: in.MaxEpochs, CheckpointEvery: 2}
	if kind.IsNetwork() && len(in.Snapshots) > 0 {
		var releaseSnaps func()
		if opts.Snapshots, releaseSnaps, err = a.loadSnapshots(ctx, in.Snapshots); err != nil {
			return res, err
		}
		defer releaseSnaps()
	}
	stopHB := func() {}
	losses := &lossRecorder{}
	if kind.IsNetwork() && activity.IsActivity(ctx) {
		a.checkpointHooks(ctx, in, &opts)
	} else if !kind.IsNetwork() {
		stopHB = heartbeatEvery(ctx, 10*time.Second, func() any { return TrainProgress{Kind: in.Kind} })
	}
	if kind.IsNetwork() {
		losses.wrap(&opts)
	}
	model, info, err := models.Fit(ctx, kind, set, train, opts)
	stopHB()
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		// A checkpoint the store did not take is the store's error, not
		// the data's: ClassifyData tells them apart by the cause.
		return res, ClassifyData(fmt.Errorf("train %s: %w", in.Kind, err))
	}
	b, err := models.MarshalModel(model)
	if err != nil {
		return res, err
	}
	ref, err := a.Store.PutBytes(ctx, a.Buckets.Models, ModelsPrefix+"/"+in.Kind, b, artifacts.PutOptions{ContentType: "application/json", Filename: in.Kind + ".json"})
	if err != nil {
		return res, Classify(err)
	}
	a.log().Info("model trained", "kind", in.Kind, "seconds", info.Seconds, "epochs", info.Epochs, "training_rows", info.TrainingRows, "resumed_from_epoch", info.ResumedFromEpoch, "sha256", ref.SHA256)
	res = trainResult(kind, ref, model, info, opts.Snapshots)
	res.Loss = losses.curves()
	return res, nil
}

// lossRecorder keeps the loss of every epoch a network trains.
type lossRecorder struct {
	mu       sync.Mutex
	byMember map[int]*LossCurve
}

// wrap records every epoch report before handing it to the existing hook.
func (l *lossRecorder) wrap(opts *models.FitOptions) {
	next := opts.Progress
	opts.Progress = func(r nn.EpochReport) {
		l.add(r)
		if next != nil {
			next(r)
		}
	}
}

func (l *lossRecorder) add(r nn.EpochReport) {
	if math.IsNaN(r.TrainLoss) || math.IsInf(r.TrainLoss, 0) || math.IsNaN(r.ValLoss) || math.IsInf(r.ValLoss, 0) {
		return // JSON has no NaN; the report skips the point anyway
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byMember == nil {
		l.byMember = map[int]*LossCurve{}
	}
	c, ok := l.byMember[r.Member]
	if !ok {
		c = &LossCurve{Member: r.Member, FirstEpoch: r.Epoch}
		l.byMember[r.Member] = c
	}
	c.Train, c.Validation = append(c.Train, r.TrainLoss), append(c.Validation, r.ValLoss)
}

// curves returns the members' curves in member order.
func (l *lossRecorder) curves() []LossCurve {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]LossCurve, 0, len(l.byMember))
	for _, m := range slices.Sorted(maps.Keys(l.byMember)) {
		out = append(out, *l.byMember[m])
	}
	return out
}

// trainResult describes a trained model; a network's params also name the
// rows and the snapshots it learned from.
func trainResult(kind modelkind.Kind, ref artifacts.Ref, model models.Model, info models.FitInfo, snapshots []*features.Set) TrainResult {
	res := TrainResult{Kind: string(kind), Model: ref, Params: model.Params(), FitSeconds: info.Seconds,
		Epochs: info.Epochs, ResumedFromEpoch: info.ResumedFromEpoch, Warnings: info.Warnings, TrainingRows: info.TrainingRows}
	if kind.IsNetwork() && res.Params != nil {
		res.Params["training_rows"] = info.TrainingRows
		var cuts []string
		for _, s := range snapshots {
			cuts = append(cuts, s.Split.Cutoff.Format("2006-01-02"))
		}
		res.Params["training_snapshots"] = cuts
	}
	return res
}

// checkpointHooks makes a network's training heartbeat every epoch, store a
// checkpoint every opts.CheckpointEvery epochs (named in the next
// heartbeat), and resume from the checkpoint of the last heartbeat of a
// previous attempt.
func (a *Activities) checkpointHooks(ctx context.Context, in TrainInput, opts *models.FitOptions) {
	var mu sync.Mutex
	progress := TrainProgress{Kind: in.Kind}
	if cp, last, ok := a.lastCheckpoint(ctx); ok {
		opts.Resume, progress = cp, last
		a.log().Info("resuming training from checkpoint", "kind", in.Kind, "epoch", last.Epoch, "checkpoint", last.Checkpoint.Key)
	}
	heartbeat := func(update func(p *TrainProgress)) {
		mu.Lock()
		update(&progress)
		p := progress
		mu.Unlock()
		activity.RecordHeartbeat(ctx, p)
	}
	opts.Progress = func(r nn.EpochReport) {
		heartbeat(func(p *TrainProgress) { p.Epoch, p.TrainLoss, p.ValLoss = r.Epoch, r.TrainLoss, r.ValLoss })
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
		heartbeat(func(p *TrainProgress) { p.Checkpoint = ref })
		return nil
	}
}

// lastCheckpoint reads the checkpoint named in the last heartbeat of a
// previous attempt; an unreadable or corrupt one means training from
// scratch (logged), which ends with the same weights, only later.
func (a *Activities) lastCheckpoint(ctx context.Context) (*nn.Checkpoint, TrainProgress, bool) {
	var last TrainProgress
	if !activity.HasHeartbeatDetails(ctx) || activity.GetHeartbeatDetails(ctx, &last) != nil || last.Checkpoint.Key == "" {
		return nil, last, false
	}
	b, err := a.Store.GetBytes(ctx, last.Checkpoint)
	if err != nil {
		a.log().Warn("checkpoint unreadable; training from scratch", "checkpoint", last.Checkpoint.Key, "error", err)
		return nil, last, false
	}
	var cp nn.Checkpoint
	if err := cp.UnmarshalBinary(b); err != nil {
		a.log().Warn("checkpoint corrupt; training from scratch", "checkpoint", last.Checkpoint.Key, "error", err)
		return nil, last, false
	}
	return &cp, last, true
}

func (a *Activities) loadModel(ctx context.Context, ref artifacts.Ref) (models.Model, error) {
	m, _, err := a.loadModelDigest(ctx, ref)
	return m, err
}

// loadModelDigest reads a stored model and the sha256 of its bytes (which
// the store checked against the reference's digest when it has one).
func (a *Activities) loadModelDigest(ctx context.Context, ref artifacts.Ref) (models.Model, string, error) {
	b, err := a.Store.GetBytes(ctx, ref)
	if err != nil {
		return nil, "", Classify(err)
	}
	m, err := models.UnmarshalModel(b)
	if err != nil {
		return nil, "", nonRetryable(ErrTypeBadInput, fmt.Errorf("model %s: %w", ref.Key, err))
	}
	return m, sha256Hex(b), nil
}
