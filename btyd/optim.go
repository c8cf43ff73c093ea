package btyd

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/optimize"
)

// FitOptions tunes the maximum-likelihood fits. The zero value selects the
// defaults, which are what the clvflow pipeline uses.
type FitOptions struct {
	// MaxIterations caps the BFGS major iterations of each run (default 1000).
	MaxIterations int
	// GradTol stops BFGS when the infinity norm of the gradient of the mean
	// negative log-likelihood per customer, taken in log-parameter space, is
	// below it (default 1e-10).
	GradTol float64
	// Start optionally adds a starting point (natural-scale parameters in the
	// order of the model, e.g. r, alpha, a, b); it is tried before the
	// built-in starts. All entries must be finite and > 0.
	Start []float64
}

const (
	defaultMaxIterations = 1000
	defaultGradTol       = 1e-10
	// thetaLimit bounds every log-parameter: parameters stay in
	// [e^-30, e^30] ≈ [9.4e-14, 1.1e13]. Beyond it the objective is evaluated
	// at the clamped point plus a quadratic penalty, which keeps it finite and
	// smooth enough for the line search while the MLE escapes to a boundary.
	thetaLimit = 30.0
	// convergedGradTol is the gradient norm (mean log-likelihood per customer,
	// log-parameter space) below which a fit is reported as converged.
	convergedGradTol = 1e-6
)

func (o FitOptions) withDefaults() FitOptions {
	if o.MaxIterations <= 0 {
		o.MaxIterations = defaultMaxIterations
	}
	if o.GradTol <= 0 {
		o.GradTol = defaultGradTol
	}
	return o
}

// startTheta converts natural-scale user start parameters to log space.
func (o FitOptions) startTheta(names []string) ([]float64, error) {
	if o.Start == nil {
		return nil, nil
	}
	if len(o.Start) != len(names) {
		return nil, fmt.Errorf("btyd: FitOptions.Start has %d values, want %d (%v)", len(o.Start), len(names), names)
	}
	theta := make([]float64, len(names))
	for i, v := range o.Start {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("btyd: FitOptions.Start %s = %v, must be finite and > 0", names[i], v)
		}
		theta[i] = math.Log(v)
	}
	return theta, nil
}

// logObjective evaluates the mean negative log-likelihood per customer at the
// log-parameters theta and, when grad is non-nil, stores its gradient with
// respect to theta in grad. It must return a finite value for every theta
// with |theta_i| ≤ thetaLimit.
type logObjective func(theta, grad []float64) float64

// bounded wraps obj with the clamp-and-penalty rule described at thetaLimit.
func bounded(obj logObjective) logObjective {
	return func(theta, grad []float64) float64 {
		clamped := make([]float64, len(theta))
		pen := 0.0
		for i, v := range theta {
			c := math.Max(-thetaLimit, math.Min(thetaLimit, v))
			if math.IsNaN(v) {
				c = 0
			}
			clamped[i] = c
			pen += 0.5 * (v - c) * (v - c)
		}
		f := obj(clamped, grad)
		if grad != nil {
			for i, v := range theta {
				if v != clamped[i] {
					grad[i] = v - clamped[i]
				}
			}
		}
		if math.IsNaN(f) {
			return math.Inf(1)
		}
		return f + pen
	}
}

// cachedProblem evaluates value and gradient together (they share almost all
// the work) and serves gonum's separate Func and Grad calls from one pass.
type cachedProblem struct {
	obj   logObjective
	x     []float64
	f     float64
	g     []float64
	valid bool
}

func (c *cachedProblem) eval(x []float64) {
	if c.valid && slices.Equal(c.x, x) {
		return
	}
	if c.g == nil {
		c.g = make([]float64, len(x))
	}
	c.x = append(c.x[:0], x...)
	c.f = c.obj(x, c.g)
	c.valid = true
}

func (c *cachedProblem) problem() optimize.Problem {
	return optimize.Problem{
		Func: func(x []float64) float64 { c.eval(x); return c.f },
		Grad: func(grad, x []float64) { c.eval(x); copy(grad, c.g) },
	}
}

// fitOutcome is the result of minimizeLog.
type fitOutcome struct {
	theta      []float64
	f          float64 // penalised objective at theta
	iterations int
	gradNorm   float64 // infinity norm of the gradient at theta
	notes      []string
}

// fitLog minimises obj over log-parameters from the caller's start
// (opts.Start, tried first) and the given starts, and returns the outcome
// and its parameters clamped to ±thetaLimit.
func fitLog(obj logObjective, names []string, starts [][]float64, opts FitOptions) (fitOutcome, []float64, error) {
	opts = opts.withDefaults()
	user, err := opts.startTheta(names)
	if err != nil {
		return fitOutcome{}, nil, err
	}
	if user != nil {
		starts = append([][]float64{user}, starts...)
	}
	out, err := minimizeLog(obj, starts, opts)
	if err != nil {
		return out, nil, err
	}
	return out, clampTheta(out.theta), nil
}

// minimizeLog minimises obj from every start with BFGS and keeps the best
// point; if that point is not stationary it is polished with Nelder-Mead and
// BFGS is re-run from there. Optimiser
// errors (line-search failures at the precision limit are common near a
// boundary) are not fatal: the best finite point found is kept and the
// error is recorded in notes.
func minimizeLog(obj logObjective, starts [][]float64, opts FitOptions) (fitOutcome, error) {
	m := &minimizer{obj: bounded(obj), opts: opts}
	m.best.f = math.Inf(1)
	for i, s := range starts {
		if f := m.obj(s, nil); math.IsInf(f, 0) || math.IsNaN(f) {
			m.best.notes = append(m.best.notes, fmt.Sprintf("start %d skipped: objective not finite", i))
			continue
		}
		m.bfgs(s, fmt.Sprintf("start %d", i))
	}
	if m.best.theta == nil {
		return m.best, errors.New("btyd: no starting point gave a finite log-likelihood")
	}
	// Nelder-Mead polish, only when BFGS stopped short of a stationary point
	// (typically a line search defeated by rounding): it is derivative-free,
	// so it can still move there. A BFGS run from the polished point follows.
	if m.gradNorm(m.best.theta) > convergedGradTol {
		m.polish()
	}
	m.best.f = m.obj(m.best.theta, nil)
	m.best.gradNorm = m.gradNorm(m.best.theta)
	m.best.iterations = m.total
	return m.best, nil
}

// minimizer is the state of one minimizeLog: the best point so far and
// the iterations of every run.
type minimizer struct {
	obj   logObjective
	opts  FitOptions
	best  fitOutcome
	total int
}

// consider keeps x when f improves on the best point.
func (m *minimizer) consider(x []float64, f float64) {
	if f < m.best.f && !math.IsNaN(f) {
		m.best.f = f
		m.best.theta = slices.Clone(x)
	}
}

// bfgs runs BFGS from start (label names it in notes).
func (m *minimizer) bfgs(start []float64, label string) {
	cp := &cachedProblem{obj: m.obj}
	settings := &optimize.Settings{
		GradientThreshold: m.opts.GradTol,
		MajorIterations:   m.opts.MaxIterations,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-15, Relative: 1e-15, Iterations: 25},
	}
	res, err := optimize.Minimize(cp.problem(), start, settings, &optimize.BFGS{})
	if res != nil {
		m.total += res.MajorIterations
		m.consider(res.X, res.F)
	}
	if err != nil && !isBenignStop(err) {
		m.best.notes = append(m.best.notes, fmt.Sprintf("BFGS from %s: %v", label, err))
	}
}

// polish runs Nelder-Mead from the best point and, when it improved it,
// BFGS again from there.
func (m *minimizer) polish() {
	res, err := optimize.Minimize(
		optimize.Problem{Func: func(x []float64) float64 { return m.obj(x, nil) }},
		slices.Clone(m.best.theta),
		&optimize.Settings{
			FuncEvaluations: 3000,
			Converger:       &optimize.FunctionConverge{Absolute: 1e-15, Relative: 1e-15, Iterations: 200},
		},
		&optimize.NelderMead{SimplexSize: 0.05},
	)
	if res != nil {
		m.total += res.MajorIterations
		before := m.best.f
		m.consider(res.X, res.F)
		if m.best.f < before {
			m.bfgs(slices.Clone(m.best.theta), "Nelder-Mead polish")
		}
	}
	if err != nil && !isBenignStop(err) {
		m.best.notes = append(m.best.notes, fmt.Sprintf("Nelder-Mead polish: %v", err))
	}
}

// gradNorm is the largest absolute component of the gradient at theta.
func (m *minimizer) gradNorm(theta []float64) float64 {
	g := make([]float64, len(theta))
	m.obj(theta, g)
	n := 0.0
	for _, v := range g {
		n = math.Max(n, math.Abs(v))
	}
	return n
}

// fitModel runs fitLog and turns its outcome into natural parameters and
// the warnings every fitter shares (optimiser notes, no convergence); the
// caller adds the log-likelihood and its model's own warnings. The
// parameters-at-the-search-bound warning comes last.
func fitModel(obj logObjective, names []string, starts [][]float64, opts FitOptions) (fitted, error) {
	out, theta, err := fitLog(obj, names, starts, opts)
	if err != nil {
		return fitted{}, err
	}
	f := fitted{p: make([]float64, len(theta)), iterations: out.iterations,
		converged: out.gradNorm <= convergedGradTol, warnings: out.notes}
	for i, v := range theta {
		f.p[i] = math.Exp(v)
	}
	if !f.converged {
		f.warnings = append(f.warnings, fmt.Sprintf("optimizer did not converge: gradient norm %.3g > %.0e after %d iterations; parameters are the best point found", out.gradNorm, convergedGradTol, out.iterations))
	}
	if lim := atLimit(theta, names); len(lim) > 0 {
		f.warnings = append(f.warnings, fmt.Sprintf("parameters at the search bound e^±%g: %v; the likelihood is flat in that direction", thetaLimit, lim))
	}
	return f, nil
}

// isBenignStop reports whether an optimiser error only means "no further
// progress possible in floating point", which is how BFGS ends at a flat
// optimum or on a boundary; the best point found is still valid.
func isBenignStop(err error) bool {
	return errors.Is(err, optimize.ErrNoProgress) ||
		errors.Is(err, optimize.ErrLinesearcherFailure) ||
		errors.Is(err, optimize.ErrNonDescentDirection)
}

// atLimit lists the parameters whose log lies at (or within 1 of) thetaLimit.
func atLimit(theta []float64, names []string) []string {
	var out []string
	for i, v := range theta {
		if math.Abs(v) >= thetaLimit-1 {
			out = append(out, fmt.Sprintf("%s=%.3g", names[i], math.Exp(v)))
		}
	}
	return out
}

// clampTheta returns theta limited to the allowed box.
func clampTheta(theta []float64) []float64 {
	out := make([]float64, len(theta))
	for i, v := range theta {
		out[i] = math.Max(-thetaLimit, math.Min(thetaLimit, v))
	}
	return out
}

// numGradStep is the central-difference step (log-parameter space) of
// withNumericGradient: its truncation error (~h²) and rounding error
// (~1e-16/h) of the mean log-likelihood are both about 1e-10.
const numGradStep = 1e-5

// withNumericGradient makes a logObjective of f, whose gradient is a
// central difference (one-sided where a neighbour is not finite). It serves
// the likelihoods whose analytic derivatives would need derivatives of
// hypergeometric functions with respect to their parameters.
func withNumericGradient(f func(theta []float64) float64) logObjective {
	return func(theta, grad []float64) float64 {
		v := f(theta)
		if grad == nil {
			return v
		}
		th := slices.Clone(theta)
		for i := range theta {
			th[i] = theta[i] + numGradStep
			fp := f(th)
			th[i] = theta[i] - numGradStep
			fm := f(th)
			th[i] = theta[i]
			grad[i] = centralDifference(v, fp, fm)
		}
		return v
	}
}

// centralDifference returns the derivative estimate from f(θ) = v,
// f(θ+h) = fp and f(θ−h) = fm, falling back to a one-sided difference (or 0)
// where a value is not finite.
func centralDifference(v, fp, fm float64) float64 {
	okP, okM := !math.IsInf(fp, 0) && !math.IsNaN(fp), !math.IsInf(fm, 0) && !math.IsNaN(fm)
	switch {
	case okP && okM:
		return (fp - fm) / (2 * numGradStep)
	case okP:
		return (fp - v) / numGradStep
	case okM:
		return (v - fm) / numGradStep
	}
	return 0
}
