// Package synth generates synthetic transaction logs from a BG/NBD +
// Gamma-Gamma population with known parameters, following
// shared/peers/gen_transactions.py:
//
//   - acquisition (first purchase) day ~ U[0, AcqDays);
//   - purchase rate λ ~ Gamma(R, rate Alpha) per week; repeat purchases
//     follow a Poisson process of rate λ until day Days;
//   - dropout probability p ~ Beta(A, B): after every repeat purchase the
//     customer drops out with probability p;
//   - spend: ν ~ Gamma(Q, rate Gamma), each purchase ~ Gamma(P, rate ν),
//     rounded to cents (at least 1 cent).
//
// Several purchases can fall on one calendar day. The log is written as CSV
// "customer_id,ts,amount" (ts YYYY-MM-DD from Start, amount with two
// decimals), rows ordered by (day, customer id), as the peer script does,
// so [dataset.Read] detects it as a generic CSV. [Log.WriteParquet] writes
// the same rows as Parquet (customer_id string, ts DATE, amount DOUBLE), which
// reads back to the same transactions bit for bit.
//
// Every customer draws from its own PCG stream (seed, customer number), so
// a log depends only on the number of customers, the seed and the
// parameters.
package synth
