package onnxrt

import (
	"fmt"
	"math"
)

// DefaultParityTol is the parity tolerance of the pipeline gate.
const DefaultParityTol = 1e-4

// OutputDiff is the parity result of one output.
type OutputDiff struct {
	// Name is the output name (see OutputNames).
	Name string
	// MaxAbsDiff is max |ORT − ref| over all rows (+Inf if a value is not finite).
	MaxAbsDiff float64
	// MaxAbsRow is the row of MaxAbsDiff.
	MaxAbsRow int
	// WorstRow is the row with the largest |Δ| relative to its allowance; for
	// every output but expected_value it equals MaxAbsRow.
	WorstRow int
	// WorstRatio is |Δ| / allowance at WorstRow; the output passes when ≤ 1.
	WorstRatio float64
	// ORT and Ref are the two values at WorstRow.
	ORT, Ref float32
	// Allowed is the allowance at WorstRow: tol, or tol·max(1,|ref|) for expected_value.
	Allowed float64
}

// ParityReport is the outcome of Parity.
type ParityReport struct {
	Rows int
	Tol  float64
	// Outputs has one entry per output, in the order of OutputNames.
	Outputs []OutputDiff
	// Worst is the entry of Outputs with the largest WorstRatio.
	Worst OutputDiff
	// WorstFeatures is the feature row of Worst.WorstRow.
	WorstFeatures []float32
	Passed        bool
}

// ParityError is returned by Parity when an output exceeds its tolerance; it
// names the worst row and its values.
type ParityError struct {
	Output   string
	Row      int
	ORT, Ref float32
	AbsDiff  float64
	Allowed  float64
	Tol      float64
	Features []float32
}

// Error implements error.
func (e *ParityError) Error() string {
	rule := fmt.Sprintf("tol %g", e.Tol)
	if e.Output == OutputExpectedValue {
		rule = fmt.Sprintf("tol %g · max(1,|ref|)", e.Tol)
	}
	return fmt.Sprintf("onnxrt: parity check failed: output %s row %d: ONNX Runtime %v vs reference %v, |Δ| %.3g > allowed %.3g (%s); features %v",
		e.Output, e.Row, e.ORT, e.Ref, e.AbsDiff, e.Allowed, rule, e.Features)
}

// Parity runs m through ONNX Runtime (batches of one row too: never the
// one-row Go path, see Model.OneRowPath) and the reference forward pass ref
// on the same batch and
// applies the pipeline's parity rule: purchase_probability, mu and sigma must
// agree within the absolute tolerance tol; expected_value within
// tol·max(1,|ref|), because float32 carries only about 7 significant digits
// and cannot hold an absolute 1e-4 on values in the thousands. Non-finite
// values on either side fail. tol ≤ 0 means DefaultParityTol. The report is
// returned in every case where both sides ran; the error is a *ParityError
// when the worst output is beyond tolerance.
func Parity(ref func(features, seq [][]float32) (Outputs, error), m *Model, features, seq [][]float32, tol float64) (ParityReport, error) {
	if tol <= 0 {
		tol = DefaultParityTol
	}
	n := len(features)
	if n == 0 {
		return ParityReport{}, &InputError{Input: InputFeatures, Row: -1, Reason: "parity needs at least one row"}
	}
	got, err := m.predict(features, seq, false) // always ONNX Runtime, never the one-row Go path
	if err != nil {
		return ParityReport{}, fmt.Errorf("onnxrt: parity: ONNX Runtime side: %w", err)
	}
	want, err := ref(features, seq)
	if err != nil {
		return ParityReport{}, fmt.Errorf("onnxrt: parity: reference side: %w", err)
	}
	rep := ParityReport{Rows: n, Tol: tol, Passed: true}
	worst := -1
	for _, name := range OutputNames {
		g, w := got.byName(name), want.byName(name)
		if len(w) != n {
			return ParityReport{}, fmt.Errorf("onnxrt: parity: reference returned %d %s values for %d rows", len(w), name, n)
		}
		d := compareOutput(name, g, w, tol)
		rep.Outputs = append(rep.Outputs, d)
		if worst < 0 || d.WorstRatio > rep.Outputs[worst].WorstRatio {
			worst = len(rep.Outputs) - 1
		}
	}
	rep.Worst = rep.Outputs[worst]
	rep.WorstFeatures = append([]float32(nil), features[rep.Worst.WorstRow]...)
	if rep.Worst.WorstRatio > 1 {
		rep.Passed = false
		w := rep.Worst
		return rep, &ParityError{Output: w.Name, Row: w.WorstRow, ORT: w.ORT, Ref: w.Ref,
			AbsDiff: math.Abs(float64(w.ORT) - float64(w.Ref)), Allowed: w.Allowed, Tol: tol, Features: rep.WorstFeatures}
	}
	return rep, nil
}

// compareOutput compares ONNX Runtime's values g of one output with the
// reference's w: the largest difference and the one nearest (or furthest
// beyond) its allowance, tol (relative above 1 for the expected value).
func compareOutput(name string, g, w []float32, tol float64) OutputDiff {
	d := OutputDiff{Name: name, WorstRatio: -1}
	for i := range w {
		allowed := tol
		if name == OutputExpectedValue {
			allowed = tol * math.Max(1, math.Abs(float64(w[i])))
		}
		abs := math.Abs(float64(g[i]) - float64(w[i]))
		if !finite32(g[i]) || !finite32(w[i]) {
			abs = math.Inf(1)
		}
		if abs > d.MaxAbsDiff || i == 0 {
			d.MaxAbsDiff, d.MaxAbsRow = abs, i
		}
		if ratio := abs / allowed; ratio > d.WorstRatio {
			d.WorstRatio, d.WorstRow, d.ORT, d.Ref, d.Allowed = ratio, i, g[i], w[i], allowed
		}
	}
	return d
}

// EdgeRowNames describes the rows of EdgeRows, in order.
var EdgeRowNames = []string{
	"all zeros",
	"brand-new customer (first purchase on the cutoff day: x=0, t_x=0, T=0)",
	"one-time buyer two years ago",
	"frequent buyer (300 repeat days in a year)",
	"very large values (x=1e4, spend 1e8)",
	"long-lapsed repeat buyer (recency 1490 weeks)",
	"tiny amounts (cents)",
	"zero-value repeat purchases",
}

// EdgeRows returns the parity edge rows for schema, to be appended to N
// ordinary rows: the rows named by EdgeRowNames, with consistent base
// features (recency = T − t_x) and, when the schema has a sequence input,
// matching flattened [2, W] weekly sequences (spend weeks, then purchase-day
// weeks, oldest first). seq is nil for models without a sequence input.
func EdgeRows(schema FeatureSchema) (features, seq [][]float32) {
	// x, t_x, T, recency, cal_spend, mbar, first_value
	features = [][]float32{
		{0, 0, 0, 0, 0, 0, 0},
		{0, 0, 0, 0, 25, 0, 25},
		{0, 0, 104, 104, 40, 0, 40},
		{300, 51.9, 52, 0.1, 24080, 80, 80},
		{1e4, 1000, 1000, 0, 1.0001e8, 1e4, 1e4},
		{5, 10, 1500, 1490, 600, 100, 100},
		{1, 1.0 / 7, 2.0 / 7, 1.0 / 7, 0.02, 0.01, 0.01},
		{3, 5, 10, 5, 0, 0, 0},
	}
	if !schema.HasSequence() {
		return features, nil
	}
	w := schema.SequenceWeeks
	seq = make([][]float32, len(features))
	for i := range seq {
		seq[i] = make([]float32, schema.SequenceLen())
	}
	spend := func(row, week int, v float32) { seq[row][week] = v }
	days := func(row, week int, v float32) { seq[row][w+week] = v }
	last := w - 1
	// row 0 all zeros; row 2 and row 5 bought before the window.
	spend(1, last, 25)
	days(1, last, 1)
	for k := range w {
		spend(3, k, 24080/float32(w))
		days(3, k, 6)
		spend(4, k, 1e6)
		days(4, k, 7)
	}
	spend(6, last, 0.02)
	days(6, last, 2)
	for _, k := range []int{last - 1, last} {
		if k >= 0 {
			days(7, k, 2)
		}
	}
	return features, seq
}

func finite32(v float32) bool {
	f := float64(v)
	return !math.IsNaN(f) && !math.IsInf(f, 0)
}
