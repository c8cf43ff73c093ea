package features

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/synth"
)

// genLog renders a generic CSV log of about rows rows for customers
// customers over 2010-2011, with a few percent of bad rows.
func genLog(rows, customers int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	var buf bytes.Buffer
	buf.WriteString("invoice_no,customer_id,invoice_date,quantity,unit_price\n")
	start := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < rows; i++ {
		c := r.IntN(customers)
		at := start.Add(time.Duration(r.IntN(730*24*60)) * time.Minute)
		inv := fmt.Sprint(500000 + i/3)
		switch r.IntN(50) {
		case 0:
			inv = "C" + inv
		case 1:
			c = -1
		}
		cust := ""
		if c >= 0 {
			cust = fmt.Sprintf("%d.0", 12000+c)
		}
		fmt.Fprintf(&buf, "%s,%s,%s,%d,%d.%02d\n", inv, cust, at.Format("2006-01-02 15:04:05"), 1+r.IntN(24), r.IntN(20), r.IntN(100))
	}
	return buf.Bytes()
}

func benchReadBuild(b *testing.B, data []byte, opts dataset.Options, split Split) {
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var rows int64
	for b.Loop() {
		set, rep, err := BuildFromReader(bytes.NewReader(data), opts, split)
		if err != nil {
			b.Fatal(err)
		}
		if set.Len() == 0 {
			b.Fatal("no customers")
		}
		rows += rep.RowsRead
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkReadCleanFeaturize: read, validate and featurize a generated
// 200,000-row, 5,000-customer CSV held in memory.
func BenchmarkReadCleanFeaturize(b *testing.B) {
	data := genLog(200_000, 5_000, 1)
	benchReadBuild(b, data, dataset.Options{Format: dataset.FormatCSV}, Split{Cutoff: time.Date(2011, 6, 30, 0, 0, 0, 0, time.UTC), HorizonDays: 180})
}

// BenchmarkReadCleanFeaturizeOnlineRetail: the full Online Retail file
// (gzip, 541,909 rows) from memory; MB/s is of the compressed file.
func BenchmarkReadCleanFeaturizeOnlineRetail(b *testing.B) {
	data, err := os.ReadFile(sharedFile(b, "online_retail_uci.csv.gz"))
	if err != nil {
		b.Fatal(err)
	}
	benchReadBuild(b, data, dataset.Options{}, retailSplit)
}

// synthFile writes a generated log of n customers (package synth) into a
// temporary directory and returns its path.
func synthFile(b *testing.B, n int) string {
	b.Helper()
	l, err := synth.Generate(n, 1, synth.DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "tx.csv")
	if err := l.WriteFile(path); err != nil {
		b.Fatal(err)
	}
	return path
}

var synthSplit = Split{Cutoff: time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 365}

// BenchmarkReadCleanFeaturizeSynth: read, validate and featurize a
// generated 100,000-customer log (about 750,000 rows, 18 MB) from a file,
// with Builder.ReadFile (parallel parse, flat arrays).
func BenchmarkReadCleanFeaturizeSynth(b *testing.B) {
	path := synthFile(b, 100_000)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		bl := NewBuilder(synthSplit)
		if _, err := bl.ReadFile(path, dataset.Options{}); err != nil {
			b.Fatal(err)
		}
		if set, err := bl.Build(); err != nil || set.Len() == 0 {
			b.Fatal(set.Len(), err)
		}
	}
}

// BenchmarkReadCleanFeaturizeSynthReference: the same with the previous
// builder (reference_impl_test.go) fed by the dataset.ReadFile callback.
func BenchmarkReadCleanFeaturizeSynthReference(b *testing.B) {
	path := synthFile(b, 100_000)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	for b.Loop() {
		rb := newRefBuilder(synthSplit)
		if _, err := dataset.ReadFile(path, dataset.Options{}, rb.AddTransaction); err != nil {
			b.Fatal(err)
		}
		if set, err := rb.Build(); err != nil || set.Len() == 0 {
			b.Fatal(set.Len(), err)
		}
	}
}
