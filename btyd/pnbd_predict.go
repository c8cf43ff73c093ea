package btyd

import "math"

// ProbAlive returns P(customer still alive at T | x, t_x, T) (Fader & Hardie's
// note, eq. 18):
//
//	1 / (1 + s · (α+T)^(r+x) (β+T)^s · ∫_{t_x}^T (α+τ)^−(r+x) (β+τ)^−(s+1) dτ),
//
// the "alive" share of the likelihood. It is 1 when t_x = T. Invalid inputs,
// or a hypergeometric function that cannot be evaluated, give NaN.
func (m *ParetoNBD) ProbAlive(x, tx, T float64) float64 {
	if badRFM(x, tx, T) || tx > T {
		return math.NaN()
	}
	li, err := logIntegral(m.R+x, m.S+1, m.Alpha, m.Beta, tx, T)
	if err != nil {
		return math.NaN()
	}
	logOdds := math.Log(m.S) + li + (m.R+x)*math.Log(m.Alpha+T) + m.S*math.Log(m.Beta+T)
	return 1 / (1 + math.Exp(logOdds))
}

// ExpectedPurchases returns E[X(t) | x, t_x, T], the expected number of
// purchases in the t weeks after the cutoff (Schmittlein et al. 1987; Fader &
// Hardie's note, eq. 21):
//
//	P(alive) · (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)],
//
// evaluated as P(alive) · (r+x)/(α+T) · (β+T) · (−expm1(−(s−1)·L))/(s−1),
// L = log1p(t/(β+T)), which is accurate near s = 1 and equals
// P(alive) · (r+x)/(α+T) · (β+T) · L at s = 1. t ≤ 0 gives 0; invalid inputs
// give NaN.
func (m *ParetoNBD) ExpectedPurchases(t, x, tx, T float64) float64 {
	return givenAlive(t, m.ProbAlive(x, tx, T), func() float64 {
		c, L := m.S-1, math.Log1p(t/(m.Beta+T))
		g := L
		if c != 0 {
			g = -math.Expm1(-c*L) / c
		}
		return (m.R + x) / (m.Alpha + T) * (m.Beta + T) * g
	})
}

// ProbPurchase returns P(X(t) > 0 | x, t_x, T), the probability that the
// customer buys at least once in the next t weeks. Given alive at T,
// λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T) independently, and the first
// purchase comes before death and before t with probability
//
//	E[λ/(λ+μ) · (1 − e^−(λ+μ)t)] = (r+x)(α+T)^(r+x)(β+T)^s · ∫_T^{T+t} (α+τ)^−(r+x+1) (β+τ)^−s dτ,
//
// the same kind of integral as in the likelihood. t ≤ 0 gives 0; invalid
// inputs give NaN.
func (m *ParetoNBD) ProbPurchase(t, x, tx, T float64) float64 {
	return givenAlive(t, m.ProbAlive(x, tx, T), func() float64 {
		if math.IsInf(t, 1) {
			return m.firstPurchaseEver(x, T)
		}
		li, err := logIntegral(m.R+x+1, m.S, m.Alpha, m.Beta, T, T+t)
		if err != nil {
			return math.NaN()
		}
		return math.Min(1, (m.R+x)*math.Exp(li+(m.R+x)*math.Log(m.Alpha+T)+m.S*math.Log(m.Beta+T)))
	})
}

// firstPurchaseEver is the t → ∞ limit of ProbPurchase given alive,
// E[λ/(λ+μ)].
func (m *ParetoNBD) firstPurchaseEver(x, T float64) float64 {
	lt, err := logTail(m.R+x+1, m.S, m.Alpha, m.Beta, T)
	if err != nil {
		return math.NaN()
	}
	return math.Min(1, (m.R+x)*math.Exp(lt+(m.R+x)*math.Log(m.Alpha+T)+m.S*math.Log(m.Beta+T)))
}
