package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestParseDecimalMatchesParseFloat: the fast path gives strconv's bits.
func TestParseDecimalMatchesParseFloat(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []string{"0", "-0", "-0.0", "+0.00", "5.", ".5", "-.5", "30.02", "0.1", "0.3", "999999999999999", "99999999999999.9",
		"0.00000000000001", "-1.000000000001", "123456789012.345", "1.", "00000000000001.5", "9007199254740993"}
	for i := 0; i < 200_000; i++ {
		digits := 1 + r.IntN(14)
		n := r.Int64N(int64(math.Pow10(digits)))
		s := strconv.FormatInt(n, 10)
		for len(s) < digits {
			s = "0" + s
		}
		if k := r.IntN(len(s) + 1); k < len(s) || r.IntN(2) == 0 {
			s = s[:k] + "." + s[k:]
		}
		if r.IntN(4) == 0 {
			s = "-" + s
		}
		cases = append(cases, s, fmt.Sprintf("%.2f", r.Float64()*1000))
	}
	for _, s := range cases {
		got, _, ok := parseDecimal([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if !ok || err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseDecimal(%q) = %v (%x), %v; ParseFloat %v (%x), %v", s, got, math.Float64bits(got), ok, want, math.Float64bits(want), err)
		}
	}
}
