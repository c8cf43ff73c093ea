package btyd

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// BGNBD is a fitted BG/NBD model. Purchase rates λ ~ Gamma(R, Alpha) (shape,
// rate; time unit weeks) and per-purchase dropout probabilities
// p ~ Beta(A, B). A value built by hand (e.g. from stored parameters) only
// needs R, Alpha, A and B, all > 0.
type BGNBD struct {
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
	// Warnings explains boundary solutions and optimiser trouble; the
	// parameters are usable whenever Fit returned no error.
	Warnings []string `json:"warnings,omitempty"`
}

var bgnbdNames = []string{"r", "alpha", "a", "b"}

// noDropoutThreshold: a fit whose mean dropout probability a/(a+b) is below
// this is reported as lying on the no-dropout boundary.
const noDropoutThreshold = 1e-6

// maxRepeat bounds x: the likelihood sums over 0..x-1 and a larger count is
// certainly a data error (the contract counts purchase days).
const maxRepeat = 10_000_000

// bgRow is one distinct (x, t_x, T) triple and how many customers share it.
type bgRow struct {
	x      int
	tx, T  float64
	weight float64
	// indices of t_x and T in bgData.times
	itx, iT int
}

// bgData is the deduplicated, deterministically ordered fitting data.
type bgData struct {
	rows  []bgRow
	total float64 // number of customers
	maxX  int
	// times holds the distinct values of t_x and T (weeks are whole days / 7
	// in practice, so there are few), so that the logarithms depending on α
	// are computed once per distinct time and evaluation.
	times []float64
	// shift is 0 for BG/NBD and 1 for MBG/NBD: a customer with x repeat
	// purchases had x+shift chances to drop out (MBG/NBD also lets customers
	// drop out right after the first purchase).
	shift int
	// scratch, reused across evaluations: per distinct time τ,
	// log1p(τ/α), log(α+τ) and 1/(α+τ) ...
	l1, lg, inv []float64
	// ... and per j ≤ maxX+1, prefix sums over k < j plus log(b+j−1) and
	// b/(b+j−1).
	s1, ds1, s2, ds2a, ds2b, lbx, rbx []float64
}

// checkRFM validates one customer's x, t_x, T.
func checkRFM(i int, x, tx, T float64) error {
	switch {
	case math.IsNaN(x) || math.IsNaN(tx) || math.IsNaN(T) || math.IsInf(x, 0) || math.IsInf(tx, 0) || math.IsInf(T, 0):
		return fmt.Errorf("btyd: customer %d: x=%v, t_x=%v, T=%v: values must be finite", i, x, tx, T)
	case x < 0 || x != math.Trunc(x):
		return fmt.Errorf("btyd: customer %d: x=%v: must be a non-negative whole number of repeat purchases", i, x)
	case x > maxRepeat:
		return fmt.Errorf("btyd: customer %d: x=%v: more than %d repeat purchases", i, x, maxRepeat)
	case tx < 0:
		return fmt.Errorf("btyd: customer %d: t_x=%v: must be >= 0", i, tx)
	case tx > T*(1+1e-9)+1e-9:
		return fmt.Errorf("btyd: customer %d: t_x=%v > T=%v: the last purchase cannot be after the cutoff", i, tx, T)
	}
	return nil
}

// newBGData pools the customers; shift is 0 for BG/NBD, 1 for MBG/NBD.
func newBGData(x, tx, T []float64, shift int) (*bgData, error) {
	rows, err := rfmRows(x, tx, T)
	if err != nil {
		return nil, err
	}
	d := &bgData{rows: poolRows(rows), total: float64(len(x)), shift: shift}
	d.maxX = d.rows[len(d.rows)-1].x
	for _, r := range d.rows {
		d.times = append(d.times, r.tx, r.T)
	}
	slices.Sort(d.times)
	d.times = slices.Compact(d.times)
	for i := range d.rows {
		d.rows[i].itx, _ = slices.BinarySearch(d.times, d.rows[i].tx)
		d.rows[i].iT, _ = slices.BinarySearch(d.times, d.rows[i].T)
	}
	nt := len(d.times)
	d.l1, d.lg, d.inv = make([]float64, nt), make([]float64, nt), make([]float64, nt)
	m := d.maxX + 2
	d.s1, d.ds1, d.s2, d.ds2a, d.ds2b = make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m), make([]float64, m)
	d.lbx, d.rbx = make([]float64, m), make([]float64, m)
	return d, nil
}

// rfmRows validates the customers and returns one row each, with t_x
// clamped to T and set to 0 when x = 0.
func rfmRows(x, tx, T []float64) ([]bgRow, error) {
	n := len(x)
	if len(tx) != n || len(T) != n {
		return nil, fmt.Errorf("btyd: length mismatch: len(x)=%d, len(t_x)=%d, len(T)=%d", n, len(tx), len(T))
	}
	if n == 0 {
		return nil, fmt.Errorf("btyd: no customers to fit")
	}
	rows := make([]bgRow, n)
	for i := range x {
		if err := checkRFM(i, x[i], tx[i], T[i]); err != nil {
			return nil, err
		}
		txi := math.Min(tx[i], T[i])
		if x[i] == 0 {
			txi = 0 // t_x carries no information without repeat purchases
		}
		rows[i] = bgRow{x: int(x[i]), tx: txi, T: T[i], weight: 1}
	}
	return rows, nil
}

// poolRows sorts the rows deterministically and merges customers with the
// same (x, t_x, T) into one weighted row.
func poolRows(rows []bgRow) []bgRow {
	slices.SortFunc(rows, func(p, q bgRow) int {
		return cmp.Or(cmp.Compare(p.x, q.x), cmp.Compare(p.tx, q.tx), cmp.Compare(p.T, q.T))
	})
	var out []bgRow
	for _, r := range rows {
		if k := len(out); k > 0 && out[k-1].x == r.x && out[k-1].tx == r.tx && out[k-1].T == r.T {
			out[k-1].weight++
			continue
		}
		out = append(out, r)
	}
	return out
}

// logAddExp returns log(e^u + e^v) and the weight e^u/(e^u+e^v).
func logAddExp(u, v float64) (float64, float64) {
	if math.IsInf(v, -1) {
		return u, 1
	}
	if u >= v {
		e := math.Exp(v - u)
		return u + math.Log1p(e), 1 / (1 + e)
	}
	e := math.Exp(u - v)
	return v + math.Log1p(e), e / (1 + e)
}

// logLik returns the total BG/NBD (shift 0) or MBG/NBD (shift 1)
// log-likelihood at natural parameters and, when grad is non-nil, its
// gradient with respect to the log-parameters.
//
// For one customer (Fader, Hardie & Lee 2005, eq. 6; Batislam, Denizel &
// Filiztekin 2007), with j = x+shift dropout opportunities and written so
// that no large terms cancel when a → 0, b → ∞ or α → ∞:
//
//	ℓ = Σ_{k<x} log(r+k) − Σ_{k<j} log1p(a/(b+k)) + logaddexp(u, v)
//	u = −r·log1p(T/α) − x·log(α+T)
//	v = −r·log1p(t_x/α) − x·log(α+t_x) + log a − log(b+j−1)   (j > 0 only)
func (d *bgData) logLik(r, alpha, a, b float64, grad []float64) float64 {
	d.prefixes(r, alpha, a, b)
	logA := math.Log(a)
	var ll float64
	var g [4]float64
	for _, row := range d.rows {
		x, j, w := float64(row.x), row.x+d.shift, row.weight
		iT, itx := row.iT, row.itx
		u := -r*d.l1[iT] - x*d.lg[iT]
		if j == 0 {
			ll += w * u
			g[0] -= w * r * d.l1[iT]
			g[1] += w * r * row.T * d.inv[iT]
			continue
		}
		v := -r*d.l1[itx] - x*d.lg[itx] + logA - d.lbx[j]
		lae, wu := logAddExp(u, v)
		ll += w * (d.s1[row.x] + d.s2[j] + lae)
		wv := 1 - wu
		g[0] += w * (d.ds1[row.x] - r*(wu*d.l1[iT]+wv*d.l1[itx]))
		g[1] += w * (wu*(r*row.T-x*alpha)*d.inv[iT] + wv*(r*row.tx-x*alpha)*d.inv[itx])
		g[2] += w * (d.ds2a[j] + wv)
		g[3] += w * (d.ds2b[j] - wv*d.rbx[j])
	}
	if grad != nil {
		copy(grad, g[:])
	}
	return ll
}

// prefixes fills the scratch of logLik: the logarithms per distinct time
// and the prefix sums per count, shared by all customers with the same x.
func (d *bgData) prefixes(r, alpha, a, b float64) {
	for i, tau := range d.times {
		d.l1[i] = math.Log1p(tau / alpha)
		d.lg[i] = math.Log(alpha + tau)
		d.inv[i] = 1 / (alpha + tau)
	}
	var c1, cd1, c2, cd2a, cd2b float64
	for k := range d.s1 {
		d.s1[k], d.ds1[k], d.s2[k], d.ds2a[k], d.ds2b[k] = c1, cd1, c2, cd2a, cd2b
		fk := float64(k)
		if k > 0 {
			d.lbx[k] = math.Log(b + fk - 1)
			d.rbx[k] = b / (b + fk - 1)
		}
		c1 += math.Log(r + fk)
		cd1 += r / (r + fk)
		c2 -= math.Log1p(a / (b + fk))
		cd2a -= a / (a + b + fk)
		cd2b += a * b / ((b + fk) * (a + b + fk))
	}
}

// objective is the mean negative log-likelihood per customer in log space.
func (d *bgData) objective(theta, grad []float64) float64 {
	ll := d.logLik(math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3]), grad)
	for i := range grad {
		grad[i] = -grad[i] / d.total
	}
	if math.IsNaN(ll) || math.IsInf(ll, 0) {
		return math.Inf(1)
	}
	return -ll / d.total
}

// starts returns deterministic starting points in log space: lifetimes'
// default (every log-parameter 0.1) and a moment-based one (λ mean from the
// observed purchase rate, mean dropout probability 0.25).
func (d *bgData) starts() [][]float64 {
	var sx, sT float64
	for _, r := range d.rows {
		sx += r.weight * float64(r.x)
		sT += r.weight * r.T
	}
	rate := (sx + 0.5*d.total) / math.Max(sT, 1e-9) // purchases per week, kept > 0
	rate = math.Max(rate, 1e-6)
	return [][]float64{
		{0.1, 0.1, 0.1, 0.1},
		{0, -math.Log(rate), 0, math.Log(3)},
	}
}

// FitBGNBD fits the BG/NBD model by maximum likelihood. x must hold whole
// numbers of repeat purchases, and 0 ≤ t_x ≤ T (weeks). Customers with the
// same (x, t_x, T) are pooled, so the cost grows with the number of distinct
// triples. On data whose maximum lies on the boundary of the parameter space
// (e.g. no customer ever seems to drop out: a → 0) the returned parameters are
// finite, their predictions equal the boundary limit, and Warnings says so.
func FitBGNBD(x, tx, T []float64, opts FitOptions) (*BGNBD, error) {
	f, err := fitBGFamily(x, tx, T, 0, opts)
	if err != nil {
		return nil, err
	}
	return &BGNBD{R: f.p[0], Alpha: f.p[1], A: f.p[2], B: f.p[3], LogLik: f.ll, N: len(x),
		Iterations: f.iterations, Converged: f.converged, Warnings: f.warnings}, nil
}

// fitted is what the fitters of this package share: natural parameters,
// log-likelihood and the optimiser's report.
type fitted struct {
	p          []float64
	ll         float64
	iterations int
	converged  bool
	warnings   []string
}

// fitBGFamily fits BG/NBD (shift 0) or MBG/NBD (shift 1).
func fitBGFamily(x, tx, T []float64, shift int, opts FitOptions) (fitted, error) {
	d, err := newBGData(x, tx, T, shift)
	if err != nil {
		return fitted{}, err
	}
	f, err := fitModel(d.objective, bgnbdNames, d.starts(), opts)
	if err != nil {
		return f, err
	}
	f.ll = d.logLik(f.p[0], f.p[1], f.p[2], f.p[3], nil)
	if d.maxX == 0 {
		f.warnings = append(f.warnings, "no customer has a repeat purchase (every x = 0): the purchase rate r/alpha goes to 0 and the dropout parameters a, b are not identified")
	} else if p := f.p[2] / (f.p[2] + f.p[3]); p < noDropoutThreshold {
		f.warnings = append(f.warnings, fmt.Sprintf("MLE on the no-dropout boundary (a=%.3g, b=%.3g, mean dropout probability a/(a+b)=%.3g < %g): the data show no evidence of dropout and predictions equal the NBD (no-dropout) limit", f.p[2], f.p[3], p, noDropoutThreshold))
	}
	return f, nil
}

// LogLikelihood returns the BG/NBD log-likelihood of the given customers at
// the model's parameters.
func (m *BGNBD) LogLikelihood(x, tx, T []float64) (float64, error) {
	d, err := newBGData(x, tx, T, 0)
	if err != nil {
		return 0, err
	}
	return d.logLik(m.R, m.Alpha, m.A, m.B, nil), nil
}
