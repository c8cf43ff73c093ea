package features

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clvflow/clvflow/internal/parallel"
)

// Build computes the feature set. The builder may keep receiving
// transactions and be built again.
func (b *Builder) Build() (*Set, error) {
	if b.err != nil {
		return nil, b.err
	}
	set := b.buildAt(b.split, b.cutoffDay, b.endDay)
	set.Stats = b.stats
	set.Stats.HoldoutOnlyCustomers = b.ids.len() - len(set.Customers) // first bought after the cutoff
	return set, nil
}

// FirstDay returns the first transaction day the builder holds (false when
// it holds none).
func (b *Builder) FirstDay() (time.Time, bool) {
	if b.ids.len() == 0 {
		return time.Time{}, false
	}
	first := b.firstOf(0)
	for c := range b.ids.len() {
		first = min(first, b.firstOf(int32(c)))
	}
	return time.Unix(int64(first)*86400, 0).UTC(), true
}

// firstOf returns the first day of customer c.
func (b *Builder) firstOf(c int32) int32 {
	if b.aggMode {
		return b.agg.at(c).first
	}
	return b.first[c]
}

// BuildSnapshot computes the feature set of an earlier training snapshot:
// the builder's horizon and sequence length at the given cutoff. Its
// holdout must end on or before the builder's own cutoff, so that a
// snapshot never reads a day of the builder's holdout; its Stats are zero.
// It reads the days stored by the one pass over the data.
func (b *Builder) BuildSnapshot(cutoff time.Time) (*Set, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.noSnap {
		return nil, errors.New("features: a snapshot of a builder that omits them (OmitSnapshots)")
	}
	split, err := Split{Cutoff: cutoff, HorizonDays: b.split.HorizonDays, SeqWeeks: b.split.SeqWeeks}.Validate()
	if err != nil {
		return nil, err
	}
	cd := dayNumber(split.Cutoff)
	end := cd + int64(split.HorizonDays)
	if end > b.cutoffDay {
		return nil, fmt.Errorf("features: snapshot at %s: its holdout ends %s, after the cutoff %s; a training snapshot may only read calibration data",
			split.Cutoff.Format(time.DateOnly), split.HoldoutEnd().Format(time.DateOnly), b.split.Cutoff.Format(time.DateOnly))
	}
	return b.buildAt(split, cd, end), nil
}

// buildAt computes the customers of split from the stored days: only days ≤
// endDay are read; days in (cutoffDay, endDay] are the holdout. Customers
// are independent, so GOMAXPROCS goroutines fill ranges of the set.
func (b *Builder) buildAt(split Split, cutoffDay, endDay int64) *Set {
	scored, nums := b.scoredCustomers(b.sortedCustomers(), cutoffDay)
	w := split.SeqWeeks
	set := &Set{Split: split, Customers: make([]Customer, len(scored)), WithoutSequences: b.noSeq}
	if b.noSeq {
		w = 0
	}
	seq := make([]float64, len(scored)*2*w)
	parallel.Ranges(len(scored), parallelMin, func(lo, hi int) {
		if b.aggMode { // cutoffDay, endDay are the builder's own
			var ns []int32
			if nums != nil {
				ns = nums[lo:hi]
			}
			b.aggCustomers(set.Customers[lo:hi], scored[lo:hi], ns)
			return
		}
		var chains [chainWays][]int32
		for k := lo; k < hi; k += chainWays {
			cs := scored[k:min(k+chainWays, hi)]
			b.gatherChains(cs, &chains)
			for j, c := range cs {
				cu := &set.Customers[k+j]
				if w > 0 {
					cu.Seq[0] = seq[(k+j)*2*w : (k+j)*2*w+w : (k+j)*2*w+w]
					cu.Seq[1] = seq[(k+j)*2*w+w : (k+j+1)*2*w : (k+j+1)*2*w]
				}
				b.customerAt(cu, c, cutoffDay, endDay, chains[j])
			}
		}
	})
	return set
}

// scoredCustomers returns the customers of order whose first day is on or
// before cutoffDay (order itself when a cutoff-only builder saw no
// customer first after its cutoff, its only cutoffDay) and, while their
// ids are not stored (idKeys), their numbers (see Builder.nums).
func (b *Builder) scoredCustomers(order []int32, cutoffDay int64) (scored, nums []int32) {
	if b.idKeys == nil {
		b.nums = nil
	}
	if b.aggMode && b.aggLate == 0 {
		return order, b.nums
	}
	for i, c := range order {
		if int64(b.firstOf(c)) <= cutoffDay {
			scored = append(scored, c)
			if b.nums != nil {
				nums = append(nums, b.nums[i])
			}
		}
	}
	return scored, nums
}

// chainWays customers' chains are walked together, so that the memory
// loads of the walks overlap instead of waiting for each other.
const chainWays = 4

// gatherChains collects the entries of the customers cs (at most
// chainWays), latest day first, into chains.
func (b *Builder) gatherChains(cs []int32, chains *[chainWays][]int32) {
	var es [chainWays]int32
	for j := range es {
		chains[j], es[j] = chains[j][:0], -1
		if j < len(cs) {
			es[j] = b.tail[cs[j]].entry
		}
	}
	for live := true; live; {
		live = false
		for j, e := range es {
			if e >= 0 {
				chains[j] = append(chains[j], e)
				es[j] = b.prev[e]
				live = true
			}
		}
	}
}

// customerAt fills the features of customer c (Seq already allocated, or
// nil when the builder omits sequences) from its chain (latest day first), reading its days in ascending order
// exactly as the per-customer slices of the previous layout were read, so
// the sums are bit for bit the same.
func (b *Builder) customerAt(cu *Customer, c int32, cutoffDay, endDay int64, chain []int32) {
	w := len(cu.Seq[0])
	first := int64(b.first[c])
	last := first
	cu.ID = b.ids.get(c)
	cu.FirstPurchase = time.Unix(first*86400, 0).UTC()
	cu.FirstValue = b.amount[chain[len(chain)-1]]
	var repeat float64
	for j := len(chain) - 1; j >= 0; j-- {
		day, amount := int64(b.day[chain[j]]), b.amount[chain[j]]
		if day > endDay {
			break // days are sorted
		}
		if day > cutoffDay {
			cu.HoldoutX++
			cu.HoldoutSpend += amount
			continue
		}
		cu.CalSpend += amount
		if j < len(chain)-1 {
			cu.X++
			repeat += amount
		}
		last = day
		if back := (cutoffDay - day) / 7; back < int64(w) {
			cu.Seq[0][w-1-int(back)] += amount
			cu.Seq[1][w-1-int(back)]++
		}
	}
	cu.TX = float64(last-first) / 7
	cu.T = float64(cutoffDay-first) / 7
	cu.Recency = cu.T - cu.TX
	if cu.X > 0 {
		cu.MBar = repeat / float64(cu.X)
	}
}

// idKey orders customer ids like [CompareIDs]; num is the numeric value
// of an id of at most 19 significant digits (fast), which orders those ids
// by number alone.
type idKey struct {
	num  uint64
	c    int32
	fast bool
}

// sortedCustomers returns the customers sorted by id ([CompareIDs]),
// cached until a customer is added.
func (b *Builder) sortedCustomers() []int32 {
	if len(b.order) == b.ids.len() {
		return b.order
	}
	if b.idKeys != nil && b.directOnly {
		b.order, b.nums = directOrder(b.idKeys, b.ids.len())
		return b.order
	}
	if b.idKeys != nil {
		b.fillIDs()
	}
	if order, ok := b.sortedNumericIDs(); ok {
		b.order = order
		return b.order
	}
	keys := make([]idKey, b.ids.len())
	for i := range keys {
		id := b.ids.get(int32(i))
		keys[i] = idKey{c: int32(i)}
		keys[i].num, keys[i].fast = numericID(id)
	}
	slices.SortFunc(keys, func(x, y idKey) int {
		if x.fast && y.fast {
			if c := cmp.Compare(x.num, y.num); c != 0 {
				return c
			}
		}
		return CompareIDs(b.ids.get(x.c), b.ids.get(y.c))
	})
	b.order = make([]int32, len(keys))
	for i, k := range keys {
		b.order[i] = k.c
	}
	return b.order
}

// directOrder returns the n customers of a read's keys (customer + 1 per
// key) in the order of their keys, all direct, which is the order of
// their ids, the canonical numbers key/2; and those numbers.
func directOrder(keys []int32, n int) (order, nums []int32) {
	order, nums = make([]int32, 0, n), make([]int32, 0, n)
	for k := 0; k < len(keys); k += 2 {
		if c := keys[k] - 1; c >= 0 {
			order, nums = append(order, c), append(nums, int32(k/2))
		}
	}
	return order, nums
}

// sortedNumericIDs is sortedCustomers when every id is a number below 2³²
// (after its leading zeros): (number, customer) packed into a uint64 sort
// as plain integers, several times faster than idKeys with a comparison
// function; the rare runs of equal numbers ("7", "007") are then put in
// [CompareIDs] order. CompareIDs is a total order on distinct ids, so the
// result is that of the general sort.
func (b *Builder) sortedNumericIDs() ([]int32, bool) {
	n := b.ids.len()
	packed := make([]uint64, n)
	for c := range n {
		num, fast := numericID(b.ids.get(int32(c)))
		if !fast || num >= 1<<32 {
			return nil, false
		}
		packed[c] = num<<32 | uint64(c)
	}
	slices.Sort(packed)
	order := make([]int32, n)
	for i, p := range packed {
		order[i] = int32(uint32(p))
	}
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && packed[hi]>>32 == packed[lo]>>32 {
			hi++
		}
		if hi-lo > 1 {
			slices.SortFunc(order[lo:hi], func(x, y int32) int { return CompareIDs(b.ids.get(x), b.ids.get(y)) })
		}
		lo = hi
	}
	return order, true
}

// numericID returns the value of an all-digit id with at most 19 digits
// after its leading zeros.
func numericID(id string) (uint64, bool) {
	if !allDigits(id) {
		return 0, false
	}
	t := trimZeros(id)
	if len(t) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(t); i++ {
		n = n*10 + uint64(t[i]-'0')
	}
	return n, true
}
