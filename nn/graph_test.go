package nn

import (
	"math"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn/nntest"
)

// smallConfig is a quick configuration for tests.
func smallConfig(kind modelkind.Kind) Config {
	c := DefaultConfig(kind)
	c.Hidden = []int{16, 8}
	c.BatchSize = 32
	c.MaxEpochs = 4
	c.Ensemble = 1
	c.LR = 3e-3
	if kind == modelkind.Seq {
		c.SeqWeeks = 20
		c.ConvFilters = 3
		c.KernelSize = 4
		c.ConvStride = 2
	}
	return c
}

func preparedSynthetic(t *testing.T, c Config, n int) (*prepared, []Vec) {
	t.Helper()
	ds := nntest.Synthetic(n, c.SeqWeeks, 7)
	if c.Kind != modelkind.Seq {
		ds.Seq = nil
	}
	if err := (&Data{Tabular: ds.Tabular, Seq: ds.Seq, Label: ds.Label}).validate(c); err != nil {
		t.Fatal(err)
	}
	prep := fitPreprocessing(c, &Data{Tabular: ds.Tabular, Seq: ds.Seq, Label: ds.Label})
	pd := prepare(c, &prep, &Data{Tabular: ds.Tabular, Seq: ds.Seq, Label: ds.Label})
	rows := make([]int, pd.n)
	for i := range rows {
		rows[i] = i
	}
	return pd, initParams(c, 11, pd, rows)
}

// TestGraphLossMatchesGoForward checks that the gorgonia loss of a padded,
// masked partial batch equals the mean Go-side ZILN loss of its valid rows,
// and that padding does not change the gradients.
func TestGraphLossMatchesGoForward(t *testing.T) {
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		t.Run(string(kind), func(t *testing.T) {
			c := smallConfig(kind)
			pd, params := preparedSynthetic(t, c, 200)
			idx := []int{3, 17, 42, 99, 150}
			net := fromParams(c, params)
			var want float64
			width := c.InputWidth() + c.SeqPositions()*c.ConvFilters + 32
			bufA, bufB := make([]float64, width), make([]float64, width)
			wk := NumSeqChannels * c.SeqWeeks
			for _, i := range idx {
				var q []float64
				if pd.q != nil {
					q = pd.q[i*wk : (i+1)*wk]
				}
				h := runNetwork64(&net, pd.z[i*pd.width:(i+1)*pd.width], q, bufA, bufB)
				want += zilnLoss(h, pd.bought[i], pd.logy[i], c.SigmaFloor)
			}
			want /= float64(len(idx))

			var grads [2][][]float64
			for gi, bs := range []int{len(idx), 8} {
				tg, err := newTrainGraph(c, bs, cloneVecs(params))
				if err != nil {
					t.Fatal(err)
				}
				tg.fill(pd, idx)
				got, err := tg.run()
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
					t.Errorf("batch size %d: graph loss %.12g, Go forward %.12g", bs, got, want)
				}
				g, err := tg.grads()
				if err != nil {
					t.Fatal(err)
				}
				grads[gi] = cloneFloats(g)
				tg.reset(g)
				tg.close()
			}
			for p := range grads[0] {
				for j := range grads[0][p] {
					if d := math.Abs(grads[0][p][j] - grads[1][p][j]); d > 1e-12 {
						t.Fatalf("param %d[%d]: gradient %g unpadded vs %g padded", p, j, grads[0][p][j], grads[1][p][j])
					}
				}
			}
		})
	}
}

func cloneFloats(v [][]float64) [][]float64 {
	out := make([][]float64, len(v))
	for i := range v {
		out[i] = append([]float64(nil), v[i]...)
	}
	return out
}

// TestGraphGradientFiniteDifference compares gorgonia's gradients with
// central differences of the Go-side loss for a sample of parameters.
func TestGraphGradientFiniteDifference(t *testing.T) {
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		t.Run(string(kind), func(t *testing.T) {
			c := smallConfig(kind)
			pd, params := preparedSynthetic(t, c, 120)
			idx := make([]int, 24)
			for i := range idx {
				idx[i] = i * 5
			}
			tg, err := newTrainGraph(c, len(idx), params)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.close()
			tg.fill(pd, idx)
			if _, err := tg.run(); err != nil {
				t.Fatal(err)
			}
			g, err := tg.grads()
			if err != nil {
				t.Fatal(err)
			}
			grads := cloneFloats(g)
			tg.reset(g)
			loss := func() float64 {
				net := fromParams(c, params)
				l, _ := evalRows(c, &net, pd, idx)
				return l
			}
			checked := 0
			for p := range params {
				for _, j := range []int{0, len(params[p]) / 2, len(params[p]) - 1} {
					orig := params[p][j]
					const h = 1e-6
					params[p][j] = orig + h
					up := loss()
					params[p][j] = orig - h
					down := loss()
					params[p][j] = orig
					num := (up - down) / (2 * h)
					if d := math.Abs(num - grads[p][j]); d > 1e-5*math.Max(1, math.Abs(num)) {
						t.Errorf("param %s[%d]: gorgonia gradient %.8g, finite difference %.8g", paramShapes(c)[p].name, j, grads[p][j], num)
					}
					checked++
				}
			}
			if checked < 3*len(params) {
				t.Fatalf("checked %d gradients", checked)
			}
		})
	}
}

// TestParamsRoundTrip checks that the param layout and the Network layout
// convert losslessly.
func TestParamsRoundTrip(t *testing.T) {
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		c := smallConfig(kind)
		pd, params := preparedSynthetic(t, c, 60)
		_ = pd
		net := fromParams(c, params)
		if err := newNetworkShape(c).check(&net); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		back := toParams(c, &net)
		for i := range params {
			for j := range params[i] {
				if back[i][j] != params[i][j] {
					t.Fatalf("%s: param %d[%d] %v != %v after round trip", kind, i, j, back[i][j], params[i][j])
				}
			}
		}
	}
}

// toParams converts a Network to the param layout.
func toParams(c Config, n *Network) []Vec {
	var ps []Vec
	if cv := n.Conv; cv != nil {
		k2 := cv.InChannels * cv.Kernel
		w := make(Vec, k2*cv.Filters)
		for f := 0; f < cv.Filters; f++ {
			for r := 0; r < k2; r++ { // r = ch·K + j
				w[r*cv.Filters+f] = cv.W[f*k2+r]
			}
		}
		ps = append(ps, w, append(Vec(nil), cv.B...))
	}
	for i, d := range n.Hidden {
		if i == 0 && c.Kind == modelkind.Seq {
			nz := c.InputWidth() * d.Out
			ps = append(ps, append(Vec(nil), d.W[:nz]...), append(Vec(nil), d.W[nz:]...))
		} else {
			ps = append(ps, append(Vec(nil), d.W...))
		}
		ps = append(ps, append(Vec(nil), d.B...))
	}
	for col := 0; col < HeadWidth; col++ {
		w := make(Vec, n.Head.In)
		for i := range w {
			w[i] = n.Head.W[i*HeadWidth+col]
		}
		ps = append(ps, w, Vec{n.Head.B[col]})
	}
	return ps
}
