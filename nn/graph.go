package nn

import (
	"fmt"
	"math"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"github.com/clvflow/clvflow/modelkind"
)

// The training parameters are a flat list of matrices ("param layout"):
//
//	modelkind.Seq: conv weight [2·K, F] (row c·K+j, column f), conv bias [1, F]
//	hidden 0: W [InputWidth, H0] (+ modelkind.Seq: W [L·F, H0]), bias [1, H0]
//	hidden i: W [H(i-1), Hi], bias [1, Hi]
//	head: for logit, mu, raw sigma: W [H, 1], bias [1, 1]
//
// fromParams converts it to the Network layout (toParams, the inverse, is
// in the tests).

type paramShape struct {
	name       string
	rows, cols int
}

func paramShapes(c Config) []paramShape {
	var s []paramShape
	in := c.InputWidth()
	if c.Kind == modelkind.Seq {
		k2 := NumSeqChannels * c.KernelSize
		s = append(s, paramShape{"conv_w", k2, c.ConvFilters}, paramShape{"conv_b", 1, c.ConvFilters})
	}
	for i, h := range c.Hidden {
		s = append(s, paramShape{fmt.Sprintf("dense%d_w", i), in, h})
		if i == 0 && c.Kind == modelkind.Seq {
			s = append(s, paramShape{"dense0_wseq", c.SeqPositions() * c.ConvFilters, h})
		}
		s = append(s, paramShape{fmt.Sprintf("dense%d_b", i), 1, h})
		in = h
	}
	for _, name := range []string{"logit", "mu", "sigma"} {
		s = append(s, paramShape{"head_" + name + "_w", in, 1}, paramShape{"head_" + name + "_b", 1, 1})
	}
	return s
}

// fromParams converts the param layout to a Network (copying).
func fromParams(c Config, ps []Vec) Network {
	var n Network
	i := 0
	next := func() Vec { v := ps[i]; i++; return v }
	in := c.InputWidth()
	if c.Kind == modelkind.Seq {
		f, k2 := c.ConvFilters, NumSeqChannels*c.KernelSize
		cw, cb := next(), next()
		conv := &Conv1D{InChannels: NumSeqChannels, Filters: f, Kernel: c.KernelSize, Stride: c.ConvStride,
			W: make(Vec, f*k2), B: append(Vec(nil), cb...)}
		for ff := 0; ff < f; ff++ {
			for r := 0; r < k2; r++ {
				conv.W[ff*k2+r] = cw[r*f+ff]
			}
		}
		n.Conv = conv
		in += c.SeqPositions() * f
	}
	for li, h := range c.Hidden {
		w := append(Vec(nil), next()...)
		if li == 0 && c.Kind == modelkind.Seq {
			w = append(w, next()...)
		}
		n.Hidden = append(n.Hidden, Dense{In: in, Out: h, W: w, B: append(Vec(nil), next()...)})
		in = h
	}
	head := Dense{In: in, Out: HeadWidth, W: make(Vec, in*HeadWidth), B: make(Vec, HeadWidth)}
	for col := 0; col < HeadWidth; col++ {
		w, b := next(), next()
		for r := 0; r < in; r++ {
			head.W[r*HeadWidth+col] = w[r]
		}
		head.B[col] = b[0]
	}
	n.Head = head
	return n
}

// trainGraph is a gorgonia graph computing the masked mean ZILN loss of a
// fixed-size batch and its gradients with respect to the parameters.
type trainGraph struct {
	cfg       Config
	bs        int
	positions int
	g         *G.ExprGraph
	vm        G.VM
	params    []*G.Node
	inputs    []*G.Node
	tensors   []*tensor.Dense
	cost      *G.Node
	costVal   G.Value

	// input backings (aliased by tensors)
	z, patches, bought, logy, weight []float64
}

// newTrainGraph builds the graph for batch size bs over the given parameter
// values; the graph reads and the optimiser writes the very same slices.
func newTrainGraph(c Config, bs int, params []Vec) (tg *trainGraph, err error) {
	defer func() {
		if r := recover(); r != nil { // gorgonia's Must-style helpers panic on shape errors
			err = fmt.Errorf("nn: build training graph: %v", r)
		}
	}()
	shapes := paramShapes(c)
	if len(shapes) != len(params) {
		return nil, fmt.Errorf("nn: %d parameter tensors, want %d", len(params), len(shapes))
	}
	tg = &trainGraph{cfg: c, bs: bs, g: G.NewGraph(), positions: c.SeqPositions()}
	for i, s := range shapes {
		if len(params[i]) != s.rows*s.cols {
			return nil, fmt.Errorf("nn: parameter %s has %d values, want %d", s.name, len(params[i]), s.rows*s.cols)
		}
		t := tensor.New(tensor.WithShape(s.rows, s.cols), tensor.WithBacking([]float64(params[i])))
		tg.params = append(tg.params, G.NewMatrix(tg.g, G.Float64, G.WithShape(s.rows, s.cols), G.WithName(s.name), G.WithValue(t)))
	}
	// The nodes are made in this order (parameters, inputs, forward pass,
	// loss): the tape, and so every float operation, follows it.
	var zN, pN, bN, lN, wN *G.Node
	zN, tg.z = tg.input("z", bs, c.InputWidth())
	if c.Kind == modelkind.Seq {
		pN, tg.patches = tg.input("patches", bs*tg.positions, NumSeqChannels*c.KernelSize)
	} else {
		tg.inputs = append(tg.inputs, nil)
		tg.tensors = append(tg.tensors, nil)
	}
	bN, tg.bought = tg.input("bought", bs, 1)
	lN, tg.logy = tg.input("logy", bs, 1)
	wN, tg.weight = tg.input("weight", bs, 1)
	logit, mu, raw := tg.forward(zN, pN)
	tg.cost = zilnCost(c, logit, mu, raw, bN, lN, wN)
	G.Read(tg.cost, &tg.costVal)
	if _, err := G.Grad(tg.cost, tg.params...); err != nil {
		return nil, fmt.Errorf("nn: gradients: %w", err)
	}
	tg.vm = G.NewTapeMachine(tg.g, G.BindDualValues(tg.params...))
	return tg, nil
}

// input adds an input matrix node and returns it with its backing slice.
func (tg *trainGraph) input(name string, rows, cols int) (*G.Node, []float64) {
	back := make([]float64, rows*cols)
	t := tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(back))
	n := G.NewMatrix(tg.g, G.Float64, G.WithShape(rows, cols), G.WithName(name))
	tg.inputs = append(tg.inputs, n)
	tg.tensors = append(tg.tensors, t)
	return n, back
}

// forward adds the network on the tabular input z (and the sequence
// patches p of a sequence model) and returns the head's three columns.
func (tg *trainGraph) forward(zN, pN *G.Node) (logit, mu, raw *G.Node) {
	c, bs, m := tg.cfg, tg.bs, G.Must
	bcast := func(x, b *G.Node) *G.Node { return m(G.BroadcastAdd(x, b, nil, []byte{0})) }
	pi := 0
	next := func() *G.Node { n := tg.params[pi]; pi++; return n }
	var convOut *G.Node
	if c.Kind == modelkind.Seq {
		cw, cb := next(), next()
		h := m(G.Rectify(bcast(m(G.Mul(pN, cw)), cb)))
		convOut = m(G.Reshape(h, tensor.Shape{bs, tg.positions * c.ConvFilters}))
	}
	h := zN
	for li := range c.Hidden {
		w := next()
		a := m(G.Mul(h, w))
		if li == 0 && convOut != nil {
			a = m(G.Add(a, m(G.Mul(convOut, next()))))
		}
		h = m(G.Rectify(bcast(a, next())))
	}
	headOut := func() *G.Node { w := next(); return bcast(m(G.Mul(h, w)), next()) }
	logit, mu, raw = headOut(), headOut(), headOut()
	return logit, mu, raw
}

// zilnCost adds the weighted ZILN loss of the batch: the purchase's binary
// cross-entropy plus, for buyers, the log-normal negative log-likelihood.
func zilnCost(c Config, logit, mu, raw, bN, lN, wN *G.Node) *G.Node {
	m := G.Must
	half := G.NewConstant(0.5)
	floor := G.NewConstant(c.SigmaFloor)
	bce := m(G.Sub(m(G.Softplus(logit)), m(G.HadamardProd(bN, logit))))
	sigma := m(G.Add(m(G.Softplus(raw)), floor))
	r := m(G.HadamardDiv(m(G.Sub(lN, mu)), sigma))
	nll := m(G.HadamardProd(bN, m(G.Add(m(G.Log(sigma)), m(G.HadamardProd(m(G.Square(r)), half))))))
	return m(G.Sum(m(G.HadamardProd(wN, m(G.Add(bce, nll))))))
}

// close releases the machine.
func (tg *trainGraph) close() {
	if tg.vm != nil {
		tg.vm.Close()
	}
}

// fill writes the rows idx (len ≤ bs) into the input backings; the rest of
// the batch repeats idx[0] with weight 0 so that padding contributes nothing.
func (tg *trainGraph) fill(pd *prepared, idx []int) {
	nValid := len(idx)
	w := 1 / float64(nValid)
	k := tg.cfg.KernelSize
	k2 := NumSeqChannels * k
	wk := NumSeqChannels * pd.weeks
	for r := 0; r < tg.bs; r++ {
		i, wt := idx[0], 0.0
		if r < nValid {
			i, wt = idx[r], w
		}
		copy(tg.z[r*pd.width:(r+1)*pd.width], pd.z[i*pd.width:(i+1)*pd.width])
		tg.bought[r], tg.logy[r], tg.weight[r] = pd.bought[i], pd.logy[i], wt
		if tg.patches != nil {
			q := pd.q[i*wk : (i+1)*wk]
			for t := 0; t < tg.positions; t++ {
				dst := tg.patches[(r*tg.positions+t)*k2:][:k2]
				for ch := 0; ch < NumSeqChannels; ch++ {
					copy(dst[ch*k:(ch+1)*k], q[ch*pd.weeks+t*tg.cfg.ConvStride:])
				}
			}
		}
	}
}

// run evaluates the batch; it returns the mean loss (without constants) and
// leaves the gradients readable through grads until reset.
func (tg *trainGraph) run() (float64, error) {
	for i, n := range tg.inputs {
		if n == nil {
			continue
		}
		if err := G.Let(n, tg.tensors[i]); err != nil {
			return 0, fmt.Errorf("nn: bind input %s: %w", n.Name(), err)
		}
	}
	if err := tg.vm.RunAll(); err != nil {
		return 0, fmt.Errorf("nn: forward/backward: %w", err)
	}
	v, ok := tg.costVal.Data().(float64)
	if !ok {
		return 0, fmt.Errorf("nn: cost has type %T, want float64", tg.costVal.Data())
	}
	return v, nil
}

// grads returns the gradient slices of the parameters (gorgonia-owned).
func (tg *trainGraph) grads() ([][]float64, error) {
	out := make([][]float64, len(tg.params))
	for i, p := range tg.params {
		gv, err := p.Grad()
		if err != nil {
			return nil, fmt.Errorf("nn: gradient of %s: %w", p.Name(), err)
		}
		d, ok := gv.Data().([]float64)
		if !ok {
			return nil, fmt.Errorf("nn: gradient of %s has type %T", p.Name(), gv.Data())
		}
		out[i] = d
	}
	return out, nil
}

// reset zeroes the accumulated gradients and rewinds the machine.
func (tg *trainGraph) reset(grads [][]float64) {
	for _, g := range grads {
		clear(g)
	}
	tg.vm.Reset()
}

// adam is Adam with L2 weight decay added to the gradient (PyTorch's Adam
// weight_decay semantics) and optional global-norm clipping.
type adam struct {
	step int
	m, v []Vec
}

const (
	adamBeta1 = 0.9
	adamBeta2 = 0.999
	adamEps   = 1e-8
)

func newAdam(params []Vec) *adam {
	a := &adam{m: make([]Vec, len(params)), v: make([]Vec, len(params))}
	for i, p := range params {
		a.m[i], a.v[i] = make(Vec, len(p)), make(Vec, len(p))
	}
	return a
}

// update applies one step to params in place; grads are modified.
func (a *adam) update(c Config, params []Vec, grads [][]float64) {
	a.step++
	for i, g := range grads {
		if c.WeightDecay > 0 {
			for j, w := range params[i] {
				g[j] += c.WeightDecay * w
			}
		}
	}
	if c.ClipNorm > 0 {
		var ss float64
		for _, g := range grads {
			for _, v := range g {
				ss += v * v
			}
		}
		if norm := math.Sqrt(ss); norm > c.ClipNorm {
			s := c.ClipNorm / norm
			for _, g := range grads {
				for j := range g {
					g[j] *= s
				}
			}
		}
	}
	c1 := 1 - math.Pow(adamBeta1, float64(a.step))
	c2 := 1 - math.Pow(adamBeta2, float64(a.step))
	for i, g := range grads {
		p, m, v := params[i], a.m[i], a.v[i]
		for j, gj := range g {
			m[j] = adamBeta1*m[j] + (1-adamBeta1)*gj
			v[j] = adamBeta2*v[j] + (1-adamBeta2)*gj*gj
			p[j] -= c.LR * (m[j] / c1) / (math.Sqrt(v[j]/c2) + adamEps)
		}
	}
}
