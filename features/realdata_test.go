package features

import (
	"compress/gzip"
	"encoding/csv"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
)

var (
	cdnowSplit  = Split{Cutoff: time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC), HorizonDays: 273}
	retailSplit = Split{Cutoff: time.Date(2011, 9, 8, 0, 0, 0, 0, time.UTC), HorizonDays: 92}
)

func buildFile(t testing.TB, path string, split Split) *Set {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set, _, err := BuildFromReader(f, dataset.Options{}, split)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// refTable reads a (possibly gzipped) reference CSV keyed by its first
// column.
func refTable(t *testing.T, path string) (map[string]map[string]float64, []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	var order []string
	for _, rec := range recs[1:] {
		row := map[string]float64{}
		for j, name := range recs[0][1:] {
			v, err := strconv.ParseFloat(rec[j+1], 64)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			row[name] = v
		}
		out[rec[0]] = row
		order = append(order, rec[0])
	}
	return out, order
}

// sig6 reports whether got, printed with 6 significant digits (as the
// reference files are), equals ref.
func sig6(got, ref float64) bool {
	if got == 0 || ref == 0 {
		return math.Abs(got-ref) <= 1e-9
	}
	scale := math.Pow(10, math.Floor(math.Log10(math.Abs(got)))-5)
	return math.Abs(got-ref) <= 0.5*scale*(1+1e-9)+1e-12
}

// round2 rounds half up at 2 decimals (Hardie's summaries), tolerating
// binary representation error of values like 22.345.
func round2(v float64) float64 { return math.Floor(v*100+0.5+1e-7) / 100 }

func customerMap(set *Set) map[string]*Customer {
	m := make(map[string]*Customer, len(set.Customers))
	for i := range set.Customers {
		m[set.Customers[i].ID] = &set.Customers[i]
	}
	return m
}

// TestCDNOWHardieSummaries: x, t_x, T of all 2,357 sample customers equal
// Hardie's summary (2 decimals), and mbar equals zbar.
func TestCDNOWHardieSummaries(t *testing.T) {
	set := buildFile(t, sharedFile(t, "cdnow_sample.txt"), cdnowSplit)
	got := customerMap(set)
	if len(set.Customers) != 2357 {
		t.Fatalf("%d customers, want 2357", len(set.Customers))
	}
	sum, order := refTable(t, sharedFile(t, "cdnow_customers_summary.csv"))
	withTx, _ := refTable(t, sharedFile(t, "cdnow_customers_summary_with_transactions.csv"))
	if len(order) != 2357 {
		t.Fatalf("reference has %d rows", len(order))
	}
	for i, id := range order {
		c := got[id]
		if c == nil {
			t.Fatalf("customer %s missing", id)
		}
		if set.Customers[i].ID != id {
			t.Fatalf("order: position %d is %s, reference has %s", i, set.Customers[i].ID, id)
		}
		r, z := sum[id], withTx[id]
		if float64(c.X) != r["frequency"] || math.Abs(round2(c.TX)-r["recency"]) > 1e-9 || math.Abs(round2(c.T)-r["T"]) > 1e-9 {
			t.Errorf("customer %s: x,t_x,T = %d,%v,%v; summary %v,%v,%v", id, c.X, c.TX, c.T, r["frequency"], r["recency"], r["T"])
		}
		if float64(c.X) != z["x"] || math.Abs(round2(c.MBar)-z["zbar"]) > 1e-9 {
			t.Errorf("customer %s: x %d mbar %v; summary x %v zbar %v", id, c.X, c.MBar, z["x"], z["zbar"])
		}
	}
}

// checkLifetimesRef compares a feature set with a lifetimes calibration /
// holdout reference file on every column the two share.
func checkLifetimesRef(t *testing.T, set *Set, refFile string, wantN int, cols map[string]func(*Customer) float64) {
	t.Helper()
	ref, order := refTable(t, sharedFile(t, refFile))
	if len(set.Customers) != wantN || len(order) != wantN {
		t.Fatalf("%d scored customers, reference %d, want %d", len(set.Customers), len(order), wantN)
	}
	got := customerMap(set)
	bad := 0
	for i, id := range order {
		c := got[id]
		if c == nil {
			t.Fatalf("customer %s missing", id)
		}
		if set.Customers[i].ID != id {
			t.Fatalf("order: position %d is %s, reference has %s", i, set.Customers[i].ID, id)
		}
		for name, f := range cols {
			if v := f(c); !sig6(v, ref[id][name]) {
				bad++
				if bad <= 10 {
					t.Errorf("customer %s %s = %.10g, reference %v", id, name, v, ref[id][name])
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d mismatches", bad)
	}
}

var lifetimesCols = map[string]func(*Customer) float64{
	"x":               func(c *Customer) float64 { return float64(c.X) },
	"t_x":             func(c *Customer) float64 { return c.TX },
	"T":               func(c *Customer) float64 { return c.T },
	"cal_spend_total": func(c *Customer) float64 { return c.CalSpend },
	"mbar":            func(c *Customer) float64 { return c.MBar },
	"x_holdout":       func(c *Customer) float64 { return float64(c.HoldoutX) },
	"spend_holdout":   func(c *Customer) float64 { return c.HoldoutSpend },
}

func withFirstValue() map[string]func(*Customer) float64 {
	m := map[string]func(*Customer) float64{"first_purchase_value": func(c *Customer) float64 { return c.FirstValue }}
	for k, v := range lifetimesCols {
		m[k] = v
	}
	return m
}

func TestCDNOWLifetimesRef(t *testing.T) {
	tests := []struct {
		data, ref string
		n         int
	}{
		{"cdnow_sample.txt", "cdnow_sample_calholdout_lifetimes_ref.csv", 2357},
		{"cdnow_master.txt.gz", "cdnow_master_calholdout_lifetimes_ref.csv.gz", 23570},
	}
	for _, tc := range tests {
		t.Run(tc.data, func(t *testing.T) {
			set := buildFile(t, sharedFile(t, tc.data), cdnowSplit)
			checkLifetimesRef(t, set, tc.ref, tc.n, withFirstValue())
			if set.Stats.HoldoutOnlyCustomers != 0 || set.Stats.AfterHorizon != 0 {
				t.Errorf("stats %+v: CDNOW has no holdout-only customers and nothing after 1998-06-30", set.Stats)
			}
		})
	}
}

// TestOnlineRetailLifetimesRef: cutoff 2011-09-08, 92 days → 3,362 scored
// customers (976 holdout-only excluded).
func TestOnlineRetailLifetimesRef(t *testing.T) {
	set := buildFile(t, sharedFile(t, "online_retail_uci.csv.gz"), retailSplit)
	checkLifetimesRef(t, set, "online_retail_calholdout_lifetimes_ref.csv.gz", 3362, lifetimesCols)
	if set.Stats.HoldoutOnlyCustomers != 976 {
		t.Errorf("holdout-only customers = %d, want 976", set.Stats.HoldoutOnlyCustomers)
	}
}
