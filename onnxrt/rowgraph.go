package onnxrt

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	pb "github.com/advancedclimatesystems/gonnx/onnx"
	"google.golang.org/protobuf/proto"
)

// rowGraph evaluates a model's ONNX graph for one row in Go, in float32 and
// in the graph's own op order (the ops of the float32 reference forward pass,
// nn.Model.PredictFloat32). It covers the graphs of the tabular and the
// sequence models with batch 1 only: elementwise ops with numpy
// broadcasting, Gemm, Gather and Concat on axis 1, Mean, ReduceLogSumExp,
// and for the sequence input an unpadded 1-D Conv, Transpose and Flatten.
// Load compiles it and serves one-row Predict calls through it only after
// it agreed with ONNX Runtime within the parity tolerance (see
// checkRowGraph).
type rowGraph struct {
	macs   int // multiply-adds of the Gemms and Convs per row
	nvals  int
	consts map[int][]float32 // initialiser slots
	lens   []int             // element count of every slot
	steps  []func(v [][]float32)
	input  int    // slot of "features"
	seq    int    // slot of "sequence", -1 without sequence input
	outs   [4]int // slots of OutputNames
	pool   sync.Pool
}

// maxRowMACs bounds the Gemm work of graphs served through the Go path,
// whose scalar Gemm costs about 0.7-0.9 ns per multiply-add while ONNX
// Runtime's Run costs ~30-50 µs almost regardless of width (measured on
// 2 shared cores, ziln 3 members: hidden 64-32 = 7,872 multiply-adds, Go
// 6 µs vs ORT 33 µs; 128-64 = 27,840, Go 25 µs vs ORT 35-50 µs; the
// sequence model's ORT Run is ~35-80 µs).
const maxRowMACs = 32 << 10

// graphCompiler holds the state of compileRowGraph.
type graphCompiler struct {
	g     *rowGraph
	slots map[string]int
	dims  [][]int64
	ints  map[string][]int64 // int64 initialisers (Gather indices)
}

// compileRowGraph compiles the graph of onnxBytes for one-row evaluation,
// or returns an error naming what it does not support.
func compileRowGraph(onnxBytes []byte, s FeatureSchema) (*rowGraph, error) {
	var m pb.ModelProto
	if err := proto.Unmarshal(onnxBytes, &m); err != nil {
		return nil, err
	}
	c := &graphCompiler{g: &rowGraph{consts: map[int][]float32{}, seq: -1}, slots: map[string]int{}, ints: map[string][]int64{}}
	c.g.input = c.slot(InputFeatures, []int64{1, int64(len(s.TabularColumns))})
	if s.HasSequence() {
		c.g.seq = c.slot(InputSequence, []int64{1, int64(len(s.SequenceChannels)), int64(s.SequenceWeeks)})
	}
	for _, t := range m.GetGraph().GetInitializer() {
		if err := c.initializer(t); err != nil {
			return nil, fmt.Errorf("initializer %s: %w", t.GetName(), err)
		}
	}
	for _, n := range m.GetGraph().GetNode() {
		if err := c.node(n); err != nil {
			return nil, fmt.Errorf("node %s (%s): %w", n.GetName(), n.GetOpType(), err)
		}
	}
	if c.g.macs > maxRowMACs {
		return nil, fmt.Errorf("%d multiply-adds per row, above the Go path's limit of %d", c.g.macs, maxRowMACs)
	}
	for i, name := range OutputNames {
		k, ok := c.slots[name]
		if !ok || c.g.lens[k] != 1 {
			return nil, fmt.Errorf("output %s is not one value per row", name)
		}
		c.g.outs[i] = k
	}
	c.g.nvals = len(c.g.lens)
	c.g.pool.New = func() any { return c.g.newValues() }
	return c.g, nil
}

// slot adds a named value of shape dims and returns its index.
func (c *graphCompiler) slot(name string, dims []int64) int {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	k := len(c.g.lens)
	c.slots[name] = k
	c.g.lens = append(c.g.lens, int(n))
	c.dims = append(c.dims, dims)
	return k
}

// initializer adds a float32 (or int64) initialiser stored as raw data.
func (c *graphCompiler) initializer(t *pb.TensorProto) error {
	raw := t.GetRawData()
	switch pb.TensorProto_DataType(t.GetDataType()) {
	case pb.TensorProto_FLOAT:
		if len(t.GetFloatData()) > 0 {
			c.g.consts[c.slot(t.GetName(), t.GetDims())] = t.GetFloatData()
			return nil
		}
		v := make([]float32, len(raw)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		k := c.slot(t.GetName(), t.GetDims())
		if len(v) != c.g.lens[k] {
			return fmt.Errorf("%d values for shape %v", len(v), t.GetDims())
		}
		c.g.consts[k] = v
	case pb.TensorProto_INT64:
		v := t.GetInt64Data()
		if len(v) == 0 {
			v = make([]int64, len(raw)/8)
			for i := range v {
				v[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
		}
		c.ints[t.GetName()] = v
	default:
		return fmt.Errorf("data type %d", t.GetDataType())
	}
	return nil
}

// newValues returns one set of value buffers with the constants in place.
func (g *rowGraph) newValues() any {
	v := make([][]float32, g.nvals)
	for k, n := range g.lens {
		if c, ok := g.consts[k]; ok {
			v[k] = c
		} else {
			v[k] = make([]float32, n)
		}
	}
	return &v
}

// predict evaluates the graph on one row of features and, for a sequence
// model, its flattened [channels, weeks] sequence row.
func (g *rowGraph) predict(features, seq []float32) Outputs {
	vp := g.pool.Get().(*[][]float32)
	v := *vp
	copy(v[g.input], features)
	if g.seq >= 0 {
		copy(v[g.seq], seq)
	}
	for _, step := range g.steps {
		step(v)
	}
	out := newOutputs(1)
	out.Expected[0], out.Prob[0], out.Mu[0], out.Sigma[0] = v[g.outs[0]][0], v[g.outs[1]][0], v[g.outs[2]][0], v[g.outs[3]][0]
	g.pool.Put(vp)
	return out
}

// reference adapts g to Parity's reference signature (row by row).
func (g *rowGraph) reference(features, seq [][]float32) (Outputs, error) {
	out := newOutputs(len(features))
	for i, row := range features {
		var s []float32
		if g.seq >= 0 {
			s = seq[i]
		}
		o := g.predict(row, s)
		out.Expected[i], out.Prob[i], out.Mu[i], out.Sigma[i] = o.Expected[0], o.Prob[0], o.Mu[0], o.Sigma[0]
	}
	return out, nil
}

// parityRows are the rows checkRowGraph compares on: the edge rows and
// spreadRows ordinary customers.
const spreadRows = 256

// checkRows returns the edge rows and spreadRows deterministic customers
// with consistent base features (x, t_x, T, recency, cal_spend, mbar,
// first_value), spanning new to lapsed and cents to thousands, and for a
// sequence schema the matching weekly sequences (the first purchase and
// the x repeats placed in their weeks; nil otherwise).
func checkRows(s FeatureSchema) (rows, seqs [][]float32) {
	rows, seqs = EdgeRows(s)
	w := s.SequenceWeeks
	for i := range spreadRows {
		u := float32(i) / spreadRows
		x := float32(i % 23)
		T := 1 + 150*u
		tx := T * float32(i%7) / 7
		mbar := float32(math.Exp(float64(8 * float32((i*37)%101) / 101)))
		first := mbar * (0.5 + u)
		rows = append(rows, []float32{x, tx, T, T - tx, x*mbar + first, mbar, first})
		if !s.HasSequence() {
			continue
		}
		q := make([]float32, s.SequenceLen())
		put := func(weeksAgo, value float32) {
			if k := w - 1 - int(weeksAgo); k >= 0 && k < w {
				q[k] += value
				q[w+k]++
			}
		}
		put(T, first)
		for j := range int(x) {
			put(T-tx*float32(j+1)/x, mbar)
		}
		seqs = append(seqs, q)
	}
	return rows, seqs
}

// checkRowGraph compiles the one-row Go path of m and checks it against
// ONNX Runtime on checkRows with the parity gate's rule and tolerance.
func checkRowGraph(m *Model, onnxBytes []byte) (*rowGraph, error) {
	g, err := compileRowGraph(onnxBytes, m.meta.Schema)
	if err != nil {
		return nil, err
	}
	rows, seqs := checkRows(m.meta.Schema)
	if _, err := Parity(g.reference, m, rows, seqs, DefaultParityTol); err != nil {
		return nil, err
	}
	return g, nil
}
