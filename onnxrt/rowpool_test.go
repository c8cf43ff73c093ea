package onnxrt_test

import (
	"fmt"
	"math"
	"sync"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// TestPredictRowPooled scores single rows concurrently through the pooled
// one-row tensors and checks every result against the same row scored in a
// batch (fresh tensors), and that returned outputs never alias the pool.
func TestPredictRowPooled(t *testing.T) {
	for _, spec := range []onnxrttest.Spec{{Seed: 31}, {Kind: modelkind.Seq, Seed: 32, Weeks: 8}} {
		t.Run(string(spec.Kind), func(t *testing.T) {
			_, m := load(t, spec)
			f, s := onnxrttest.Rows(16, spec.Seed, m.Schema().SequenceWeeks)
			want, err := m.Predict(f, s)
			if err != nil {
				t.Fatal(err)
			}
			first, err := predictOne(m, f, s, 0)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := range 8 {
				wg.Go(func() {
					for k := range 100 {
						i := (g*7 + k) % len(f)
						out, err := predictOne(m, f, s, i)
						if err == nil {
							err = sameRow(out, want, i)
						}
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if err := sameRow(first, want, 0); err != nil {
				t.Errorf("first result changed by later calls: %v", err)
			}
		})
	}
}

func predictOne(m *onnxrt.Model, f, s [][]float32, i int) (onnxrt.Outputs, error) {
	var seq [][]float32
	if s != nil {
		seq = s[i : i+1]
	}
	return m.Predict(f[i:i+1], seq)
}

// sameRow compares one-row outputs with row i of a batch result.
func sameRow(got, batch onnxrt.Outputs, i int) error {
	if got.Len() != 1 {
		return fmt.Errorf("row %d: %d outputs", i, got.Len())
	}
	pairs := [][2]float32{{got.Expected[0], batch.Expected[i]}, {got.Prob[0], batch.Prob[i]}, {got.Mu[0], batch.Mu[i]}, {got.Sigma[0], batch.Sigma[i]}}
	for k, p := range pairs {
		if math.Abs(float64(p[0]-p[1])) > 1e-5*math.Max(1, math.Abs(float64(p[1]))) {
			return fmt.Errorf("row %d output %s: one-row %v, batch %v", i, onnxrt.OutputNames[k], p[0], p[1])
		}
	}
	return nil
}
