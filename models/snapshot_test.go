package models

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models/modelstest"
)

// synthSnapshots builds the synthetic set and its earlier training snapshots.
func synthSnapshots(t *testing.T, n int, seed uint64, seqWeeks, count int) (*features.Set, []*features.Set) {
	t.Helper()
	b := modelstest.Builder(t, n, seed, seqWeeks)
	set, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := b.Snapshots(count, 28)
	if err != nil {
		t.Fatal(err)
	}
	return set, snaps
}

// TestFitSnapshotsUseTrainingCustomersOnly: the networks learn from the
// training customers' snapshot rows, and nothing of a test customer (not
// even calibration-period labels of a snapshot) changes the model.
func TestFitSnapshotsUseTrainingCustomersOnly(t *testing.T) {
	set, snaps := synthSnapshots(t, 400, 21, 8, 3)
	if len(snaps) != 3 {
		t.Fatalf("%d snapshots, want 3", len(snaps))
	}
	train, test := set.SplitTrainTest(0.3, 2)
	isTest := map[string]bool{}
	for _, i := range test {
		isTest[set.Customers[i].ID] = true
	}
	want := len(train)
	for _, s := range snaps {
		for _, c := range s.Customers {
			if !isTest[c.ID] {
				want++
			}
		}
	}
	fit := func(snaps []*features.Set) ([]byte, FitInfo) {
		m, info, err := Fit(context.Background(), modelkind.Seq, set, train, FitOptions{Seed: 4, NN: modelstest.SmallNN(modelkind.Seq, 2), Snapshots: snaps})
		if err != nil {
			t.Fatal(err)
		}
		b, err := MarshalModel(m)
		if err != nil {
			t.Fatal(err)
		}
		return b, info
	}
	a, info := fit(snaps)
	if info.TrainingRows != want || want <= len(train) {
		t.Fatalf("trained on %d rows, want %d (%d training customers plus their snapshot rows)", info.TrainingRows, want, len(train))
	}
	plain, pinfo := fit(nil)
	if pinfo.TrainingRows != len(train) || bytes.Equal(a, plain) {
		t.Fatalf("without snapshots: %d rows, same model %v", pinfo.TrainingRows, bytes.Equal(a, plain))
	}
	changed := make([]*features.Set, len(snaps))
	for k, s := range snaps {
		c := *s
		c.Customers = append([]features.Customer(nil), s.Customers...)
		for i := range c.Customers {
			if isTest[c.Customers[i].ID] {
				c.Customers[i].HoldoutSpend = 1e6
				c.Customers[i].CalSpend *= 7
			}
		}
		changed[k] = &c
	}
	if b, _ := fit(changed); !bytes.Equal(a, b) {
		t.Fatal("changing test customers' snapshot rows changed the model")
	}
	for _, bad := range []struct {
		name string
		snap func() *features.Set
		want string
	}{
		{"holdout inside the main holdout", func() *features.Set {
			s := *snaps[0]
			s.Split.Cutoff = modelstest.Cutoff.AddDate(0, 0, -10)
			return &s
		}, "would read holdout labels"},
		{"other horizon", func() *features.Set {
			s := *snaps[0]
			s.Split.HorizonDays = 30
			return &s
		}, "horizon 30 days"},
		{"nil", func() *features.Set { return nil }, "nil training snapshot"},
	} {
		_, _, err := Fit(context.Background(), modelkind.ZILN, set, train, FitOptions{Seed: 4, NN: modelstest.SmallNN(modelkind.ZILN, 1), Snapshots: []*features.Set{bad.snap()}})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want %q", bad.name, err, bad.want)
		}
	}
}
