package features

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSnapshotCutoffs(t *testing.T) {
	split := Split{Cutoff: d(2011, 9, 8), HorizonDays: 92}
	first := d(2010, 12, 1)
	got, err := SnapshotCutoffs(split, first, 10, 28)
	if err != nil {
		t.Fatal(err)
	}
	// 2011-09-08 − 92 days = 2011-06-08, then every 28 days back while at
	// least 28 days after 2010-12-01 (on or after 2010-12-29).
	want := []time.Time{d(2011, 6, 8), d(2011, 5, 11), d(2011, 4, 13), d(2011, 3, 16), d(2011, 2, 16), d(2011, 1, 19)}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cutoffs %v, want %v", got, want)
	}
	for _, c := range got {
		if c.AddDate(0, 0, split.HorizonDays).After(split.Cutoff) {
			t.Fatalf("snapshot %s: holdout ends after the cutoff", c.Format(time.DateOnly))
		}
	}
	if got, _ := SnapshotCutoffs(split, first, 2, 28); len(got) != 2 || !got[1].Equal(d(2011, 5, 11)) {
		t.Fatalf("count 2: %v", got)
	}
	if got, err := SnapshotCutoffs(split, first, 0, 28); err != nil || got != nil {
		t.Fatalf("count 0: %v %v", got, err)
	}
	// CDNOW's 273-day horizon from 1997-09-30 leaves no earlier window.
	if got, err := SnapshotCutoffs(Split{Cutoff: d(1997, 9, 30), HorizonDays: 273}, d(1997, 1, 1), 6, 28); err != nil || len(got) != 0 {
		t.Fatalf("CDNOW: %v %v", got, err)
	}
	for _, c := range []struct {
		split       Split
		count, step int
		want        string
	}{
		{split, MaxSnapshots + 1, 28, "at most"},
		{split, 3, 0, "step 0 days"},
		{Split{Cutoff: d(2011, 9, 8)}, 3, 28, "horizon of at least 1 day"},
		{Split{}, 3, 28, "no cutoff"},
	} {
		if _, err := SnapshotCutoffs(c.split, first, c.count, c.step); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v count %d step %d: error %v, want %q", c.split, c.count, c.step, err, c.want)
		}
	}
}

// TestBuildSnapshotEqualsFreshBuild: a snapshot is exactly the feature set a
// builder for the snapshot's own split computes from the same log, and it
// does not move when anything after its holdout (in particular the main
// holdout) changes.
func TestBuildSnapshotEqualsFreshBuild(t *testing.T) {
	txs := genTxs(300, 11)
	split := Split{Cutoff: d(2011, 6, 30), HorizonDays: 90, SeqWeeks: 26}
	b := NewBuilder(split)
	for _, x := range txs {
		if err := b.Add(x.id, x.t, x.amount); err != nil {
			t.Fatal(err)
		}
	}
	snaps, err := b.Snapshots(4, 35)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 4 {
		t.Fatalf("%d snapshots, want 4", len(snaps))
	}
	main, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	for k, s := range snaps {
		c := s.Split.Cutoff
		if want := split.Cutoff.AddDate(0, 0, -90-35*k); !c.Equal(want) {
			t.Fatalf("snapshot %d cutoff %s, want %s", k, c.Format(time.DateOnly), want.Format(time.DateOnly))
		}
		if s.Split.HorizonDays != 90 || s.Split.SeqWeeks != 26 {
			t.Fatalf("snapshot %d split %+v", k, s.Split)
		}
		fresh := build(t, s.Split, txs)
		fresh.Stats = Stats{}
		if !reflect.DeepEqual(s, fresh) {
			t.Fatalf("snapshot %d (%s) differs from a fresh build of its split", k, c.Format(time.DateOnly))
		}
		if len(s.Customers) >= len(main.Customers) {
			t.Fatalf("snapshot %d has %d customers, main set %d: earlier cutoffs must score fewer", k, len(s.Customers), len(main.Customers))
		}
		for _, cu := range s.Customers {
			if cu.FirstPurchase.After(c) {
				t.Fatalf("snapshot %d scores customer %s who first bought %s, after its cutoff", k, cu.ID, cu.FirstPurchase)
			}
		}
		// Everything after the snapshot's holdout (the main holdout
		// included) changes; the snapshot must not move.
		end := s.Split.HoldoutEnd().AddDate(0, 0, 1)
		b2 := NewBuilder(split)
		for _, x := range append(txs, tx{"999999", split.Cutoff.AddDate(0, 0, 10), 50}, tx{"1001", end, 1e6}) {
			if !x.t.Before(end) {
				x.amount *= 3
			}
			if err := b2.Add(x.id, x.t, x.amount); err != nil {
				t.Fatal(err)
			}
		}
		s2, err := b2.BuildSnapshot(c)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("snapshot %d (%s) moved when data after its holdout changed", k, c.Format(time.DateOnly))
		}
	}
	if _, err := b.BuildSnapshot(d(2011, 5, 1)); err == nil || !strings.Contains(err.Error(), "may only read calibration data") {
		t.Fatalf("a snapshot whose holdout reaches into the main holdout: %v", err)
	}
	if s, err := NewBuilder(split).Snapshots(4, 35); err != nil || s != nil {
		t.Fatalf("empty builder: %v %v", s, err)
	}
}
