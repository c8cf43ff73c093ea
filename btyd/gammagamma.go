package btyd

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma is a fitted Gamma-Gamma spend model: a customer's purchase
// values are Gamma(P, ν) with ν ~ Gamma(Q, V) across customers, so the mean
// value of a customer is P·V/(Q−1) on average. A value built by hand only
// needs P, Q, V (and MeanValue for the Q ≤ 1 fallback).
type GammaGamma struct {
	P float64 `json:"p"`
	Q float64 `json:"q"`
	V float64 `json:"v"`
	// LogLik is the log-likelihood of the fitted customers' mean values
	// (density of mbar given x, as in lifetimes).
	LogLik float64 `json:"loglik"`
	// N is the number of customers fitted (x > 0 and mbar > 0).
	N int `json:"n"`
	// Excluded is the number of customers left out (x = 0 or mbar ≤ 0).
	Excluded int `json:"excluded"`
	// MeanValue is the plain mean of mbar over the fitted customers; it is
	// the fallback of ConditionalExpectedValue when Q ≤ 1.
	MeanValue float64 `json:"mean_value"`
	// Iterations counts the optimiser's major iterations over all runs.
	Iterations int `json:"iterations"`
	// Converged is true when the gradient of the mean log-likelihood per
	// customer (log-parameter space) is below 1e-6 at the returned point.
	Converged bool `json:"converged"`
	// Warnings explains boundary solutions, fallbacks and exclusions.
	Warnings []string `json:"warnings,omitempty"`
}

var ggNames = []string{"p", "q", "v"}

type ggRow struct {
	x, m   float64
	logX   float64
	logM   float64
	weight float64
}

type ggData struct {
	rows  []ggRow
	total float64
}

// logLik returns the total Gamma-Gamma log-likelihood and, when grad is
// non-nil, its gradient with respect to (log p, log q, log v). Per customer:
//
//	ℓ = lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q·ln v + (px−1)·ln m + px·ln x − (px+q)·ln(x·m+v)
func (d *ggData) logLik(p, q, v float64, grad []float64) float64 {
	lgq, _ := math.Lgamma(q)
	logV := math.Log(v)
	var dgq float64
	if grad != nil {
		dgq = mathext.Digamma(q)
	}
	var ll, gp, gq, gv float64
	for _, r := range d.rows {
		px := p * r.x
		lg1, _ := math.Lgamma(px + q)
		lg2, _ := math.Lgamma(px)
		xmv := r.x*r.m + v
		logXMV := math.Log(xmv)
		ll += r.weight * (lg1 - lg2 - lgq + q*logV + (px-1)*r.logM + px*r.logX - (px+q)*logXMV)
		if grad == nil {
			continue
		}
		d1 := mathext.Digamma(px + q)
		gp += r.weight * px * (d1 - mathext.Digamma(px) + r.logM + r.logX - logXMV)
		gq += r.weight * q * (d1 - dgq + logV - logXMV)
		gv += r.weight * (q - v*(px+q)/xmv)
	}
	if grad != nil {
		grad[0], grad[1], grad[2] = gp, gq, gv
	}
	return ll
}

func (d *ggData) objective(theta, grad []float64) float64 {
	ll := d.logLik(math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), grad)
	for i := range grad {
		grad[i] = -grad[i] / d.total
	}
	if math.IsNaN(ll) || math.IsInf(ll, 0) {
		return math.Inf(1)
	}
	return -ll / d.total
}

// newGGData validates the input and keeps customers with x > 0 and mbar > 0.
func newGGData(x, mbar []float64) (*ggData, int, int, float64, error) {
	if len(x) != len(mbar) {
		return nil, 0, 0, 0, fmt.Errorf("btyd: length mismatch: len(x)=%d, len(mbar)=%d", len(x), len(mbar))
	}
	var rows []ggRow
	excluded, nonPositive := 0, 0
	sum := 0.0
	for i := range x {
		if math.IsNaN(x[i]) || math.IsInf(x[i], 0) || math.IsNaN(mbar[i]) || math.IsInf(mbar[i], 0) {
			return nil, 0, 0, 0, fmt.Errorf("btyd: customer %d: x=%v, mbar=%v: values must be finite", i, x[i], mbar[i])
		}
		if x[i] < 0 {
			return nil, 0, 0, 0, fmt.Errorf("btyd: customer %d: x=%v: must be >= 0", i, x[i])
		}
		if x[i] == 0 || mbar[i] <= 0 {
			excluded++
			if x[i] > 0 {
				nonPositive++
			}
			continue
		}
		sum += mbar[i]
		rows = append(rows, ggRow{x: x[i], m: mbar[i], logX: math.Log(x[i]), logM: math.Log(mbar[i]), weight: 1})
	}
	if len(rows) == 0 {
		return nil, 0, 0, 0, fmt.Errorf("btyd: Gamma-Gamma needs customers with x > 0 and mbar > 0; none among %d", len(x))
	}
	n := len(rows)
	slices.SortFunc(rows, func(a, b ggRow) int { return cmp.Or(cmp.Compare(a.x, b.x), cmp.Compare(a.m, b.m)) })
	d := &ggData{total: float64(n)}
	for _, r := range rows {
		if k := len(d.rows); k > 0 && d.rows[k-1].x == r.x && d.rows[k-1].m == r.m {
			d.rows[k-1].weight++
			continue
		}
		d.rows = append(d.rows, r)
	}
	return d, excluded, nonPositive, sum / float64(n), nil
}

// FitGammaGamma fits the Gamma-Gamma model on the customers with x > 0 and
// mbar > 0 (the others are counted in Excluded) with default options.
func FitGammaGamma(x, mbar []float64) (*GammaGamma, error) {
	return FitGammaGammaWithOptions(x, mbar, FitOptions{})
}

// FitGammaGammaWithOptions is FitGammaGamma with explicit optimiser options
// (FitOptions.Start holds p, q, v).
func FitGammaGammaWithOptions(x, mbar []float64, opts FitOptions) (*GammaGamma, error) {
	d, excluded, nonPositive, mean, err := newGGData(x, mbar)
	if err != nil {
		return nil, err
	}
	// lifetimes' default start, then p = 2, q = 3, v = mean(mbar), whose
	// population mean p·v/(q−1) equals the sample mean.
	starts := [][]float64{{0.1, 0.1, 0.1}, {math.Log(2), math.Log(3), math.Log(mean)}}
	f, err := fitModel(d.objective, ggNames, starts, opts)
	if err != nil {
		return nil, err
	}
	g := &GammaGamma{
		P: f.p[0], Q: f.p[1], V: f.p[2],
		N: int(d.total), Excluded: excluded, MeanValue: mean,
		Iterations: f.iterations, Converged: f.converged, Warnings: f.warnings,
	}
	g.LogLik = d.logLik(g.P, g.Q, g.V, nil)
	if nonPositive > 0 {
		g.Warnings = append(g.Warnings, fmt.Sprintf("%d repeat customers with mbar <= 0 were left out of the fit", nonPositive))
	}
	if g.Q <= 1 {
		g.Warnings = append(g.Warnings, fmt.Sprintf("q=%.4g <= 1: the population mean value p·v/(q−1) does not exist; ConditionalExpectedValue falls back to the sample mean %.4g where the formula is undefined", g.Q, mean))
	}
	return g, nil
}

// ConditionalExpectedValue returns E[M | x, mbar], the expected value of a
// future purchase of a customer with x repeat purchases of mean value mbar:
//
//	p·(v + x·mbar) / (p·x + q − 1),
//
// a weighted average of the population mean p·v/(q−1) (returned when x = 0)
// and mbar. Where the denominator is ≤ 0 (only possible when q ≤ 1) the
// expectation does not exist and MeanValue is returned instead. Negative or
// non-finite inputs give NaN.
func (g *GammaGamma) ConditionalExpectedValue(x, mbar float64) float64 {
	if math.IsNaN(x) || math.IsNaN(mbar) || x < 0 || mbar < 0 || math.IsInf(x, 0) || math.IsInf(mbar, 0) {
		return math.NaN()
	}
	if x == 0 {
		mbar = 0
	}
	den := g.P*x + g.Q - 1
	if den <= 0 {
		return g.MeanValue
	}
	return g.P * (g.V + x*mbar) / den
}

// LogLikelihood returns the Gamma-Gamma log-likelihood of the customers with
// x > 0 and mbar > 0 at the model's parameters.
func (g *GammaGamma) LogLikelihood(x, mbar []float64) (float64, error) {
	d, _, _, _, err := newGGData(x, mbar)
	if err != nil {
		return 0, err
	}
	return d.logLik(g.P, g.Q, g.V, nil), nil
}
