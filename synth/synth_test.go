package synth

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clvflow/clvflow/btyd"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
)

func render(t *testing.T, n int, seed uint64) []byte {
	t.Helper()
	l, err := Generate(n, seed, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := l.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministic(t *testing.T) {
	a, b, c := render(t, 500, 3), render(t, 500, 3), render(t, 500, 4)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different logs")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same log")
	}
	if !bytes.HasPrefix(a, []byte("customer_id,ts,amount\n")) {
		t.Fatalf("header: %q", a[:40])
	}
}

func TestInvalid(t *testing.T) {
	p := DefaultParams()
	p.B = 0
	if _, err := Generate(10, 1, p); err == nil {
		t.Fatal("b = 0 accepted")
	}
	if _, err := Generate(0, 1, DefaultParams()); err == nil {
		t.Fatal("0 customers accepted")
	}
}

// TestRecoversParameters: the BG/NBD and Gamma-Gamma fits of package btyd
// on the features of 20,000 generated customers (calibration = the whole
// log) land near the generating parameters.
func TestRecoversParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("fits 20,000 customers")
	}
	p := DefaultParams()
	data := render(t, 20_000, 11)
	cut := p.Start.AddDate(0, 0, p.Days-1)
	set, rep, err := features.BuildFromReader(bytes.NewReader(data), dataset.Options{}, features.Split{Cutoff: cut})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 20_000 || set.Len() != 20_000 || rep.Rejected != 0 {
		t.Fatalf("customers %d/%d, rejected %d", rep.Customers, set.Len(), rep.Rejected)
	}
	if got := rep.MaxTime; got.After(cut) || got.Before(cut.AddDate(0, 0, -7)) {
		t.Fatalf("last day %v, want near %v", got, cut.Format(time.DateOnly))
	}
	x, tx, T, mbar := columns(set)
	bg, err := btyd.FitBGNBD(x, tx, T, btyd.FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BG/NBD %+v", *bg)
	near(t, "r", bg.R, p.R, 0.15)
	near(t, "alpha", bg.Alpha, p.Alpha, 0.15)
	near(t, "a", bg.A, p.A, 0.25)
	near(t, "b", bg.B, p.B, 0.25)
	gg, err := btyd.FitGammaGamma(x, mbar)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Gamma-Gamma %+v", *gg)
	// Same-day purchases are merged into one (larger) purchase day, so the
	// spend model is only checked through its mean.
	near(t, "mean spend", gg.P*gg.V/(gg.Q-1), p.P*p.Gamma/(p.Q-1), 0.1)
}

func columns(set *features.Set) (x, tx, T, mbar []float64) {
	for _, c := range set.Customers {
		x = append(x, float64(c.X))
		tx = append(tx, c.TX)
		T = append(T, c.T)
		mbar = append(mbar, c.MBar)
	}
	return x, tx, T, mbar
}

func near(t *testing.T, name string, got, want, rel float64) {
	t.Helper()
	if math.Abs(got-want) > rel*want {
		t.Errorf("%s = %.4g, want %.4g ± %.0f%%", name, got, want, 100*rel)
	}
}

func TestWriteFileParquet(t *testing.T) {
	l, err := Generate(400, 9, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files [][]byte
	for _, name := range []string{"a.parquet", "b.PARQUET"} {
		path := filepath.Join(dir, name)
		if err := l.WriteFile(path); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.HasPrefix(files[0], []byte("PAR1")) || !bytes.Equal(files[0], files[1]) {
		t.Fatal("not Parquet or not deterministic")
	}
	var csv bytes.Buffer
	if err := l.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	crep, err := dataset.Read(&csv, dataset.Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	prep, err := dataset.ReadFile(filepath.Join(dir, "a.parquet"), dataset.Options{}, nil)
	if err != nil || prep.Format != dataset.FormatParquet || prep.Accepted != l.Rows || prep.Customers != 400 ||
		prep.TotalAmount != crep.TotalAmount || !prep.MinTime.Equal(crep.MinTime) || !prep.MaxTime.Equal(crep.MaxTime) {
		t.Fatalf("%v: parquet %+v, csv %+v", err, prep, crep)
	}
}
