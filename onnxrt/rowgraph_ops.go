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
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		x, y := v[a], v[o]
		for j := range y {
			y[j] = f(x[j])
		}
	})
	return nil
}

func (c *graphCompiler) binary(n *pb.NodeProto, f func(a, b float32) float32, a, b int) error {
	la, lb := c.g.lens[a], c.g.lens[b]
	dims := c.dims[a]
	if lb > la || (lb == la && len(c.dims[b]) > len(dims)) {
		dims = c.dims[b]
	}
	if la != lb && la != 1 && lb != 1 {
		return fmt.Errorf("operand shapes %v and %v need broadcasting beyond length 1", c.dims[a], c.dims[b])
	}
	o := c.slot(n.GetOutput()[0], dims)
	c.g.steps = append(c.g.steps, func(v [][]float32) {
		x, z, y := v[a], v[b], v[o]
		for j := range y {
			y[j] = f(x[min(j, la-1)], z[min(j, lb-1)])
		}
	})
	return nil
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
	o := c.slot(n.GetOutput()[0], []int64{1, wd[1]})
	c.g.macs += int(wd[0] * wd[1])
	c.g.steps = append(c.g.steps, func(v [][]float32) { gemmRow(v[x], v[w], v[b], v[o]) })
	return nil
}

// gemmRow computes y = b + Σ_k x[k]·W[k,:] for W [len(x), len(y)] and b of
// length len(y) or 1. Every y[j] starts at its bias and accumulates in k
// order (as nn's reference); the width-1 heads are a plain dot product and
// wider rows go four columns at a time, which changes no rounding.
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
	for j := range y {
		y[j] = b[min(j, len(b)-1)]
	}
	for k, xk := range x {
		row := w[k*n : k*n+n : k*n+n]
		j := 0
		for ; j+4 <= n; j += 4 {
			y4, r4 := y[j:j+4:j+4], row[j:j+4:j+4]
			y4[0] += xk * r4[0]
			y4[1] += xk * r4[1]
			y4[2] += xk * r4[2]
			y4[3] += xk * r4[3]
		}
		for ; j < n; j++ {
			y[j] += xk * row[j]
		}
	}
}

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
