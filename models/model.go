package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/internal/parallel"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
)

// Model is a fitted CLV model.
type Model interface {
	// Kind is the model's kind.
	Kind() modelkind.Kind
	// Predict returns, for the customers set.Customers[i] for i in idx (in
	// that order), the predicted holdout spend and the probability of buying
	// in the holdout. Every returned value is finite.
	Predict(set *features.Set, idx []int) (value, prob []float64, err error)
	// Params describes the fitted model for reports (JSON-encodable, keys
	// sorted by encoding/json; non-finite numbers are nil).
	Params() map[string]any
}

// checkIdx validates customer indices against a set.
func checkIdx(set *features.Set, idx []int) error {
	if set == nil {
		return errors.New("models: nil feature set")
	}
	for k, i := range idx {
		if i < 0 || i >= len(set.Customers) {
			return fmt.Errorf("models: customer index idx[%d] = %d out of range [0, %d)", k, i, len(set.Customers))
		}
	}
	return nil
}

// horizonWeeks converts days to weeks.
func horizonWeeks(days int) float64 { return float64(days) / 7 }

// finiteOrNil returns v, or nil when v is NaN or ±Inf (encoding/json refuses
// those).
func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// ---- naive ----

// naiveModel predicts calibration spend per week times the horizon.
type naiveModel struct {
	// HorizonDays is the prediction horizon.
	HorizonDays int `json:"horizon_days"`
}

// naiveMinWeeks floors T so that customers who first bought just before the
// cutoff do not get an unbounded weekly rate.
const naiveMinWeeks = 1.0

func (m *naiveModel) Kind() modelkind.Kind { return modelkind.Naive }

func (m *naiveModel) Predict(set *features.Set, idx []int) ([]float64, []float64, error) {
	if err := checkIdx(set, idx); err != nil {
		return nil, nil, err
	}
	value := make([]float64, len(idx))
	prob := make([]float64, len(idx))
	err := parallel.RangesErr(len(idx), parallelMin, func(lo, hi int) error { return m.predictInto(set, idx[lo:hi], value[lo:hi], prob[lo:hi]) })
	if err != nil {
		return nil, nil, err
	}
	return value, prob, nil
}

// parallelMin is the least number of customers naive Predict gives one
// goroutine.
const parallelMin = 1 << 13

// naiveBlock is the number of customers whose features predictInto loads
// before computing their predictions.
const naiveBlock = 256

// predictInto writes the predictions for the customers idx to value and
// prob. It reads the features of a block of customers in a tight loop
// first, so that their cache misses overlap, then computes.
func (m *naiveModel) predictInto(set *features.Set, idx []int, value, prob []float64) error {
	h := horizonWeeks(m.HorizonDays)
	var t, spend, x1 [naiveBlock]float64
	for lo := 0; lo < len(idx); lo += naiveBlock {
		block := idx[lo:min(lo+naiveBlock, len(idx))]
		for j, i := range block {
			c := &set.Customers[i]
			t[j], spend[j], x1[j] = c.T, c.CalSpend, float64(c.X+1)
		}
		for j := range block {
			k := lo + j
			weeks := math.Max(t[j], naiveMinWeeks)
			value[k] = spend[j] / weeks * h
			rate := x1[j] / weeks
			prob[k] = -math.Expm1(-rate * h)
			if !finite(value[k]) || !finite(prob[k]) {
				c := &set.Customers[block[j]]
				return fmt.Errorf("models: naive: customer %s: non-finite prediction (cal_spend %v, T %v)", c.ID, c.CalSpend, c.T)
			}
		}
	}
	return nil
}

func (m *naiveModel) Params() map[string]any {
	return map[string]any{
		"horizon_days":  m.HorizonDays,
		"horizon_weeks": horizonWeeks(m.HorizonDays),
		"min_weeks":     naiveMinWeeks,
		"probability":   "1 - exp(-(x+1)/max(T,1) * horizon_weeks)",
	}
}

func (m *naiveModel) validate() error {
	if m.HorizonDays <= 0 {
		return fmt.Errorf("models: naive model: horizon_days = %d, want > 0", m.HorizonDays)
	}
	return nil
}

// ---- neural models ----

// netModel wraps a trained nn ensemble (kinds ziln and seq).
type netModel struct {
	m *nn.Model
}

func (m *netModel) Kind() modelkind.Kind { return m.m.Kind() }

// netInputs returns the raw tabular rows and, for seq models, the flattened
// channel-major sequences of the customers idx.
func netInputs(set *features.Set, idx []int, seqWeeks int) (tab, seq [][]float64, err error) {
	if seqWeeks > 0 && !set.HasSequences() {
		return nil, nil, errors.New("models: the seq model needs the weekly sequences; the feature set was built without them (features.Builder.OmitSequences)")
	}
	if seqWeeks > 0 && set.Split.SeqWeeks != seqWeeks {
		return nil, nil, fmt.Errorf("models: seq model expects %d-week sequences, the feature set has %d weeks (set SeqWeeks to %d)", seqWeeks, set.Split.SeqWeeks, seqWeeks)
	}
	// The rows are copies (nn may keep them; the set is shared read-only),
	// cut from one array each instead of one allocation per row.
	const nt = 7 // len(features.TabularColumns)
	tab = make([][]float64, len(idx))
	flat := make([]float64, len(idx)*nt)
	var seqFlat []float64
	if seqWeeks > 0 {
		seq = make([][]float64, len(idx))
		seqFlat = make([]float64, len(idx)*2*seqWeeks)
	}
	for k, i := range idx {
		c := &set.Customers[i]
		row := flat[k*nt : (k+1)*nt : (k+1)*nt]
		row[0], row[1], row[2], row[3], row[4], row[5], row[6] = float64(c.X), c.TX, c.T, c.Recency, c.CalSpend, c.MBar, c.FirstValue
		tab[k] = row
		if seqWeeks > 0 {
			if len(c.Seq[0]) != seqWeeks || len(c.Seq[1]) != seqWeeks {
				return nil, nil, fmt.Errorf("models: customer %s: sequence has %d/%d weeks, want %d", c.ID, len(c.Seq[0]), len(c.Seq[1]), seqWeeks)
			}
			s := seqFlat[k*2*seqWeeks : (k+1)*2*seqWeeks : (k+1)*2*seqWeeks]
			copy(s, c.Seq[0])
			copy(s[seqWeeks:], c.Seq[1])
			seq[k] = s
		}
	}
	return tab, seq, nil
}

func (m *netModel) Predict(set *features.Set, idx []int) ([]float64, []float64, error) {
	if err := checkIdx(set, idx); err != nil {
		return nil, nil, err
	}
	tab, seq, err := netInputs(set, idx, m.m.SeqWeeks())
	if err != nil {
		return nil, nil, err
	}
	preds, err := m.m.Predict(tab, seq)
	if err != nil {
		return nil, nil, fmt.Errorf("models: %s: %w", m.Kind(), err)
	}
	value := make([]float64, len(idx))
	prob := make([]float64, len(idx))
	for k, p := range preds {
		value[k], prob[k] = p.Expected, p.Prob
		if !finite(value[k]) || !finite(prob[k]) {
			return nil, nil, fmt.Errorf("models: %s: customer %s: non-finite prediction (value %v, probability %v)", m.Kind(), set.Customers[idx[k]].ID, value[k], prob[k])
		}
	}
	return value, prob, nil
}

// Warnings flags ensemble members that were still improving when they hit
// the epoch budget.
func (m *netModel) Warnings() []string {
	var w []string
	c := m.m.Config
	for k, s := range m.m.Summary {
		if s.ValRows > 0 && c.Patience > 0 && s.Epochs >= c.MaxEpochs && s.BestEpoch == s.Epochs {
			w = append(w, fmt.Sprintf("member %d still improving at the epoch budget (%d epochs, best validation loss at the last epoch); more epochs may help", k, s.Epochs))
		}
	}
	return w
}

func (m *netModel) Params() map[string]any {
	c := m.m.Config
	epochs := make([]int, len(m.m.Summary))
	best := make([]int, len(m.m.Summary))
	valLoss := make([]any, len(m.m.Summary))
	for k, s := range m.m.Summary {
		epochs[k], best[k], valLoss[k] = s.Epochs, s.BestEpoch, finiteOrNil(s.BestValLoss)
		if s.ValRows == 0 {
			valLoss[k] = nil
		}
	}
	p := map[string]any{
		"hidden":        slices.Clone(c.Hidden),
		"lr":            c.LR,
		"weight_decay":  c.WeightDecay,
		"batch_size":    c.BatchSize,
		"max_epochs":    c.MaxEpochs,
		"patience":      c.Patience,
		"val_fraction":  c.ValFraction,
		"ensemble":      c.Ensemble,
		"seed":          c.Seed,
		"value_cap":     finiteOrNil(m.m.ValueCap),
		"train_rows":    m.m.TrainRows,
		"positives":     m.m.Positives,
		"epochs":        epochs,
		"best_epochs":   best,
		"best_val_loss": valLoss,
	}
	if c.Kind == modelkind.Seq {
		p["seq_weeks"], p["conv_filters"], p["kernel_size"], p["conv_stride"] = c.SeqWeeks, c.ConvFilters, c.KernelSize, c.ConvStride
	}
	if w := m.Warnings(); len(w) > 0 {
		p["warnings"] = w
	}
	return p
}

// NetModel returns the nn ensemble inside a ziln or seq model (for ONNX
// export), and false for the other kinds.
func NetModel(m Model) (*nn.Model, bool) {
	if n, ok := m.(*netModel); ok && n.m != nil {
		return n.m, true
	}
	return nil, false
}

// NewNetModel wraps a trained nn ensemble as a Model.
func NewNetModel(m *nn.Model) (Model, error) {
	if m == nil {
		return nil, errors.New("models: nil nn model")
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	return &netModel{m: m}, nil
}

// Warnings returns the warnings of a fitted model (boundary solutions,
// fallbacks, members still improving at the epoch budget); nil if none.
func Warnings(m Model) []string {
	if w, ok := m.(interface{ Warnings() []string }); ok {
		return w.Warnings()
	}
	return nil
}

// ---- artifacts ----

// envelope is the stored form of a model.
type envelope struct {
	Kind  modelkind.Kind  `json:"kind"`
	Model json.RawMessage `json:"model"`
}

// MarshalModel encodes a fitted model as the JSON envelope
// {"kind": KIND, "model": {...}}. Floats are written so that they read back
// bit-identically (shortest round-trip decimal; nn weights as base64).
func MarshalModel(m Model) ([]byte, error) {
	var inner any
	switch t := m.(type) {
	case *naiveModel:
		inner = t
	case *bgnbdModel, *pnbdModel, *mbgnbdModel:
		inner = t
	case *netModel:
		inner = t.m
	case nil:
		return nil, errors.New("models: marshal: nil model")
	default:
		return nil, fmt.Errorf("models: marshal: model type %T (kind %q) is not one of this package's models", m, m.Kind())
	}
	b, err := json.Marshal(inner)
	if err != nil {
		return nil, fmt.Errorf("models: marshal %s model: %w", m.Kind(), err)
	}
	out, err := json.Marshal(envelope{Kind: m.Kind(), Model: b})
	if err != nil {
		return nil, fmt.Errorf("models: marshal %s model: %w", m.Kind(), err)
	}
	return out, nil
}

// UnmarshalModel decodes a model written by [MarshalModel] and validates its
// parameters.
func UnmarshalModel(b []byte) (Model, error) {
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("models: decode model envelope: %w", err)
	}
	if env.Kind == "" {
		return nil, errors.New(`models: decode model: envelope has no "kind"`)
	}
	if len(bytes.TrimSpace(env.Model)) == 0 || string(bytes.TrimSpace(env.Model)) == "null" {
		return nil, fmt.Errorf(`models: decode %s model: envelope has no "model"`, env.Kind)
	}
	kind, err := modelkind.Parse(string(env.Kind))
	if err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	strict := func(v any) error {
		dec := json.NewDecoder(bytes.NewReader(env.Model))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			return fmt.Errorf("models: decode %s model: %w", kind, err)
		}
		return nil
	}
	var m interface {
		Model
		validate() error
	}
	switch kind {
	case modelkind.Naive:
		m = &naiveModel{}
	case modelkind.BGNBD:
		m = &bgnbdModel{}
	case modelkind.PNBD:
		m = &pnbdModel{}
	case modelkind.MBGNBD:
		m = &mbgnbdModel{}
	default:
		return unmarshalNet(kind, env.Model)
	}
	if err := strict(m); err != nil {
		return nil, err
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// unmarshalNet decodes the nn ensemble of a ziln or seq model.
func unmarshalNet(kind modelkind.Kind, raw json.RawMessage) (Model, error) {
	nm := &nn.Model{}
	if err := json.Unmarshal(raw, nm); err != nil {
		return nil, fmt.Errorf("models: decode %s model: %w", kind, err)
	}
	if nm.Kind() != kind {
		return nil, fmt.Errorf("models: decode model: envelope kind %q but the network is %q", kind, nm.Kind())
	}
	return &netModel{m: nm}, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
