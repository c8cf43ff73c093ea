package btyd

import (
	"fmt"
	"math"
)

// ParetoNBD is a fitted Pareto/NBD model (Schmittlein, Morrison & Colombo
// 1987): while alive a customer buys at rate λ ~ Gamma(R, Alpha) and dies at
// rate μ ~ Gamma(S, Beta) (shape, rate; weeks), both exponential clocks
// running in continuous time. A value built by hand only needs R, Alpha, S
// and Beta, all > 0.
type ParetoNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	S     float64 `json:"s"`
	Beta  float64 `json:"beta"`
	// LogLik is the log-likelihood of the fitted data at the parameters.
	LogLik float64 `json:"loglik"`
	// N is the number of customers the model was fitted on.
	N int `json:"n"`
	// Iterations counts the optimiser's major iterations over all runs.
	Iterations int `json:"iterations"`
	// Converged is true when the (central-difference) gradient of the mean
	// log-likelihood per customer (log-parameter space) is below 1e-6 at the
	// returned point.
	Converged bool `json:"converged"`
	// Warnings explains boundary solutions and optimiser trouble.
	Warnings []string `json:"warnings,omitempty"`
}

var pnbdNames = []string{"r", "alpha", "s", "beta"}

// pnbdData is the pooled fitting data of the Pareto/NBD.
type pnbdData struct {
	rows  []bgRow
	total float64
	maxX  int
}

func newPNBDData(x, tx, T []float64) (*pnbdData, error) {
	rows, err := rfmRows(x, tx, T)
	if err != nil {
		return nil, err
	}
	d := &pnbdData{rows: poolRows(rows), total: float64(len(x))}
	d.maxX = d.rows[len(d.rows)-1].x
	return d, nil
}

// logLik returns the total Pareto/NBD log-likelihood, or an error when a
// hypergeometric function cannot be evaluated (only at extreme parameters).
func (d *pnbdData) logLik(r, alpha, s, beta float64) (float64, error) {
	lgr, _ := math.Lgamma(r)
	ll, lastX, lgrx := 0.0, -1, 0.0
	for _, row := range d.rows {
		if row.x != lastX { // rows are sorted by x
			lastX = row.x
			lgrx, _ = math.Lgamma(r + float64(row.x))
		}
		l, err := pnbdRowLogLik(r, alpha, s, beta, float64(row.x), row.tx, row.T)
		if err != nil {
			return math.NaN(), err
		}
		ll += row.weight * (lgrx - lgr + l)
	}
	return ll, nil
}

// pnbdRowLogLik is one customer's log-likelihood less lnΓ(r+x) − lnΓ(r)
// (Fader & Hardie, "A note on deriving the Pareto/NBD model and related
// expressions", 2005):
//
//	L = Γ(r+x)α^r β^s/Γ(r) · [(α+T)^−(r+x) (β+T)^−s + s · ∫_{t_x}^T (α+τ)^−(r+x) (β+τ)^−(s+1) dτ],
//
// the two terms being "alive at T" and "died at τ after the last purchase".
// The integral is the difference of the note's two 2F1 terms (see
// logIntegral); r·log α − (r+x)·log(α+T) is written as
// −r·log1p(T/α) − x·log(α+T) so that nothing cancels when α is large.
func pnbdRowLogLik(r, alpha, s, beta, x, tx, T float64) (float64, error) {
	u := -r*math.Log1p(T/alpha) - x*math.Log(alpha+T) - s*math.Log1p(T/beta)
	li, err := logIntegral(r+x, s+1, alpha, beta, tx, T)
	if err != nil {
		return math.NaN(), err
	}
	v := math.Log(s) + li + r*math.Log(alpha) + s*math.Log(beta)
	lae, _ := logAddExp(u, v)
	return lae, nil
}

// objective is the mean negative log-likelihood per customer in log space;
// +Inf where it cannot be evaluated.
func (d *pnbdData) objective(theta []float64) float64 {
	ll, err := d.logLik(math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3]))
	if err != nil || math.IsNaN(ll) || math.IsInf(ll, 0) {
		return math.Inf(1)
	}
	return -ll / d.total
}

// starts returns deterministic starting points in log space: lifetimes'
// default (every log-parameter 0.1) and a moment-based one (λ mean from the
// observed purchase rate, mean lifetime of a year).
func (d *pnbdData) starts() [][]float64 {
	var sx, sT float64
	for _, r := range d.rows {
		sx += r.weight * float64(r.x)
		sT += r.weight * r.T
	}
	rate := math.Max((sx+0.5*d.total)/math.Max(sT, 1e-9), 1e-6)
	return [][]float64{
		{0.1, 0.1, 0.1, 0.1},
		{0, -math.Log(rate), 0, math.Log(52)},
	}
}

// FitParetoNBD fits the Pareto/NBD model by maximum likelihood; inputs and
// pooling are as for [FitBGNBD]. The gradient is a central difference (the
// analytic one would need parameter derivatives of 2F1). When the data show
// no dropout the MLE lies on the boundary s/β → 0; the returned parameters
// are then finite and Warnings says so.
func FitParetoNBD(x, tx, T []float64, opts FitOptions) (*ParetoNBD, error) {
	d, err := newPNBDData(x, tx, T)
	if err != nil {
		return nil, err
	}
	f, err := fitModel(withNumericGradient(d.objective), pnbdNames, d.starts(), opts)
	if err != nil {
		return nil, err
	}
	m := &ParetoNBD{R: f.p[0], Alpha: f.p[1], S: f.p[2], Beta: f.p[3], N: len(x),
		Iterations: f.iterations, Converged: f.converged, Warnings: f.warnings}
	m.LogLik, _ = d.logLik(m.R, m.Alpha, m.S, m.Beta)
	if d.maxX == 0 {
		m.Warnings = append(m.Warnings, "no customer has a repeat purchase (every x = 0): the purchase rate r/alpha goes to 0 and the dropout parameters s, beta are not identified")
	} else if mu := m.S / m.Beta; mu < noDropoutThreshold {
		m.Warnings = append(m.Warnings, fmt.Sprintf("MLE on the no-dropout boundary (s=%.3g, beta=%.3g, mean dropout rate s/beta=%.3g per week < %g): the data show no evidence of dropout and predictions equal the NBD (no-dropout) limit", m.S, m.Beta, mu, noDropoutThreshold))
	}
	return m, nil
}

// LogLikelihood returns the Pareto/NBD log-likelihood of the given customers
// at the model's parameters.
func (m *ParetoNBD) LogLikelihood(x, tx, T []float64) (float64, error) {
	d, err := newPNBDData(x, tx, T)
	if err != nil {
		return 0, err
	}
	return d.logLik(m.R, m.Alpha, m.S, m.Beta)
}
