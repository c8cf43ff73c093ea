package features

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/synth"
)

// leanOf returns want without its weekly sequences, as a builder with
// OmitSequences builds it.
func leanOf(want *Set) *Set {
	lean := *want
	lean.WithoutSequences = true
	lean.Customers = slices.Clone(want.Customers)
	for i := range lean.Customers {
		lean.Customers[i].Seq = [2][]float64{}
	}
	return &lean
}

// cutoffOnlyBuild reads data from a file into a builder with OmitSnapshots
// and OmitSequences.
func cutoffOnlyBuild(t *testing.T, data []byte, opts dataset.Options, split Split) (*Builder, *Set) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(split)
	b.OmitSequences()
	b.OmitSnapshots()
	if _, err := b.ReadFile(path, opts); err != nil {
		t.Fatal(err)
	}
	set, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return b, set
}

// assertCutoffOnly compares the cutoff-only build of data with the
// reference and checks whether the running sums were kept (inOrder) or
// the file was read again into the day arrays.
func assertCutoffOnly(t *testing.T, data []byte, opts dataset.Options, split Split, inOrder bool) {
	t.Helper()
	_, want := refBuild(t, data, opts, split)
	b, got := cutoffOnlyBuild(t, data, opts, split)
	if b.aggMode != inOrder {
		t.Errorf("running sums kept: %v, want %v", b.aggMode, inOrder)
	}
	if !got.WithoutSequences {
		t.Error("cutoff-only set has sequences")
	}
	assertSameSet(t, "cutoff-only", got, leanOf(want))
	if _, err := b.BuildSnapshot(split.Cutoff.AddDate(0, 0, -split.HorizonDays-30)); err == nil {
		t.Error("BuildSnapshot of a builder with OmitSnapshots succeeded")
	}
}

func TestCutoffOnlyCDNOW(t *testing.T) {
	data := readAll(t, filepath.Join("..", "testdata", "demo", "cdnow_master.txt.gz"))
	assertCutoffOnly(t, data, dataset.Options{}, cdnowSplit, true)
	data = readAll(t, sharedFile(t, "cdnow_master.txt.gz"))
	assertCutoffOnly(t, data, dataset.Options{}, cdnowSplit, true)
	assertCutoffOnly(t, data, dataset.Options{}, Split{Cutoff: cdnowSplit.Cutoff, HorizonDays: 60, SeqWeeks: 13}, true)
}

func TestCutoffOnlyOnlineRetail(t *testing.T) {
	data := readAll(t, sharedFile(t, "online_retail_uci.csv.gz"))
	assertCutoffOnly(t, data, dataset.Options{}, retailSplit, true)
	rev, err := dataset.CollectReversals(bytes.NewReader(data), dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertCutoffOnly(t, data, dataset.Options{DropReversed: true, Reversals: rev}, retailSplit, true)
}

// TestCutoffOnlySynth: the generated log of clvflow gen (sorted by time),
// several days per customer in the holdout and after it.
func TestCutoffOnlySynth(t *testing.T) {
	l, err := synth.Generate(5_000, 3, synth.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := l.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	assertCutoffOnly(t, buf.Bytes(), dataset.Options{}, synthSplit, true)
	assertCutoffOnly(t, buf.Bytes(), dataset.Options{}, Split{Cutoff: synthSplit.Cutoff.AddDate(0, -6, 0), HorizonDays: 30}, true)
}

// TestCutoffOnlyOutOfOrder: logs in random and reverse time order and with
// mixed ids are read again into the day arrays and give the same set.
func TestCutoffOnlyOutOfOrder(t *testing.T) {
	split := Split{Cutoff: time.Date(2011, 3, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 200, SeqWeeks: 30}
	opts := dataset.Options{Format: dataset.FormatCSV}
	data := genLog(60_000, 700, 7)
	assertCutoffOnly(t, data, opts, split, false)
	lines := bytes.Split(bytes.TrimSuffix(genLog(40_000, 400, 3), []byte("\n")), []byte("\n"))
	slices.Reverse(lines[1:])
	assertCutoffOnly(t, append(bytes.Join(lines, []byte("\n")), '\n'), opts, split, false)
	// Sorted by time: kept as running sums.
	slices.SortStableFunc(lines[1:], func(a, b []byte) int {
		return bytes.Compare(bytes.Split(a, []byte(","))[2], bytes.Split(b, []byte(","))[2])
	})
	assertCutoffOnly(t, append(bytes.Join(lines, []byte("\n")), '\n'), opts, split, true)
}

// TestCutoffOnlyLaterRows: after a cutoff-only read, rows on or after a
// customer's latest day are added; an earlier one is refused and changes
// nothing.
func TestCutoffOnlyLaterRows(t *testing.T) {
	data := readAll(t, filepath.Join("..", "testdata", "demo", "cdnow_master.txt.gz"))
	b, _ := cutoffOnlyBuild(t, data, dataset.Options{}, cdnowSplit)
	rb, _ := refBuild(t, data, dataset.Options{}, cdnowSplit)
	late := cdnowSplit.Cutoff.AddDate(0, 0, 200)
	for _, id := range []string{"1", "7", "new", "1"} {
		if err := b.Add(id, late, 2.5); err != nil {
			t.Fatal(err)
		}
		if err := rb.Add(id, late, 2.5); err != nil {
			t.Fatal(err)
		}
	}
	before, _ := b.Build()
	err := b.Add("7", cdnowSplit.Cutoff, 1)
	if err == nil || !strings.Contains(err.Error(), "before its latest day") {
		t.Fatalf("row before the latest day: %v", err)
	}
	got, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	assertSameSet(t, "refused row", got, before)
	want, err := rb.Build()
	if err != nil {
		t.Fatal(err)
	}
	assertSameSet(t, "later rows", got, leanOf(want))
}

// TestIgnoreAfter: IgnoreAfter on Add, Read and ReadFile (both layouts)
// gives the set of the per-transaction filter in front of AddTransaction.
func TestIgnoreAfter(t *testing.T) {
	split := Split{Cutoff: time.Date(2010, 12, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 90, SeqWeeks: 20}
	opts := dataset.Options{Format: dataset.FormatCSV}
	asOf := time.Date(2011, 2, 14, 13, 30, 0, 0, time.UTC) // within a day: the time counts, not the day
	lines := bytes.Split(bytes.TrimSuffix(genLog(30_000, 500, 9), []byte("\n")), []byte("\n"))
	random := append(bytes.Join(lines, []byte("\n")), '\n')
	slices.SortStableFunc(lines[1:], func(a, b []byte) int {
		return bytes.Compare(bytes.Split(a, []byte(","))[2], bytes.Split(b, []byte(","))[2])
	})
	sorted := append(bytes.Join(lines, []byte("\n")), '\n')
	for _, data := range [][]byte{random, sorted} {
		ref := NewBuilder(split)
		if _, err := dataset.Read(bytes.NewReader(data), opts, func(tx dataset.Transaction) error {
			if tx.Time.After(asOf) {
				return nil
			}
			return ref.AddTransaction(tx)
		}); err != nil {
			t.Fatal(err)
		}
		want, err := ref.Build()
		if err != nil {
			t.Fatal(err)
		}
		if want.Stats.AfterHorizon != 0 || want.Stats.Holdout == 0 {
			t.Fatalf("test data: stats %+v", want.Stats)
		}

		add := NewBuilder(split)
		add.IgnoreAfter(asOf)
		if _, err := dataset.Read(bytes.NewReader(data), opts, add.AddTransaction); err != nil {
			t.Fatal(err)
		}
		got, err := add.Build()
		if err != nil {
			t.Fatal(err)
		}
		assertSameSet(t, "IgnoreAfter Add", got, want)

		read := NewBuilder(split)
		read.IgnoreAfter(asOf)
		if _, err := read.Read(bytes.NewReader(data), opts); err != nil {
			t.Fatal(err)
		}
		if got, err = read.Build(); err != nil {
			t.Fatal(err)
		}
		assertSameSet(t, "IgnoreAfter Read", got, want)

		path := filepath.Join(t.TempDir(), "log.csv")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		lean := NewBuilder(split)
		lean.IgnoreAfter(asOf)
		lean.OmitSequences()
		lean.OmitSnapshots()
		if _, err := lean.ReadFile(path, opts); err != nil {
			t.Fatal(err)
		}
		if got, err = lean.Build(); err != nil {
			t.Fatal(err)
		}
		assertSameSet(t, "IgnoreAfter ReadFile cutoff-only", got, leanOf(want))
	}
}

// TestSortedCustomers: the customer order is CompareIDs order, for all
// numeric ids (packed sort, equal numbers with leading zeros included)
// and for mixed ones.
func TestSortedCustomers(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for _, forms := range [][]string{{"%d"}, {"%d", "00%d", "0%d"}, {"%d", "4294967296%d"}, {"%d", "c%d", "00%d"}} {
		b := NewBuilder(Split{Cutoff: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
		seen := map[string]bool{}
		for range 5000 {
			id := fmt.Sprintf(forms[r.IntN(len(forms))], r.IntN(3000))
			if !seen[id] {
				seen[id] = true
				b.newCustomer(id)
			}
		}
		var got []string
		for _, c := range b.sortedCustomers() {
			got = append(got, b.ids.get(c))
		}
		want := slices.SortedFunc(maps.Keys(seen), CompareIDs)
		if !slices.Equal(got, want) {
			t.Fatalf("forms %q: order differs from CompareIDs", forms)
		}
	}
}

// TestSplitIndicesAsSorted: SplitIndices gives the sorted halves of the
// seeded permutation, as it did by sorting them.
func TestSplitIndicesAsSorted(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		n, frac := 100_000, 0.2
		perm := rand.New(rand.NewPCG(seed, pcgStream)).Perm(n)
		nTest := int(math.Round(frac * float64(n)))
		wantTest, wantTrain := slices.Sorted(slices.Values(perm[:nTest])), slices.Sorted(slices.Values(perm[nTest:]))
		train, test := SplitIndices(n, frac, seed)
		if !slices.Equal(train, wantTrain) || !slices.Equal(test, wantTest) {
			t.Fatalf("seed %d: split differs from the sorted permutation", seed)
		}
	}
}

// timeSortedLog returns a log of rows rows sorted by time whose ids are
// id(r) for r drawn from [0, n) and, in its last quarter, from [0, n+n/10):
// some customers first buy after 2011-07-25.
func timeSortedLog(seed uint64, rows, n int, id func(int) string) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	start := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	var buf bytes.Buffer
	buf.WriteString("customer_id,ts,amount\n")
	for i := range rows {
		at := start.Add(time.Duration(i*700*24/rows) * time.Hour)
		c := r.IntN(n)
		if i >= rows*3/4 {
			c = r.IntN(n + n/10)
		}
		fmt.Fprintf(&buf, "%s,%s,%d.%02d\n", id(c), at.Format(time.DateTime), r.IntN(50), r.IntN(100))
	}
	return buf.Bytes()
}

// TestCutoffOnlyKeys: time-sorted logs whose ids are all direct dataset
// keys (dense, sparse, up to the last one), none, or some, give the sets
// of the reference, read into running sums; and so do later Adds.
func TestCutoffOnlyKeys(t *testing.T) {
	split := Split{Cutoff: time.Date(2011, 3, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 200, SeqWeeks: 30}
	opts := dataset.Options{Format: dataset.FormatCSV}
	for _, tc := range []struct {
		name   string
		id     func(int) string
		direct bool
	}{
		{"dense", func(i int) string { return fmt.Sprint(i) }, true},
		{"sparse", func(i int) string { return fmt.Sprint(i*421 + 3) }, true},
		{"last direct", func(i int) string { return fmt.Sprint(1<<22 - 1 - i) }, true},
		{"beyond direct", func(i int) string { return fmt.Sprint(1<<22 + i) }, false},
		{"text", func(i int) string { return fmt.Sprintf("c%d", i) }, false},
		{"mixed", func(i int) string { return []string{"%d", "00%d", "c%d", "4194%04d"}[i%4] }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.id
			if tc.name == "mixed" {
				id = func(i int) string { return fmt.Sprintf(tc.id(i), i/4) }
			}
			data := timeSortedLog(uint64(len(tc.name)), 60_000, 9000, id)
			assertCutoffOnly(t, data, opts, split, true)
			b, _ := cutoffOnlyBuild(t, data, opts, split)
			if b.directOnly != tc.direct {
				t.Errorf("direct keys only: %v, want %v", b.directOnly, tc.direct)
			}
			assertLaterAdds(t, b, data, opts, split, []string{id(5), "new", id(5), id(2999)})
		})
	}
}

// assertLaterAdds adds rows of ids after the cutoff to b (a cutoff-only
// read of data) and to the reference of data, and compares their sets.
func assertLaterAdds(t *testing.T, b *Builder, data []byte, opts dataset.Options, split Split, ids []string) {
	t.Helper()
	rb, _ := refBuild(t, data, opts, split)
	for _, id := range ids {
		at := split.Cutoff.AddDate(0, 0, split.HorizonDays-1)
		if err := b.Add(id, at, 2.5); err != nil {
			t.Fatal(err)
		}
		if err := rb.Add(id, at, 2.5); err != nil {
			t.Fatal(err)
		}
	}
	got, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	want, err := rb.Build()
	if err != nil {
		t.Fatal(err)
	}
	assertSameSet(t, "later adds", got, leanOf(want))
}
