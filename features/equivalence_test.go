package features

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/synth"
)

// refBuild reads data with the sequential dataset.Read into the old
// builder (reference_impl_test.go) and returns it with its feature set.
func refBuild(t testing.TB, data []byte, opts dataset.Options, split Split) (*refBuilder, *Set) {
	t.Helper()
	rb := newRefBuilder(split)
	if _, err := dataset.Read(bytes.NewReader(data), opts, rb.AddTransaction); err != nil {
		t.Fatal(err)
	}
	set, err := rb.Build()
	if err != nil {
		t.Fatal(err)
	}
	return rb, set
}

// sameFloat reports whether a and b have the same bits.
func sameFloat(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }

// assertSameSet fails unless got equals want field by field, float bits
// included.
func assertSameSet(t testing.TB, what string, got, want *Set) {
	t.Helper()
	if got.Split != want.Split || got.Stats != want.Stats {
		t.Fatalf("%s: split/stats %+v %+v, want %+v %+v", what, got.Split, got.Stats, want.Split, want.Stats)
	}
	if got.Len() != want.Len() {
		t.Fatalf("%s: %d customers, want %d", what, got.Len(), want.Len())
	}
	for i := range want.Customers {
		g, w := &got.Customers[i], &want.Customers[i]
		if diff := customerDiff(g, w); diff != "" {
			t.Fatalf("%s: customer %d (%q): %s differs: got %+v, want %+v", what, i, w.ID, diff, *g, *w)
		}
	}
}

// customerDiff names the first field in which g and w differ ("" if none).
func customerDiff(g, w *Customer) string {
	switch {
	case g.ID != w.ID:
		return "id"
	case !g.FirstPurchase.Equal(w.FirstPurchase):
		return "first_purchase"
	case g.X != w.X || g.HoldoutX != w.HoldoutX:
		return "counts"
	}
	gf := []float64{g.TX, g.T, g.Recency, g.CalSpend, g.MBar, g.FirstValue, g.HoldoutSpend}
	wf := []float64{w.TX, w.T, w.Recency, w.CalSpend, w.MBar, w.FirstValue, w.HoldoutSpend}
	for k := range wf {
		if !sameFloat(gf[k], wf[k]) {
			return []string{"t_x", "T", "recency", "cal_spend", "mbar", "first_value", "spend_holdout"}[k]
		}
	}
	for ch := range w.Seq {
		if len(g.Seq[ch]) != len(w.Seq[ch]) {
			return "seq length"
		}
		for k := range w.Seq[ch] {
			if !sameFloat(g.Seq[ch][k], w.Seq[ch][k]) {
				return "seq"
			}
		}
	}
	return ""
}

// assertEquivalent builds data with the reference, with BuildFromReader
// and with Builder.Add fed by dataset.Read, and compares the sets and up
// to 3 snapshots of each.
func assertEquivalent(t *testing.T, data []byte, opts dataset.Options, split Split) {
	t.Helper()
	rb, want := refBuild(t, data, opts, split)
	got, _, err := BuildFromReader(bytes.NewReader(data), opts, split)
	if err != nil {
		t.Fatal(err)
	}
	assertSameSet(t, "BuildFromReader", got, want)

	b := NewBuilder(split)
	if _, err := dataset.Read(bytes.NewReader(data), opts, b.AddTransaction); err != nil {
		t.Fatal(err)
	}
	got, err = b.Build()
	if err != nil {
		t.Fatal(err)
	}
	assertSameSet(t, "Builder.Add", got, want)
	assertSameSnapshots(t, b, rb)
}

func assertSameSnapshots(t *testing.T, b *Builder, rb *refBuilder) {
	t.Helper()
	first, ok := rb.FirstDay()
	if gf, gok := b.FirstDay(); gok != ok || !gf.Equal(first) {
		t.Fatalf("FirstDay %v %v, want %v %v", gf, gok, first, ok)
	}
	cuts, err := SnapshotCutoffs(b.split, first, 3, 28)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cuts {
		got, err := b.BuildSnapshot(c)
		if err != nil {
			t.Fatal(err)
		}
		want, err := rb.BuildSnapshot(c)
		if err != nil {
			t.Fatal(err)
		}
		assertSameSet(t, "snapshot "+c.Format(time.DateOnly), got, want)
	}
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestEquivalenceDemo(t *testing.T) {
	data := readAll(t, filepath.Join("..", "testdata", "demo", "cdnow_master.txt.gz"))
	assertEquivalent(t, data, dataset.Options{}, cdnowSplit)
}

func TestEquivalenceCDNOW(t *testing.T) {
	data := readAll(t, sharedFile(t, "cdnow_master.txt.gz"))
	assertEquivalent(t, data, dataset.Options{}, cdnowSplit)
	assertEquivalent(t, data, dataset.Options{}, Split{Cutoff: cdnowSplit.Cutoff, HorizonDays: 60, SeqWeeks: 13})
}

func TestEquivalenceOnlineRetail(t *testing.T) {
	data := readAll(t, sharedFile(t, "online_retail_uci.csv.gz"))
	assertEquivalent(t, data, dataset.Options{}, retailSplit)
	rev, err := dataset.CollectReversals(bytes.NewReader(data), dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	assertEquivalent(t, data, dataset.Options{DropReversed: true, Reversals: rev}, retailSplit)
}

// TestEquivalenceGenerated: rows in random time order, several per
// customer-day, so the out-of-order insertion and the in-order per-day
// sums are exercised.
func TestEquivalenceGenerated(t *testing.T) {
	data := genLog(60_000, 700, 7)
	assertEquivalent(t, data, dataset.Options{Format: dataset.FormatCSV},
		Split{Cutoff: time.Date(2011, 3, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 200, SeqWeeks: 30})
}

// TestEquivalenceSynth: a log of package synth (the format of the
// benchmarks and of clvflow gen), with training snapshots.
func TestEquivalenceSynth(t *testing.T) {
	l, err := synth.Generate(5_000, 3, synth.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := l.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	assertEquivalent(t, buf.Bytes(), dataset.Options{}, synthSplit)
}

// TestEquivalenceReversed: the generated log newest row first, so most
// rows go before the customer's first day.
func TestEquivalenceReversed(t *testing.T) {
	lines := bytes.Split(bytes.TrimSuffix(genLog(40_000, 400, 3), []byte("\n")), []byte("\n"))
	var buf bytes.Buffer
	buf.Write(lines[0])
	buf.WriteByte('\n')
	date := func(l []byte) []byte { return bytes.Split(l, []byte(","))[2] } // invoice_no,customer_id,invoice_date,...
	slices.SortStableFunc(lines[1:], func(a, b []byte) int { return bytes.Compare(date(b), date(a)) })
	for _, l := range lines[1:] {
		buf.Write(l)
		buf.WriteByte('\n')
	}
	assertEquivalent(t, buf.Bytes(), dataset.Options{Format: dataset.FormatCSV},
		Split{Cutoff: time.Date(2011, 3, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 200, SeqWeeks: 30})
}

// TestEquivalenceMixedIDs: numeric ids (small, large, with leading zeros,
// beyond 18 digits) and other ids, in random time order.
func TestEquivalenceMixedIDs(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	var buf bytes.Buffer
	buf.WriteString("customer_id,ts,amount\n")
	start := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	forms := []string{"%d", "00%d", "1%018d", "77777777777777777777%d", "c%d", "%d"}
	for i := 0; i < 30_000; i++ {
		id := fmt.Sprintf(forms[r.IntN(len(forms))], r.IntN(400))
		at := start.Add(time.Duration(r.IntN(700*24)) * time.Hour)
		fmt.Fprintf(&buf, "%s,%s,%d.%02d\n", id, at.Format(time.DateTime), r.IntN(50), r.IntN(100))
	}
	assertEquivalent(t, buf.Bytes(), dataset.Options{Format: dataset.FormatCSV},
		Split{Cutoff: time.Date(2011, 3, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 90, SeqWeeks: 8})
}

// TestEquivalenceTwoReads: two logs read one after the other into one
// builder (each read has its own customer keys), then two Adds, give the
// features of the reference fed the same.
func TestEquivalenceTwoReads(t *testing.T) {
	a, c := genLog(20_000, 300, 1), genLog(20_000, 500, 2)
	opts := dataset.Options{Format: dataset.FormatCSV}
	split := Split{Cutoff: time.Date(2011, 3, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 100, SeqWeeks: 20}
	rb := newRefBuilder(split)
	b := NewBuilder(split)
	for _, data := range [][]byte{c, a} {
		if _, err := dataset.Read(bytes.NewReader(data), opts, rb.AddTransaction); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Read(bytes.NewReader(data), opts); err != nil {
			t.Fatal(err)
		}
	}
	// Add after the reads: an existing customer (index caught up) and a
	// new one.
	for _, id := range []string{"12001", "new"} {
		at := time.Date(2011, 1, 5, 0, 0, 0, 0, time.UTC)
		if err := rb.Add(id, at, 0.1); err != nil {
			t.Fatal(err)
		}
		if err := b.Add(id, at, 0.1); err != nil {
			t.Fatal(err)
		}
	}
	want, err := rb.Build()
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if b.ids.len() != len(rb.ids) {
		t.Fatalf("%d customers, want %d", b.ids.len(), len(rb.ids))
	}
	assertSameSet(t, "two reads", got, want)
}
