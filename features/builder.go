package features

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/internal/parallel"
)

// Builder accumulates transactions and builds a [Set]. It is not safe for
// concurrent use.
//
// Customers are interned once into dense indices 0…n−1. Every stored
// customer-day is an entry of three flat arrays (day, amount, previous
// entry of the same customer); the entries of one customer form a chain
// from its latest day back to its first, in day order, so a row is merged
// into its day (amounts summed in arrival order) or linked in at its place
// without any per-customer allocation. Rows after the customer's latest
// day, on it, or on or before its first day cost O(1); only a row between
// two stored days walks the chain back from the latest day.
type Builder struct {
	split     Split
	err       error
	cutoffDay int64
	endDay    int64
	stats     Stats

	index   map[string]int32 // customer id → dense index, for ids[:indexed]
	indexed int
	unique  bool          // a read into an empty builder: new keys are new customers
	ids     paged[string] // per customer: id
	first   []int32       // per customer: first day
	head    []int32       // per customer: entry of its first day
	tail    []tail        // per customer: its latest day

	day    []int32   // per entry: day number
	amount []float64 // per entry: spend of the day
	prev   []int32   // per entry: entry of the customer's previous day, or -1

	keys  []int32 // per dataset key of the current read: customer index + 1
	order []int32 // customers sorted by id (see sortedCustomers)
	nums  []int32 // with idKeys: the ids of order, all direct, as numbers
	noSeq bool    // build without the weekly sequences (OmitSequences)

	noSnap      bool               // no BuildSnapshot (OmitSnapshots)
	aggMode     bool               // customers are in agg, not in the day arrays
	restartable bool               // the current read may stop at errDisorder
	agg         paged[aggCustomer] // per customer, in aggMode
	aggLate     int                // customers of agg first seen after the cutoff
	touched     int32              // keeps aggBatch's loads
	mixedKeys   bool               // the current read gave a customer an odd key
	idKeys      []int32            // keys of the cutoff-only read, until fillIDs
	directOnly  bool               // every customer of idKeys has a direct key

	ignoring    bool      // IgnoreAfter was called
	ignoreAfter time.Time // rows after it are skipped
}

// IgnoreAfter makes the builder skip every transaction whose time is after
// t, as if it had never been passed: it is not checked, not counted in
// the Stats and not stored (a read's report still counts it). It is the
// filter `if tx.Time.After(t) { skip }` in front of
// [Builder.AddTransaction], for [Builder.Read] and [Builder.ReadFile] too.
func (b *Builder) IgnoreAfter(t time.Time) {
	b.ignoring, b.ignoreAfter = true, t
}

// OmitSequences makes Build and BuildSnapshot leave out the weekly
// sequences (2·SeqWeeks float64 per customer, most of a set's memory):
// for runs that fit no sequence model.
func (b *Builder) OmitSequences() { b.noSeq = true }

// tail is a customer's latest day and its entry (-1: none yet), kept per
// customer so that the common in-order row touches no entry.
type tail struct {
	entry, day int32
}

// NewBuilder returns a builder for split. An invalid split is reported by
// every Add and by Build.
func NewBuilder(split Split) *Builder {
	s, err := split.Validate()
	b := &Builder{split: s, err: err, index: map[string]int32{}}
	if err == nil {
		b.cutoffDay = dayNumber(s.Cutoff)
		b.endDay = b.cutoffDay + int64(s.HorizonDays)
	}
	return b
}

// dayNumber returns the UTC calendar day of t as days since 1970-01-01.
func dayNumber(t time.Time) int64 {
	u := t.Unix()
	d := u / 86400
	if u%86400 < 0 {
		d--
	}
	return d
}

// check validates one transaction and returns its day.
func (b *Builder) check(customer string, t time.Time, amount float64) (int64, error) {
	if b.err != nil {
		return 0, b.err
	}
	if customer == "" {
		return 0, errors.New("features: empty customer id")
	}
	if math.IsNaN(amount) || math.IsInf(amount, 0) {
		return 0, fmt.Errorf("features: customer %q at %s: amount %v is not finite", customer, t.Format(time.RFC3339), amount)
	}
	day := dayNumber(t)
	if day < math.MinInt32 || day > math.MaxInt32 {
		return 0, fmt.Errorf("features: customer %q: time %s out of range", customer, t.Format(time.RFC3339))
	}
	return day, nil
}

// count adds a transaction of day to the stats and reports whether it
// must be stored (it is not after the end of the holdout).
func (b *Builder) count(day int64) bool {
	b.stats.Transactions++
	switch {
	case day > b.endDay:
		b.stats.AfterHorizon++
		return false
	case day > b.cutoffDay:
		b.stats.Holdout++
	default:
		b.stats.Calibration++
	}
	return true
}

// Add records one transaction. Transactions may come in any order; those
// after the end of the holdout are counted and ignored.
func (b *Builder) Add(customer string, t time.Time, amount float64) error {
	if b.ignoring && t.After(b.ignoreAfter) {
		return nil
	}
	day, err := b.check(customer, t, amount)
	if err != nil {
		return err
	}
	if b.aggMode {
		return b.aggAdd(customer, t, day, amount)
	}
	if b.count(day) {
		b.insert(b.customer(customer), int32(day), amount)
	}
	return nil
}

// AddTransaction adds a [dataset.Transaction]; it has the signature of a
// [dataset.Read] callback.
func (b *Builder) AddTransaction(tx dataset.Transaction) error {
	return b.Add(tx.Customer, tx.Time, tx.Amount)
}

// customer returns the index of id, adding the customer if new.
func (b *Builder) customer(id string) int32 {
	if b.idKeys != nil {
		b.fillIDs()
	}
	for ; b.indexed < b.ids.len(); b.indexed++ {
		b.index[b.ids.get(int32(b.indexed))] = int32(b.indexed)
	}
	c, ok := b.index[id]
	if !ok {
		c = b.newCustomer(id)
		b.index[id] = c
		b.indexed++
	}
	return c
}

// newCustomer adds a customer known to be new; the index catches up on
// the next call of customer.
func (b *Builder) newCustomer(id string) int32 {
	if b.aggMode {
		return b.aggNew(id)
	}
	c := b.ids.push(id)
	b.first = append(b.first, 0)
	b.head = append(b.head, -1)
	b.tail = append(b.tail, tail{entry: -1})
	return c
}

// push appends an entry and returns it.
func (b *Builder) push(day int32, amount float64, prev int32) int32 {
	e := int32(len(b.day))
	b.day = append(b.day, day)
	b.amount = append(b.amount, amount)
	b.prev = append(b.prev, prev)
	return e
}

// insert adds amount to customer c's day, keeping the chain in day order.
func (b *Builder) insert(c, day int32, amount float64) {
	t := &b.tail[c]
	switch {
	case t.entry < 0:
		*t = tail{b.push(day, amount, -1), day}
		b.first[c], b.head[c] = day, t.entry
	case day > t.day:
		*t = tail{b.push(day, amount, t.entry), day}
	case day == t.day:
		b.amount[t.entry] += amount
	case day <= b.first[c]:
		b.insertFirst(c, day, amount)
	default:
		b.insertBetween(t.entry, day, amount)
	}
}

// insertFirst adds amount to c's first day or a new day before it.
func (b *Builder) insertFirst(c, day int32, amount float64) {
	h := b.head[c]
	if day == b.first[c] {
		b.amount[h] += amount
		return
	}
	e := b.push(day, amount, -1)
	b.prev[h] = e
	b.first[c], b.head[c] = day, e
}

// insertBetween walks a chain back from entry e (later than day) to the
// place of day, which lies after the customer's first day.
func (b *Builder) insertBetween(e, day int32, amount float64) {
	next, cur := e, b.prev[e]
	for b.day[cur] > day {
		next, cur = cur, b.prev[cur]
	}
	if b.day[cur] == day {
		b.amount[cur] += amount
		return
	}
	b.prev[next] = b.push(day, amount, cur)
}

// addBatch adds a batch of one read; b.keys maps its customer keys. The
// reader only passes finite amounts and parsed times, checked here anyway.
func (b *Builder) addBatch(bt *dataset.Batch) error {
	if b.aggMode {
		return b.aggBatch(bt)
	}
	for i, k := range bt.Keys {
		day, use, err := b.batchDay(bt, i)
		if err != nil {
			return err
		}
		if !use {
			continue
		}
		if !b.count(day) {
			continue
		}
		b.insert(b.keyCustomer(bt, i, k, false), int32(day), bt.Amounts[i])
	}
	return nil
}

// growKeys makes b.keys hold key k, doubling (a copy of the old keys and
// one garbage array per doubling).
func (b *Builder) growKeys(k int32) {
	keys := make([]int32, max(int(k)+1, 2*len(b.keys), 1<<16))
	copy(keys, b.keys)
	b.keys = keys
}

// finiteInRange reports whether a row passes check: a finite amount and a
// day that fits in int32.
func (b *Builder) finiteInRange(a float64, day int64) bool {
	return !math.IsNaN(a) && !math.IsInf(a, 0) && day >= math.MinInt32 && day <= math.MaxInt32
}

// batchDay returns the day of row i of a batch and whether to add the row:
// not when it is after IgnoreAfter's time (err nil: skip it) or when its
// amount or day is out of range (err says why, as Add does).
func (b *Builder) batchDay(bt *dataset.Batch, i int) (day int64, use bool, err error) {
	if b.ignoring && bt.Times[i].After(b.ignoreAfter) {
		return 0, false, nil
	}
	day = dayNumber(bt.Times[i])
	if !b.finiteInRange(bt.Amounts[i], day) {
		return 0, false, b.Add(bt.Customer(i), bt.Times[i], bt.Amounts[i]) // reports the error
	}
	return day, true, nil
}

// keyCustomer returns the customer of row i of a batch (dataset key k),
// adding it when new: without an index lookup when the read goes into an
// empty builder (its new keys are new customers), as a running-sum
// customer when agg (see aggregate.go).
func (b *Builder) keyCustomer(bt *dataset.Batch, i int, k int32, agg bool) int32 {
	if int(k) >= len(b.keys) {
		b.growKeys(k)
	}
	c := b.keys[k] - 1
	if c >= 0 {
		return c
	}
	switch {
	case !b.unique:
		c = b.customer(bt.Customer(i))
	case agg:
		c = b.aggNewKey(bt, i, k)
	default:
		c = b.newCustomer(bt.Customer(i))
	}
	b.keys[k] = c + 1
	return c
}

// Read streams a transaction log through [dataset.ReadBatches] into the
// builder, which is [dataset.Read] with [Builder.AddTransaction], faster.
// On error the builder holds part of the log and should be discarded.
func (b *Builder) Read(r io.Reader, opts dataset.Options) (*dataset.Report, error) {
	return b.read(func(fn func(*dataset.Batch) error) (*dataset.Report, error) {
		return dataset.ReadBatches(r, opts, fn)
	})
}

// ReadFile is [Builder.Read] of a file, by [dataset.ReadFileBatches]. An
// empty builder with [Builder.OmitSnapshots] and [Builder.OmitSequences]
// keeps running sums per customer (see OmitSnapshots), reading the file a
// second time when a customer's rows turn out not to be in day order.
func (b *Builder) ReadFile(path string, opts dataset.Options) (*dataset.Report, error) {
	readFile := func(fn func(*dataset.Batch) error) (*dataset.Report, error) {
		return dataset.ReadFileBatches(path, opts, fn)
	}
	if !b.noSnap || !b.noSeq || b.aggMode || b.ids.len() > 0 || b.err != nil {
		return b.read(readFile)
	}
	stats := b.stats
	b.aggMode, b.restartable = true, true
	rep, err := b.read(readFile)
	b.restartable = false
	if err == nil || !errors.Is(err, errDisorder) {
		return rep, err
	}
	// Not in day order: start again with the day arrays.
	b.aggMode, b.stats, b.aggLate = false, stats, 0
	b.ids.reset()
	b.agg.reset()
	b.keys, b.order, b.indexed, b.idKeys = nil, nil, 0, nil
	clear(b.index)
	return b.read(readFile)
}

func (b *Builder) read(readBatches func(func(*dataset.Batch) error) (*dataset.Report, error)) (*dataset.Report, error) {
	if b.err != nil {
		return nil, b.err
	}
	b.keys, b.unique, b.mixedKeys = nil, b.ids.len() == 0, false
	defer b.endRead()
	return readBatches(b.addBatch)
}

// endRead frees the keys of a read (they are per read), except after a
// cutoff-only read into an empty builder: its customers of direct keys
// have no id string yet (see aggNewKey), so its keys stay until fillIDs.
func (b *Builder) endRead() {
	if b.aggMode && b.unique {
		b.idKeys, b.directOnly = b.keys, !b.mixedKeys
	}
	b.keys, b.unique = nil, false
}

// fillIDs gives the customers of direct keys of the cutoff-only read
// their id strings, the canonical numbers of their keys, in parallel:
// substrings of one string per goroutine, not one allocation per id.
func (b *Builder) fillIDs() {
	keys := b.idKeys
	b.idKeys = nil
	parallel.Ranges(len(keys)/2, parallelMin, func(lo, hi int) {
		var nums []int32
		for n := lo; n < hi; n++ {
			if keys[2*n] > 0 {
				nums = append(nums, int32(n))
			}
		}
		ids := decimals(nums)
		for _, n := range nums {
			*b.ids.at(keys[2*n] - 1) = ids.next()
		}
	})
}

// decimalIDs hands out the decimal strings of numbers, in order, as
// substrings of one string.
type decimalIDs struct {
	all  string
	nums []int32
	off  int
}

// decimals returns the decimal strings of nums ≥ 0.
func decimals(nums []int32) *decimalIDs {
	size := 0
	for _, n := range nums {
		size += decimalLen(n)
	}
	var sb strings.Builder
	sb.Grow(size)
	var digits [10]byte
	for _, n := range nums {
		i := len(digits)
		for {
			i--
			digits[i] = byte('0' + n%10)
			if n /= 10; n == 0 {
				break
			}
		}
		sb.Write(digits[i:])
	}
	return &decimalIDs{all: sb.String(), nums: nums}
}

// next returns the string of the next number.
func (d *decimalIDs) next() string {
	end := d.off + decimalLen(d.nums[0])
	s := d.all[d.off:end]
	d.off, d.nums = end, d.nums[1:]
	return s
}

// decimalLen returns the number of decimal digits of n ≥ 0.
func decimalLen(n int32) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// parallelMin is the least number of customers the builder gives one
// goroutine.
const parallelMin = 4096

// BuildFromReader reads a transaction log with [Builder.Read] and builds
// the feature set of split from its accepted rows.
func BuildFromReader(r io.Reader, opts dataset.Options, split Split) (*Set, *dataset.Report, error) {
	b := NewBuilder(split)
	rep, err := b.Read(r, opts)
	if err != nil {
		return nil, rep, err
	}
	set, err := b.Build()
	return set, rep, err
}
