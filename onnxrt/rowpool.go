package onnxrt

import (
	"fmt"
	"runtime"

	ort "github.com/yalue/onnxruntime_go"
)

// rowPoolSize bounds the idle one-row scratch sets a Model keeps; more
// concurrent one-row calls than that create and destroy their own.
var rowPoolSize = 2 * runtime.GOMAXPROCS(0)

// rowScratch is the ONNX Runtime state of a one-row Predict: input and
// output tensors over Go memory, created once and reused across calls, so a
// single-row request makes no cgo tensor calls besides Run.
type rowScratch struct {
	feat    *ort.Tensor[float32]
	seq     *ort.Tensor[float32] // nil without a sequence input
	outs    []*ort.Tensor[float32]
	inputs  []ort.Value
	outputs []ort.Value
}

// newRowScratch creates the tensors of one row for schema s.
func newRowScratch(s FeatureSchema) (_ *rowScratch, err error) {
	r := &rowScratch{}
	defer func() {
		if err != nil {
			r.destroy()
		}
	}()
	if r.feat, err = ort.NewEmptyTensor[float32](ort.NewShape(1, int64(len(s.TabularColumns)))); err != nil {
		return nil, fmt.Errorf("features tensor: %w", err)
	}
	r.inputs = append(r.inputs, r.feat)
	if s.HasSequence() {
		shape := ort.NewShape(1, int64(len(s.SequenceChannels)), int64(s.SequenceWeeks))
		if r.seq, err = ort.NewEmptyTensor[float32](shape); err != nil {
			return nil, fmt.Errorf("sequence tensor: %w", err)
		}
		r.inputs = append(r.inputs, r.seq)
	}
	for _, name := range OutputNames {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 1))
		if err != nil {
			return nil, fmt.Errorf("%s tensor: %w", name, err)
		}
		r.outs = append(r.outs, t)
		r.outputs = append(r.outputs, t)
	}
	return r, nil
}

// destroy releases every tensor of r.
func (r *rowScratch) destroy() {
	for _, v := range r.inputs {
		v.Destroy()
	}
	for _, v := range r.outputs {
		v.Destroy()
	}
}

// getRow takes an idle scratch set or creates one.
func (m *Model) getRow() (*rowScratch, error) {
	select {
	case r := <-m.rows:
		return r, nil
	default:
	}
	r, err := newRowScratch(m.meta.Schema)
	if err != nil {
		return nil, fmt.Errorf("onnxrt: model %s: %w", m.version, err)
	}
	return r, nil
}

// putRow keeps r for the next call, or destroys it when the pool is full.
func (m *Model) putRow(r *rowScratch) {
	select {
	case m.rows <- r:
	default:
		r.destroy()
	}
}

// drainRows destroys the idle scratch sets (Close, under the write lock).
func (m *Model) drainRows() {
	for {
		select {
		case r := <-m.rows:
			r.destroy()
		default:
			return
		}
	}
}

// predictRow scores one validated row through a pooled scratch set; the
// caller holds the read lock.
func (m *Model) predictRow(features, seq []float32) (Outputs, error) {
	r, err := m.getRow()
	if err != nil {
		return Outputs{}, err
	}
	copy(r.feat.GetData(), features)
	if r.seq != nil {
		copy(r.seq.GetData(), seq)
	}
	if err := m.session.Run(r.inputs, r.outputs); err != nil {
		r.destroy()
		return Outputs{}, fmt.Errorf("onnxrt: model %s: run 1 rows: %w", m.version, err)
	}
	out := newOutputs(1)
	for i, name := range OutputNames {
		out.byName(name)[0] = r.outs[i].GetData()[0]
	}
	m.putRow(r)
	return out, nil
}

// newOutputs returns Outputs for n rows over one backing array.
func newOutputs(n int) Outputs {
	b := make([]float32, 4*n)
	return Outputs{Expected: b[:n:n], Prob: b[n : 2*n : 2*n], Mu: b[2*n : 3*n : 3*n], Sigma: b[3*n:]}
}
