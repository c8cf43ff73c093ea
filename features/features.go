// Package features turns a stream of transactions into per-customer CLV
// features and labels for a calibration/holdout split.
//
// Definitions (DESIGN §4 and the shared contracts): transactions of one
// customer on one UTC calendar day are one purchase (amounts summed).
// Calibration is every day ≤ the cutoff date, holdout the days in
// (cutoff, cutoff + HorizonDays]; time is in weeks (days/7). Only customers
// whose first purchase is in calibration are scored. For each of them:
//
//	x            purchase days in calibration − 1
//	t_x          (last − first calibration purchase day) / 7
//	T            (cutoff − first purchase day) / 7
//	recency      T − t_x
//	cal_spend    calibration spend
//	mbar         mean value of the day-merged repeat purchases (0 if x = 0)
//	first_value  value of the first purchase day
//
// plus a weekly sequence [2][W] over the W weeks that end at the cutoff
// (oldest first; week W−1 is the 7 days cutoff−6 … cutoff): channel 0 the
// spend of the week, channel 1 its number of purchase days. The labels are
// the holdout spend and the number of holdout purchase days.
//
// No feature ever reads a day after the cutoff; the tests prove it by
// changing and adding holdout rows.
//
// # Data layout
//
// The [Builder] interns every customer id once into a dense index and
// keeps all customer-days in three flat arrays (day, amount, previous
// entry of the same customer): the entries of one customer form a chain
// from its latest day back to its first, in day order, and per-customer
// arrays hold the first day and the latest entry. A row is added to its
// day (amounts summed in arrival order, so the features are bit for bit
// those of a per-customer sorted slice) or linked in at its place; rows in
// time order only append. Memory grows with customers and customer-days
// (16 bytes each), not with rows; days after the end of the holdout are not
// stored at all. [Builder.Read] and [Builder.ReadFile] take the rows from
// [dataset.ReadBatches], which parses on all cores and hands over customer
// keys, so a row costs no string hashing. [Builder.Build] and the training
// snapshots ([Builder.BuildSnapshot]) read the same arrays, one pass over
// the data for all of them, and fill the customers on all cores.
//
// A builder that builds neither snapshots nor sequences
// ([Builder.OmitSnapshots], [Builder.OmitSequences]) keeps no days when
// [Builder.ReadFile] reads a file whose rows come in day order per
// customer (sorted by time or by customer): each customer is 64 bytes of
// running sums (its first day, its open latest day and the sums of the
// days before it, folded in ascending order as a walk over the days
// would), so memory grows with customers, not rows. A file out of order
// is read again into the day arrays.
package features

import (
	"cmp"
	"errors"
	"fmt"
	"time"
)

// DefaultSeqWeeks is the default length of the weekly sequence.
const DefaultSeqWeeks = 52

// MaxSeqWeeks bounds Split.SeqWeeks (ten years).
const MaxSeqWeeks = 520

// TabularColumns names the tabular feature columns in contract order.
var TabularColumns = []string{"x", "t_x", "T", "recency", "cal_spend", "mbar", "first_value"}

// SequenceChannels names the channels of the weekly sequence.
var SequenceChannels = []string{"spend", "purchase_days"}

// Split defines calibration and holdout.
type Split struct {
	// Cutoff is the last calibration day; only its UTC date is used.
	Cutoff time.Time `json:"cutoff"`
	// HorizonDays is the holdout length in days (0: no holdout, labels 0).
	HorizonDays int `json:"horizon_days"`
	// SeqWeeks is the number of weeks of the sequence (0 = 52).
	SeqWeeks int `json:"seq_weeks"`
}

// Validate checks the split and returns it with defaults filled in.
func (s Split) Validate() (Split, error) {
	if s.Cutoff.IsZero() {
		return s, errors.New("features: split has no cutoff")
	}
	if s.HorizonDays < 0 {
		return s, fmt.Errorf("features: horizon %d days is negative", s.HorizonDays)
	}
	if s.SeqWeeks == 0 {
		s.SeqWeeks = DefaultSeqWeeks
	}
	if s.SeqWeeks < 0 || s.SeqWeeks > MaxSeqWeeks {
		return s, fmt.Errorf("features: sequence length %d weeks not in [1, %d]", s.SeqWeeks, MaxSeqWeeks)
	}
	y, m, d := s.Cutoff.UTC().Date()
	s.Cutoff = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return s, nil
}

// HoldoutEnd returns the last holdout day (the cutoff date + HorizonDays).
func (s Split) HoldoutEnd() time.Time {
	y, m, d := s.Cutoff.UTC().Date()
	return time.Date(y, m, d+s.HorizonDays, 0, 0, 0, 0, time.UTC)
}

// CutoffFor returns the cutoff that leaves a full horizon of horizonDays
// after the cutoff up to and including the day of last (the last
// transaction): the date of last minus horizonDays.
func CutoffFor(last time.Time, horizonDays int) time.Time {
	y, m, d := last.UTC().Date()
	return time.Date(y, m, d-horizonDays, 0, 0, 0, 0, time.UTC)
}

// Customer holds the features and labels of one scored customer.
type Customer struct {
	ID            string    `json:"id"`
	FirstPurchase time.Time `json:"first_purchase"`
	X             int       `json:"x"`
	TX            float64   `json:"t_x"`
	T             float64   `json:"T"`
	Recency       float64   `json:"recency"`
	CalSpend      float64   `json:"cal_spend"`
	MBar          float64   `json:"mbar"`
	FirstValue    float64   `json:"first_value"`
	// Seq[0][w] is the spend and Seq[1][w] the number of purchase days of
	// week w (0 = oldest, W−1 = the week ending at the cutoff).
	Seq          [2][]float64 `json:"seq"`
	HoldoutX     int          `json:"x_holdout"`
	HoldoutSpend float64      `json:"spend_holdout"`
}

// Tabular returns the 7 tabular features in contract order.
func (c *Customer) Tabular() []float64 {
	return []float64{float64(c.X), c.TX, c.T, c.Recency, c.CalSpend, c.MBar, c.FirstValue}
}

// Stats counts what the builder saw.
type Stats struct {
	// Transactions passed to Add; Calibration, Holdout and AfterHorizon
	// split them by day.
	Transactions int64 `json:"transactions"`
	Calibration  int64 `json:"calibration"`
	Holdout      int64 `json:"holdout"`
	AfterHorizon int64 `json:"after_horizon"`
	// HoldoutOnlyCustomers first bought in the holdout and are not scored.
	HoldoutOnlyCustomers int `json:"holdout_only_customers"`
}

// Add adds the counts of o: the Stats of disjoint parts of a log (every
// customer in one part) add up to the Stats of the whole log.
func (s *Stats) Add(o Stats) {
	s.Transactions += o.Transactions
	s.Calibration += o.Calibration
	s.Holdout += o.Holdout
	s.AfterHorizon += o.AfterHorizon
	s.HoldoutOnlyCustomers += o.HoldoutOnlyCustomers
}

// Set is the feature set of all scored customers, sorted by ID (see
// [CompareIDs]).
type Set struct {
	Split     Split      `json:"split"`
	Customers []Customer `json:"customers"`
	Stats     Stats      `json:"stats"`
	// WithoutSequences marks a set built without the weekly sequences
	// ([Builder.OmitSequences]): every Customer.Seq is nil and only the
	// tabular models can use it.
	WithoutSequences bool `json:"without_sequences,omitempty"`
}

// HasSequences reports whether the customers carry their weekly sequences.
func (s *Set) HasSequences() bool { return !s.WithoutSequences }

// Len returns the number of customers.
func (s *Set) Len() int { return len(s.Customers) }

// IDs returns the customer ids in set order.
func (s *Set) IDs() []string {
	ids := make([]string, len(s.Customers))
	for i := range s.Customers {
		ids[i] = s.Customers[i].ID
	}
	return ids
}

// Tabular returns the N×7 tabular features (columns [TabularColumns]).
func (s *Set) Tabular() [][]float64 {
	rows := make([][]float64, len(s.Customers))
	flat := make([]float64, len(s.Customers)*len(TabularColumns))
	for i := range s.Customers {
		c := &s.Customers[i]
		row := flat[i*7 : (i+1)*7 : (i+1)*7]
		row[0], row[1], row[2], row[3], row[4], row[5], row[6] =
			float64(c.X), c.TX, c.T, c.Recency, c.CalSpend, c.MBar, c.FirstValue
		rows[i] = row
	}
	return rows
}

// Sequences returns a copy of the N×2×W weekly sequences (nil for a set
// without sequences).
func (s *Set) Sequences() [][][]float64 {
	if s.WithoutSequences {
		return nil
	}
	w := s.Split.SeqWeeks
	out := make([][][]float64, len(s.Customers))
	flat := make([]float64, len(s.Customers)*2*w)
	for i := range s.Customers {
		c := &s.Customers[i]
		a := flat[i*2*w : i*2*w+w : i*2*w+w]
		b := flat[i*2*w+w : (i+1)*2*w : (i+1)*2*w]
		copy(a, c.Seq[0])
		copy(b, c.Seq[1])
		out[i] = [][]float64{a, b}
	}
	return out
}

// Labels returns the holdout spend of every customer (the regression
// target; "buys in holdout" is Labels()[i] > 0).
func (s *Set) Labels() []float64 {
	y := make([]float64, len(s.Customers))
	for i := range s.Customers {
		y[i] = s.Customers[i].HoldoutSpend
	}
	return y
}

// HoldoutCounts returns the number of holdout purchase days per customer.
func (s *Set) HoldoutCounts() []float64 {
	y := make([]float64, len(s.Customers))
	for i := range s.Customers {
		y[i] = float64(s.Customers[i].HoldoutX)
	}
	return y
}

// CompareIDs orders customer ids: ids made only of ASCII digits come first,
// in numeric order without limit on length ("7" < "10"; equal numbers such
// as "007" and "7" in byte order), then all other ids in byte order.
func CompareIDs(a, b string) int {
	da, db := allDigits(a), allDigits(b)
	switch {
	case da && db:
		ta, tb := trimZeros(a), trimZeros(b)
		if c := cmp.Compare(len(ta), len(tb)); c != 0 {
			return c
		}
		if c := cmp.Compare(ta, tb); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	case da:
		return -1
	case db:
		return 1
	default:
		return cmp.Compare(a, b)
	}
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}

// MinSnapshotHistoryDays is the least history (days from the first
// transaction to the cutoff) an earlier training snapshot must have.
const MinSnapshotHistoryDays = 28

// DefaultSnapshots and DefaultSnapshotStepDays are the default number of
// earlier training snapshots and the days between them.
const (
	DefaultSnapshots        = 6
	DefaultSnapshotStepDays = 28
)

// MaxSnapshots bounds the number of earlier training snapshots.
const MaxSnapshots = 52

// SnapshotCutoffs returns the cutoffs of up to count earlier training
// snapshots of split, latest first: split.Cutoff − HorizonDays −
// k·stepDays for k = 0, 1, …, keeping those with at least
// MinSnapshotHistoryDays of history after firstDay. The holdout of every
// snapshot ends on or before split.Cutoff, so snapshots read calibration
// data only. count ≤ 0 returns none.
func SnapshotCutoffs(split Split, firstDay time.Time, count, stepDays int) ([]time.Time, error) {
	split, err := split.Validate()
	if err != nil {
		return nil, err
	}
	if count <= 0 {
		return nil, nil
	}
	if count > MaxSnapshots {
		return nil, fmt.Errorf("features: %d training snapshots requested, at most %d", count, MaxSnapshots)
	}
	if stepDays < 1 {
		return nil, fmt.Errorf("features: snapshot step %d days, want ≥ 1", stepDays)
	}
	if split.HorizonDays < 1 {
		return nil, errors.New("features: training snapshots need a horizon of at least 1 day")
	}
	y, m, d := firstDay.UTC().Date()
	earliest := time.Date(y, m, d+MinSnapshotHistoryDays, 0, 0, 0, 0, time.UTC)
	var out []time.Time
	for k := 0; k < count; k++ {
		c := split.Cutoff.AddDate(0, 0, -split.HorizonDays-k*stepDays)
		if c.Before(earliest) {
			break
		}
		out = append(out, c)
	}
	return out, nil
}

// SnapshotCutoffs returns the cutoffs of [SnapshotCutoffs] for the
// builder's split and first transaction day (none while it holds no
// transaction). Build each with [Builder.BuildSnapshot] to hold one
// snapshot in memory at a time.
func (b *Builder) SnapshotCutoffs(count, stepDays int) ([]time.Time, error) {
	if b.err != nil {
		return nil, b.err
	}
	first, ok := b.FirstDay()
	if !ok || count <= 0 {
		return nil, nil
	}
	return SnapshotCutoffs(b.split, first, count, stepDays)
}

// Snapshots builds the earlier training snapshots of
// [Builder.SnapshotCutoffs] (latest first).
func (b *Builder) Snapshots(count, stepDays int) ([]*Set, error) {
	cuts, err := b.SnapshotCutoffs(count, stepDays)
	if err != nil || len(cuts) == 0 {
		return nil, err
	}
	out := make([]*Set, 0, len(cuts))
	for _, c := range cuts {
		s, err := b.BuildSnapshot(c)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Float32Rows returns the tabular rows of the customers idx as float32 (the
// ONNX model's `features` input) and, with withSeq, their weekly sequences
// flattened channel-major (the `sequence` input). A set without sequences
// gives empty sequence rows; callers check [Set.HasSequences] first.
func (s *Set) Float32Rows(idx []int, withSeq bool) (tab, seq [][]float32) {
	// One array for all tabular rows (and one for the sequences) instead of
	// an allocation per row and value.
	const nt = 7 // len(TabularColumns)
	tab = make([][]float32, len(idx))
	flat := make([]float32, len(idx)*nt)
	if withSeq {
		seq = make([][]float32, len(idx))
	}
	for k, i := range idx {
		c := &s.Customers[i]
		r := flat[k*nt : (k+1)*nt : (k+1)*nt]
		r[0], r[1], r[2], r[3], r[4], r[5], r[6] = float32(float64(c.X)), float32(c.TX), float32(c.T), float32(c.Recency), float32(c.CalSpend), float32(c.MBar), float32(c.FirstValue)
		tab[k] = r
		if withSeq {
			var row []float32
			if n := len(c.Seq[0]) + len(c.Seq[1]); n > 0 {
				row = make([]float32, 0, n)
			}
			for _, ch := range c.Seq {
				for _, v := range ch {
					row = append(row, float32(v))
				}
			}
			seq[k] = row
		}
	}
	return tab, seq
}
