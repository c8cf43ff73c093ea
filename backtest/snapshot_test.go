package backtest

import (
	"context"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models/modelstest"
)

func TestRunSnapshots(t *testing.T) {
	path, _ := modelstest.WriteLog(t, 400, 5, 0)
	res, err := Run(context.Background(), Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon,
		Models: []string{"bgnbd", "ziln"}, NN: modelstest.SmallNN(modelkind.ZILN, 2), Snapshots: 4, SnapshotStepDays: 35})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Split.TrainingSnapshots
	if len(got) != 4 {
		t.Fatalf("%d training snapshots, want 4: %+v", len(got), got)
	}
	for k, s := range got {
		want := modelstest.Cutoff.AddDate(0, 0, -modelstest.Horizon-35*k).Format(DateLayout)
		if s.Cutoff != want || s.TrainCustomers <= 0 || s.TrainCustomers > res.Split.TrainCustomers {
			t.Errorf("snapshot %d = %+v, want cutoff %s and 1..%d customers", k, s, want, res.Split.TrainCustomers)
		}
		if k > 0 && s.TrainCustomers > got[k-1].TrainCustomers {
			t.Errorf("snapshot %d scores more customers (%d) than the later one (%d)", k, s.TrainCustomers, got[k-1].TrainCustomers)
		}
	}
	none, err := Run(context.Background(), Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon,
		Models: []string{"bgnbd", "ziln"}, NN: modelstest.SmallNN(modelkind.ZILN, 2)})
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
	if _, err := Run(context.Background(), Options{Input: path, Cutoff: modelstest.Cutoff, HorizonDays: modelstest.Horizon, Snapshots: features.MaxSnapshots + 1}); err == nil || !strings.Contains(err.Error(), "training snapshots") {
		t.Errorf("too many snapshots: %v", err)
	}
}
