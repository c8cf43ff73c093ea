package btyd

import "math"

// maxSeriesTerms caps the series in ExpectedPurchases. The number of terms
// needed is about the expected number of purchase opportunities, (r+x)·t/(α+T),
// plus a few standard deviations, far below the cap for any realistic horizon.
const maxSeriesTerms = 50_000_000

// ProbAlive returns P(customer still alive at T | x, t_x, T):
//
//	1 / (1 + [x>0] · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))
//
// It is 1 for customers without repeat purchases (BG/NBD lets customers drop
// out only right after a repeat purchase). Invalid inputs give NaN.
func (m *BGNBD) ProbAlive(x, tx, T float64) float64 {
	if badRFM(x, tx, T) {
		return math.NaN()
	}
	if x == 0 {
		return 1
	}
	return bgProbAlive(m.R, m.Alpha, m.A, m.B+x-1, x, tx, T)
}

// badRFM reports inputs no prediction is defined for.
func badRFM(x, tx, T float64) bool {
	return math.IsNaN(x+tx+T) || x < 0 || tx < 0 || T < 0
}

// bgProbAlive is 1 / (1 + a/bj · ((α+T)/(α+t_x))^(r+x)), where bj is b plus
// the number of earlier dropout opportunities.
func bgProbAlive(r, alpha, a, bj, x, tx, T float64) float64 {
	logOdds := math.Log(a) - math.Log(bj) + (r+x)*(math.Log(alpha+T)-math.Log(alpha+tx))
	return 1 / (1 + math.Exp(logOdds))
}

// givenAlive returns pa · f() for a horizon t > 0, 0 for t ≤ 0 and NaN when
// t or pa is NaN: the shared shape of the conditional predictions.
func givenAlive(t, pa float64, f func() float64) float64 {
	if math.IsNaN(t) || math.IsNaN(pa) {
		return math.NaN()
	}
	if t <= 0 {
		return 0
	}
	return pa * f()
}

// firstPurchaseWithin returns 1 − ((α+T)/(α+T+t))^(r+x), the probability
// that a customer with λ ~ Gamma(r+x, α+T) buys within t, accurately for
// small t too.
func firstPurchaseWithin(r, alpha, t, x, T float64) float64 {
	return -math.Expm1(-(r + x) * math.Log1p(t/(alpha+T)))
}

// ProbPurchase returns P(X(t) > 0 | x, t_x, T), the probability that the
// customer buys at least once in the next t weeks. Closed form: a customer who
// is alive at T can only drop out right after a purchase, so the first
// future purchase happens iff the exponential waiting time with rate λ is
// below t; with λ | alive ~ Gamma(r+x, α+T),
//
//	P(X(t) > 0) = P(alive) · (1 − ((α+T)/(α+T+t))^(r+x)).
//
// The second factor is evaluated as −expm1(−(r+x)·log1p(t/(α+T))), which is
// accurate for small t too. t ≤ 0 gives 0; invalid inputs give NaN.
func (m *BGNBD) ProbPurchase(t, x, tx, T float64) float64 {
	return givenAlive(t, m.ProbAlive(x, tx, T), func() float64 { return firstPurchaseWithin(m.R, m.Alpha, t, x, T) })
}

// ExpectedPurchases returns E[X(t) | x, t_x, T], the expected number of
// purchases in the t weeks after the cutoff (Fader, Hardie & Lee 2005, eq. 10):
//
//	(a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(α+T+t))] · P(alive)
//
// It is computed from the equivalent series (see the package documentation)
//
//	P(alive) · Σ_{n≥0} E[(1−p)^n] · P(N > n),  p ~ Beta(a, b+x),  N ~ NegBin(r+x, z),  z = t/(α+T+t),
//
// whose terms are all positive, so there is no cancellation, no singularity at
// a = 1, and the a → 0 limit (r+x)·t/(α+T) comes out exactly. The series
// converges geometrically with ratio z < 1, which needs more terms as the
// horizon grows relative to α+T (≈ (r+x)·t/(α+T) + a few standard deviations).
// t ≤ 0 gives 0; invalid inputs give NaN.
func (m *BGNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	return givenAlive(t, m.ProbAlive(x, tx, T), func() float64 { return m.survivalSum(t, x, T) })
}

// survivalSum returns Σ_{n≥0} E[(1−p)^n]·P(N > n) for p ~ Beta(a, b+x) and
// N ~ NegBin(A = r+x, z = t/(α+T+t)), i.e. E[X(t) | alive at T].
func (m *BGNBD) survivalSum(t, x, T float64) float64 {
	A := m.R + x
	s := t / (m.Alpha + T) // z/(1−z)
	z := s / (1 + s)
	log1mz := -math.Log1p(s) // log(1−z)
	logZ := math.Log(z)
	bx := m.B + x
	abx := m.A + m.B + x

	// pmf(n) = (A)_n z^n (1−z)^A / n!. It is carried in log space while it
	// would underflow (large A with z near 1), linearly afterwards.
	logPmf := A * log1mz
	pmf := math.Exp(logPmf)
	linear := logPmf > -700
	tail := -math.Expm1(A * log1mz) // P(N > 0)
	moment := 1.0                   // E[(1−p)^0]
	sum := 0.0
	for n := 0; n < maxSeriesTerms; n++ {
		term := moment * tail
		sum += term
		fn := float64(n)
		// next pmf value, P(N = n+1)
		if linear {
			pmf *= (A + fn) * z / (fn + 1)
		} else {
			logPmf += math.Log(A+fn) + logZ - math.Log(fn+1)
			if logPmf > -700 {
				linear = true
				pmf = math.Exp(logPmf)
			} else {
				pmf = 0
			}
		}
		tail -= pmf // P(N > n+1)
		moment *= (bx + fn) / (abx + fn)
		if tail <= 0 {
			break
		}
		// From here on the pmf ratio (A+k)z/(k+1) is at most
		// rho = max(z, (A+n+1)z/(n+2)) (it is monotone in k), so once rho < 1
		// the rest of the sum is below moment·tail/(1−rho).
		// tail = Σ_{j>n+1} P(N=j) is then also at most pmf·rho/(1−rho); taking
		// that bound removes the rounding residue of the running subtraction,
		// which would otherwise never reach 0.
		rho := math.Max(z, (A+fn+1)*z/(fn+2))
		if rho < 1 {
			tail = math.Min(tail, pmf*rho/(1-rho))
			if moment*tail/(1-rho) <= 1e-16*sum {
				break
			}
		}
	}
	return sum
}
