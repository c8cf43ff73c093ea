package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models/modelstest"
	"github.com/clvflow/clvflow/nn"
)

func TestModelRoundTrip(t *testing.T) {
	set := modelstest.Set(t, 400, 11, 16)
	train, test := set.SplitTrainTest(0.25, 5)
	for _, kind := range modelkind.All() {
		t.Run(string(kind), func(t *testing.T) {
			opts := FitOptions{Seed: 3}
			if kind.IsNetwork() {
				opts.NN = modelstest.SmallNN(kind, 3)
			}
			m, info, err := Fit(context.Background(), kind, set, train, opts)
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind() != kind {
				t.Errorf("Kind() = %q", m.Kind())
			}
			if info.Seconds <= 0 {
				t.Errorf("fit seconds = %v", info.Seconds)
			}
			b, err := MarshalModel(m)
			if err != nil {
				t.Fatal(err)
			}
			var env map[string]json.RawMessage
			if err := json.Unmarshal(b, &env); err != nil || len(env) != 2 || string(env["kind"]) != `"`+string(kind)+`"` {
				t.Fatalf("envelope %s: want {\"kind\":%q,\"model\":...} (%v)", b[:min(len(b), 80)], kind, err)
			}
			m2, err := UnmarshalModel(b)
			if err != nil {
				t.Fatal(err)
			}
			v1, p1, err := m.Predict(set, test)
			if err != nil {
				t.Fatal(err)
			}
			v2, p2, err := m2.Predict(set, test)
			if err != nil {
				t.Fatal(err)
			}
			for i := range v1 {
				if math.Float64bits(v1[i]) != math.Float64bits(v2[i]) || math.Float64bits(p1[i]) != math.Float64bits(p2[i]) {
					t.Fatalf("customer %d: prediction (%v, %v) after round trip, (%v, %v) before", test[i], v2[i], p2[i], v1[i], p1[i])
				}
				if v1[i] < 0 || p1[i] < 0 || p1[i] > 1 {
					t.Fatalf("customer %d: value %v, probability %v out of range", test[i], v1[i], p1[i])
				}
			}
			if !reflect.DeepEqual(m.Params(), m2.Params()) {
				t.Errorf("params differ after round trip:\n%v\n%v", m.Params(), m2.Params())
			}
			b2, err := MarshalModel(m2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Errorf("re-marshalled model differs")
			}
			if _, err := json.Marshal(m.Params()); err != nil {
				t.Errorf("params do not encode: %v", err)
			}
			nm, ok := NetModel(m2)
			if ok != kind.IsNetwork() || (ok && nm.Kind() != kind) {
				t.Errorf("NetModel = %v, %v", nm, ok)
			}
		})
	}
}

func TestUnmarshalModelErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"not json", `{`, "decode model envelope"},
		{"no kind", `{"model":{}}`, `no "kind"`},
		{"no model", `{"kind":"naive"}`, `no "model"`},
		{"unknown kind", `{"kind":"xgb","model":{}}`, `unknown model kind "xgb"`},
		{"naive zero horizon", `{"kind":"naive","model":{"horizon_days":0}}`, "horizon_days = 0"},
		{"naive unknown field", `{"kind":"naive","model":{"horizon_days":7,"extra":1}}`, "unknown field"},
		{"bgnbd missing", `{"kind":"bgnbd","model":{"horizon_days":7}}`, "missing bgnbd parameters"},
		{"bgnbd bad r", `{"kind":"bgnbd","model":{"horizon_days":7,"bgnbd":{"r":-1,"alpha":1,"a":1,"b":1}}}`, "r = -1"},
		{"bgnbd bad q", `{"kind":"bgnbd","model":{"horizon_days":7,"bgnbd":{"r":1,"alpha":1,"a":1,"b":1},"gamma_gamma":{"p":1,"q":0,"v":1}}}`, "gamma-gamma q = 0"},
		{"pnbd missing", `{"kind":"pnbd","model":{"horizon_days":7}}`, "missing pnbd parameters"},
		{"pnbd bad beta", `{"kind":"pnbd","model":{"horizon_days":7,"pnbd":{"r":1,"alpha":1,"s":1,"beta":0}}}`, "beta = 0"},
		{"pnbd with bgnbd field", `{"kind":"pnbd","model":{"horizon_days":7,"bgnbd":{"r":1,"alpha":1,"a":1,"b":1}}}`, "unknown field"},
		{"mbgnbd bad horizon", `{"kind":"mbgnbd","model":{"horizon_days":0,"mbgnbd":{"r":1,"alpha":1,"a":1,"b":1}}}`, "horizon_days = 0"},
		{"mbgnbd bad fallback", `{"kind":"mbgnbd","model":{"horizon_days":7,"mbgnbd":{"r":1,"alpha":1,"a":1,"b":1},"fallback_value":-1}}`, "fallback_value = -1"},
		{"ziln garbage", `{"kind":"ziln","model":{"config":{"kind":"ziln"}}}`, "decode ziln model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := UnmarshalModel([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("UnmarshalModel(%s) = %v, %v; want error containing %q", tc.in, m, err, tc.want)
			}
			if m != nil {
				t.Errorf("model %v returned with error", m)
			}
		})
	}
	// A kind mismatch between envelope and network.
	set := modelstest.Set(t, 200, 12, 0)
	m, _, err := Fit(context.Background(), modelkind.ZILN, set, modelstest.AllIndices(set.Len()), FitOptions{NN: modelstest.SmallNN(modelkind.ZILN, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := MarshalModel(m)
	b = bytes.Replace(b, []byte(`{"kind":"ziln"`), []byte(`{"kind":"seq"`), 1)
	if _, err := UnmarshalModel(b); err == nil || !strings.Contains(err.Error(), `envelope kind "seq" but the network is "ziln"`) {
		t.Errorf("kind mismatch: err = %v", err)
	}
}

// handSet builds a feature set from explicit transactions.
func handSet(t *testing.T, cutoff time.Time, horizon int, tx []struct {
	id     string
	day    int // days after the cutoff (negative = calibration)
	amount float64
}) *features.Set {
	t.Helper()
	b := features.NewBuilder(features.Split{Cutoff: cutoff, HorizonDays: horizon, SeqWeeks: 8})
	for _, x := range tx {
		if err := b.Add(x.id, cutoff.AddDate(0, 0, x.day), x.amount); err != nil {
			t.Fatal(err)
		}
	}
	set, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return set
}

type tx = struct {
	id     string
	day    int
	amount float64
}

func TestNaivePredict(t *testing.T) {
	cutoff := time.Date(2022, 6, 30, 0, 0, 0, 0, time.UTC)
	set := handSet(t, cutoff, 28, []tx{
		{"1", -70, 100}, {"1", -35, 40}, // T = 10 weeks, 2 purchase days, spend 140
		{"2", -3, 50},                // T = 3/7 week → floored to 1 week
		{"3", -14, 30}, {"3", 5, 99}, // holdout row is never read
	})
	m, _, err := Fit(context.Background(), modelkind.Naive, set, []int{0, 1, 2}, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, p, err := m.Predict(set, []int{2, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ v, p float64 }{
		{30.0 / 2 * 4, -math.Expm1(-1.0 / 2 * 4)},
		{140.0 / 10 * 4, -math.Expm1(-2.0 / 10 * 4)},
		{50.0 / 1 * 4, -math.Expm1(-1.0 / 1 * 4)},
	}
	for i, w := range want {
		if math.Abs(v[i]-w.v) > 1e-12*w.v || math.Abs(p[i]-w.p) > 1e-15 {
			t.Errorf("row %d: (%v, %v), want (%v, %v)", i, v[i], p[i], w.v, w.p)
		}
	}
	// Horizon from the options wins over the set's and is stored.
	m2, _, err := Fit(context.Background(), modelkind.Naive, set, []int{0}, FitOptions{HorizonDays: 14})
	if err != nil {
		t.Fatal(err)
	}
	if v2, _, _ := m2.Predict(set, []int{0}); math.Abs(v2[0]-140.0/10*2) > 1e-12 {
		t.Errorf("14-day naive value %v, want %v", v2[0], 140.0/10*2)
	}
	if _, _, err := m.Predict(set, []int{3}); err == nil || !strings.Contains(err.Error(), "idx[0] = 3 out of range") {
		t.Errorf("out-of-range index: err = %v", err)
	}
}

func TestBTYDFallbackWithoutRepeaters(t *testing.T) {
	cutoff := time.Date(2022, 6, 30, 0, 0, 0, 0, time.UTC)
	var rows []tx
	for i := 0; i < 30; i++ {
		rows = append(rows, tx{string(rune('A'+i%26)) + string(rune('a'+i/26)), -7 * (i + 1), float64(10 + i)})
	}
	set := handSet(t, cutoff, 28, rows)
	for _, kind := range []modelkind.Kind{modelkind.BGNBD, modelkind.PNBD, modelkind.MBGNBD} {
		t.Run(string(kind), func(t *testing.T) { checkFallback(t, kind, set) })
	}
}

// checkFallback fits a BTYD kind on a set without repeat purchases.
func checkFallback(t *testing.T, kind modelkind.Kind, set *features.Set) {
	m, info, err := Fit(context.Background(), kind, set, modelstest.AllIndices(set.Len()), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(info.Warnings, "\n")
	if !strings.Contains(joined, "gamma-gamma: no training customer has a repeat purchase") || !strings.Contains(joined, string(kind)+": no customer has a repeat purchase") {
		t.Errorf("warnings = %q", joined)
	}
	p := m.Params()
	if p["p"] != nil || p["fallback_value"] != 24.5 {
		t.Errorf("params = %v, want p nil and fallback_value 24.5 (mean of 10..39)", p)
	}
	if _, err := json.Marshal(p); err != nil {
		t.Errorf("params do not encode: %v", err)
	}
	v, prob, err := m.Predict(set, []int{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range v {
		if !(v[i] >= 0) || !(prob[i] >= 0 && prob[i] <= 1) {
			t.Errorf("prediction %d = (%v, %v)", i, v[i], prob[i])
		}
	}
	b, err := MarshalModel(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := UnmarshalModel(b); err != nil {
		t.Errorf("fallback model does not round-trip: %v", err)
	}
}

func TestFitErrors(t *testing.T) {
	set := modelstest.Set(t, 60, 13, 8)
	noHorizon := *set
	noHorizon.Split.HorizonDays = 0
	noSeq := *set
	noSeq.WithoutSequences = true
	tests := []struct {
		name  string
		kind  modelkind.Kind
		set   *features.Set
		train []int
		opts  FitOptions
		want  string
	}{
		{"unknown kind", "gbm", set, []int{0}, FitOptions{}, `unknown model kind "gbm"`},
		{"nil set", "naive", nil, []int{0}, FitOptions{}, "nil feature set"},
		{"no train", "naive", set, nil, FitOptions{}, "no training customers"},
		{"bad index", "naive", set, []int{0, 999}, FitOptions{}, "train[1] = 999 out of range"},
		{"duplicate index", "bgnbd", set, []int{4, 4}, FitOptions{}, "appears twice"},
		{"negative horizon", "naive", set, []int{0}, FitOptions{HorizonDays: -1}, "horizon -1 days is negative"},
		{"no horizon", "bgnbd", &noHorizon, []int{0}, FitOptions{}, "no horizon"},
		{"nn without labels", "ziln", &noHorizon, modelstest.AllIndices(set.Len()), FitOptions{HorizonDays: 30}, "no holdout labels"},
		{"nn horizon mismatch", "ziln", set, modelstest.AllIndices(set.Len()), FitOptions{HorizonDays: 30}, "differs from the 140-day horizon"},
		{"nn too few rows", "seq", set, []int{0, 1, 2}, FitOptions{}, "need at least 10"},
		{"seq without sequences", "seq", &noSeq, modelstest.AllIndices(set.Len()), FitOptions{HorizonDays: 140}, "needs the weekly sequences; the feature set was built without them"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := Fit(context.Background(), tc.kind, tc.set, tc.train, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fit = %v, %v; want error containing %q", m, err, tc.want)
			}
		})
	}
	// A seq model refuses a set with another sequence length.
	m, _, err := Fit(context.Background(), modelkind.Seq, set, modelstest.AllIndices(set.Len()), FitOptions{NN: modelstest.SmallNN(modelkind.Seq, 1)})
	if err != nil {
		t.Fatal(err)
	}
	other := *set
	other.Split.SeqWeeks = 52
	if _, _, err := m.Predict(&other, []int{0}); err == nil || !strings.Contains(err.Error(), "expects 8-week sequences, the feature set has 52") {
		t.Errorf("sequence length mismatch: err = %v", err)
	}
}

// TestFitUsesOnlyTrainingLabels changes every test customer's label and
// checks that the fitted network is bit-identical.
func TestFitUsesOnlyTrainingLabels(t *testing.T) {
	set := modelstest.Set(t, 300, 14, 8)
	train, test := set.SplitTrainTest(0.3, 1)
	fit := func(s *features.Set) []byte {
		m, _, err := Fit(context.Background(), modelkind.Seq, s, train, FitOptions{Seed: 8, NN: modelstest.SmallNN(modelkind.Seq, 2)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalModel(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := fit(set)
	changed := *set
	changed.Customers = append([]features.Customer(nil), set.Customers...)
	for _, i := range test {
		changed.Customers[i].HoldoutSpend = 1e6 + float64(i)
		changed.Customers[i].HoldoutX = 99
	}
	if b := fit(&changed); !bytes.Equal(a, b) {
		t.Error("changing test labels changed the fitted model")
	}
	// Sanity: changing a training label does change it.
	changed.Customers[train[0]].HoldoutSpend += 500
	if b := fit(&changed); bytes.Equal(a, b) {
		t.Error("changing a training label did not change the model: labels are not used")
	}
}

// TestFitResume interrupts a fit through its checkpoint hook and resumes it
// from the last checkpoint: the model equals the uninterrupted one.
func TestFitResume(t *testing.T) {
	set := modelstest.Set(t, 300, 15, 0)
	train := modelstest.AllIndices(set.Len())
	cfg := modelstest.SmallNN(modelkind.ZILN, 6)
	full, info, err := Fit(context.Background(), modelkind.ZILN, set, train, FitOptions{Seed: 2, NN: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if info.Epochs != 12 || info.ResumedFromEpoch != 0 {
		t.Errorf("info = %+v, want 12 epochs, not resumed", info)
	}
	stop := errors.New("simulated worker crash")
	var last *nn.Checkpoint
	var progress int
	_, _, err = Fit(context.Background(), modelkind.ZILN, set, train, FitOptions{Seed: 2, NN: cfg, CheckpointEvery: 2,
		Progress: func(nn.EpochReport) { progress++ },
		Checkpoint: func(c *nn.Checkpoint) error {
			last = c
			if c.Member == 1 && c.Epoch == 2 {
				return stop
			}
			return nil
		}})
	if !errors.Is(err, stop) {
		t.Fatalf("interrupted fit: err = %v, want the checkpoint error", err)
	}
	if progress != 8 {
		t.Errorf("progress saw %d epochs before the crash, want 8", progress)
	}
	resumed, info2, err := Fit(context.Background(), modelkind.ZILN, set, train, FitOptions{Seed: 2, NN: cfg, Resume: last})
	if err != nil {
		t.Fatal(err)
	}
	if info2.ResumedFromEpoch != 8 || info2.Epochs != 12 {
		t.Errorf("resumed info = %+v, want resumed from epoch 8 of 12", info2)
	}
	a, _ := MarshalModel(full)
	b, _ := MarshalModel(resumed)
	if !bytes.Equal(a, b) {
		t.Error("resumed model differs from the uninterrupted one")
	}
	// A checkpoint of another seed is refused.
	if _, _, err := Fit(context.Background(), modelkind.ZILN, set, train, FitOptions{Seed: 3, NN: cfg, Resume: last}); !errors.Is(err, nn.ErrCheckpointMismatch) {
		t.Errorf("foreign checkpoint: err = %v, want nn.ErrCheckpointMismatch", err)
	}
}

func TestEvaluate(t *testing.T) {
	set := modelstest.Set(t, 200, 16, 0)
	train, test := set.SplitTrainTest(0.5, 1)
	m, _, err := Fit(context.Background(), modelkind.BGNBD, set, train, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Evaluate(m, set, test)
	if err != nil {
		t.Fatal(err)
	}
	v, p, _ := m.Predict(set, test)
	y := make([]float64, len(test))
	for k, i := range test {
		y[k] = set.Customers[i].HoldoutSpend
	}
	want, err := metrics.Evaluate(v, p, y)
	if err != nil {
		t.Fatal(err)
	}
	ga, _ := json.Marshal(got)
	wa, _ := json.Marshal(want)
	if !bytes.Equal(ga, wa) || got.N != len(test) {
		t.Errorf("Evaluate = %s, want %s", ga, wa)
	}
	if _, err := Evaluate(m, set, nil); err == nil || !strings.Contains(err.Error(), "no test customers") {
		t.Errorf("empty test set: err = %v", err)
	}
	if _, err := Evaluate(nil, set, test); err == nil {
		t.Error("nil model: no error")
	}
}
