package nntest

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// SyntheticTxns simulates n customers with a BG/NBD-like process
// (heterogeneous weekly purchase rates, dropout after each purchase,
// customer-specific lognormal spend) from day 0 to day `days`; first
// purchases fall in the first 12 weeks. The result depends only on seed.
func SyntheticTxns(n, days int, seed uint64) []Txn {
	r := rand.New(rand.NewPCG(seed, 0x73796e7468))
	var out []Txn
	for c := 0; c < n; c++ {
		id := strconv.Itoa(100000 + c)
		lambda := gamma(r, 0.6) / 3.0 // purchases per week
		pDrop := beta(r, 1.0, 3.0)
		meanSpend := math.Exp(3 + 0.8*r.NormFloat64())
		day := r.IntN(84)
		for {
			amt := math.Round(meanSpend*math.Exp(0.5*r.NormFloat64()-0.125)*100) / 100
			out = append(out, Txn{Customer: id, Day: day, Amount: math.Max(amt, 0.01)})
			if r.Float64() < pDrop {
				break
			}
			wait := r.ExpFloat64() / math.Max(lambda, 1e-3) * 7
			day += 1 + int(wait)
			if day > days {
				break
			}
		}
	}
	return out
}

// Synthetic returns SyntheticTxns(n) built at cutoff day 273 with a 273-day
// horizon and `weeks` sequence weeks.
func Synthetic(n, weeks int, seed uint64) Dataset {
	return Build(SyntheticTxns(n, 546, seed), 273, 273, weeks)
}

// gamma draws Gamma(shape, 1) (Marsaglia–Tsang; boosted for shape < 1).
func gamma(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return gamma(r, shape+1) * math.Pow(r.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

func beta(r *rand.Rand, a, b float64) float64 {
	x := gamma(r, a)
	return x / (x + gamma(r, b))
}
