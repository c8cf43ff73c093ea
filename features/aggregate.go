package features

import (
	"errors"
	"fmt"
	"time"

	"github.com/clvflow/clvflow/dataset"
)

// Cutoff-only mode (OmitSnapshots with OmitSequences): a read of a file
// keeps, per customer, its running features instead of its days. The
// days of a customer before its latest day are folded into the sums in
// ascending order, the rows of the latest day summed in arrival order:
// the same float operations in the same order as a walk over the sorted
// days, so the features are bit for bit those of the day arrays. A row
// before its customer's latest day cannot be folded in; ReadFile then
// reads the file again into the day arrays.

// aggCustomer is the running state of one customer: first day, latest
// day (cur, still open: curAmt is the sum of its rows), the calibration
// and holdout sums of the days before cur; x < 0 before its first row.
// 64 bytes.
type aggCustomer struct {
	first, cur, last int32 // last: latest folded calibration day
	x, hx            int32
	curAmt           float64
	calSpend, repeat float64
	firstValue       float64
	hspend           float64
}

// errDisorder stops a cutoff-only read at a row before its customer's
// latest day.
var errDisorder = errors.New("features: a customer's rows are not in day order")

// OmitSnapshots declares that the builder will be built at its own cutoff
// only: [Builder.BuildSnapshot] then fails. Together with
// [Builder.OmitSequences] it lets [Builder.ReadFile] into an empty builder
// keep tens of bytes per customer instead of 16 bytes per customer-day:
// every customer's rows are summed as they come, when they come in day
// order per customer (a file sorted by time or by customer). At the first
// row out of order, ReadFile reads the file again into the day arrays, so
// the features are the same either way. Once a file has been read that
// way, later rows (Add, Read, ReadFile) must each be on or after their
// customer's latest day, or they are refused.
func (b *Builder) OmitSnapshots() { b.noSnap = true }

// aggNew adds a customer in cutoff-only mode.
func (b *Builder) aggNew(id string) int32 {
	b.agg.push(aggCustomer{x: -1})
	return b.ids.push(id)
}

// aggNewKey adds the customer of row i of a batch, dataset key k, in a
// cutoff-only read into an empty builder. A direct key (even: the id is
// the canonical number k/2, see [dataset.Batch.Customer]) gets no id
// string here but from its key after the read (fillIDs), which spares the
// read's one consumer goroutine a string per customer.
func (b *Builder) aggNewKey(bt *dataset.Batch, i int, k int32) int32 {
	if k%2 == 0 {
		return b.aggNew("")
	}
	b.mixedKeys = true
	return b.aggNew(bt.Customer(i))
}

// aggInsert adds a row of a stored day to customer a; false when the day
// is before its latest day (then nothing changed).
func (b *Builder) aggInsert(a *aggCustomer, day int32, amount float64) bool {
	switch {
	case day == a.cur && a.x >= 0:
		a.curAmt += amount
	case a.x < 0: // no row yet
		*a = aggCustomer{first: day, cur: day, last: day, curAmt: amount}
		if int64(day) > b.cutoffDay {
			b.aggLate++
		}
	case day > a.cur:
		b.fold(a)
		a.cur, a.curAmt = day, amount
	default:
		return false
	}
	return true
}

// fold adds the open day of a to its sums, as customerAt does.
func (b *Builder) fold(a *aggCustomer) {
	if int64(a.cur) > b.cutoffDay {
		a.hx++
		a.hspend += a.curAmt
		return
	}
	a.calSpend += a.curAmt
	if a.cur == a.first {
		a.firstValue = a.curAmt
	} else {
		a.x++
		a.repeat += a.curAmt
	}
	a.last = a.cur
}

// aggAdd is Add in cutoff-only mode, after the checks and before count.
func (b *Builder) aggAdd(customer string, t time.Time, day int64, amount float64) error {
	if day > b.endDay {
		b.count(day)
		return nil
	}
	c := b.customer(customer)
	if !b.aggInsert(b.agg.at(c), int32(day), amount) {
		return b.disorder(customer, t, c)
	}
	b.count(day)
	return nil
}

// aggBatch is addBatch in cutoff-only mode: the rows of known customers
// on or after their open day are added here (as aggInsert does), the
// others by aggRow.
func (b *Builder) aggBatch(bt *dataset.Batch) error {
	b.touchBatch(bt)
	for i, k := range bt.Keys {
		t, amount := bt.Times[i], bt.Amounts[i]
		if b.ignoring && t.After(b.ignoreAfter) {
			continue
		}
		day := dayNumber(t)
		if int(k) < len(b.keys) && b.keys[k] > 0 && day <= b.endDay && b.finiteInRange(amount, day) {
			if a := b.agg.at(b.keys[k] - 1); a.x >= 0 && int64(a.cur) <= day {
				if int64(a.cur) < day {
					b.fold(a)
					a.cur, a.curAmt = int32(day), amount
				} else {
					a.curAmt += amount
				}
				b.count(day)
				continue
			}
		}
		if err := b.aggRow(bt, i, k, day); err != nil {
			return err
		}
	}
	return nil
}

// touchBatch loads the known customers of a batch: the loads are
// independent, so their cache misses overlap instead of stalling the
// update loop one row at a time.
func (b *Builder) touchBatch(bt *dataset.Batch) {
	var touch int32
	for _, k := range bt.Keys {
		if int(k) < len(b.keys) {
			if c := b.keys[k] - 1; c >= 0 {
				touch |= b.agg.at(c).cur
			}
		}
	}
	b.touched = touch
}

// aggRow adds row i of a batch, key k, on day (IgnoreAfter checked).
func (b *Builder) aggRow(bt *dataset.Batch, i int, k int32, day int64) error {
	if !b.finiteInRange(bt.Amounts[i], day) {
		return b.Add(bt.Customer(i), bt.Times[i], bt.Amounts[i]) // reports the error
	}
	if day > b.endDay {
		b.stats.Transactions++
		b.stats.AfterHorizon++
		return nil
	}
	c := b.keyCustomer(bt, i, k, true)
	if !b.aggInsert(b.agg.at(c), int32(day), bt.Amounts[i]) {
		if b.restartable {
			return errDisorder
		}
		return b.disorder(bt.Customer(i), bt.Times[i], c)
	}
	b.count(day)
	return nil
}

// disorder is the error of a row of customer c at t before c's latest day
// once the read can no longer restart with the day arrays.
func (b *Builder) disorder(customer string, t time.Time, c int32) error {
	return fmt.Errorf("features: customer %q at %s: before its latest day %s, after a cutoff-only read (OmitSnapshots)",
		customer, t.Format(time.RFC3339), time.Unix(int64(b.agg.at(c).cur)*86400, 0).UTC().Format(time.DateOnly))
}

// aggCustomers fills cus with the features of the customers cs of a
// cutoff-only builder; nums, when not nil, are their ids as numbers
// (their ids are not stored yet).
func (b *Builder) aggCustomers(cus []Customer, cs, nums []int32) {
	if nums == nil {
		for k, c := range cs {
			b.aggCustomerAt(&cus[k], c, b.ids.get(c))
		}
		return
	}
	ids := decimals(nums)
	for k, c := range cs {
		b.aggCustomerAt(&cus[k], c, ids.next())
	}
}

// aggCustomerAt fills the features of customer c, of id id, from its
// running state.
func (b *Builder) aggCustomerAt(cu *Customer, c int32, id string) {
	a := *b.agg.at(c) // a copy: the open day is folded here only
	b.fold(&a)
	cu.ID = id
	cu.FirstPurchase = time.Unix(int64(a.first)*86400, 0).UTC()
	cu.FirstValue = a.firstValue
	cu.X, cu.HoldoutX = int(a.x), int(a.hx)
	cu.CalSpend, cu.HoldoutSpend = a.calSpend, a.hspend
	cu.TX = float64(int64(a.last)-int64(a.first)) / 7
	cu.T = float64(b.cutoffDay-int64(a.first)) / 7
	cu.Recency = cu.T - cu.TX
	if a.x > 0 {
		cu.MBar = a.repeat / float64(a.x)
	}
}
