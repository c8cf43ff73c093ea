package nn

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
)

// graphLossGrads runs the gorgonia graph with batch size bs on idx.
func graphLossGrads(t *testing.T, c Config, pd *prepared, params []Vec, idx []int, bs int) (float64, [][]float64) {
	t.Helper()
	tg, err := newTrainGraph(c, bs, cloneVecs(params))
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	tg.fill(pd, idx)
	loss, err := tg.run()
	if err != nil {
		t.Fatal(err)
	}
	g, err := tg.grads()
	if err != nil {
		t.Fatal(err)
	}
	return loss, cloneFloats(g)
}

// TestMLPTrainerMatchesGraph checks the hand-written MLP pass against the
// gorgonia graph on full and partial batches (three hidden layers too), and
// that a second batch through the same trainer does not depend on the first.
func TestMLPTrainerMatchesGraph(t *testing.T) {
	for _, hidden := range [][]int{{16, 8}, {7, 5, 4}} {
		c := smallConfig(modelkind.ZILN)
		c.Hidden = hidden
		pd, params := preparedSynthetic(t, c, 200)
		r := rand.New(rand.NewPCG(1, 2))
		for _, p := range params { // move off the initialisation (zero biases)
			for j := range p {
				p[j] += 0.05 * r.NormFloat64()
			}
		}
		tr, err := newMLPTrainer(c, 32, params)
		if err != nil {
			t.Fatal(err)
		}
		for _, idx := range [][]int{r.Perm(200)[:32], {3, 17, 42, 99, 150}} {
			wantLoss, want := graphLossGrads(t, c, pd, params, idx, 32)
			tr.fill(pd, idx)
			loss, err := tr.run()
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(loss-wantLoss) > 1e-12*math.Max(1, math.Abs(wantLoss)) {
				t.Errorf("hidden %v, %d rows: loss %.15g, graph %.15g", hidden, len(idx), loss, wantLoss)
			}
			got, _ := tr.grads()
			compareGrads(t, c, got, want)
		}
	}
}

// compareGrads requires got to match want within 1e-12 (relative) and to
// have at least one non-zero gradient per parameter tensor on average.
func compareGrads(t *testing.T, c Config, got, want [][]float64) {
	t.Helper()
	nonzero := 0
	for p := range want {
		for j := range want[p] {
			if d := math.Abs(got[p][j] - want[p][j]); d > 1e-12*math.Max(1, math.Abs(want[p][j])) {
				t.Fatalf("hidden %v: %s[%d] gradient %.15g, graph %.15g", c.Hidden, paramShapes(c)[p].name, j, got[p][j], want[p][j])
			}
			if got[p][j] != 0 {
				nonzero++
			}
		}
	}
	if nonzero < len(want) {
		t.Fatalf("hidden %v: only %d non-zero gradients", c.Hidden, nonzero)
	}
}

// TestMLPTrainerReproducible requires bit-identical loss and gradients from
// two trainers on the same batch.
func TestMLPTrainerReproducible(t *testing.T) {
	c := smallConfig(modelkind.ZILN)
	pd, params := preparedSynthetic(t, c, 100)
	idx := []int{5, 1, 77, 30, 64, 12, 9}
	var losses [2]float64
	var grads [2][][]float64
	for k := range 2 {
		tr, err := newMLPTrainer(c, 8, params)
		if err != nil {
			t.Fatal(err)
		}
		tr.fill(pd, idx)
		if losses[k], err = tr.run(); err != nil {
			t.Fatal(err)
		}
		g, _ := tr.grads()
		grads[k] = cloneFloats(g)
	}
	if math.Float64bits(losses[0]) != math.Float64bits(losses[1]) {
		t.Fatalf("losses %v and %v differ", losses[0], losses[1])
	}
	for p := range grads[0] {
		for j := range grads[0][p] {
			if math.Float64bits(grads[0][p][j]) != math.Float64bits(grads[1][p][j]) {
				t.Fatalf("gradient %d[%d]: %v vs %v", p, j, grads[0][p][j], grads[1][p][j])
			}
		}
	}
}

// TestBiasRelu compares biasRelu with the max builtin bit for bit,
// including zeros of both signs, infinities and NaNs.
func TestBiasRelu(t *testing.T) {
	nan := math.NaN()
	vals := []float64{1.5, -1.5, 0, math.Copysign(0, -1), math.Inf(1), math.Inf(-1), nan, -nan, 5e-324, -5e-324}
	for _, v := range vals {
		for _, b := range []float64{0, math.Copysign(0, -1), 2} {
			y := []float64{v}
			biasRelu(y, []float64{b})
			want := max(v+b, 0)
			if math.Float64bits(y[0]) != math.Float64bits(want) && !(math.IsNaN(y[0]) && math.IsNaN(want)) {
				t.Errorf("biasRelu(%v + %v) = %v, want %v", v, b, y[0], want)
			}
		}
	}
}
