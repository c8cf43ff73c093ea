package backtest

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
)

// synthSnapshots builds the synthetic set and its earlier training snapshots.
func synthSnapshots(t *testing.T, n int, seed uint64, seqWeeks, count int) (*features.Set, []*features.Set) {
	t.Helper()
	b := synthBuilder(t, n, seed, seqWeeks)
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
		m, info, err := Fit(context.Background(), modelkind.Seq, set, train, FitOptions{Seed: 4, NN: smallNN(modelkind.Seq, 2), Snapshots: snaps})
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
			s.Split.Cutoff = synthCutoff.AddDate(0, 0, -10)
			return &s
		}, "would read holdout labels"},
		{"other horizon", func() *features.Set {
			s := *snaps[0]
			s.Split.HorizonDays = 30
			return &s
		}, "horizon 30 days"},
		{"nil", func() *features.Set { return nil }, "nil training snapshot"},
	} {
		_, _, err := Fit(context.Background(), modelkind.ZILN, set, train, FitOptions{Seed: 4, NN: smallNN(modelkind.ZILN, 1), Snapshots: []*features.Set{bad.snap()}})
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: error %v, want %q", bad.name, err, bad.want)
		}
	}
}

func TestRunSnapshots(t *testing.T) {
	path, _ := writeSynthetic(t, 400, 5, 0)
	res, err := Run(context.Background(), Options{Input: path, Cutoff: synthCutoff, HorizonDays: synthHorizon,
		Models: []string{"bgnbd", "ziln"}, NN: smallNN(modelkind.ZILN, 2), Snapshots: 4, SnapshotStepDays: 35})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Split.TrainingSnapshots
	if len(got) != 4 {
		t.Fatalf("%d training snapshots, want 4: %+v", len(got), got)
	}
	for k, s := range got {
		want := synthCutoff.AddDate(0, 0, -synthHorizon-35*k).Format(DateLayout)
		if s.Cutoff != want || s.TrainCustomers <= 0 || s.TrainCustomers > res.Split.TrainCustomers {
			t.Errorf("snapshot %d = %+v, want cutoff %s and 1..%d customers", k, s, want, res.Split.TrainCustomers)
		}
		if k > 0 && s.TrainCustomers > got[k-1].TrainCustomers {
			t.Errorf("snapshot %d scores more customers (%d) than the later one (%d)", k, s.TrainCustomers, got[k-1].TrainCustomers)
		}
	}
	none, err := Run(context.Background(), Options{Input: path, Cutoff: synthCutoff, HorizonDays: synthHorizon,
		Models: []string{"bgnbd", "ziln"}, NN: smallNN(modelkind.ZILN, 2)})
	if err != nil {
		t.Fatal(err)
	}
	if none.Split.TrainingSnapshots != nil {
		t.Errorf("snapshots without Options.Snapshots: %+v", none.Split.TrainingSnapshots)
	}
	if none.Models["bgnbd"].Metrics != res.Models["bgnbd"].Metrics {
		t.Error("snapshots changed the bgnbd baseline")
	}
	if none.Models["ziln"].Metrics == res.Models["ziln"].Metrics {
		t.Error("snapshots did not change the ziln model")
	}
	if _, err := Run(context.Background(), Options{Input: path, Cutoff: synthCutoff, HorizonDays: synthHorizon, Snapshots: features.MaxSnapshots + 1}); err == nil || !strings.Contains(err.Error(), "training snapshots") {
		t.Errorf("too many snapshots: %v", err)
	}
}
