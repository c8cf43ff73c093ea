package synth

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"
)

// Params are the generating parameters (time unit of R, Alpha: weeks).
type Params struct {
	R, Alpha, A, B float64 // BG/NBD
	P, Q, Gamma    float64 // Gamma-Gamma; mean spend P·Gamma/(Q−1)
	Days, AcqDays  int     // length of the log, acquisition window
	Start          time.Time
}

// DefaultParams returns the parameters of gen_transactions.py: r = 1,
// α = 5, a = 0.8, b = 4, p = 6, q = 4, γ = 15 over 730 days from
// 2022-01-01 with acquisition in the first 365.
func DefaultParams() Params {
	return Params{R: 1, Alpha: 5, A: 0.8, B: 4, P: 6, Q: 4, Gamma: 15,
		Days: 730, AcqDays: 365, Start: time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (p Params) validate() error {
	for _, v := range []float64{p.R, p.Alpha, p.A, p.B, p.P, p.Q, p.Gamma} {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("synth: parameters must be finite and > 0: %+v", p)
		}
	}
	if p.AcqDays < 1 || p.Days < p.AcqDays || p.Days > 1<<20 {
		return fmt.Errorf("synth: need 1 ≤ acquisition days (%d) ≤ days (%d) ≤ 2^20", p.AcqDays, p.Days)
	}
	return nil
}

// purchase is one generated row; rows are bucketed by day.
type purchase struct {
	customer int32 // 1-based
	cents    int32
}

// Log is a generated transaction log held as per-day buckets, each in
// customer order.
type Log struct {
	Params    Params
	Customers int
	Rows      int64
	byDay     [][]purchase
}

// Generate draws n customers with the given seed.
func Generate(n int, seed uint64, p Params) (*Log, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	if n < 1 || n > math.MaxInt32-1 {
		return nil, fmt.Errorf("synth: %d customers, want 1 … %d", n, math.MaxInt32-1)
	}
	l := &Log{Params: p, Customers: n, byDay: make([][]purchase, p.Days)}
	src := rand.NewPCG(0, 0)
	r := rand.New(src)
	for i := 0; i < n; i++ {
		src.Seed(seed, uint64(i))
		l.customer(r, int32(i+1))
	}
	return l, nil
}

// customer draws one customer's purchases into the day buckets.
func (l *Log) customer(r *rand.Rand, id int32) {
	p := l.Params
	t := r.Float64() * float64(p.AcqDays)
	lam := gamma(r, p.R) / p.Alpha / 7 // purchases per day
	drop := beta(r, p.A, p.B)
	nu := gamma(r, p.Q) / p.Gamma
	l.add(r, id, t, nu) // first purchase: no dropout before a repeat
	for {
		t += r.ExpFloat64() / lam
		if t >= float64(p.Days) {
			return
		}
		l.add(r, id, t, nu)
		if r.Float64() < drop {
			return
		}
	}
}

func (l *Log) add(r *rand.Rand, id int32, t, nu float64) {
	cents := max(math.RoundToEven(gamma(r, l.Params.P)/nu*100), 1)
	d := int(t)
	l.byDay[d] = append(l.byDay[d], purchase{customer: id, cents: int32(min(cents, math.MaxInt32))})
	l.Rows++
}

// gamma draws Gamma(shape, rate 1) (Marsaglia and Tsang; shape < 1 by
// boosting).
func gamma(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := r.Float64()
		for u == 0 {
			u = r.Float64()
		}
		return gamma(r, shape+1) * math.Pow(u, 1/shape)
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
		if u < 1-0.0331*x*x*x*x || (u > 0 && math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v))) {
			return d * v
		}
	}
}

// beta draws Beta(a, b).
func beta(r *rand.Rand, a, b float64) float64 {
	x := gamma(r, a)
	return x / (x + gamma(r, b))
}

// WriteCSV writes the log as "customer_id,ts,amount" rows ordered by (day,
// customer), purchases of one customer-day in draw order.
func (l *Log) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	bw.WriteString("customer_id,ts,amount\n")
	var line []byte
	for d, rows := range l.byDay {
		date := l.Params.Start.AddDate(0, 0, d).Format(time.DateOnly)
		for _, p := range rows {
			line = strconv.AppendInt(line[:0], int64(p.customer), 10)
			line = append(line, ',')
			line = append(line, date...)
			line = append(line, ',')
			line = strconv.AppendInt(line, int64(p.cents/100), 10)
			line = append(line, '.', byte('0'+p.cents%100/10), byte('0'+p.cents%10), '\n')
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// WriteFile writes the log to path: as Parquet ([Log.WriteParquet]) when
// path ends in .parquet, else as CSV, gzip-compressed when path ends in .gz.
func (l *Log) WriteFile(path string) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		bw := bufio.NewWriterSize(f, 256<<10)
		if err := l.WriteParquet(bw); err != nil {
			return err
		}
		return bw.Flush()
	}
	if !strings.HasSuffix(path, ".gz") {
		return l.WriteCSV(f)
	}
	zw := gzip.NewWriter(f)
	if err := l.WriteCSV(zw); err != nil {
		return err
	}
	return zw.Close()
}
