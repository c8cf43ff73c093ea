package btyd

import "math"

// MBGNBD is a fitted MBG/NBD model (Batislam, Denizel & Filiztekin 2007): as
// BG/NBD, but a customer may also drop out right after the first purchase,
// so customers without repeat purchases are not certainly alive. Purchase
// rates λ ~ Gamma(R, Alpha) (shape, rate; weeks) and dropout probabilities
// p ~ Beta(A, B). A value built by hand only needs R, Alpha, A and B, all > 0.
type MBGNBD struct {
	R     float64 `json:"r"`
	Alpha float64 `json:"alpha"`
	A     float64 `json:"a"`
	B     float64 `json:"b"`
	// LogLik is the log-likelihood of the fitted data at the parameters.
	LogLik float64 `json:"loglik"`
	// N is the number of customers the model was fitted on.
	N int `json:"n"`
	// Iterations counts the optimiser's major iterations over all runs.
	Iterations int `json:"iterations"`
	// Converged is true when the gradient of the mean log-likelihood per
	// customer (log-parameter space) is below 1e-6 at the returned point.
	Converged bool `json:"converged"`
	// Warnings explains boundary solutions and optimiser trouble.
	Warnings []string `json:"warnings,omitempty"`
}

// FitMBGNBD fits the MBG/NBD model by maximum likelihood; inputs, pooling,
// boundary handling and warnings are as for [FitBGNBD]. Per customer, with
// B the Beta function,
//
//	L = Γ(r+x)α^r/Γ(r) · B(a, b+x+1)/B(a, b) · [(α+T)^−(r+x) + a/(b+x) · (α+t_x)^−(r+x)].
func FitMBGNBD(x, tx, T []float64, opts FitOptions) (*MBGNBD, error) {
	f, err := fitBGFamily(x, tx, T, 1, opts)
	if err != nil {
		return nil, err
	}
	return &MBGNBD{R: f.p[0], Alpha: f.p[1], A: f.p[2], B: f.p[3], LogLik: f.ll, N: len(x),
		Iterations: f.iterations, Converged: f.converged, Warnings: f.warnings}, nil
}

// LogLikelihood returns the MBG/NBD log-likelihood of the given customers at
// the model's parameters.
func (m *MBGNBD) LogLikelihood(x, tx, T []float64) (float64, error) {
	d, err := newBGData(x, tx, T, 1)
	if err != nil {
		return 0, err
	}
	return d.logLik(m.R, m.Alpha, m.A, m.B, nil), nil
}

// ProbAlive returns P(customer still alive at T | x, t_x, T):
//
//	1 / (1 + a/(b+x) · ((α+T)/(α+t_x))^(r+x)).
//
// Invalid inputs give NaN.
func (m *MBGNBD) ProbAlive(x, tx, T float64) float64 {
	if badRFM(x, tx, T) {
		return math.NaN()
	}
	return bgProbAlive(m.R, m.Alpha, m.A, m.B+x, x, tx, T)
}

// ProbPurchase returns P(X(t) > 0 | x, t_x, T): as for BG/NBD, an alive
// customer drops out only right after a purchase, so this is
// P(alive) · (1 − ((α+T)/(α+T+t))^(r+x)). t ≤ 0 gives 0; invalid inputs
// give NaN.
func (m *MBGNBD) ProbPurchase(t, x, tx, T float64) float64 {
	return givenAlive(t, m.ProbAlive(x, tx, T), func() float64 { return firstPurchaseWithin(m.R, m.Alpha, t, x, T) })
}

// ExpectedPurchases returns E[X(t) | x, t_x, T] (Batislam et al. 2007):
//
//	(a+b+x)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x+1; a+b+x; t/(α+T+t))] · P(alive).
//
// A customer alive at T has survived x+1 dropout chances, so p | alive ~
// Beta(a, b+x+1): this is the BG/NBD expectation with b+1 in place of b, and
// it is computed with the same cancellation-free series. t ≤ 0 gives 0;
// invalid inputs give NaN.
func (m *MBGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	alive := &BGNBD{R: m.R, Alpha: m.Alpha, A: m.A, B: m.B + 1}
	return givenAlive(t, m.ProbAlive(x, tx, T), func() float64 { return alive.survivalSum(t, x, T) })
}
