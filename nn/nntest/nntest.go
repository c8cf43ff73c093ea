// Package nntest provides deterministic data for tests of package nn and its
// consumers: a synthetic customer simulator, tiny loaders for the shared
// CDNOW and Online Retail transaction logs, a per-customer feature builder
// following the shared contract, a seeded train/test split and the two
// headline metrics (normalized Gini and decile MAPE).
//
// The feature builder here is deliberately small and exists only so that the
// models can be tested without package features; it is checked against the
// lifetimes reference summaries in the tests.
package nntest

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Txn is one transaction: Day counts days since 1970-01-01 (UTC).
type Txn struct {
	Customer string
	Day      int
	Amount   float64
}

// DayOf converts a calendar date to a day number.
func DayOf(y int, m time.Month, d int) int {
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// Dataset is a per-customer feature set (rows sorted by customer ID) in the
// layout of nn.Data: Tabular rows of the 7 base features, Seq rows of 2·W
// values (channel-major: weekly spend, then weekly purchase days), Label the
// holdout spend.
type Dataset struct {
	IDs     []string
	Tabular [][]float64
	Seq     [][]float64
	Label   []float64
}

// Build derives the shared-contract features of every customer whose first
// purchase is on or before cutoff: transactions are day-merged; calibration
// is day ≤ cutoff, the label is the spend in (cutoff, cutoff+horizon]; the
// sequence covers the `weeks` weeks ending at cutoff (0 disables it).
func Build(txns []Txn, cutoff, horizon, weeks int) Dataset {
	type dayKey struct {
		c string
		d int
	}
	merged := map[dayKey]float64{}
	for _, t := range txns {
		merged[dayKey{t.Customer, t.Day}] += t.Amount
	}
	keys := make([]dayKey, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b dayKey) int {
		if c := compareIDs(a.c, b.c); c != 0 {
			return c
		}
		return a.d - b.d
	})
	var ds Dataset
	for i := 0; i < len(keys); {
		j := i
		for j < len(keys) && keys[j].c == keys[i].c {
			j++
		}
		days := keys[i:j]
		i = j
		first := days[0].d
		if first > cutoff {
			continue
		}
		var x, last int
		var cal, repeat, label, firstValue float64
		var seq []float64
		if weeks > 0 {
			seq = make([]float64, 2*weeks)
		}
		for n, k := range days {
			v := merged[k]
			switch {
			case k.d <= cutoff:
				cal += v
				last = k.d
				if n == 0 {
					firstValue = v
				} else {
					x++
					repeat += v
				}
				if back := (cutoff - k.d) / 7; back < weeks {
					pos := weeks - 1 - back
					seq[pos] += v
					seq[weeks+pos]++
				}
			case k.d <= cutoff+horizon:
				label += v
			}
		}
		mbar := 0.0
		if x > 0 {
			mbar = repeat / float64(x)
		}
		tx := float64(last-first) / 7
		tt := float64(cutoff-first) / 7
		ds.IDs = append(ds.IDs, days[0].c)
		ds.Tabular = append(ds.Tabular, []float64{float64(x), tx, tt, tt - tx, cal, mbar, firstValue})
		ds.Label = append(ds.Label, label)
		if weeks > 0 {
			ds.Seq = append(ds.Seq, seq)
		}
	}
	return ds
}

// Subset returns the rows idx of d.
func (d Dataset) Subset(idx []int) Dataset {
	var s Dataset
	for _, i := range idx {
		s.IDs = append(s.IDs, d.IDs[i])
		s.Tabular = append(s.Tabular, d.Tabular[i])
		s.Label = append(s.Label, d.Label[i])
		if d.Seq != nil {
			s.Seq = append(s.Seq, d.Seq[i])
		}
	}
	return s
}

// compareIDs orders all-digit IDs numerically, before any other IDs, which
// are ordered as strings (the order of the features package).
func compareIDs(a, b string) int {
	da, db := allDigits(a), allDigits(b)
	switch {
	case da && db:
		ta, tb := strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(ta) != len(tb) {
			return len(ta) - len(tb)
		}
		if c := strings.Compare(ta, tb); c != 0 {
			return c
		}
	case da:
		return -1
	case db:
		return 1
	}
	return strings.Compare(a, b)
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Split returns a seeded random (train, test) partition of n rows with
// round(frac·n) test rows, both sorted; it draws the same partition as the
// features package (PCG(seed, 0x9e3779b97f4a7c15).Perm(n), first rows test),
// so that results here match `clvflow backtest` for the same seed.
func Split(n int, frac float64, seed uint64) (train, test []int) {
	perm := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)).Perm(n)
	nt := int(math.Round(frac * float64(n)))
	test, train = slices.Clone(perm[:nt]), slices.Clone(perm[nt:])
	slices.Sort(test)
	slices.Sort(train)
	return train, test
}

func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("nntest: %s: %w", path, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{z, f}, nil
}

// LoadCDNOW parses cdnow_master.txt(.gz): "id YYYYMMDD cds dollars" lines
// after one header line.
func LoadCDNOW(path string) ([]Txn, error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out []Txn
	sc := bufio.NewScanner(rc)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 || (line == 1 && f[0] == "customer_id") {
			continue
		}
		if len(f) != 4 {
			return nil, fmt.Errorf("nntest: %s:%d: want 4 fields, got %d", path, line, len(f))
		}
		t, err := time.Parse("20060102", f[1])
		if err != nil {
			return nil, fmt.Errorf("nntest: %s:%d: date: %w", path, line, err)
		}
		amt, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			return nil, fmt.Errorf("nntest: %s:%d: amount: %w", path, line, err)
		}
		id := strings.TrimLeft(f[0], "0")
		out = append(out, Txn{Customer: id, Day: int(t.Unix() / 86400), Amount: amt})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("nntest: %s: %w", path, err)
	}
	return out, nil
}

// LoadOnlineRetail parses online_retail_uci.csv(.gz), dropping rows without
// CustomerID, cancellations (InvoiceNo "C…"), Quantity ≤ 0 and UnitPrice ≤ 0;
// Amount = Quantity·UnitPrice (the lifetimes reference procedure).
func LoadOnlineRetail(path string) ([]Txn, error) { return LoadOnlineRetailWith(path, false) }

// LoadOnlineRetailWith is LoadOnlineRetail; with dropReversed it also drops
// every purchase row that a later cancellation row of the same customer,
// stock code, unit price and opposite quantity reverses (one purchase per
// cancellation, the latest earlier one), e.g. an 80,995-unit order cancelled
// twelve minutes later.
func LoadOnlineRetailWith(path string, dropReversed bool) ([]Txn, error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := csv.NewReader(bufio.NewReaderSize(rc, 1<<20))
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("nntest: %s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, want := range []string{"InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID"} {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("nntest: %s: missing column %s", path, want)
		}
	}
	type lineKey struct {
		customer, stock, price string
		qty                    float64
	}
	var out []Txn
	dropped := map[int]bool{}
	open := map[lineKey][]int{} // purchase rows (index into out) not yet reversed
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("nntest: %s:%d: %w", path, line, err)
		}
		id := strings.TrimSuffix(strings.TrimSpace(rec[col["CustomerID"]]), ".0")
		if id == "" {
			continue
		}
		q, err1 := strconv.ParseFloat(rec[col["Quantity"]], 64)
		p, err2 := strconv.ParseFloat(rec[col["UnitPrice"]], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("nntest: %s:%d: %w", path, line, err)
		}
		k := lineKey{id, rec[col["StockCode"]], rec[col["UnitPrice"]], math.Abs(q)}
		if strings.HasPrefix(rec[col["InvoiceNo"]], "C") {
			if dropReversed && q < 0 {
				if rows := open[k]; len(rows) > 0 {
					dropped[rows[len(rows)-1]] = true
					open[k] = rows[:len(rows)-1]
				}
			}
			continue
		}
		if q <= 0 || p <= 0 {
			continue
		}
		ts := rec[col["InvoiceDate"]]
		if len(ts) < 10 {
			return nil, fmt.Errorf("nntest: %s:%d: bad date %q", path, line, ts)
		}
		t, err := time.Parse("2006-01-02", ts[:10])
		if err != nil {
			return nil, fmt.Errorf("nntest: %s:%d: %w", path, line, err)
		}
		open[k] = append(open[k], len(out))
		out = append(out, Txn{Customer: id, Day: int(t.Unix() / 86400), Amount: q * p})
	}
	if len(dropped) == 0 {
		return out, nil
	}
	kept := out[:0]
	for i, t := range out {
		if !dropped[i] {
			kept = append(kept, t)
		}
	}
	return kept, nil
}

// RefRow is one row of a lifetimes reference summary (*_calholdout_lifetimes_ref.csv[.gz]).
type RefRow struct {
	X, Tx, T, CalSpend, SpendHoldout, PredSpendBGNBD float64
}

// LoadRef parses a reference summary keyed by customer ID (leading zeros
// stripped).
func LoadRef(path string) (map[string]RefRow, error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := csv.NewReader(rc)
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("nntest: %s: header: %w", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	need := []string{"x", "t_x", "T", "cal_spend_total", "spend_holdout", "pred_spend_holdout"}
	for _, n := range need {
		if _, ok := col[n]; !ok {
			return nil, fmt.Errorf("nntest: %s: missing column %s", path, n)
		}
	}
	out := map[string]RefRow{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("nntest: %s:%d: %w", path, line, err)
		}
		var v [6]float64
		for i, n := range need {
			if v[i], err = strconv.ParseFloat(rec[col[n]], 64); err != nil {
				return nil, fmt.Errorf("nntest: %s:%d: %s: %w", path, line, n, err)
			}
		}
		out[strings.TrimLeft(strings.TrimSuffix(rec[0], ".0"), "0")] = RefRow{v[0], v[1], v[2], v[3], v[4], v[5]}
	}
	return out, nil
}

// Naive predicts cal_spend / max(T, 1 week) × horizon weeks per row.
func Naive(tab [][]float64, horizonWeeks float64) []float64 {
	out := make([]float64, len(tab))
	for i, r := range tab {
		out[i] = r[4] / math.Max(r[2], 1) * horizonWeeks
	}
	return out
}
