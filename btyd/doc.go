// Package btyd implements the "buy till you die" baseline of clvflow: the
// BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005, "Counting your
// customers the easy way") and the Gamma-Gamma model of spend per purchase
// (Fader, Hardie & Lee 2005, "RFM and CLV"; Colombo & Jiang 1999).
//
// Inputs follow the clvflow feature contract: x is the number of repeat
// purchase days in the calibration period, t_x the weeks between the first and
// the last calibration purchase, T the weeks between the first purchase and the
// cutoff, and mbar the mean value of the day-merged repeat purchases.
//
// Both models are fitted by maximum likelihood in log-parameter space with
// gonum's BFGS (analytic gradients) from several deterministic starting
// points, followed by a Nelder-Mead polish and a BFGS restart when BFGS stops
// short of a stationary point. Real data can put the maximum on
// the boundary of the parameter space (for BG/NBD typically a → 0, "nobody
// ever drops out"); the fitters then return finite parameters, which give
// predictions equal to the boundary limit, and add a warning instead of
// failing.
//
// Conditional expectations are computed without hypergeometric functions, from
// the exact, cancellation-free representation
//
//	E[X(t) | x, t_x, T] = P(alive) · Σ_{n≥0} E[(1−p)^n] · P(N > n),
//
// where p ~ Beta(a, b+x) is the posterior dropout probability of a customer
// who is alive at T and N ~ NegBin(r+x, z), z = t/(α+T+t), is the number of
// purchase opportunities in (T, T+t]. It equals the published 2F1 closed form
// (checked in the tests against gonum's mathext.Hypergeo) and stays accurate in
// the no-dropout limit a → 0, b → ∞, where the closed form cancels
// catastrophically.
package btyd
