package nn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
)

// quickConfig trains fast on small synthetic sets.
func quickConfig(kind modelkind.Kind) nn.Config {
	c := nn.DefaultConfig(kind)
	c.Hidden = []int{16, 8}
	c.BatchSize = 64
	c.MaxEpochs = 6
	c.Ensemble = 2
	c.LR = 3e-3
	if kind == modelkind.Seq {
		c.SeqWeeks = 24
		c.ConvFilters = 4
		c.KernelSize = 4
		c.ConvStride = 4
	}
	return c
}

func synthData(kind modelkind.Kind, n int, weeks int, seed uint64) nn.Data {
	ds := nntest.Synthetic(n, weeks, seed)
	d := nn.Data{Tabular: ds.Tabular, Seq: ds.Seq, Label: ds.Label}
	if kind != modelkind.Seq {
		d.Seq = nil
	}
	return d
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*nn.Config)
		kind   modelkind.Kind
		want   string // substring of the error, "" = valid
	}{
		{"default ziln", func(*nn.Config) {}, modelkind.ZILN, ""},
		{"default seq", func(*nn.Config) {}, modelkind.Seq, ""},
		{"bad kind", func(c *nn.Config) { c.Kind = "rnn" }, modelkind.ZILN, "kind"},
		{"no hidden", func(c *nn.Config) { c.Hidden = nil }, modelkind.ZILN, "hidden"},
		{"zero width", func(c *nn.Config) { c.Hidden = []int{8, 0} }, modelkind.ZILN, "hidden[1]"},
		{"lr", func(c *nn.Config) { c.LR = 0 }, modelkind.ZILN, "lr"},
		{"lr nan", func(c *nn.Config) { c.LR = math.NaN() }, modelkind.ZILN, "lr"},
		{"decay", func(c *nn.Config) { c.WeightDecay = -1 }, modelkind.ZILN, "weight_decay"},
		{"batch", func(c *nn.Config) { c.BatchSize = 0 }, modelkind.ZILN, "batch_size"},
		{"epochs", func(c *nn.Config) { c.MaxEpochs = 0 }, modelkind.ZILN, "max_epochs"},
		{"val", func(c *nn.Config) { c.ValFraction = 0.9 }, modelkind.ZILN, "val_fraction"},
		{"ensemble", func(c *nn.Config) { c.Ensemble = 0 }, modelkind.ZILN, "ensemble"},
		{"log col", func(c *nn.Config) { c.LogColumns = []int{7} }, modelkind.ZILN, "log_columns"},
		{"log dup", func(c *nn.Config) { c.LogColumns = []int{1, 1} }, modelkind.ZILN, "repeats"},
		{"sigma floor", func(c *nn.Config) { c.SigmaFloor = 0 }, modelkind.ZILN, "sigma_floor"},
		{"kernel", func(c *nn.Config) { c.KernelSize = 60 }, modelkind.Seq, "kernel_size"},
		{"stride", func(c *nn.Config) { c.ConvStride = 14 }, modelkind.Seq, "conv_stride"},
		{"weeks", func(c *nn.Config) { c.SeqWeeks = 0 }, modelkind.Seq, "seq_weeks"},
		{"filters", func(c *nn.Config) { c.ConvFilters = 0 }, modelkind.Seq, "conv_filters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := nn.DefaultConfig(tc.kind)
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestTrainDeterministic trains twice with the same seed (bit-identical
// model bytes) and once with another seed (different weights).
func TestTrainDeterministic(t *testing.T) {
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		t.Run(string(kind), func(t *testing.T) {
			cfg := quickConfig(kind)
			data := synthData(kind, 700, cfg.SeqWeeks, 3)
			var blobs [][]byte
			for _, seed := range []uint64{5, 5, 6} {
				cfg.Seed = seed
				m, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{})
				if err != nil {
					t.Fatal(err)
				}
				blobs = append(blobs, mustJSON(t, m))
			}
			if !bytes.Equal(blobs[0], blobs[1]) {
				t.Fatal("two runs with the same seed produced different models")
			}
			if bytes.Equal(blobs[0], blobs[2]) {
				t.Fatal("different seeds produced identical models")
			}
		})
	}
}

// TestCheckpointResume interrupts training at several checkpoints (mid
// member and between members), resumes from the serialised bytes in a fresh
// process and requires the final model to be byte-identical.
func TestCheckpointResume(t *testing.T) {
	if os.Getenv("NN_RESUME_HELPER") != "" {
		t.Skip("helper process")
	}
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		t.Run(string(kind), func(t *testing.T) {
			cfg := quickConfig(kind)
			cfg.MaxEpochs = 5
			cfg.Patience = 2
			data := synthData(kind, 500, cfg.SeqWeeks, 4)
			var cps [][]byte
			var epochs int
			full, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{
				CheckpointEvery: 2,
				Progress:        func(nn.EpochReport) { epochs++ },
				Checkpoint: func(c *nn.Checkpoint) error {
					b, err := c.MarshalBinary()
					cps = append(cps, b)
					return err
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			want := mustJSON(t, full)
			// every 2 epochs within members plus one between the two members
			if len(cps) < 3 {
				t.Fatalf("%d checkpoints written over %d epochs, want >= 3", len(cps), epochs)
			}
			dir := t.TempDir()
			for i, cp := range cps {
				var c nn.Checkpoint
				if err := c.UnmarshalBinary(cp); err != nil {
					t.Fatal(err)
				}
				// in-process resume from bytes
				m, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{Resume: &c})
				if err != nil {
					t.Fatalf("resume from checkpoint %d (member %d epoch %d): %v", i, c.Member, c.Epoch, err)
				}
				if !bytes.Equal(mustJSON(t, m), want) {
					t.Fatalf("resume from checkpoint %d (member %d epoch %d) differs from the uninterrupted run", i, c.Member, c.Epoch)
				}
			}
			// fresh process: the helper resumes from the middle checkpoint
			cpFile := filepath.Join(dir, "cp.bin")
			outFile := filepath.Join(dir, "model.json")
			if err := os.WriteFile(cpFile, cps[len(cps)/2], 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestResumeHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), "NN_RESUME_HELPER="+string(kind), "NN_RESUME_CP="+cpFile, "NN_RESUME_OUT="+outFile)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("helper process: %v\n%s", err, out)
			}
			got, err := os.ReadFile(outFile)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("model resumed in a fresh process differs from the uninterrupted run")
			}
		})
	}
}

// TestResumeHelper is the fresh-process half of TestCheckpointResume.
func TestResumeHelper(t *testing.T) {
	kind := modelkind.Kind(os.Getenv("NN_RESUME_HELPER"))
	if kind == "" {
		t.Skip("only run as a helper process of TestCheckpointResume")
	}
	cfg := quickConfig(kind)
	cfg.MaxEpochs = 5
	cfg.Patience = 2
	data := synthData(kind, 500, cfg.SeqWeeks, 4)
	b, err := os.ReadFile(os.Getenv("NN_RESUME_CP"))
	if err != nil {
		t.Fatal(err)
	}
	var c nn.Checkpoint
	if err := c.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	m, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{Resume: &c})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv("NN_RESUME_OUT"), mustJSON(t, m), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTrainErrors(t *testing.T) {
	cfg := quickConfig(modelkind.ZILN)
	good := synthData(modelkind.ZILN, 100, 0, 1)
	clone := func() nn.Data {
		d := nn.Data{Label: append([]float64(nil), good.Label...)}
		for _, r := range good.Tabular {
			d.Tabular = append(d.Tabular, append([]float64(nil), r...))
		}
		return d
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	otherCfg := cfg
	otherCfg.Seed++
	var cp *nn.Checkpoint
	if _, err := nn.Train(context.Background(), otherCfg, good, nn.TrainOptions{CheckpointEvery: 1, Checkpoint: func(c *nn.Checkpoint) error {
		if cp == nil {
			cp = c
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		cfg  nn.Config
		data func() nn.Data
		opts nn.TrainOptions
		is   error
		want string
	}{
		{"label count", context.Background(), cfg, func() nn.Data { d := clone(); d.Label = d.Label[1:]; return d }, nn.TrainOptions{}, nil, "labels"},
		{"too few", context.Background(), cfg, func() nn.Data { d := clone(); d.Tabular, d.Label = d.Tabular[:5], d.Label[:5]; return d }, nn.TrainOptions{}, nil, "at least"},
		{"row width", context.Background(), cfg, func() nn.Data { d := clone(); d.Tabular[3] = d.Tabular[3][:6]; return d }, nn.TrainOptions{}, nil, "row 3"},
		{"nan feature", context.Background(), cfg, func() nn.Data { d := clone(); d.Tabular[4][5] = math.NaN(); return d }, nn.TrainOptions{}, nil, "(mbar) is NaN"},
		{"inf label", context.Background(), cfg, func() nn.Data { d := clone(); d.Label[2] = math.Inf(1); return d }, nn.TrainOptions{}, nil, "label"},
		{"no positives", context.Background(), cfg, func() nn.Data {
			d := clone()
			clear(d.Label)
			return d
		}, nn.TrainOptions{}, nn.ErrNoPositiveLabels, ""},
		{"seq missing", context.Background(), quickConfig(modelkind.Seq), clone, nn.TrainOptions{}, nil, "sequence per row"},
		{"bad config", context.Background(), nn.Config{}, clone, nn.TrainOptions{}, nil, "config"},
		{"cancelled", cancelled, cfg, clone, nn.TrainOptions{}, context.Canceled, ""},
		{"foreign checkpoint", context.Background(), cfg, clone, nn.TrainOptions{Resume: cp}, nn.ErrCheckpointMismatch, ""},
		{"checkpoint sink fails", context.Background(), cfg, clone, nn.TrainOptions{CheckpointEvery: 1, Checkpoint: func(*nn.Checkpoint) error { return errors.New("disk full") }}, nil, "disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := nn.Train(tc.ctx, tc.cfg, tc.data(), tc.opts)
			if err == nil {
				t.Fatal("expected an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v, want %v", err, tc.is)
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestPredictions checks the output contract on a trained ensemble: the
// identity expected = p·exp(mu + sigma²/2) (below the cap), the cap, the
// average over members, the float32 reference and JSON round trips.
func TestPredictions(t *testing.T) {
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		t.Run(string(kind), func(t *testing.T) {
			cfg := quickConfig(kind)
			cfg.Ensemble = 3
			data := synthData(kind, 600, cfg.SeqWeeks, 9)
			m, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var maxLabel float64
			for _, y := range data.Label {
				maxLabel = math.Max(maxLabel, y)
			}
			if m.ValueCap != maxLabel {
				t.Fatalf("value cap %v, want the largest training label %v", m.ValueCap, maxLabel)
			}
			tab, seq := data.Tabular[:200], data.Seq
			if seq != nil {
				seq = seq[:200]
			}
			preds, err := m.Predict(tab, seq)
			if err != nil {
				t.Fatal(err)
			}
			// a lower cap clips exactly the predictions above it
			low := *m
			low.ValueCap = preds[0].Expected
			for _, p := range preds[1:] {
				low.ValueCap = math.Max(low.ValueCap, p.Expected)
			}
			low.ValueCap /= 2
			clipped, err := low.Predict(tab, seq)
			if err != nil {
				t.Fatal(err)
			}
			var nClipped int
			for i := range preds {
				want := math.Min(preds[i].Expected, low.ValueCap)
				if clipped[i].Expected != want {
					t.Fatalf("row %d: capped prediction %v, want %v", i, clipped[i].Expected, want)
				}
				if want < preds[i].Expected {
					nClipped++
				}
			}
			if nClipped == 0 {
				t.Fatal("no prediction reached the lowered cap")
			}
			// inputs beyond the training range are clamped: finite, and no
			// further change once past the range
			far := [][]float64{{1e6, 1e4, 1e4, 0, 1e9, 1e7, 1e7}, {1e7, 1e5, 1e5, 0, 1e10, 1e8, 1e8}}
			var farSeq [][]float64
			if seq != nil {
				a, b := make([]float64, 2*cfg.SeqWeeks), make([]float64, 2*cfg.SeqWeeks)
				for i := range a {
					a[i], b[i] = 1e6, 1e7
				}
				farSeq = [][]float64{a, b}
			}
			fp, err := m.Predict(far, farSeq)
			if err != nil {
				t.Fatal(err)
			}
			if fp[0] != fp[1] || math.IsNaN(fp[0].Mu) || math.IsInf(fp[0].Mu, 0) || math.IsInf(fp[0].Sigma, 0) {
				t.Fatalf("out-of-range rows not clamped: %+v vs %+v", fp[0], fp[1])
			}
			// members as single models
			singles := make([][]nn.Prediction, len(m.Members))
			for k := range m.Members {
				one := *m
				one.Members = m.Members[k : k+1]
				one.Config.Ensemble = 1
				one.ValueCap = math.Inf(1)
				if singles[k], err = one.Predict(tab, seq); err != nil {
					t.Fatal(err)
				}
			}
			for i, p := range preds {
				if !(p.Prob > 0 && p.Prob < 1) || !(p.Sigma > 0) || p.Expected < 0 || p.Expected > m.ValueCap {
					t.Fatalf("row %d: prediction %+v out of range", i, p)
				}
				var e float64
				for k := range singles {
					e += singles[k][i].Expected
				}
				e /= float64(len(singles))
				if want := math.Min(e, m.ValueCap); math.Abs(p.Expected-want) > 1e-9*math.Max(1, want) {
					t.Fatalf("row %d: ensemble expected %v, mean of members %v", i, p.Expected, want)
				}
				if id := p.Prob * math.Exp(p.Mu+p.Sigma*p.Sigma/2); e < m.ValueCap && math.Abs(id-p.Expected) > 1e-9*math.Max(1, p.Expected) {
					t.Fatalf("row %d: p·exp(mu+sigma²/2) = %v but expected = %v", i, id, p.Expected)
				}
			}
			// float32 reference agrees with float64
			p32, err := m.PredictFloat32(nn.Float32Rows(tab), nn.Float32Rows(seq))
			if err != nil {
				t.Fatal(err)
			}
			for i := range preds {
				a, b := preds[i], p32[i]
				if math.Abs(a.Prob-float64(b.Prob)) > 1e-4 || math.Abs(a.Mu-float64(b.Mu)) > 1e-3 || math.Abs(a.Sigma-float64(b.Sigma)) > 1e-4 ||
					math.Abs(a.Expected-float64(b.Expected)) > 1e-3*math.Max(1, a.Expected) {
					t.Fatalf("row %d: float64 %+v vs float32 %+v", i, a, b)
				}
			}
			// JSON round trip
			blob := mustJSON(t, m)
			var back nn.Model
			if err := json.Unmarshal(blob, &back); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mustJSON(t, &back), blob) {
				t.Fatal("model JSON does not round-trip")
			}
			// corrupt model is rejected
			back.Members[0].Hidden[0].W = back.Members[0].Hidden[0].W[1:]
			if err := json.Unmarshal(mustJSON(t, &back), new(nn.Model)); err == nil || !strings.Contains(err.Error(), "hidden layer 0") {
				t.Fatalf("corrupt model accepted or unclear error: %v", err)
			}
		})
	}
}

// TestRateFeatures checks that the derived rates widen the network input and
// that a model without them is self-consistent too.
func TestRateFeatures(t *testing.T) {
	for _, tc := range []struct {
		rates bool
		width int
	}{{true, nn.NumTabular + len(nn.RateColumns)}, {false, nn.NumTabular}} {
		cfg := quickConfig(modelkind.ZILN)
		cfg.Ensemble, cfg.MaxEpochs, cfg.RateFeatures = 1, 2, tc.rates
		data := synthData(modelkind.ZILN, 300, 0, 4)
		m, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Members[0].Hidden[0].In; got != tc.width || len(m.Prep.TabMean) != tc.width {
			t.Fatalf("rate_features=%v: input width %d (%d means), want %d", tc.rates, got, len(m.Prep.TabMean), tc.width)
		}
		// the rate reacts to T with everything else fixed: x/T changes
		a := []float64{4, 10, 10, 0, 200, 40, 40}
		b := []float64{4, 10, 30, 20, 200, 40, 40}
		p, err := m.Predict([][]float64{a, b}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p[0] == p[1] {
			t.Fatalf("rate_features=%v: T has no effect on the prediction", tc.rates)
		}
		broken := *m
		broken.Config.RateFeatures = !tc.rates
		if err := broken.Validate(); err == nil || !strings.Contains(err.Error(), "rates") {
			t.Fatalf("model with mismatched rate_features accepted: %v", err)
		}
	}
}

func TestPredictInputErrors(t *testing.T) {
	cfg := quickConfig(modelkind.Seq)
	cfg.Ensemble = 1
	data := synthData(modelkind.Seq, 200, cfg.SeqWeeks, 2)
	m, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	row := data.Tabular[0]
	sq := data.Seq[0]
	nanSeq := append([]float64(nil), sq...)
	nanSeq[cfg.SeqWeeks+3] = math.NaN()
	for _, tc := range []struct {
		name string
		tab  [][]float64
		seq  [][]float64
		want string
	}{
		{"missing seq", [][]float64{row}, nil, "sequence rows"},
		{"short row", [][]float64{row[:6]}, [][]float64{sq}, "tabular row 0 has 6"},
		{"short seq", [][]float64{row}, [][]float64{sq[:5]}, "sequence row 0 has 5"},
		{"nan seq", [][]float64{row}, [][]float64{nanSeq}, "purchase_days week 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := m.Predict(tc.tab, tc.seq); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Predict error %v, want %q", err, tc.want)
			}
			if _, err := m.PredictFloat32(nn.Float32Rows(tc.tab), nn.Float32Rows(tc.seq)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("PredictFloat32 error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLearnsSynthetic is a fast quality check: on simulated customers the
// ZILN model must rank and calibrate better than the naive run-rate.
func TestLearnsSynthetic(t *testing.T) {
	ds := nntest.Synthetic(3000, 0, 11)
	tr, te := features.SplitIndices(len(ds.IDs), 0.2, 1)
	train, test := ds.Subset(tr), ds.Subset(te)
	cfg := nn.DefaultConfig(modelkind.ZILN)
	cfg.Ensemble = 1
	cfg.MaxEpochs = 40
	cfg.LR = 1e-3
	m, err := nn.Train(context.Background(), cfg, nn.Data{Tabular: train.Tabular, Label: train.Label}, nn.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Predict(test.Tabular, nil)
	if err != nil {
		t.Fatal(err)
	}
	pred := make([]float64, len(p))
	for i := range p {
		pred[i] = p[i].Expected
	}
	naive := nntest.Naive(test.Tabular, 39)
	gNN, err1 := metrics.NormalizedGini(pred, test.Label)
	gNaive, err2 := metrics.NormalizedGini(naive, test.Label)
	dNN, err3 := metrics.DecileMAPE(pred, test.Label)
	dNaive, err4 := metrics.DecileMAPE(naive, test.Label)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	t.Logf("gini nn %.4f naive %.4f; decile MAPE nn %.4f naive %.4f", gNN, gNaive, dNN, dNaive)
	if gNN <= gNaive || dNN >= dNaive {
		t.Fatalf("nn (gini %.4f, decile MAPE %.4f) does not beat naive (%.4f, %.4f)", gNN, dNN, gNaive, dNaive)
	}
}
