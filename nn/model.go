package nn

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/clvflow/clvflow/modelkind"
)

// Head output columns of every Network.
const (
	HeadLogit = 0 // purchase logit
	HeadMu    = 1 // lognormal mu
	HeadSigma = 2 // raw sigma: sigma = softplus(raw) + SigmaFloor
	HeadWidth = 3
)

// Dense is a fully connected layer y = x·W + B.
type Dense struct {
	In  int `json:"in"`
	Out int `json:"out"`
	// W is row-major [In][Out] (the ONNX Gemm "B" operand with transB = 0).
	W Vec `json:"w"`
	// B is the bias [Out].
	B Vec `json:"b"`
}

// Conv1D is a 1-D convolution without padding:
// y[f,t] = B[f] + Σ_c Σ_j W[f][c][j]·x[c][t·Stride+j].
type Conv1D struct {
	InChannels int `json:"in_channels"`
	Filters    int `json:"filters"`
	Kernel     int `json:"kernel"`
	Stride     int `json:"stride"`
	// W is [Filters][InChannels][Kernel] (the ONNX Conv weight layout).
	W Vec `json:"w"`
	// B is the bias [Filters].
	B Vec `json:"b"`
}

// Network holds the weights of one ensemble member.
type Network struct {
	// Conv is the sequence branch (modelkind.Seq only). Its ReLU output [F, L] is
	// flattened position-major (index t·F + f) and appended to the
	// standardised tabular features to form the input of Hidden[0].
	Conv *Conv1D `json:"conv,omitempty"`
	// Hidden are the ReLU dense layers.
	Hidden []Dense `json:"hidden"`
	// Head is the linear ZILN head with HeadWidth outputs.
	Head Dense `json:"head"`
}

// Preprocessing holds the input transformation applied inside the model.
// The transformed tabular row t has NumTabular + len(Rates) columns: the
// raw features (log1p where Log1p is set), then log1p(max(row[a] /
// max(row[b], 1), 0)) for every rate (a, b). Standardised values are clamped
// to the range seen on the training rows, so that inputs far outside it
// (e.g. 10⁸ spend) cannot make the ReLU network extrapolate without bound.
type Preprocessing struct {
	// Log1p marks the tabular columns replaced by log(1 + max(v, 0)).
	Log1p []bool `json:"log1p"`
	// Rates are the (numerator, denominator) columns of the derived rates.
	Rates [][2]int `json:"rates,omitempty"`
	// TabMean and TabStd standardise the transformed tabular columns;
	// TabLo and TabHi are the standardised training minimum and maximum.
	TabMean Vec `json:"tab_mean"`
	TabStd  Vec `json:"tab_std"`
	TabLo   Vec `json:"tab_lo"`
	TabHi   Vec `json:"tab_hi"`
	// SeqMean and SeqStd standardise log(1 + max(v, 0)) of each sequence
	// channel; SeqLo and SeqHi clamp it (modelkind.Seq only).
	SeqMean Vec `json:"seq_mean,omitempty"`
	SeqStd  Vec `json:"seq_std,omitempty"`
	SeqLo   Vec `json:"seq_lo,omitempty"`
	SeqHi   Vec `json:"seq_hi,omitempty"`
}

// MemberSummary describes how one ensemble member was trained.
type MemberSummary struct {
	Seed        uint64  `json:"seed"`
	TrainRows   int     `json:"train_rows"`
	ValRows     int     `json:"val_rows"`
	Epochs      int     `json:"epochs"`
	BestEpoch   int     `json:"best_epoch"`
	BestValLoss float64 `json:"best_val_loss"`
}

// Model is a trained network ensemble with everything needed to predict and
// to export it: configuration, pre-processing, weights and value cap.
type Model struct {
	Config  Config        `json:"config"`
	Prep    Preprocessing `json:"preprocessing"`
	Members []Network     `json:"members"`
	// ValueCap caps the expected value (largest training label).
	ValueCap float64 `json:"value_cap"`
	// TrainRows is the number of training rows, Positives those with a label > 0.
	TrainRows int             `json:"train_rows"`
	Positives int             `json:"positives"`
	Summary   []MemberSummary `json:"summary"`
}

// Prediction is the float64 output for one customer.
type Prediction struct {
	// Expected is the capped expected holdout value.
	Expected float64 `json:"expected_value"`
	// Prob is the probability of buying in the holdout.
	Prob float64 `json:"purchase_probability"`
	// Mu and Sigma parametrise the lognormal value of a buyer.
	Mu    float64 `json:"mu"`
	Sigma float64 `json:"sigma"`
}

// Prediction32 is the float32 reference output for one customer.
type Prediction32 struct {
	Expected float32
	Prob     float32
	Mu       float32
	Sigma    float32
}

// Kind returns the model kind.
func (m *Model) Kind() modelkind.Kind { return m.Config.Kind }

// SeqWeeks returns the sequence length W, 0 for modelkind.ZILN.
func (m *Model) SeqWeeks() int {
	if m.Config.Kind != modelkind.Seq {
		return 0
	}
	return m.Config.SeqWeeks
}

// UnmarshalJSON decodes a model and validates its shapes.
func (m *Model) UnmarshalJSON(b []byte) error {
	type plain Model
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("nn: decode model: %w", err)
	}
	mm := Model(p)
	if err := mm.Validate(); err != nil {
		return err
	}
	*m = mm
	return nil
}

// Validate checks that the configuration, pre-processing and weights of the
// model are consistent.
func (m *Model) Validate() error {
	if err := m.Config.Validate(); err != nil {
		return err
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("nn: model: "+format, a...)) }
	p := m.Prep
	checkStats := func(name string, n int, mean, std, lo, hi Vec) {
		if len(mean) != n || len(std) != n || len(lo) != n || len(hi) != n {
			bad("%s pre-processing has %d/%d/%d/%d mean/std/lo/hi entries, want %d", name, len(mean), len(std), len(lo), len(hi), n)
			return
		}
		for i := range mean {
			if !finite(mean[i]) || !(std[i] > 0) || !finite(std[i]) || !finite(lo[i]) || !finite(hi[i]) || lo[i] > hi[i] {
				bad("%s statistics of column %d are not finite with std > 0 and lo <= hi", name, i)
				return
			}
		}
	}
	if len(p.Log1p) != NumTabular {
		bad("tabular pre-processing has %d log1p flags, want %d", len(p.Log1p), NumTabular)
	}
	if m.Config.InputWidth() != NumTabular+len(p.Rates) {
		bad("pre-processing has %d rates, config rate_features = %v", len(p.Rates), m.Config.RateFeatures)
	}
	for i, r := range p.Rates {
		if r[0] < 0 || r[0] >= NumTabular || r[1] < 0 || r[1] >= NumTabular {
			bad("rate %d uses columns %v, want 0..%d", i, r, NumTabular-1)
		}
	}
	checkStats("tabular", NumTabular+len(p.Rates), p.TabMean, p.TabStd, p.TabLo, p.TabHi)
	if m.Config.Kind == modelkind.Seq {
		checkStats("sequence", NumSeqChannels, p.SeqMean, p.SeqStd, p.SeqLo, p.SeqHi)
	}
	if !(m.ValueCap > 0) || !finite(m.ValueCap) {
		bad("value_cap = %v, want a finite value > 0", m.ValueCap)
	}
	if len(m.Members) != m.Config.Ensemble {
		bad("%d members, config says %d", len(m.Members), m.Config.Ensemble)
	}
	want := newNetworkShape(m.Config)
	for i := range m.Members {
		if err := want.check(&m.Members[i]); err != nil {
			bad("member %d: %v", i, err)
		}
	}
	return errors.Join(errs...)
}

// networkShape is the expected layout of a Network for a Config.
type networkShape struct {
	conv   *Conv1D // weights nil
	hidden []Dense // weights nil
	head   Dense
}

func newNetworkShape(c Config) networkShape {
	var s networkShape
	in := c.InputWidth()
	if c.Kind == modelkind.Seq {
		s.conv = &Conv1D{InChannels: NumSeqChannels, Filters: c.ConvFilters, Kernel: c.KernelSize, Stride: c.ConvStride}
		in += c.SeqPositions() * c.ConvFilters
	}
	for _, h := range c.Hidden {
		s.hidden = append(s.hidden, Dense{In: in, Out: h})
		in = h
	}
	s.head = Dense{In: in, Out: HeadWidth}
	return s
}

func (s networkShape) check(n *Network) error {
	checkDense := func(name string, want Dense, got Dense) error {
		if got.In != want.In || got.Out != want.Out || len(got.W) != want.In*want.Out || len(got.B) != want.Out {
			return fmt.Errorf("%s is %dx%d with %d weights and %d biases, want %dx%d", name, got.In, got.Out, len(got.W), len(got.B), want.In, want.Out)
		}
		if !allFinite(got.W) || !allFinite(got.B) {
			return fmt.Errorf("%s has non-finite weights", name)
		}
		return nil
	}
	if (s.conv == nil) != (n.Conv == nil) {
		return fmt.Errorf("convolution present = %v, want %v", n.Conv != nil, s.conv != nil)
	}
	if c := n.Conv; c != nil {
		w := s.conv
		if c.InChannels != w.InChannels || c.Filters != w.Filters || c.Kernel != w.Kernel || c.Stride != w.Stride ||
			len(c.W) != w.Filters*w.InChannels*w.Kernel || len(c.B) != w.Filters {
			return fmt.Errorf("convolution shape %d→%d k=%d s=%d (%d weights) does not match the config", c.InChannels, c.Filters, c.Kernel, c.Stride, len(c.W))
		}
		if !allFinite(c.W) || !allFinite(c.B) {
			return errors.New("convolution has non-finite weights")
		}
	}
	if len(n.Hidden) != len(s.hidden) {
		return fmt.Errorf("%d hidden layers, want %d", len(n.Hidden), len(s.hidden))
	}
	for i := range s.hidden {
		if err := checkDense(fmt.Sprintf("hidden layer %d", i), s.hidden[i], n.Hidden[i]); err != nil {
			return err
		}
	}
	return checkDense("head", s.head, n.Head)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func allFinite(v []float64) bool {
	for _, f := range v {
		if !finite(f) {
			return false
		}
	}
	return true
}

// checkInputs validates the shape and finiteness of prediction inputs.
func (m *Model) checkInputs(nTab int, tabRow func(int) []float64, nSeq int, seqRow func(int) []float64) error {
	if m.Config.Kind == modelkind.Seq && nSeq != nTab {
		return fmt.Errorf("nn: %d tabular rows but %d sequence rows (seq model needs one sequence per row)", nTab, nSeq)
	}
	w := NumSeqChannels * m.Config.SeqWeeks
	for i := 0; i < nTab; i++ {
		row := tabRow(i)
		if len(row) != NumTabular {
			return fmt.Errorf("nn: tabular row %d has %d values, want %d (%v)", i, len(row), NumTabular, TabularColumns)
		}
		for j, v := range row {
			if !finite(v) {
				return fmt.Errorf("nn: tabular row %d column %d (%s) is %v", i, j, TabularColumns[j], v)
			}
		}
		if m.Config.Kind != modelkind.Seq {
			continue
		}
		s := seqRow(i)
		if len(s) != w {
			return fmt.Errorf("nn: sequence row %d has %d values, want %d (2 channels × %d weeks)", i, len(s), w, m.Config.SeqWeeks)
		}
		for j, v := range s {
			if !finite(v) {
				return fmt.Errorf("nn: sequence row %d channel %s week %d is %v", i, SeqChannels[j/m.Config.SeqWeeks], j%m.Config.SeqWeeks, v)
			}
		}
	}
	return nil
}

// Predict runs the float64 forward pass (the arithmetic used in training) on
// raw feature rows. seq is ignored for modelkind.ZILN.
func (m *Model) Predict(tab [][]float64, seq [][]float64) ([]Prediction, error) {
	if err := m.checkInputs(len(tab), func(i int) []float64 { return tab[i] }, len(seq), func(i int) []float64 { return seq[i] }); err != nil {
		return nil, err
	}
	out := make([]Prediction, len(tab))
	f := newForward64(m)
	z := make([]float64, m.Config.InputWidth())
	var q []float64
	if m.Config.Kind == modelkind.Seq {
		q = make([]float64, NumSeqChannels*m.Config.SeqWeeks)
	}
	heads := make([][HeadWidth]float64, len(m.Members))
	for i, row := range tab {
		m.Prep.tabular(row, z)
		if q != nil {
			m.Prep.sequence(seq[i], q)
		}
		for k := range m.Members {
			heads[k] = f.run(k, z, q)
		}
		out[i] = m.combine64(heads)
	}
	return out, nil
}

// transform writes the transformed (not yet standardised) tabular row t.
func (p *Preprocessing) transform(row, t []float64) {
	for j, v := range row {
		if p.Log1p[j] {
			v = math.Log1p(math.Max(v, 0))
		}
		t[j] = v
	}
	for k, r := range p.Rates {
		t[NumTabular+k] = math.Log1p(math.Max(row[r[0]]/math.Max(row[r[1]], 1), 0))
	}
}

// tabularUnclamped writes the standardised tabular input of a raw row into z.
func (p *Preprocessing) tabularUnclamped(row, z []float64) {
	p.transform(row, z)
	for j := range z {
		z[j] = (z[j] - p.TabMean[j]) / p.TabStd[j]
	}
}

// tabular writes the standardised, clamped tabular input of a raw row into z.
func (p *Preprocessing) tabular(row, z []float64) {
	p.tabularUnclamped(row, z)
	for j := range z {
		z[j] = min(max(z[j], p.TabLo[j]), p.TabHi[j])
	}
}

// sequenceUnclamped writes the standardised log1p sequence of a raw row into q.
func (p *Preprocessing) sequenceUnclamped(row, q []float64) {
	w := len(row) / NumSeqChannels
	for j, v := range row {
		c := j / w
		q[j] = (math.Log1p(math.Max(v, 0)) - p.SeqMean[c]) / p.SeqStd[c]
	}
}

// sequence writes the standardised, clamped log1p sequence of a raw row into q.
func (p *Preprocessing) sequence(row, q []float64) {
	p.sequenceUnclamped(row, q)
	w := len(row) / NumSeqChannels
	for j := range q {
		c := j / w
		q[j] = min(max(q[j], p.SeqLo[c]), p.SeqHi[c])
	}
}

// softplus64 matches gorgonia's float64 softplus used in training.
func softplus64(x float64) float64 {
	if x < -708 {
		return 0
	}
	if x > 16 {
		return x
	}
	return math.Log1p(math.Exp(x))
}

// zilnParams converts a head output to (p, mu, sigma, log E) with
// log E = mu + sigma²/2 − softplus(−logit) = log(p·exp(mu + sigma²/2)).
func zilnParams(h [HeadWidth]float64, floor float64) (p, mu, sigma, logE float64) {
	p = 1 / (1 + math.Exp(-h[HeadLogit]))
	mu = h[HeadMu]
	sigma = softplus64(h[HeadSigma]) + floor
	logE = mu + sigma*sigma*0.5 - softplus64(-h[HeadLogit])
	return
}

// combine64 averages the members (see PredictFloat32 for the definition).
func (m *Model) combine64(heads [][HeadWidth]float64) Prediction {
	floor := m.Config.SigmaFloor
	if len(heads) == 1 {
		p, mu, sigma, logE := zilnParams(heads[0], floor)
		return Prediction{Expected: math.Min(math.Exp(logE), m.ValueCap), Prob: p, Mu: mu, Sigma: sigma}
	}
	// Combined in log space like the exported graph (see PredictFloat32).
	var sp, ss float64
	les, lps := make([]float64, len(heads)), make([]float64, len(heads))
	for j, h := range heads {
		p, _, sigma, logE := zilnParams(h, floor)
		sp += p
		ss += sigma
		les[j] = logE
		lps[j] = -softplus64(-h[HeadLogit])
	}
	k := float64(len(heads))
	p, sigma := sp/k, ss/k
	logE := lse64(les) - math.Log(k)
	mu := logE - (lse64(lps) - math.Log(k)) - sigma*sigma*0.5
	return Prediction{Expected: math.Min(math.Exp(logE), m.ValueCap), Prob: p, Mu: mu, Sigma: sigma}
}

// forward64 evaluates members in float64 with reusable buffers.
type forward64 struct {
	m    *Model
	bufA []float64
	bufB []float64
}

func newForward64(m *Model) *forward64 {
	width := m.Config.InputWidth() + m.Config.SeqPositions()*m.Config.ConvFilters
	for _, h := range m.Config.Hidden {
		width = max(width, h)
	}
	return &forward64{m: m, bufA: make([]float64, width), bufB: make([]float64, width)}
}

// run returns the head outputs of member k for standardised inputs z and q.
func (f *forward64) run(k int, z, q []float64) [HeadWidth]float64 {
	return runNetwork64(&f.m.Members[k], z, q, f.bufA, f.bufB)
}

// runNetwork64 evaluates a network on standardised inputs z (InputWidth
// values) and q (sequence) and returns its head outputs.
func runNetwork64(n *Network, z, q, bufA, bufB []float64) [HeadWidth]float64 {
	nz := len(z)
	x := bufA[:nz]
	copy(x, z)
	if c := n.Conv; c != nil {
		x = convRelu(c, c.W, c.B, q, len(q)/c.InChannels, bufA, nz)
	}
	for i := range n.Hidden {
		d := &n.Hidden[i]
		y := bufB[:d.Out]
		affine(d.W, d.B, x, y)
		for j := range y {
			y[j] = max(y[j], 0)
		}
		x, bufA, bufB = y, bufB, bufA
	}
	var h [HeadWidth]float64
	affine(n.Head.W, n.Head.B, x, h[:])
	return h
}

// lse64 is log(Σ exp(v)), computed stably.
func lse64(v []float64) float64 {
	m := v[0]
	for _, x := range v[1:] {
		m = math.Max(m, x)
	}
	if math.IsInf(m, 0) {
		return m
	}
	var s float64
	for _, x := range v {
		s += math.Exp(x - m)
	}
	return m + math.Log(s)
}
