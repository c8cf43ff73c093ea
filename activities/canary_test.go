package activities_test

import (
	"context"
	"math"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

func TestCanary(t *testing.T) {
	onnxrttest.RequireORT(t)
	p := sharedPipeline(t)
	exp := sharedExport(t, p)
	f := newFixture(t)
	env := newEnv(t, f.acts)
	ctx := context.Background()

	// A version registered with the real exported file.
	l := pipelineLineage(t, p, f, "wf-canary", "run-1")
	l.Export = &exp.res
	good := register(t, f, l)

	res := mustRun[activities.CanaryResult](t, env, f.acts.Canary, activities.CanaryInput{Version: good, Features: p.featurize.Features, Rows: 50})
	if res.Version != good || res.Rows != 50 {
		t.Errorf("canary %+v, want 50 rows of %s", res, good)
	}
	// The mean expected value is the one ONNX Runtime gives the first 50
	// customers.
	b, err := p.store.GetBytes(ctx, exp.res.ONNX)
	if err != nil {
		t.Fatal(err)
	}
	om, err := onnxrt.Load("check", b, exp.res.ONNX.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	defer om.Close()
	set := readFeatures(t, p.store, p.featurize.Features)
	idx := make([]int, 50)
	for i := range idx {
		idx[i] = i
	}
	tab, seq := set.Float32Rows(idx, om.Schema().SequenceInput != "")
	out, err := om.Predict(tab, seq)
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, e := range out.Expected {
		sum += float64(e)
	}
	if want := sum / 50; math.Abs(res.Mean-want) > 1e-9*math.Max(1, want) || !(res.Mean > 0) {
		t.Errorf("canary mean %v, ONNX Runtime gives %v", res.Mean, want)
	}

	t.Run("more rows than customers", func(t *testing.T) {
		res := mustRun[activities.CanaryResult](t, env, f.acts.Canary, activities.CanaryInput{Version: good, Features: p.featurize.Features, Rows: 1 << 20})
		if res.Rows != set.Len() {
			t.Errorf("scored %d rows, want all %d customers", res.Rows, set.Len())
		}
	})

	// Versions whose ONNX file is broken fail the canary.
	withONNX := func(name string, ref artifacts.Ref) string {
		l := pipelineLineage(t, p, f, "wf-canary", name)
		l.Export = &activities.ExportResult{ONNX: ref, ModelVersion: exp.res.ModelVersion, FeatureSchema: exp.res.FeatureSchema, Parity: exp.res.Parity}
		return register(t, f, l)
	}
	garbage, err := f.store.PutBytes(ctx, f.acts.Buckets.Models, activities.ONNXPrefix, []byte("this is not an ONNX file"), artifacts.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		in       activities.CanaryInput
		errType  string
		contains []string
	}{
		{"ONNX digest mismatch", activities.CanaryInput{Version: withONNX("wrong-sha", withWrongSHA(exp.res.ONNX)), Features: p.featurize.Features, Rows: 5}, activities.ErrTypeCanaryFailed, []string{"canary"}},
		{"ONNX file missing", activities.CanaryInput{Version: withONNX("missing", missing(exp.res.ONNX)), Features: p.featurize.Features, Rows: 5}, activities.ErrTypeCanaryFailed, []string{"never-written"}},
		{"ONNX file is not a model", activities.CanaryInput{Version: withONNX("garbage", garbage), Features: p.featurize.Features, Rows: 5}, activities.ErrTypeCanaryFailed, []string{"canary"}},
		{"version not found", activities.CanaryInput{Version: "v999", Features: p.featurize.Features, Rows: 5}, activities.ErrTypeNotFound, []string{"v999"}},
		{"features not found", activities.CanaryInput{Version: good, Features: missing(p.featurize.Features), Rows: 5}, activities.ErrTypeNotFound, []string{"never-written"}},
		{"features digest mismatch", activities.CanaryInput{Version: good, Features: withWrongSHA(p.featurize.Features), Rows: 5}, activities.ErrTypeIntegrity, []string{p.featurize.Features.Key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[activities.CanaryResult](t, env, f.acts.Canary, tc.in)
			wantNonRetryable(t, err, tc.errType, tc.contains...)
		})
	}

	t.Run("unreachable store", func(t *testing.T) {
		u := unreachable(t)
		_, err := run[activities.CanaryResult](t, newEnv(t, u), u.Canary, activities.CanaryInput{Version: good, Features: p.featurize.Features, Rows: 5})
		wantRetryable(t, err, refusedCause)
	})
}
