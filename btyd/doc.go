// Package btyd implements the "buy till you die" baselines of clvflow: three
// models of repeat purchasing, BG/NBD (Fader, Hardie & Lee 2005, "Counting
// your customers the easy way"), Pareto/NBD (Schmittlein, Morrison & Colombo
// 1987) and MBG/NBD (Batislam, Denizel & Filiztekin 2007), and the
// Gamma-Gamma model of spend per purchase (Fader, Hardie & Lee 2005, "RFM
// and CLV"; Colombo & Jiang 1999).
//
// Inputs follow the clvflow feature contract: x is the number of repeat
// purchase days in the calibration period, t_x the weeks between the first and
// the last calibration purchase, T the weeks between the first purchase and the
// cutoff, and mbar the mean value of the day-merged repeat purchases.
//
// All models are fitted by maximum likelihood in log-parameter space with
// gonum's BFGS (analytic gradients; central differences for the Pareto/NBD)
// from several deterministic starting
// points, followed by a Nelder-Mead polish and a BFGS restart when BFGS stops
// short of a stationary point. Real data can put the maximum on
// the boundary of the parameter space (for BG/NBD typically a → 0, "nobody
// ever drops out"); the fitters then return finite parameters, which give
// predictions equal to the boundary limit, and add a warning instead of
// failing.
//
// BG/NBD conditional expectations are computed without hypergeometric
// functions, from
// the exact, cancellation-free representation
//
//	E[X(t) | x, t_x, T] = P(alive) · Σ_{n≥0} E[(1−p)^n] · P(N > n),
//
// where p ~ Beta(a, b+x) is the posterior dropout probability of a customer
// who is alive at T and N ~ NegBin(r+x, z), z = t/(α+T+t), is the number of
// purchase opportunities in (T, T+t]. It equals the published 2F1 closed form
// (checked in the tests against gonum's mathext.Hypergeo) and stays accurate in
// the no-dropout limit a → 0, b → ∞, where the closed form cancels
// catastrophically. MBG/NBD, whose customers alive at T have survived one
// more dropout chance, uses the same series with b+1 in place of b.
//
// The Pareto/NBD likelihood, P(alive) and P(X(t) > 0) need integrals
// ∫ (a+τ)^−p (b+τ)^−q dτ, i.e. the Gaussian hypergeometric function
// 2F1(k, m; m+1; z). They are computed in log space with the branch on α vs
// β of Fader & Hardie's note ("A note on deriving the Pareto/NBD model and
// related expressions", 2005) that keeps 0 ≤ z < 1, by the series with a
// bound on its remainder (an error if it does not converge); where z is so
// close to 1 that the series would be long, the integral is split and its
// near-singular part done by Gauss-Legendre quadrature, and so is a
// difference of two tails that would cancel.
package btyd
