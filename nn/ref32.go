package nn

import (
	"math"

	"github.com/clvflow/clvflow/modelkind"
)

// PredictFloat32 is the float32 reference forward pass. It evaluates, in
// float32 and in the same order, the operations of the ONNX graph written by
// package onnxexport, so that ONNX Runtime's output can be compared with it
// (parity gate). For a model with K members, W weeks, F filters, L positions:
//
//	tabular  (features [N,7]):
//	  t = features·keep + Log(Relu(features) + 1)·logmask   (keep/logmask 0/1 per column)
//	  rates (Prep.Rates (a_r, b_r), if any):
//	    t = Concat(t, Log(Relu(Gather(features, a)/Max(Gather(features, b), 1)) + 1))
//	  z = Min(Max((t − TabMean)·(1/TabStd), TabLo), TabHi)     (clamped to the training range)
//	sequence (sequence [N,2,W], modelkind.Seq only):
//	  q = Min(Max((Log(Relu(sequence) + 1) − SeqMean[c])·(1/SeqStd[c]), SeqLo[c]), SeqHi[c])
//	  s = Flatten(Transpose(Relu(Conv(q, W, B, strides=S)), [0,2,1]))   [N, L·F]
//	  x = Concat(z, s)                                                   (modelkind.ZILN: x = z)
//	member k:
//	  h = Relu(Gemm(h, W_i, B_i)) for every hidden layer, starting at h = x
//	  logit, mu, raw = Gemm(h, Head[:,0]), Gemm(h, Head[:,1]), Gemm(h, Head[:,2])
//	  p = Sigmoid(logit); sigma = Softplus(raw) + SigmaFloor
//	  E = Exp(mu + sigma·sigma·0.5 − Softplus(−logit))      (= p·exp(mu + sigma²/2))
//	K = 1: outputs p, mu, sigma and expected = Min(E, ValueCap)
//	K > 1: p, sigma = Mean over members; in log space (ReduceLogSumExp):
//	  logE = LSE_k(mu_k + sigma_k²/2 − Softplus(−logit_k)) − log K
//	  logP = LSE_k(−Softplus(−logit_k)) − log K
//	  mu = logE − logP − sigma·sigma·0.5;  expected = Min(Exp(logE), ValueCap)
//
// Inputs are raw feature values as float32 (tab rows of NumTabular values,
// seq rows of 2·W values, channel-major); seq is ignored for modelkind.ZILN.
func (m *Model) PredictFloat32(tab [][]float32, seq [][]float32) ([]Prediction32, error) {
	if err := m.checkInputs(len(tab), func(i int) []float64 { return widen(tab[i]) },
		len(seq), func(i int) []float64 { return widen(seq[i]) }); err != nil {
		return nil, err
	}
	r := m.newRunner32()
	out := make([]Prediction32, len(tab))
	for i, row := range tab {
		var s []float32
		if r.q != nil {
			s = seq[i]
		}
		out[i] = r.predict(row, s)
	}
	return out, nil
}

// runner32 holds what PredictFloat32 reuses from row to row.
type runner32 struct {
	m          *Model
	c          Constants32
	nets       []network32
	nz         int
	x, a, b, q []float32 // inputs, layer buffers, sequence (nil for ZILN)
	ms         []member32
}

// member32 is one member's prediction of a row.
type member32 struct{ p, mu, sigma, e, logE, logP float32 }

func (m *Model) newRunner32() *runner32 {
	r := &runner32{m: m, c: m.Constants32(), nets: make([]network32, len(m.Members)), nz: m.Config.InputWidth(), ms: make([]member32, len(m.Members))}
	for k := range m.Members {
		r.nets[k] = newNetwork32(&m.Members[k])
	}
	width := r.nz + m.Config.SeqPositions()*m.Config.ConvFilters
	for _, h := range m.Config.Hidden {
		width = max(width, h)
	}
	r.x, r.a, r.b = make([]float32, width), make([]float32, width), make([]float32, width)
	if m.Config.Kind == modelkind.Seq {
		r.q = make([]float32, NumSeqChannels*m.Config.SeqWeeks)
	}
	return r
}

// predict predicts one row (seq: its sequence, nil for ZILN).
func (r *runner32) predict(row, seq []float32) Prediction32 {
	c, x, w := &r.c, r.x, r.m.Config.SeqWeeks
	for j, f := range row { // tabular pre-processing
		l := log32(max(f, 0) + 1)
		x[j] = f*c.Keep[j] + l*c.LogMask[j]
	}
	for k, ab := range r.m.Prep.Rates {
		x[NumTabular+k] = log32(max(row[ab[0]]/max(row[ab[1]], 1), 0) + 1)
	}
	for j := range r.nz {
		x[j] = min(max((x[j]-c.TabMean[j])*c.TabInvStd[j], c.TabLo[j]), c.TabHi[j])
	}
	for j, v := range seq {
		ch := j / w
		r.q[j] = min(max((log32(max(v, 0)+1)-c.SeqMean[ch])*c.SeqInvStd[ch], c.SeqLo[ch]), c.SeqHi[ch])
	}
	for k := range r.nets {
		xin := x[:r.nz]
		if r.q != nil {
			xin = r.nets[k].conv(r.q, w, x, r.nz) // overwrites only the sequence part of x
		}
		logit, mu, raw := r.nets[k].forward(xin, r.a, r.b)
		p := sigmoid32(logit)
		sigma := softplus32(raw) + c.SigmaFloor
		nlp := softplus32(-logit)
		logE := mu + sigma*sigma*0.5 - nlp
		r.ms[k] = member32{p: p, mu: mu, sigma: sigma, e: exp32(logE), logE: logE, logP: -nlp}
	}
	return mixture32(r.ms, c.ValueCap)
}

// mixture32 combines the members' predictions of a row (in log space; see
// onnxexport's mixture).
func mixture32(ms []member32, valueCap float32) Prediction32 {
	if len(ms) == 1 {
		return Prediction32{Expected: min(ms[0].e, valueCap), Prob: ms[0].p, Mu: ms[0].mu, Sigma: ms[0].sigma}
	}
	var sp, ss float32
	les, lps := make([]float32, len(ms)), make([]float32, len(ms))
	for j, mm := range ms {
		sp += mm.p
		ss += mm.sigma
		les[j], lps[j] = mm.logE, mm.logP
	}
	k := float32(len(ms))
	logK := float32(math.Log(float64(len(ms))))
	p, sigma := sp/k, ss/k
	logE := lse32(les) - logK
	logP := lse32(lps) - logK
	mu := logE - logP - sigma*sigma*0.5
	return Prediction32{Expected: min(exp32(logE), valueCap), Prob: p, Mu: mu, Sigma: sigma}
}

// Constants32 are the float32 constants of the exported graph, derived from
// the model exactly as onnxexport writes them.
type Constants32 struct {
	Keep, LogMask        []float32 // [NumTabular] 0/1
	TabMean, TabInvStd   []float32 // [InputWidth]
	TabLo, TabHi         []float32 // [InputWidth]
	SeqMean, SeqInvStd   []float32 // [NumSeqChannels], modelkind.Seq only
	SeqLo, SeqHi         []float32 // [NumSeqChannels], modelkind.Seq only
	SigmaFloor, ValueCap float32
}

// Constants32 returns the float32 constants of the exported graph.
func (m *Model) Constants32() Constants32 {
	c := Constants32{
		Keep: make([]float32, NumTabular), LogMask: make([]float32, NumTabular),
		TabMean: narrow(m.Prep.TabMean), TabInvStd: make([]float32, len(m.Prep.TabStd)),
		TabLo: narrow(m.Prep.TabLo), TabHi: narrow(m.Prep.TabHi),
		SigmaFloor: float32(m.Config.SigmaFloor), ValueCap: float32(m.ValueCap),
	}
	for j := 0; j < NumTabular; j++ {
		if m.Prep.Log1p[j] {
			c.LogMask[j] = 1
		} else {
			c.Keep[j] = 1
		}
	}
	for j, s := range m.Prep.TabStd {
		c.TabInvStd[j] = float32(1 / s)
	}
	if m.Config.Kind == modelkind.Seq {
		c.SeqMean = narrow(m.Prep.SeqMean)
		c.SeqLo, c.SeqHi = narrow(m.Prep.SeqLo), narrow(m.Prep.SeqHi)
		c.SeqInvStd = make([]float32, NumSeqChannels)
		for ch := range c.SeqInvStd {
			c.SeqInvStd[ch] = float32(1 / m.Prep.SeqStd[ch])
		}
	}
	return c
}

type dense32 struct {
	in, out int
	w, b    []float32
}

type network32 struct {
	convShape *Conv1D
	convW     []float32
	convB     []float32
	hidden    []dense32
	head      [HeadWidth]dense32 // one column each
}

func newNetwork32(n *Network) network32 {
	var r network32
	if n.Conv != nil {
		r.convShape = n.Conv
		r.convW, r.convB = narrow(n.Conv.W), narrow(n.Conv.B)
	}
	for _, d := range n.Hidden {
		r.hidden = append(r.hidden, dense32{d.In, d.Out, narrow(d.W), narrow(d.B)})
	}
	for c := 0; c < HeadWidth; c++ {
		col := make([]float32, n.Head.In)
		for i := range col {
			col[i] = float32(n.Head.W[i*HeadWidth+c])
		}
		r.head[c] = dense32{n.Head.In, 1, col, []float32{float32(n.Head.B[c])}}
	}
	return r
}

// conv computes Concat(z, Flatten(Transpose(Relu(Conv(q))))) into x, whose
// first nz entries already hold z, and returns the filled prefix.
func (r *network32) conv(q []float32, w int, x []float32, nz int) []float32 {
	return convRelu(r.convShape, r.convW, r.convB, q, w, x, nz)
}

// forward runs the dense layers and the three head columns.
func (r *network32) forward(x, bufA, bufB []float32) (logit, mu, raw float32) {
	for i := range r.hidden {
		d := &r.hidden[i]
		y := bufA[:d.out]
		affine(d.w, d.b, x, y)
		for j := range y {
			y[j] = max(y[j], 0)
		}
		x, bufA, bufB = y, bufB, bufA
	}
	var h [HeadWidth]float32
	for c := range r.head {
		var y [1]float32
		affine(r.head[c].w, r.head[c].b, x, y[:])
		h[c] = y[0]
	}
	return h[HeadLogit], h[HeadMu], h[HeadSigma]
}

func log32(x float32) float32 { return float32(math.Log(float64(x))) }
func exp32(x float32) float32 { return float32(math.Exp(float64(x))) }

func sigmoid32(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) }

// softplus32 is log(1+exp(x)) evaluated stably in float64 and rounded.
func softplus32(x float32) float32 {
	v := float64(x)
	return float32(math.Max(v, 0) + math.Log1p(math.Exp(-math.Abs(v))))
}

func narrow(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(f)
	}
	return out
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

// Float32Rows converts rows to float32, as they are fed to ONNX Runtime.
func Float32Rows(rows [][]float64) [][]float32 {
	out := make([][]float32, len(rows))
	for i, r := range rows {
		out[i] = narrow(r)
	}
	return out
}

// lse32 is log(Σ exp(v)) with the maximum factored out, as ONNX Runtime's
// ReduceLogSumExp computes it, evaluated in float64 and rounded.
func lse32(v []float32) float32 {
	m := v[0]
	for _, x := range v[1:] {
		m = max(m, x)
	}
	if math.IsInf(float64(m), 0) {
		return m
	}
	var s float64
	for _, x := range v {
		s += math.Exp(float64(x - m))
	}
	return float32(float64(m) + math.Log(s))
}
