package features

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
)

func d(y int, m time.Month, dd int) time.Time { return time.Date(y, m, dd, 0, 0, 0, 0, time.UTC) }

// wk converts days to weeks at run time (no constant folding).
func wk(days int) float64 { return float64(days) / 7 }

type tx struct {
	id     string
	t      time.Time
	amount float64
}

func build(t *testing.T, split Split, txs []tx) *Set {
	t.Helper()
	b := NewBuilder(split)
	for _, x := range txs {
		if err := b.Add(x.id, x.t, x.amount); err != nil {
			t.Fatal(err)
		}
	}
	s, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCustomerFeatures checks the definitions on hand-computed cases.
func TestCustomerFeatures(t *testing.T) {
	cut := d(2011, 1, 31) // W = 4: weeks end 01-10, 01-17, 01-24, 01-31
	split := Split{Cutoff: cut.Add(15 * time.Hour), HorizonDays: 10, SeqWeeks: 4}
	est := time.FixedZone("EST", -5*3600)
	txs := []tx{
		// a: first day merged from two rows, repeat days inside and outside the window.
		{"a", d(2010, 12, 1).Add(9 * time.Hour), 10},
		{"a", d(2010, 12, 1).Add(18 * time.Hour), 5},
		{"a", d(2011, 1, 3), 20},                           // cutoff−28: outside the 4 weeks
		{"a", d(2011, 1, 4), 30},                           // cutoff−27: week 0
		{"a", d(2011, 1, 24), 40},                          // cutoff−7: week 2
		{"a", d(2011, 1, 25), 1},                           // cutoff−6: week 3
		{"a", time.Date(2011, 1, 31, 22, 0, 0, 0, est), 7}, // 2011-02-01 03:00 UTC: holdout
		{"a", d(2011, 2, 10), 8},                           // last holdout day
		{"a", d(2011, 2, 10), 2},                           // same day: merged
		{"a", d(2011, 2, 11), 99},                          // after the horizon: ignored
		// b: one purchase on the cutoff day.
		{"b", cut.Add(23*time.Hour + 59*time.Minute), 3},
		// c: holdout only, not scored.
		{"c", d(2011, 2, 1), 4},
	}
	s := build(t, split, txs)
	if len(s.Customers) != 2 || s.Customers[0].ID != "a" || s.Customers[1].ID != "b" {
		t.Fatalf("customers %v", s.IDs())
	}
	a, b := s.Customers[0], s.Customers[1]
	wantA := Customer{ID: "a", FirstPurchase: d(2010, 12, 1), X: 4, TX: wk(55), T: wk(61), Recency: wk(61) - wk(55),
		CalSpend: 106, MBar: 91.0 / 4, FirstValue: 15, HoldoutX: 2, HoldoutSpend: 17,
		Seq: [2][]float64{{30, 0, 40, 1}, {1, 0, 1, 1}}}
	wantB := Customer{ID: "b", FirstPurchase: cut, X: 0, TX: 0, T: 0, Recency: 0, CalSpend: 3, MBar: 0, FirstValue: 3,
		Seq: [2][]float64{{0, 0, 0, 3}, {0, 0, 0, 1}}}
	if !reflect.DeepEqual(a, wantA) {
		t.Errorf("a = %+v\nwant %+v", a, wantA)
	}
	if !reflect.DeepEqual(b, wantB) {
		t.Errorf("b = %+v\nwant %+v", b, wantB)
	}
	wantStats := Stats{Transactions: 12, Calibration: 7, Holdout: 4, AfterHorizon: 1, HoldoutOnlyCustomers: 1}
	if s.Stats != wantStats {
		t.Errorf("stats %+v, want %+v", s.Stats, wantStats)
	}
	if s.Split.Cutoff != cut || s.Split.SeqWeeks != 4 {
		t.Errorf("split not normalised: %+v", s.Split)
	}
	if got := s.Tabular()[0]; !slices.Equal(got, []float64{4, wk(55), wk(61), wk(61) - wk(55), 106, 91.0 / 4, 15}) {
		t.Errorf("tabular row %v", got)
	}
	if got := s.Sequences(); !slices.Equal(got[1][0], []float64{0, 0, 0, 3}) || !slices.Equal(got[0][1], []float64{1, 0, 1, 1}) {
		t.Errorf("sequences %v", got)
	}
	if got := s.Labels(); !slices.Equal(got, []float64{17, 0}) {
		t.Errorf("labels %v", got)
	}
	if got := s.HoldoutCounts(); !slices.Equal(got, []float64{2, 0}) {
		t.Errorf("holdout counts %v", got)
	}
}

// genTxs makes a deterministic random log: n customers over 2010-2011.
func genTxs(n int, seed uint64) []tx {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []tx
	start := d(2010, 1, 1)
	for c := 0; c < n; c++ {
		id := fmt.Sprintf("%d", 1000+c)
		first := r.IntN(600)
		k := 1 + r.IntN(12)
		for j := 0; j < k; j++ {
			dd := first + r.IntN(730-first)
			if j == 0 {
				dd = first
			}
			at := start.AddDate(0, 0, dd).Add(time.Duration(r.IntN(86400)) * time.Second)
			out = append(out, tx{id, at, math.Round(r.Float64()*10000) / 100})
		}
	}
	return out
}

// TestOrderIndependence: the set does not depend on the input order.
func TestOrderIndependence(t *testing.T) {
	txs := genTxs(300, 7)
	split := Split{Cutoff: d(2011, 3, 31), HorizonDays: 180}
	// Amounts are multiples of 0.01 below 100, summed per day in different
	// orders: compare to 1e-9, everything else exactly.
	a := build(t, split, txs)
	r := rand.New(rand.NewPCG(3, 4))
	shuffled := slices.Clone(txs)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	b := build(t, split, shuffled)
	if !slices.Equal(a.IDs(), b.IDs()) {
		t.Fatal("ids differ")
	}
	ta, tb := a.Tabular(), b.Tabular()
	for i := range ta {
		for j := range ta[i] {
			if math.Abs(ta[i][j]-tb[i][j]) > 1e-9 {
				t.Fatalf("customer %s column %s: %v vs %v", a.Customers[i].ID, TabularColumns[j], ta[i][j], tb[i][j])
			}
		}
	}
}

// TestNoLeakage changes every holdout row and adds rows after the cutoff
// (for existing customers, new holdout-only customers, and after the
// horizon): every feature, tabular and sequence, is bit-identical while the
// labels change. A calibration change, by contrast, is seen.
func TestNoLeakage(t *testing.T) {
	split := Split{Cutoff: d(2011, 3, 31), HorizonDays: 180, SeqWeeks: 52}
	base := genTxs(400, 11)
	cutEnd := split.Cutoff.AddDate(0, 0, 1)
	var leaked []tx
	for _, x := range base {
		if !x.t.Before(cutEnd) {
			x.amount = x.amount*3 + 1 // mutate holdout (and later) rows
		}
		leaked = append(leaked, x)
	}
	for i := 0; i < 400; i += 2 { // add holdout purchases for existing customers
		leaked = append(leaked, tx{fmt.Sprintf("%d", 1000+i), cutEnd.Add(time.Duration(i) * time.Hour), 50})
	}
	for i := 0; i < 50; i++ { // new customers first seen after the cutoff
		leaked = append(leaked, tx{fmt.Sprintf("new%d", i), cutEnd.AddDate(0, 0, i), 5})
	}
	leaked = append(leaked, tx{"1001", split.HoldoutEnd().AddDate(0, 0, 1), 1e6}) // after horizon
	// The day boundary: 23:59:59 on the cutoff day is calibration.
	a := build(t, split, append(slices.Clone(base), tx{"1003", split.Cutoff.Add(86399 * time.Second), 2}))
	b := build(t, split, append(leaked, tx{"1003", split.Cutoff.Add(86399 * time.Second), 2}))

	if !slices.Equal(a.IDs(), b.IDs()) {
		t.Fatalf("scored customers changed: %d vs %d", a.Len(), b.Len())
	}
	if !reflect.DeepEqual(a.Tabular(), b.Tabular()) {
		t.Error("tabular features changed by post-cutoff rows")
	}
	if !reflect.DeepEqual(a.Sequences(), b.Sequences()) {
		t.Error("sequence features changed by post-cutoff rows")
	}
	la, lb := a.Labels(), b.Labels()
	changed := 0
	for i := range la {
		if la[i] != lb[i] {
			changed++
		}
	}
	if changed < a.Len()/2 {
		t.Errorf("only %d of %d labels changed", changed, a.Len())
	}
	// Sensitivity: without the one extra calibration row the features differ.
	c := build(t, split, base)
	if reflect.DeepEqual(a.Tabular(), c.Tabular()) {
		t.Error("a calibration change did not change the features; the comparison is blind")
	}
}

// TestNoLeakageCDNOW doubles every holdout amount of the CDNOW sample and
// adds a holdout purchase for every customer: features identical, labels
// changed.
func TestNoLeakageCDNOW(t *testing.T) {
	path := sharedFile(t, "cdnow_sample.txt")
	base := buildFile(t, path, cdnowSplit)
	b := NewBuilder(cdnowSplit)
	holdoutStart := cdnowSplit.Cutoff.AddDate(0, 0, 1)
	_, err := dataset.ReadFile(path, dataset.Options{}, func(x dataset.Transaction) error {
		if !x.Time.Before(holdoutStart) {
			x.Amount = x.Amount*2 + 1
		}
		return b.AddTransaction(x)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range base.Customers {
		if err := b.Add(c.ID, cdnowSplit.Cutoff.AddDate(0, 0, 100), 9); err != nil {
			t.Fatal(err)
		}
	}
	mut, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(base.Tabular(), mut.Tabular()) || !reflect.DeepEqual(base.Sequences(), mut.Sequences()) {
		t.Error("CDNOW features changed by holdout mutations")
	}
	lb, lm := base.Labels(), mut.Labels()
	for i := range lb {
		if lb[i] == lm[i] {
			t.Fatalf("label of %s did not change", base.Customers[i].ID)
		}
	}
}

func TestCompareIDs(t *testing.T) {
	ids := []string{"b", "10", "a", "7", "007", "0", "", "A", "12345678901234567890", "9"}
	slices.SortFunc(ids, CompareIDs)
	want := []string{"0", "007", "7", "9", "10", "12345678901234567890", "", "A", "a", "b"}
	if !slices.Equal(ids, want) {
		t.Errorf("sorted %q, want %q", ids, want)
	}
}

func TestSplitValidate(t *testing.T) {
	tests := []struct {
		s    Split
		ok   bool
		want int
	}{
		{Split{Cutoff: d(2011, 1, 1)}, true, 52},
		{Split{Cutoff: d(2011, 1, 1), HorizonDays: 5, SeqWeeks: 3}, true, 3},
		{Split{}, false, 0},
		{Split{Cutoff: d(2011, 1, 1), HorizonDays: -1}, false, 0},
		{Split{Cutoff: d(2011, 1, 1), SeqWeeks: -2}, false, 0},
		{Split{Cutoff: d(2011, 1, 1), SeqWeeks: MaxSeqWeeks + 1}, false, 0},
	}
	for _, tc := range tests {
		got, err := tc.s.Validate()
		if (err == nil) != tc.ok || (tc.ok && got.SeqWeeks != tc.want) {
			t.Errorf("Validate(%+v) = %+v, %v", tc.s, got, err)
		}
		if !tc.ok {
			b := NewBuilder(tc.s)
			if b.Add("x", d(2011, 1, 1), 1) == nil {
				t.Errorf("Add accepted with invalid split %+v", tc.s)
			}
			if _, err := b.Build(); err == nil {
				t.Errorf("Build accepted invalid split %+v", tc.s)
			}
		}
	}
	if got := CutoffFor(time.Date(2011, 12, 9, 12, 50, 0, 0, time.UTC), 92); got != d(2011, 9, 8) {
		t.Errorf("CutoffFor = %v", got)
	}
}

func TestAddErrors(t *testing.T) {
	b := NewBuilder(Split{Cutoff: d(2011, 1, 1)})
	tests := []struct {
		id     string
		at     time.Time
		amount float64
	}{
		{"", d(2011, 1, 1), 1},
		{"x", d(2011, 1, 1), math.NaN()},
		{"x", d(2011, 1, 1), math.Inf(1)},
		{"x", time.Date(9_000_000, 1, 1, 0, 0, 0, 0, time.UTC), 1},
	}
	for _, tc := range tests {
		if err := b.Add(tc.id, tc.at, tc.amount); err == nil {
			t.Errorf("Add(%q, %v, %v) accepted", tc.id, tc.at, tc.amount)
		}
	}
}

func TestSplitTrainTest(t *testing.T) {
	tests := []struct {
		n     int
		frac  float64
		nTest int
	}{
		{100, 0.2, 20}, {10, 0.25, 3}, {3, 0.01, 1}, {3, 0.99, 2}, {5, 0, 0}, {5, 1, 5}, {5, math.NaN(), 0},
		{1, 0.5, 1}, {0, 0.2, 0}, {7, -1, 0},
	}
	for _, tc := range tests {
		train, test := SplitIndices(tc.n, tc.frac, 42)
		if len(test) != tc.nTest || len(train)+len(test) != tc.n {
			t.Errorf("n=%d frac=%v: %d train %d test, want %d test", tc.n, tc.frac, len(train), len(test), tc.nTest)
		}
		all := append(slices.Clone(train), test...)
		slices.Sort(all)
		for i, v := range all {
			if v != i {
				t.Fatalf("n=%d frac=%v: not a partition: %v %v", tc.n, tc.frac, train, test)
			}
		}
		if !slices.IsSorted(train) || !slices.IsSorted(test) {
			t.Errorf("indices not sorted")
		}
	}
	s := &Set{Customers: make([]Customer, 1000)}
	tr1, te1 := s.SplitTrainTest(0.2, 1)
	tr2, te2 := s.SplitTrainTest(0.2, 1)
	_, te3 := s.SplitTrainTest(0.2, 2)
	if !slices.Equal(tr1, tr2) || !slices.Equal(te1, te2) {
		t.Error("same seed, different split")
	}
	if slices.Equal(te1, te3) {
		t.Error("different seeds, same split")
	}
	// Pinned: the split is part of reproducible results (PCG(seed, 0x9e3779b97f4a7c15)).
	_, te := SplitIndices(10, 0.3, 1)
	if got := fmt.Sprint(te); got != pinnedSplit {
		t.Errorf("split of 10 with seed 1 = %s, pinned %s", got, pinnedSplit)
	}
}

const pinnedSplit = "[0 2 3]"

func TestComputeNorm(t *testing.T) {
	rows := [][]float64{{1, 5, 10}, {3, 5, 20}, {100, 5, 0}, {5, 5, 30}}
	tests := []struct {
		idx  []int
		mean []float64
		std  []float64
	}{
		{[]int{0, 1, 3}, []float64{3, 5, 20}, []float64{math.Sqrt(8.0 / 3), 1, math.Sqrt(200.0 / 3)}},
		{nil, []float64{27.25, 5, 15}, []float64{math.Sqrt((26.25*26.25 + 24.25*24.25 + 72.75*72.75 + 22.25*22.25) / 4), 1, math.Sqrt(125)}},
		{[]int{2}, []float64{100, 5, 0}, []float64{1, 1, 1}},
		{[]int{}, []float64{0, 0, 0}, []float64{1, 1, 1}},
	}
	for _, tc := range tests {
		n := ComputeNorm(rows, tc.idx)
		for j := range tc.mean {
			if math.Abs(n.Mean[j]-tc.mean[j]) > 1e-12 || math.Abs(n.Std[j]-tc.std[j]) > 1e-12 {
				t.Errorf("idx %v col %d: mean %v std %v, want %v %v", tc.idx, j, n.Mean[j], n.Std[j], tc.mean[j], tc.std[j])
			}
		}
	}
	n := ComputeNorm(rows, []int{0, 1, 3})
	if got := n.Apply([]float64{3, 5, 20}); !slices.Equal(got, []float64{0, 0, 0}) {
		t.Errorf("Apply = %v", got)
	}
	js, _ := json.Marshal(n)
	if !strings.HasPrefix(string(js), `{"mean":[3,5,20],"std":[`) {
		t.Errorf("json %s", js)
	}
}

func TestCSVRoundTrip(t *testing.T) {
	set := build(t, Split{Cutoff: d(2011, 3, 31), HorizonDays: 30, SeqWeeks: 8}, genTxs(50, 5))
	set.Customers[0].ID = `odd,"id"`
	var buf bytes.Buffer
	if err := set.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "# clvflow-features v1 cutoff=2011-03-31 horizon_days=30 seq_weeks=8\nid,x,t_x,T,recency,cal_spend,mbar,first_value,first_purchase,x_holdout,spend_holdout,seq_spend_0,") {
		t.Errorf("header: %.200s", buf.String())
	}
	back, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Split, set.Split) || !reflect.DeepEqual(back.Customers, set.Customers) {
		t.Errorf("round trip differs:\n%+v\n%+v", back.Customers[0], set.Customers[0])
	}
}

func TestReadCSVErrors(t *testing.T) {
	head := "# clvflow-features v1 cutoff=2011-03-31 horizon_days=30 seq_weeks=1\nid,x,t_x,T,recency,cal_spend,mbar,first_value,first_purchase,x_holdout,spend_holdout,seq_spend_0,seq_days_0\n"
	good := "a,1,2,3,1,10,5,5,2011-01-01,0,0,0,0\n"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "features csv:1: empty file"},
		{"no magic", "id,x\n", "features csv:1: not a clvflow feature file"},
		{"missing key", "# clvflow-features v1 cutoff=2011-03-31 seq_weeks=1\n", "missing horizon_days"},
		{"bad cutoff", "# clvflow-features v1 cutoff=2011-13-31 horizon_days=1 seq_weeks=1\n", "bad cutoff"},
		{"no header", head[:strings.Index(head, "\n")+1], "features csv:2: missing header"},
		{"wrong header", strings.Replace(head, "mbar", "m", 1) + good, `column 7 is "m", want "mbar"`},
		{"nan", head + strings.Replace(good, ",10,", ",NaN,", 1), "features csv:3: column cal_spend: not a finite number"},
		{"neg count", head + good + strings.Replace(good, "a,1,", "b,-1,", 1), "features csv:4: column x: not a count"},
		{"bad date", head + strings.Replace(good, "2011-01-01", "01/01/2011", 1), "column first_purchase: not a date"},
		{"field count", head + "a,1\n", "features csv:3: wrong number of fields"},
		{"empty id", head + strings.Replace(good, "a,", ",", 1), "column id: empty"},
	}
	for _, tc := range tests {
		_, err := ReadCSV(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		var ce *CSVError
		if err != nil && !errors.As(err, &ce) {
			t.Errorf("%s: %T is not *CSVError", tc.name, err)
		}
	}
	if s, err := ReadCSV(strings.NewReader(head + good)); err != nil || s.Len() != 1 || s.Customers[0].MBar != 5 {
		t.Errorf("good file: %v %+v", err, s)
	}
}

func TestOmitSequences(t *testing.T) {
	split := Split{Cutoff: d(2011, 3, 31), HorizonDays: 30, SeqWeeks: 8}
	txs := genTxs(80, 7)
	full := build(t, split, txs)
	b := NewBuilder(split)
	b.OmitSequences()
	for _, tx := range txs {
		if err := b.Add(tx.id, tx.t, tx.amount); err != nil {
			t.Fatal(err)
		}
	}
	lean, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if full.WithoutSequences || !full.HasSequences() || lean.HasSequences() || lean.Sequences() != nil {
		t.Fatalf("HasSequences: full %v, lean %v", full.HasSequences(), lean.HasSequences())
	}
	if lean.Len() != full.Len() || lean.Stats != full.Stats || lean.Split != full.Split {
		t.Fatalf("lean set: %d customers %+v, full %d %+v", lean.Len(), lean.Stats, full.Len(), full.Stats)
	}
	for i := range full.Customers {
		want := full.Customers[i]
		want.Seq = [2][]float64{}
		if !reflect.DeepEqual(lean.Customers[i], want) {
			t.Fatalf("customer %d: lean %+v, full without sequence %+v", i, lean.Customers[i], want)
		}
	}
	var buf bytes.Buffer
	if err := lean.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	wantHead := "# clvflow-features v1 cutoff=2011-03-31 horizon_days=30 seq_weeks=8 sequences=none\nid,x,t_x,T,recency,cal_spend,mbar,first_value,first_purchase,x_holdout,spend_holdout\n"
	if !strings.HasPrefix(buf.String(), wantHead) {
		t.Errorf("header: %.200s", buf.String())
	}
	back, err := ReadCSV(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !back.WithoutSequences || !reflect.DeepEqual(back.Customers, lean.Customers) || back.Split != lean.Split {
		t.Errorf("round trip of a set without sequences differs (without sequences %v)", back.WithoutSequences)
	}
	snap, err := b.BuildSnapshot(d(2011, 2, 28))
	if err != nil {
		t.Fatal(err)
	}
	if snap.HasSequences() || (snap.Len() > 0 && snap.Customers[0].Seq[0] != nil) {
		t.Error("a snapshot of a builder without sequences has sequences")
	}
	_, err = ReadCSV(strings.NewReader("# clvflow-features v1 cutoff=2011-03-31 horizon_days=30 seq_weeks=8 sequences=some\n"))
	if err == nil || !strings.Contains(err.Error(), `bad sequences "some"`) {
		t.Errorf("sequences=some: %v", err)
	}
}
