package features

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestMergeOfPartsEqualsWholeBuild: building the feature set (and the
// snapshots) of each part of a log split by customer and merging them gives
// exactly the set a builder of the whole log builds, Stats included; the
// rows are shuffled so that every customer's rows are spread through the log,
// and ids mix numbers of different lengths with other strings.
func TestMergeOfPartsEqualsWholeBuild(t *testing.T) {
	txs := genTxs(400, 5)
	for i := range txs {
		switch i % 7 {
		case 1:
			txs[i].id = "c-" + txs[i].id
		case 2:
			txs[i].id = txs[i].id[:2]
		}
	}
	r := rand.New(rand.NewPCG(9, 9))
	r.Shuffle(len(txs), func(i, j int) { txs[i], txs[j] = txs[j], txs[i] })
	split := Split{Cutoff: d(2011, 6, 30), HorizonDays: 60, SeqWeeks: 13}
	whole := NewBuilder(split)
	const n = 4
	parts := make([]*Builder, n)
	for i := range parts {
		parts[i] = NewBuilder(split)
	}
	for _, x := range txs {
		h := fnv.New64a()
		h.Write([]byte(x.id))
		for _, b := range []*Builder{whole, parts[h.Sum64()%n]} {
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
		if sets[i].Len() == 0 || sets[i].Len() == want.Len() {
			t.Fatalf("part %d has %d of %d customers: not a real split", i, sets[i].Len(), want.Len())
		}
	}
	got, err := Merge(sets...)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merged set differs from the whole build (stats %+v vs %+v, %d vs %d customers)", got.Stats, want.Stats, got.Len(), want.Len())
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
		got, err := Merge(snaps...)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("snapshot %s: merged set differs from the whole build", c.Format("2006-01-02"))
		}
	}
}

func TestMergeErrors(t *testing.T) {
	split := Split{Cutoff: d(2011, 6, 30), HorizonDays: 60, SeqWeeks: 13}
	set := func(split Split, ids ...string) *Set {
		s := &Set{Split: split}
		for _, id := range ids {
			s.Customers = append(s.Customers, Customer{ID: id})
		}
		return s
	}
	other := split
	other.HorizonDays = 30
	for _, c := range []struct {
		name  string
		parts []*Set
		want  string
	}{
		{"none", nil, "no feature sets"},
		{"customer in two parts", []*Set{set(split, "1", "5"), set(split, "5")}, `"5" follows "5"`},
		{"unsorted part", []*Set{set(split, "9", "2")}, `"2" follows "9"`},
		{"different splits", []*Set{set(split, "1"), set(other, "2")}, "part 1 has split 2011-06-30/30d"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Merge(c.parts...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	// Ids of different kinds merge in CompareIDs order.
	got, err := Merge(set(split, "7", "a"), set(split, "10", "b"), set(split))
	if err != nil {
		t.Fatal(err)
	}
	if ids := fmt.Sprint(got.IDs()); ids != "[7 10 a b]" {
		t.Fatalf("merged ids %s", ids)
	}
}
