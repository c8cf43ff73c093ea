package models

import (
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models/modelstest"
)

var cdnowCutoff = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// TestCDNOWSampleBGNBD fits BG/NBD × Gamma-Gamma on the whole CDNOW sample
// (Hardie's calibration period) and compares with the published parameters
// and with lifetimes' per-customer predictions.
func TestCDNOWSampleBGNBD(t *testing.T) {
	dir := testenv.SharedData(t)
	f, err := os.Open(filepath.Join(dir, "cdnow_sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set, _, err := features.BuildFromReader(f, dataset.Options{Format: dataset.FormatCDNOW}, features.Split{Cutoff: cdnowCutoff, HorizonDays: 273})
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 2357 {
		t.Fatalf("%d customers, want 2357", set.Len())
	}
	m, info, err := Fit(context.Background(), modelkind.BGNBD, set, modelstest.AllIndices(set.Len()), FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Warnings) != 0 {
		t.Errorf("warnings on CDNOW: %q", info.Warnings)
	}
	p := m.Params()
	for _, ref := range []struct {
		name string
		want float64
	}{{"r", 0.243}, {"alpha", 4.414}, {"a", 0.793}, {"b", 2.426}, {"p", 6.25}, {"q", 3.74}, {"v", 15.44}} {
		got := p[ref.name].(float64)
		if math.Abs(got-ref.want) > 0.01*ref.want {
			t.Errorf("%s = %.4f, published %.4f (tolerance 1%%)", ref.name, got, ref.want)
		}
	}
	if ll := p["loglik"].(float64); math.Abs(ll-(-9582.4)) > 0.5 {
		t.Errorf("loglik = %.2f, published -9582.4", ll)
	}

	// lifetimes' predicted holdout spend per customer.
	rf, err := os.Open(filepath.Join(dir, "cdnow_sample_calholdout_lifetimes_ref.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer rf.Close()
	rows, err := csv.NewReader(rf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	ref := map[string]float64{}
	for _, r := range rows[1:] {
		v, err := strconv.ParseFloat(r[col["pred_spend_holdout"]], 64)
		if err != nil {
			t.Fatal(err)
		}
		ref[r[col["id"]]] = v
	}
	value, _, err := m.Predict(set, modelstest.AllIndices(set.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	var worstID string
	for i, c := range set.Customers {
		want, ok := ref[c.ID]
		if !ok {
			t.Fatalf("customer %s not in the reference", c.ID)
		}
		// 6 significant digits in the file, parameters agree to ~1e-4.
		if d := math.Abs(value[i]-want) / math.Max(want, 1); d > worst {
			worst, worstID = d, c.ID
		}
	}
	if worst > 2e-3 {
		t.Errorf("largest relative difference to lifetimes' predicted spend: %.3g (customer %s)", worst, worstID)
	}
}
