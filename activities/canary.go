package activities

import (
	"context"
	"fmt"
	"math"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/onnxrt"
)

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
		return res, Classify(err)
	}
	m, err := onnxrt.Load(v.ID, b, v.ONNX.SHA256)
	if err != nil {
		return res, nonRetryable(ErrTypeCanaryFailed, fmt.Errorf("canary %s: %w", in.Version, err))
	}
	defer m.Close()
	set, _, _, release, err := a.loadFeatures(ctx, in.Features, artifacts.Ref{})
	if err != nil {
		return res, err
	}
	defer release()
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
	mean, bad := meanOfValidScores(out)
	if bad >= 0 {
		return res, nonRetryablef(ErrTypeCanaryFailed, "canary %s: customer %s got expected value %g, purchase probability %g",
			in.Version, set.Customers[idx[bad]].ID, out.Expected[bad], out.Prob[bad])
	}
	res.Rows, res.Mean = n, mean
	return res, nil
}

// meanOfValidScores is the mean expected value, or the index of the first
// score that is non-finite, negative or has a probability outside [0, 1]
// (bad = -1 when all are valid).
func meanOfValidScores(out onnxrt.Outputs) (mean float64, bad int) {
	sum := 0.0
	for i := range out.Expected {
		e, p := float64(out.Expected[i]), float64(out.Prob[i])
		if math.IsNaN(e) || math.IsInf(e, 0) || e < 0 || math.IsNaN(p) || p < 0 || p > 1 {
			return 0, i
		}
		sum += e
	}
	return sum / float64(max(len(out.Expected), 1)), -1
}
