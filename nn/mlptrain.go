package nn

import (
	"fmt"
	"math"

	"github.com/clvflow/clvflow/modelkind"
)

// batchTrainer computes the masked mean ZILN loss of a mini-batch and its
// gradients with respect to the parameters (param layout). trainGraph
// (gorgonia) serves every model kind; mlpTrainer is the hand-written pass of
// the tabular MLP (modelkind.ZILN).
type batchTrainer interface {
	fill(pd *prepared, idx []int)
	run() (float64, error)
	grads() ([][]float64, error)
	reset(grads [][]float64)
	close()
}

// newBatchTrainer returns the trainer of c over params (read in place).
func newBatchTrainer(c Config, bs int, params []Vec) (batchTrainer, error) {
	if c.Kind == modelkind.Seq {
		return newTrainGraph(c, bs, params)
	}
	return newMLPTrainer(c, bs, params)
}

// mlpTrainer is the forward/backward pass of the ReLU MLP with the ZILN head
// in plain Go on the valid rows of a batch (no padding). It computes the same
// function and gradients as trainGraph up to rounding.
type mlpTrainer struct {
	cfg    Config
	params []Vec
	dims   []int // input width (padded to a multiple of 4), hidden widths
	rows   int   // valid rows of the current batch

	bought, logy, weight []float64
	acts                 [][]float64 // acts[0] = inputs, acts[l+1] = ReLU output of hidden l
	headW, headWT        []float64   // head weights [H×headCols] and [headCols×H]
	out, dOut            []float64   // head outputs and their gradients [bs×headCols]
	dA, dB, wT           []float64   // scratch
	g                    [][]float64 // gradients (param layout)
	w0, g0               []float64   // first-layer weights and gradient with zero padding rows
	gHead                []float64   // head weight gradient [H×headCols]
}

// headCols is HeadWidth padded with a zero column to the kernel block width.
const headCols = 4

// newMLPTrainer allocates every buffer of batches of up to bs rows.
func newMLPTrainer(c Config, bs int, params []Vec) (*mlpTrainer, error) {
	shapes := paramShapes(c)
	if len(shapes) != len(params) {
		return nil, fmt.Errorf("nn: %d parameter tensors, want %d", len(params), len(shapes))
	}
	t := &mlpTrainer{cfg: c, params: params, dims: append([]int{(c.InputWidth() + 3) &^ 3}, c.Hidden...)}
	t.w0, t.g0 = make([]float64, t.dims[0]*t.dims[1]), make([]float64, t.dims[0]*t.dims[1])
	for i, s := range shapes {
		if len(params[i]) != s.rows*s.cols {
			return nil, fmt.Errorf("nn: parameter %s has %d values, want %d", s.name, len(params[i]), s.rows*s.cols)
		}
		t.g = append(t.g, make([]float64, s.rows*s.cols))
	}
	widest := 0
	for _, d := range t.dims {
		t.acts = append(t.acts, make([]float64, bs*d))
		widest = max(widest, d)
	}
	h := t.dims[len(t.dims)-1]
	t.bought, t.logy, t.weight = make([]float64, bs), make([]float64, bs), make([]float64, bs)
	t.headW, t.headWT, t.gHead = make([]float64, h*headCols), make([]float64, h*headCols), make([]float64, h*headCols)
	t.out, t.dOut = make([]float64, bs*headCols), make([]float64, bs*headCols)
	t.dA, t.dB = make([]float64, bs*widest), make([]float64, bs*widest)
	t.wT = make([]float64, widest*widest)
	return t, nil
}

func (t *mlpTrainer) close() {}

// reset is a no-op: run overwrites every gradient.
func (t *mlpTrainer) reset([][]float64) {}

func (t *mlpTrainer) grads() ([][]float64, error) { return t.g, nil }

// fill copies the rows idx (1 ≤ len ≤ bs) into the input buffers.
func (t *mlpTrainer) fill(pd *prepared, idx []int) {
	t.rows = len(idx)
	w := 1 / float64(len(idx))
	z, zw := t.acts[0], t.dims[0]
	for r, i := range idx {
		copy(z[r*zw:r*zw+pd.width], pd.z[i*pd.width:(i+1)*pd.width])
		t.bought[r], t.logy[r], t.weight[r] = pd.bought[i], pd.logy[i], w
	}
}

// run computes the loss of the filled batch and the gradients.
func (t *mlpTrainer) run() (float64, error) {
	t.forward()
	cost := t.lossGrad()
	t.backward()
	return cost, nil
}

// forward computes the hidden activations and the head outputs.
func (t *mlpTrainer) forward() {
	n := t.rows
	for l := 1; l < len(t.dims); l++ {
		in, out := t.dims[l-1], t.dims[l]
		w, b := t.params[2*(l-1)], t.params[2*(l-1)+1]
		if l == 1 { // zero rows for the padding columns of the inputs
			copy(t.w0, w)
			w = t.w0
		}
		y := t.acts[l][:n*out]
		gemm(y, t.acts[l-1], w, n, in, out)
		for r := range n {
			biasRelu(y[r*out:(r+1)*out], b)
		}
	}
	h := t.dims[len(t.dims)-1]
	hp := t.params[2*(len(t.dims)-1):]
	for c := range HeadWidth {
		copy(t.headWT[c*h:(c+1)*h], hp[2*c])
	}
	transpose(t.headW, t.headWT, headCols, h)
	gemm(t.out, t.acts[len(t.dims)-1], t.headW, n, h, headCols)
	for r := range n {
		for c := range HeadWidth {
			t.out[r*headCols+c] += hp[2*c+1][0]
		}
	}
}

// lossGrad returns Σ weight·(BCE + bought·lognormal NLL) over the rows and
// writes its gradient with respect to the head outputs into dOut.
func (t *mlpTrainer) lossGrad() float64 {
	floor := t.cfg.SigmaFloor
	var cost float64
	for r := range t.rows {
		o := t.out[r*headCols : r*headCols+HeadWidth]
		d := t.dOut[r*headCols : r*headCols+HeadWidth]
		l, mu, raw := o[HeadLogit], o[HeadMu], o[HeadSigma]
		b, w := t.bought[r], t.weight[r]
		sigma := softplus64(raw) + floor
		res := (t.logy[r] - mu) / sigma
		nll := b * (math.Log(sigma) + 0.5*(res*res))
		cost += w * ((softplus64(l) - b*l) + nll)
		d[HeadLogit] = w * (sigmoid64(l) - b)
		d[HeadMu] = w * b * (-res / sigma)
		d[HeadSigma] = w * b * (1 - res*res) / sigma * sigmoid64(raw)
	}
	return cost
}

// backward propagates dOut to the parameter gradients.
func (t *mlpTrainer) backward() {
	n, last := t.rows, len(t.dims)-1
	h := t.dims[last]
	gh := t.g[2*last:]
	gemmTN(t.gHead, t.acts[last], t.dOut, h, n, headCols)
	for c := range HeadWidth {
		for k := range h {
			gh[2*c][k] = t.gHead[k*headCols+c]
		}
		var s float64
		for r := range n {
			s += t.dOut[r*headCols+c]
		}
		gh[2*c+1][0] = s
	}
	dA := t.dA
	gemm(dA, t.dOut, t.headWT, n, headCols, h)
	reluMask(dA[:n*h], t.acts[last])
	for l := last; l >= 1; l-- {
		in, out := t.dims[l-1], t.dims[l]
		colSums(t.g[2*(l-1)+1], dA, n)
		if l == 1 {
			gemmTN(t.g0, t.acts[0], dA, in, n, out)
			copy(t.g[0], t.g0)
			break
		}
		gemmTN(t.g[2*(l-1)], t.acts[l-1], dA, in, n, out)
		transpose(t.wT, t.params[2*(l-1)], in, out)
		gemm(t.dB, dA, t.wT, n, out, in)
		reluMask(t.dB[:n*in], t.acts[l-1])
		dA, t.dB = t.dB, dA
	}
	t.dA = dA
}

// biasRelu sets y[j] = max(y[j]+b[j], 0) (Go's max: NaN stays NaN, −0
// becomes +0) without branches.
func biasRelu(y, b []float64) {
	b = b[:len(y)]
	for j, bj := range b {
		v := math.Float64bits(y[j] + bj)
		neg := uint64(int64(v) >> 63)                               // sign bit set
		nan := uint64(int64(0x7ff0000000000000-(v&^(1<<63))) >> 63) // NaN
		y[j] = math.Float64frombits(v &^ (neg &^ nan))
	}
}

// reluMask zeroes d where the ReLU output y (≥ +0 or NaN) is +0, without
// branches (the sign of the activations is unpredictable).
func reluMask(d, y []float64) {
	y = y[:len(d)]
	for i, v := range y {
		b := math.Float64bits(v)
		keep := -((b | -b) >> 63) // all ones unless b == 0
		d[i] = math.Float64frombits(math.Float64bits(d[i]) & keep)
	}
}

// sigmoid64 is 1/(1+exp(-x)), evaluated without overflow.
func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}
