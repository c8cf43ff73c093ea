package features

// This file keeps the feature builder as it was before the flat-array
// rewrite (per-customer slices of (day, amount) behind a string-keyed map),
// fed by the sequential dataset.Read callback. It is the oracle of
// equivalence_test.go: the new builder must produce the same features, bit
// for bit.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/clvflow/clvflow/dataset"
)

type refDayAmount struct {
	day    int32
	amount float64
}

// refBuilder is the old Builder.
type refBuilder struct {
	split     Split
	err       error
	cutoffDay int64
	endDay    int64
	index     map[string]int
	ids       []string
	days      [][]refDayAmount
	stats     Stats
}

// newRefBuilder returns a builder for split. An invalid split is reported by
// every Add and by Build.
func newRefBuilder(split Split) *refBuilder {
	s, err := split.Validate()
	b := &refBuilder{split: s, err: err, index: map[string]int{}}
	if err == nil {
		b.cutoffDay = refDayNumber(s.Cutoff)
		b.endDay = b.cutoffDay + int64(s.HorizonDays)
	}
	return b
}

// refDayNumber returns the UTC calendar day of t as days since 1970-01-01.
func refDayNumber(t time.Time) int64 {
	u := t.Unix()
	d := u / 86400
	if u%86400 < 0 {
		d--
	}
	return d
}

// Add records one transaction. Transactions may come in any order; those
// after the end of the holdout are counted and ignored.
func (b *refBuilder) Add(customer string, t time.Time, amount float64) error {
	if b.err != nil {
		return b.err
	}
	if customer == "" {
		return errors.New("features: empty customer id")
	}
	if math.IsNaN(amount) || math.IsInf(amount, 0) {
		return fmt.Errorf("features: customer %q at %s: amount %v is not finite", customer, t.Format(time.RFC3339), amount)
	}
	day := refDayNumber(t)
	if day < math.MinInt32 || day > math.MaxInt32 {
		return fmt.Errorf("features: customer %q: time %s out of range", customer, t.Format(time.RFC3339))
	}
	b.stats.Transactions++
	switch {
	case day > b.endDay:
		b.stats.AfterHorizon++
		return nil
	case day > b.cutoffDay:
		b.stats.Holdout++
	default:
		b.stats.Calibration++
	}
	i, ok := b.index[customer]
	if !ok {
		i = len(b.ids)
		b.index[customer] = i
		b.ids = append(b.ids, customer)
		b.days = append(b.days, nil)
	}
	ds := b.days[i]
	d32 := int32(day)
	n := len(ds)
	switch {
	case n == 0 || ds[n-1].day < d32:
		ds = append(ds, refDayAmount{d32, amount})
	case ds[n-1].day == d32:
		ds[n-1].amount += amount
	default:
		k := sort.Search(n, func(k int) bool { return ds[k].day >= d32 })
		if ds[k].day == d32 {
			ds[k].amount += amount
		} else {
			ds = slices.Insert(ds, k, refDayAmount{d32, amount})
		}
	}
	b.days[i] = ds
	return nil
}

// AddTransaction adds a [dataset.Transaction]; it has the signature of a
// [dataset.Read] callback.
func (b *refBuilder) AddTransaction(tx dataset.Transaction) error {
	return b.Add(tx.Customer, tx.Time, tx.Amount)
}

// Build computes the feature set. The builder may keep receiving
// transactions and be built again.
func (b *refBuilder) Build() (*Set, error) {
	if b.err != nil {
		return nil, b.err
	}
	set := b.buildAt(b.split, b.cutoffDay, b.endDay)
	set.Stats = b.stats
	set.Stats.HoldoutOnlyCustomers = 0
	for _, ds := range b.days {
		if int64(ds[0].day) > b.cutoffDay {
			set.Stats.HoldoutOnlyCustomers++
		}
	}
	return set, nil
}

// buildAt computes the customers of split from the stored days: only days ≤
// endDay are read; days in (cutoffDay, endDay] are the holdout.
func (b *refBuilder) buildAt(split Split, cutoffDay, endDay int64) *Set {
	order := make([]int, len(b.ids))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return CompareIDs(b.ids[x], b.ids[y]) })

	w := split.SeqWeeks
	set := &Set{Split: split}
	scored := 0
	for _, i := range order {
		if int64(b.days[i][0].day) <= cutoffDay {
			scored++
		}
	}
	set.Customers = make([]Customer, 0, scored)
	seq := make([]float64, scored*2*w)
	for _, i := range order {
		ds := b.days[i]
		if int64(ds[0].day) > cutoffDay {
			continue
		}
		k := len(set.Customers)
		c := Customer{ID: b.ids[i], FirstPurchase: time.Unix(int64(ds[0].day)*86400, 0).UTC()}
		c.Seq[0] = seq[k*2*w : k*2*w+w : k*2*w+w]
		c.Seq[1] = seq[k*2*w+w : (k+1)*2*w : (k+1)*2*w]
		first, last := int64(ds[0].day), int64(ds[0].day)
		c.FirstValue = ds[0].amount
		var repeat float64
		for j, d := range ds {
			day := int64(d.day)
			if day > endDay {
				break // days are sorted
			}
			if day > cutoffDay {
				c.HoldoutX++
				c.HoldoutSpend += d.amount
				continue
			}
			c.CalSpend += d.amount
			if j > 0 {
				c.X++
				repeat += d.amount
			}
			last = day
			if back := (cutoffDay - day) / 7; back < int64(w) {
				c.Seq[0][w-1-int(back)] += d.amount
				c.Seq[1][w-1-int(back)]++
			}
		}
		c.TX = float64(last-first) / 7
		c.T = float64(cutoffDay-first) / 7
		c.Recency = c.T - c.TX
		if c.X > 0 {
			c.MBar = repeat / float64(c.X)
		}
		set.Customers = append(set.Customers, c)
	}
	return set
}

// FirstDay is the old Builder.FirstDay.
func (b *refBuilder) FirstDay() (time.Time, bool) {
	if len(b.days) == 0 {
		return time.Time{}, false
	}
	first := int64(b.days[0][0].day)
	for _, ds := range b.days[1:] {
		first = min(first, int64(ds[0].day))
	}
	return time.Unix(first*86400, 0).UTC(), true
}

// BuildSnapshot computes the feature set of an earlier training snapshot:
// the builder's horizon and sequence length at the given cutoff. Its
// holdout must end on or before the builder's own cutoff, so that a
// snapshot never reads a day of the builder's holdout; its Stats are zero.
func (b *refBuilder) BuildSnapshot(cutoff time.Time) (*Set, error) {
	if b.err != nil {
		return nil, b.err
	}
	split, err := Split{Cutoff: cutoff, HorizonDays: b.split.HorizonDays, SeqWeeks: b.split.SeqWeeks}.Validate()
	if err != nil {
		return nil, err
	}
	cd := refDayNumber(split.Cutoff)
	end := cd + int64(split.HorizonDays)
	if end > b.cutoffDay {
		return nil, fmt.Errorf("features: snapshot at %s: its holdout ends %s, after the cutoff %s; a training snapshot may only read calibration data",
			split.Cutoff.Format(time.DateOnly), split.HoldoutEnd().Format(time.DateOnly), b.split.Cutoff.Format(time.DateOnly))
	}
	return b.buildAt(split, cd, end), nil
}
