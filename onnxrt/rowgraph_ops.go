package onnxrt

import (
	"fmt"
	"math"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
)

// unaryOps are the one-input elementwise ops, evaluated as nn's float32
// reference evaluates them.
var unaryOps = map[string]func(float32) float32{
	"Relu":    func(x float32) float32 { return max(x, 0) },
	"Neg":     func(x float32) float32 { return -x },
	"Log":     func(x float32) float32 { return float32(math.Log(float64(x))) },
	"Exp":     func(x float32) float32 { return float32(math.Exp(float64(x))) },
	"Sigmoid": func(x float32) float32 { return float32(1 / (1 + math.Exp(-float64(x)))) },
	"Softplus": func(x float32) float32 {
		v := float64(x)
		return float32(math.Max(v, 0) + math.Log1p(math.Exp(-math.Abs(v))))
	},
}

// binaryOps are the two-input elementwise ops.
var binaryOps = map[string]func(a, b float32) float32{
	"Add": func(a, b float32) float32 { return a + b },
	"Sub": func(a, b float32) float32 { return a - b },
	"Mul": func(a, b float32) float32 { return a * b },
	"Div": func(a, b float32) float32 { return a / b },
	"Max": func(a, b float32) float32 { return max(a, b) },
	"Min": func(a, b float32) float32 { return min(a, b) },
}

// vecUnary are loops of the hot unary ops (the same function as unaryOps,
// with the element operation inlined instead of called through a pointer).
var vecUnary = map[string]func(x, y []float32){
	"Relu": func(x, y []float32) {
		x = x[:len(y)]
		for j, e := range x {
			y[j] = max(e, 0)
		}
	},
	"Log": func(x, y []float32) {
		// log(1) = 0 exactly: the weeks without a purchase (most of a
		// weekly sequence, log1p of 0) skip the call.
		x = x[:len(y)]
		for j, e := range x {
			if e == 1 {
				y[j] = 0
				continue
			}
			y[j] = float32(math.Log(float64(e)))
		}
	},
}

// vecBinary are loops of the binary ops for a left operand as long as the
// result and a right operand as long or of length 1 (the same arithmetic
// as binaryOps, inlined).
var vecBinary = map[string]func(x, z, y []float32){
	"Add": func(x, z, y []float32) {
		x = x[:len(y)]
		if len(z) == 1 {
			for j, c := 0, z[0]; j < len(x); j++ {
				y[j] = x[j] + c
			}
			return
		}
		z = z[:len(y)]
		for j, e := range x {
			y[j] = e + z[j]
		}
	},
	"Sub": func(x, z, y []float32) {
		x = x[:len(y)]
		if len(z) == 1 {
			for j, c := 0, z[0]; j < len(x); j++ {
				y[j] = x[j] - c
			}
			return
		}
		z = z[:len(y)]
		for j, e := range x {
			y[j] = e - z[j]
		}
	},
	"Mul": func(x, z, y []float32) {
		x = x[:len(y)]
		if len(z) == 1 {
			for j, c := 0, z[0]; j < len(x); j++ {
				y[j] = x[j] * c
			}
			return
		}
		z = z[:len(y)]
		for j, e := range x {
			y[j] = e * z[j]
		}
	},
	"Max": func(x, z, y []float32) {
		x = x[:len(y)]
		if len(z) == 1 {
			for j, c := 0, z[0]; j < len(x); j++ {
				y[j] = max(x[j], c)
			}
			return
		}
		z = z[:len(y)]
		for j, e := range x {
			y[j] = max(e, z[j])
		}
	},
	"Min": func(x, z, y []float32) {
		x = x[:len(y)]
		if len(z) == 1 {
			for j, c := 0, z[0]; j < len(x); j++ {
				y[j] = min(x[j], c)
			}
			return
		}
		z = z[:len(y)]
		for j, e := range x {
			y[j] = min(e, z[j])
		}
	},
}

// node compiles one graph node into a step.
func (c *graphCompiler) node(n *pb.NodeProto) error {
	if len(n.GetOutput()) != 1 {
		return fmt.Errorf("%d outputs", len(n.GetOutput()))
	}
	in := make([]int, len(n.GetInput()))
	for i, name := range n.GetInput() {
		k, ok := c.slots[name]
		if !ok && n.GetOpType() != "Gather" {
			return fmt.Errorf("input %s is not a float tensor computed before", name)
		}
		in[i] = k
	}
	op := n.GetOpType()
	switch {
	case unaryOps[op] != nil && len(in) == 1:
		return c.unary(n, unaryOps[op], in[0])
	case binaryOps[op] != nil && len(in) == 2:
		return c.binary(n, binaryOps[op], in[0], in[1])
	case op == "Gemm":
		return c.gemm(n, in)
	case op == "Gather":
		return c.gather(n, in[0])
	case op == "Concat":
		return c.concat(n, in)
	case op == "Mean":
		return c.mean(n, in)
	case op == "ReduceLogSumExp":
		return c.logSumExp(n, in[0])
	case op == "Conv":
		return c.conv(n, in)
	case op == "Transpose" && len(in) == 1:
		return c.transpose(n, in[0])
	case op == "Flatten" && len(in) == 1:
		return c.flatten(n, in[0])
	}
	return fmt.Errorf("op not supported by the one-row Go path")
}

// attrs returns the node's int and ints attributes; any other kind fails.
func attrs(n *pb.NodeProto) (map[string]int64, map[string][]int64, error) {
	i, is := map[string]int64{}, map[string][]int64{}
	for _, a := range n.GetAttribute() {
		switch a.GetType() {
		case pb.AttributeProto_INT:
			i[a.GetName()] = a.GetI()
		case pb.AttributeProto_INTS:
			is[a.GetName()] = a.GetInts()
		default:
			return nil, nil, fmt.Errorf("attribute %s not supported", a.GetName())
		}
	}
	return i, is, nil
}

func (c *graphCompiler) unary(n *pb.NodeProto, f func(float32) float32, a int) error {
	o := c.slot(n.GetOutput()[0], c.dims[a])
	if vec := vecUnary[n.GetOpType()]; vec != nil {
		c.g.steps = append(c.g.steps, func(v [][]float32) { vec(v[a], v[o]) })
		return nil
	}
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		x, y := v[a], v[o]
		for j := range y {
			y[j] = f(x[j])
		}
	})
	return nil
}

// binary compiles a two-input elementwise op with numpy (ONNX
// multidirectional) broadcasting. When each operand is as long as the
// result or has length 1 it indexes them directly; otherwise (the sequence
// model's [1,2,W] values against per-channel [1,2,1] constants) it walks
// precomputed operand indices.
func (c *graphCompiler) binary(n *pb.NodeProto, f func(a, b float32) float32, a, b int) error {
	la, lb := c.g.lens[a], c.g.lens[b]
	dims, err := broadcastShape(c.dims[a], c.dims[b])
	if err != nil {
		return err
	}
	o := c.slot(n.GetOutput()[0], dims)
	lo := c.g.lens[o]
	if vec := vecBinary[n.GetOpType()]; vec != nil && la == lo && (lb == lo || lb == 1) {
		c.g.steps = append(c.g.steps, func(v [][]float32) { vec(v[a], v[b], v[o]) })
		return nil
	}
	if (la == lo || la == 1) && (lb == lo || lb == 1) {
		c.g.steps = append(c.g.steps, func(v [][]float32) {
			x, z, y := v[a], v[b], v[o]
			for j := range y {
				y[j] = f(x[min(j, la-1)], z[min(j, lb-1)])
			}
		})
		return nil
	}
	ia, ib := broadcastIndex(c.dims[a], dims), broadcastIndex(c.dims[b], dims)
	if vec := vecBinary[n.GetOpType()]; vec != nil && la == lo {
		// a as long as the result reads itself in order; b, broadcast (a
		// per-channel constant), is constant over runs: one vector loop
		// with a scalar per run instead of an indirect call per element.
		if runs := constantRuns(ib); len(runs) <= lo/4 {
			c.g.steps = append(c.g.steps, func(v [][]float32) {
				x, z, y := v[a], v[b], v[o]
				for _, r := range runs {
					vec(x[r.lo:r.hi], z[r.at:r.at+1], y[r.lo:r.hi])
				}
			})
			return nil
		}
	}
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		x, z, y := v[a], v[b], v[o]
		for j := range y {
			y[j] = f(x[ia[j]], z[ib[j]])
		}
	})
	return nil
}

// indexRun is a run [lo, hi) of result elements that all read element at.
type indexRun struct{ lo, hi, at int }

// constantRuns splits idx into its runs of equal values.
func constantRuns(idx []int32) []indexRun {
	var runs []indexRun
	for j, at := range idx {
		if len(runs) > 0 && runs[len(runs)-1].at == int(at) {
			runs[len(runs)-1].hi = j + 1
			continue
		}
		runs = append(runs, indexRun{lo: j, hi: j + 1, at: int(at)})
	}
	return runs
}

// broadcastShape returns the numpy broadcast of shapes a and b.
func broadcastShape(a, b []int64) ([]int64, error) {
	out := make([]int64, max(len(a), len(b)))
	for i := range out {
		da, db := dimFromEnd(a, len(out)-1-i), dimFromEnd(b, len(out)-1-i)
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("operand shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// dimFromEnd returns dims[len(dims)-1-k], or 1 beyond the front.
func dimFromEnd(dims []int64, k int) int64 {
	if k >= len(dims) {
		return 1
	}
	return dims[len(dims)-1-k]
}

// broadcastIndex returns, for every element of shape out (row-major), the
// index of the element of shape in (broadcast to out) that it reads.
func broadcastIndex(in, out []int64) []int32 {
	// strides of in aligned to out's axes; 0 on broadcast axes
	strides := make([]int64, len(out))
	s := int64(1)
	for k := range out {
		axis := len(out) - 1 - k
		if d := dimFromEnd(in, k); d != 1 {
			strides[axis] = s
			s *= d
		}
	}
	return gatherIndex(out, strides)
}

// gatherIndex returns Σ_axis coord[axis]·strides[axis] for every element of
// shape out in row-major order.
func gatherIndex(out, strides []int64) []int32 {
	n := int64(1)
	for _, d := range out {
		n *= d
	}
	idx := make([]int32, n)
	coord := make([]int64, len(out))
	for j := range idx {
		var off int64
		for axis, c := range coord {
			off += c * strides[axis]
		}
		idx[j] = int32(off)
		for axis := len(out) - 1; axis >= 0; axis-- {
			if coord[axis]++; coord[axis] < out[axis] {
				break
			}
			coord[axis] = 0
		}
	}
	return idx
}

// gemm compiles Y = X·W + B with default attributes, X [1,K], W [K,N].
func (c *graphCompiler) gemm(n *pb.NodeProto, in []int) error {
	i, is, err := attrs(n)
	if err != nil || len(i)+len(is) != 0 || len(n.GetAttribute()) != 0 || len(in) != 3 {
		return fmt.Errorf("only Gemm(X, W, B) without attributes is supported")
	}
	x, w, b := in[0], in[1], in[2]
	wd := c.dims[w]
	if len(wd) != 2 || c.g.lens[x] != int(wd[0]) || c.g.consts[w] == nil || (c.g.lens[b] != int(wd[1]) && c.g.lens[b] != 1) {
		return fmt.Errorf("shapes X %v W %v B %v", c.dims[x], wd, c.dims[b])
	}
	for _, v := range c.g.consts[w] {
		if !finite32(v) {
			return fmt.Errorf("weight %s has a non-finite value", n.GetInput()[1])
		}
	}
	o := c.slot(n.GetOutput()[0], []int64{1, wd[1]})
	c.g.macs += int(wd[0] * wd[1])
	c.g.steps = append(c.g.steps, func(v [][]float32) { gemmRow(v[x], v[w], v[b], v[o]) })
	return nil
}

// gemmRow computes y = b + Σ_k x[k]·W[k,:] for W [len(x), len(y)] and b of
// length len(y) or 1. Every y[j] starts at its bias and accumulates in k
// order (as nn's reference), so the result is nn's to the bit. The width-1
// heads are a plain dot product; wider rows keep their columns in
// registers across all k (eight at a time in Go, or 32 and 8 at a time in
// AVX registers through gemmRowAVX, with the same float32 multiply then
// add per term) and skip the k where x[k] is exactly 0 (ReLU outputs;
// adding 0·w changes no value when w is finite, which the compiler
// checked), which changes no rounding either.
func gemmRow(x, w, b, y []float32) {
	n := len(y)
	if n == 1 {
		s := b[0]
		for k, xk := range x {
			s += xk * w[k]
		}
		y[0] = s
		return
	}
	var nzBuf [gemmRowMaxK]int32
	nz := nzBuf[:0]
	if len(x) > gemmRowMaxK {
		nz = make([]int32, 0, len(x))
	}
	for k, xk := range x {
		if xk != 0 {
			nz = append(nz, int32(k))
		}
	}
	bias := func(j int) float32 { return b[min(j, len(b)-1)] }
	j := 0
	if useAVX && len(b) == n && n >= 8 && len(nz) > 0 {
		blocks := n / 8
		gemmRowAVX(&y[0], &b[0], &x[0], &nz[0], len(nz), &w[0], n, blocks)
		j = blocks * 8
	}
	for ; j+8 <= n; j += 8 {
		a0, a1, a2, a3 := bias(j), bias(j+1), bias(j+2), bias(j+3)
		a4, a5, a6, a7 := bias(j+4), bias(j+5), bias(j+6), bias(j+7)
		for _, k := range nz {
			xk := x[k]
			r := w[int(k)*n+j:][:8:8]
			a0 += xk * r[0]
			a1 += xk * r[1]
			a2 += xk * r[2]
			a3 += xk * r[3]
			a4 += xk * r[4]
			a5 += xk * r[5]
			a6 += xk * r[6]
			a7 += xk * r[7]
		}
		y8 := y[j:][:8:8]
		y8[0], y8[1], y8[2], y8[3], y8[4], y8[5], y8[6], y8[7] = a0, a1, a2, a3, a4, a5, a6, a7
	}
	for ; j < n; j++ {
		a := bias(j)
		for _, k := range nz {
			a += x[k] * w[int(k)*n+j]
		}
		y[j] = a
	}
}

// gemmRowMaxK is the input width up to which gemmRow keeps its list of
// non-zero inputs on the stack.
const gemmRowMaxK = 256

// gather compiles Gather(data [1,n], indices) on axis 1 with constant indices.
func (c *graphCompiler) gather(n *pb.NodeProto, data int) error {
	i, _, err := attrs(n)
	idx, ok := c.ints[n.GetInput()[1]]
	if err != nil || !ok || i["axis"] != 1 || len(c.dims[data]) != 2 {
		return fmt.Errorf("only Gather on axis 1 of [1,n] with constant int64 indices is supported")
	}
	for _, k := range idx {
		if k < 0 || int(k) >= c.g.lens[data] {
			return fmt.Errorf("index %d out of range", k)
		}
	}
	o := c.slot(n.GetOutput()[0], []int64{1, int64(len(idx))})
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		x, y := v[data], v[o]
		for j, k := range idx {
			y[j] = x[k]
		}
	})
	return nil
}

// concat compiles Concat of [1,n_i] inputs on axis 1.
func (c *graphCompiler) concat(n *pb.NodeProto, in []int) error {
	i, _, err := attrs(n)
	if err != nil || (i["axis"] != 1 && i["axis"] != -1) {
		return fmt.Errorf("only Concat on axis 1 is supported")
	}
	total := 0
	for _, k := range in {
		if len(c.dims[k]) != 2 || c.dims[k][0] != 1 {
			return fmt.Errorf("input shape %v is not [1,n]", c.dims[k])
		}
		total += c.g.lens[k]
	}
	o := c.slot(n.GetOutput()[0], []int64{1, int64(total)})
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		y := v[o][:0]
		for _, k := range in {
			y = append(y, v[k]...)
		}
	})
	return nil
}

// mean compiles Mean of equally shaped inputs (summed in input order).
func (c *graphCompiler) mean(n *pb.NodeProto, in []int) error {
	for _, k := range in {
		if c.g.lens[k] != c.g.lens[in[0]] {
			return fmt.Errorf("inputs of different lengths")
		}
	}
	o := c.slot(n.GetOutput()[0], c.dims[in[0]])
	inv := float32(len(in))
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		y := v[o]
		for j := range y {
			var s float32
			for _, k := range in {
				s += v[k][j]
			}
			y[j] = s / inv
		}
	})
	return nil
}

// logSumExp compiles ReduceLogSumExp of [1,n] over axis 1 with keepdims,
// with the maximum factored out and the sum in float64 (as nn's reference).
func (c *graphCompiler) logSumExp(n *pb.NodeProto, a int) error {
	i, is, err := attrs(n)
	if err != nil || len(is["axes"]) != 1 || is["axes"][0] != 1 || i["keepdims"] != 1 || len(c.dims[a]) != 2 {
		return fmt.Errorf("only ReduceLogSumExp over axis 1 of [1,n] with keepdims is supported")
	}
	o := c.slot(n.GetOutput()[0], []int64{1, 1})
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		x := v[a]
		m := x[0]
		for _, e := range x[1:] {
			m = max(m, e)
		}
		if math.IsInf(float64(m), 0) {
			v[o][0] = m
			return
		}
		var s float64
		for _, e := range x {
			s += math.Exp(float64(e - m))
		}
		v[o][0] = float32(float64(m) + math.Log(s))
	})
	return nil
}

// conv compiles an unpadded, undilated, ungrouped 1-D Conv(X, W, B) of
// X [1,C,L] with W [F,C,K] and B [F]: Y [1,F,(L-K)/S+1]. Every output starts
// at its bias and accumulates channel by channel, tap by tap (the order of
// nn's reference convolution).
func (c *graphCompiler) conv(n *pb.NodeProto, in []int) error {
	i, is, err := attrs(n)
	if err != nil || len(in) != 3 {
		return fmt.Errorf("only Conv(X, W, B) with int attributes is supported")
	}
	x, w, b := in[0], in[1], in[2]
	xd, wd := c.dims[x], c.dims[w]
	if len(xd) != 3 || xd[0] != 1 || len(wd) != 3 || wd[1] != xd[1] || c.g.consts[w] == nil || c.g.lens[b] != int(wd[0]) {
		return fmt.Errorf("shapes X %v W %v B %v: want X [1,C,L], W [F,C,K], B [F]", xd, wd, c.dims[b])
	}
	filters, channels, kernel, length := int(wd[0]), int(wd[1]), int(wd[2]), int(xd[2])
	stride := 1
	for name, v := range is {
		switch {
		case name == "kernel_shape" && len(v) == 1 && v[0] == wd[2]:
		case name == "strides" && len(v) == 1 && v[0] >= 1:
			stride = int(v[0])
		case name == "pads" && len(v) == 2 && v[0] == 0 && v[1] == 0:
		case name == "dilations" && len(v) == 1 && v[0] == 1:
		default:
			return fmt.Errorf("attribute %s = %v not supported", name, v)
		}
	}
	for name, v := range i {
		if name != "group" || v != 1 {
			return fmt.Errorf("attribute %s = %d not supported", name, v)
		}
	}
	if length < kernel {
		return fmt.Errorf("input length %d shorter than the kernel %d", length, kernel)
	}
	positions := (length-kernel)/stride + 1
	o := c.slot(n.GetOutput()[0], []int64{1, int64(filters), int64(positions)})
	c.g.macs += filters * channels * kernel * positions
	cv := conv1D{filters: filters, channels: channels, kernel: kernel, length: length, stride: stride, positions: positions}
	c.g.steps = append(c.g.steps, func(v [][]float32) { cv.run(v[x], v[w], v[b], v[o]) })
	return nil
}

// conv1D is an unpadded 1-D convolution of one row: y[f, t] = bias[f] +
// Σ_ch Σ_j w[f, ch, j]·q[ch, t·stride + j], summed in that order.
type conv1D struct {
	filters, channels, kernel, length, stride, positions int
}

// run computes four positions at a time, each with its own accumulator
// summed in the order above (the same bits as one at a time), so that the
// four dependency chains overlap.
func (cv conv1D) run(q, wt, bias, y []float32) {
	for f := range cv.filters {
		yf := y[f*cv.positions:][:cv.positions]
		t := 0
		for ; t+4 <= cv.positions; t += 4 {
			a0, a1, a2, a3 := bias[f], bias[f], bias[f], bias[f]
			for ch := range cv.channels {
				wr := wt[(f*cv.channels+ch)*cv.kernel:][:cv.kernel]
				base := ch*cv.length + t*cv.stride
				q0 := q[base:][:cv.kernel]
				q1 := q[base+cv.stride:][:cv.kernel]
				q2 := q[base+2*cv.stride:][:cv.kernel]
				q3 := q[base+3*cv.stride:][:cv.kernel]
				for j, wj := range wr {
					a0 += wj * q0[j]
					a1 += wj * q1[j]
					a2 += wj * q2[j]
					a3 += wj * q3[j]
				}
			}
			yf[t], yf[t+1], yf[t+2], yf[t+3] = a0, a1, a2, a3
		}
		for ; t < cv.positions; t++ {
			acc := bias[f]
			for ch := range cv.channels {
				wr := wt[(f*cv.channels+ch)*cv.kernel:][:cv.kernel]
				qr := q[ch*cv.length+t*cv.stride:][:cv.kernel]
				for j, wj := range wr {
					acc += wj * qr[j]
				}
			}
			yf[t] = acc
		}
	}
}

// transpose compiles Transpose with an explicit perm.
func (c *graphCompiler) transpose(n *pb.NodeProto, a int) error {
	i, is, err := attrs(n)
	perm, ok := is["perm"]
	in := c.dims[a]
	if err != nil || len(i) != 0 || !ok || len(perm) != len(in) {
		return fmt.Errorf("only Transpose with a perm of the input's rank is supported")
	}
	seen := make([]bool, len(in))
	out := make([]int64, len(in))
	for k, p := range perm {
		if p < 0 || int(p) >= len(in) || seen[p] {
			return fmt.Errorf("perm %v is not a permutation", perm)
		}
		seen[p] = true
		out[k] = in[p]
	}
	// row-major strides of the input, taken in perm order
	inStrides := make([]int64, len(in))
	s := int64(1)
	for axis := len(in) - 1; axis >= 0; axis-- {
		inStrides[axis] = s
		s *= in[axis]
	}
	strides := make([]int64, len(in))
	for k, p := range perm {
		strides[k] = inStrides[p]
	}
	idx := gatherIndex(out, strides)
	o := c.slot(n.GetOutput()[0], out)
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		x, y := v[a], v[o]
		for j, k := range idx {
			y[j] = x[k]
		}
	})
	return nil
}

// flatten compiles Flatten: a copy into shape [Π dims[:axis], Π dims[axis:]].
func (c *graphCompiler) flatten(n *pb.NodeProto, a int) error {
	i, is, err := attrs(n)
	if err != nil || len(is) != 0 {
		return fmt.Errorf("only Flatten with an axis is supported")
	}
	in := c.dims[a]
	axis, ok := i["axis"]
	if !ok {
		axis = 1
	}
	if axis < 0 {
		axis += int64(len(in))
	}
	if axis < 0 || axis > int64(len(in)) {
		return fmt.Errorf("axis %d out of range for shape %v", i["axis"], in)
	}
	outer := int64(1)
	for _, d := range in[:axis] {
		outer *= d
	}
	o := c.slot(n.GetOutput()[0], []int64{outer, int64(c.g.lens[a]) / max(outer, 1)})
	c.g.steps = append(c.g.steps, func(v [][]float32) { copy(v[o], v[a]) })
	return nil
}
