package features

import (
	"bytes"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// csvBytes is what WriteCSV writes for s.
func csvBytes(t *testing.T, s *Set) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mergeSets writes every part with WriteCSV and merges the files.
func mergeSets(t *testing.T, parts []*Set) ([]byte, []string) {
	t.Helper()
	readers := make([]io.Reader, len(parts))
	for i, p := range parts {
		readers[i] = bytes.NewReader(csvBytes(t, p))
	}
	var out bytes.Buffer
	ids, err := MergeCSV(&out, readers...)
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), ids
}

// TestMergeOfPartsEqualsWholeBuild: building the feature set (and the
// snapshots) of each part of a log split by customer, writing them and
// merging the files gives the very bytes written for the set a builder of
// the whole log builds; the rows are shuffled so that every customer's rows
// are spread through the log, ids mix numbers of different lengths with
// other strings (and a comma), and one part is empty.
func TestMergeOfPartsEqualsWholeBuild(t *testing.T) {
	txs := genTxs(400, 5)
	for i := range txs {
		switch i % 7 {
		case 1:
			txs[i].id = "c-" + txs[i].id
		case 2:
			txs[i].id = txs[i].id[:2]
		case 3:
			txs[i].id = "a,\"b\" " + txs[i].id
		case 4:
			txs[i].id = "multi\nline " + txs[i].id
		}
	}
	r := rand.New(rand.NewPCG(9, 9))
	r.Shuffle(len(txs), func(i, j int) { txs[i], txs[j] = txs[j], txs[i] })
	split := Split{Cutoff: d(2011, 6, 30), HorizonDays: 60, SeqWeeks: 13}
	whole := NewBuilder(split)
	const n = 5 // part 4 gets no customer
	parts := make([]*Builder, n)
	for i := range parts {
		parts[i] = NewBuilder(split)
	}
	for _, x := range txs {
		h := fnv.New64a()
		h.Write([]byte(x.id))
		for _, b := range []*Builder{whole, parts[h.Sum64()%(n-1)]} {
			if err := b.Add(x.id, x.t, x.amount); err != nil {
				t.Fatal(err)
			}
		}
	}
	want, err := whole.Build()
	if err != nil {
		t.Fatal(err)
	}
	if want.Stats.AfterHorizon == 0 || want.Stats.HoldoutOnlyCustomers == 0 {
		t.Fatalf("the log must have rows after the horizon and holdout-only customers: %+v", want.Stats)
	}
	sets := make([]*Set, n)
	for i, b := range parts {
		if sets[i], err = b.Build(); err != nil {
			t.Fatal(err)
		}
		if (sets[i].Len() == 0) != (i == n-1) || sets[i].Len() == want.Len() {
			t.Fatalf("part %d has %d of %d customers: not a real split", i, sets[i].Len(), want.Len())
		}
	}
	var stats Stats
	for _, p := range sets {
		stats.Add(p.Stats)
	}
	if stats != want.Stats {
		t.Fatalf("the parts' stats add up to %+v, the whole log's are %+v", stats, want.Stats)
	}
	got, ids := mergeSets(t, sets)
	if !bytes.Equal(got, csvBytes(t, want)) {
		t.Fatalf("merged file differs from the whole build's (%d vs %d bytes)", len(got), len(csvBytes(t, want)))
	}
	if !slices.Equal(ids, want.IDs()) {
		t.Fatal("merged ids differ from the whole build's")
	}
	// Snapshots at the whole log's cutoffs, merged, equal the whole's.
	cuts, err := whole.SnapshotCutoffs(3, 28)
	if err != nil || len(cuts) != 3 {
		t.Fatalf("cutoffs %v %v", cuts, err)
	}
	for _, c := range cuts {
		want, err := whole.BuildSnapshot(c)
		if err != nil {
			t.Fatal(err)
		}
		snaps := make([]*Set, n)
		for i, b := range parts {
			if snaps[i], err = b.BuildSnapshot(c); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := mergeSets(t, snaps); !bytes.Equal(got, csvBytes(t, want)) {
			t.Fatalf("snapshot %s: merged set differs from the whole build", c.Format("2006-01-02"))
		}
	}
}

func TestMergeCSVErrors(t *testing.T) {
	split := Split{Cutoff: d(2011, 6, 30), HorizonDays: 60, SeqWeeks: 13}
	file := func(split Split, ids ...string) io.Reader {
		s := &Set{Split: split}
		for _, id := range ids {
			s.Customers = append(s.Customers, Customer{ID: id, Seq: [2][]float64{make([]float64, split.SeqWeeks), make([]float64, split.SeqWeeks)}})
		}
		return bytes.NewReader(csvBytes(t, s))
	}
	other := split
	other.HorizonDays = 30
	for _, c := range []struct {
		name  string
		parts []io.Reader
		want  string
	}{
		{"none", nil, "no feature files"},
		{"customer in two parts", []io.Reader{file(split, "1", "5"), file(split, "5")}, `"5" follows "5"`},
		{"unsorted part", []io.Reader{file(split, "9", "2")}, `"2" follows "9"`},
		{"different splits", []io.Reader{file(split, "1"), file(other, "2")}, "part 1 has split \"# clvflow-features v1 cutoff=2011-06-30 horizon_days=30"},
		{"not a feature file", []io.Reader{file(split, "1"), strings.NewReader("customer,timestamp,amount\n")}, "part 1 is not a feature file"},
		{"empty part", []io.Reader{strings.NewReader("")}, "part 0: line 1: unexpected EOF"},
		{"no header", []io.Reader{strings.NewReader("# clvflow-features v1 cutoff=2011-06-30 horizon_days=60 seq_weeks=13\n")}, "part 0: line 2: unexpected EOF"},
		{"row without fields", []io.Reader{io.MultiReader(file(split, "1"), strings.NewReader("2\n"))}, "part 0: line 4: malformed customer id"},
		{"unterminated quote", []io.Reader{io.MultiReader(file(split, "1"), strings.NewReader("\"2,3\n"))}, "part 0: line 5: the file ends inside a row"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := MergeCSV(io.Discard, c.parts...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	// Ids of different kinds merge in CompareIDs order.
	var out bytes.Buffer
	ids, err := MergeCSV(&out, file(split, "7", "a"), file(split, "10", "b"), file(split))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"7", "10", "a", "b"}) {
		t.Fatalf("merged ids %q", ids)
	}
	set, err := ReadCSV(&out)
	if err != nil || !slices.Equal(set.IDs(), ids) {
		t.Fatalf("merged file reads back as %v, %v", set, err)
	}
}
