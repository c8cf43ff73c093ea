package dataset_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
)

var benchLog struct {
	once    sync.Once
	csv, pq []byte
}

// BenchmarkParquet reads one generated log of 100,000 customers held in
// memory, as CSV and as Parquet (Snappy; DATE and DOUBLE columns, as
// clvflow gen writes them): Featurize reads and builds the features,
// Read only reads and validates.
func BenchmarkParquet(b *testing.B) {
	benchLog.once.Do(func() { benchLog.csv, benchLog.pq = genBoth(b, 100_000, 1) })
	for _, c := range []struct {
		name string
		data []byte
	}{{"Featurize/CSV", benchLog.csv}, {"Featurize/Parquet", benchLog.pq}, {"Read/CSV", benchLog.csv}, {"Read/Parquet", benchLog.pq}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var rows int64
			for b.Loop() {
				rows += benchRead(b, c.data, strings.HasPrefix(c.name, "Featurize"))
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(len(c.data)), "file-bytes")
		})
	}
}

// benchRead reads data, building features when featurize is set, and
// returns the number of rows read.
func benchRead(b *testing.B, data []byte, featurize bool) int64 {
	if !featurize {
		rep, err := dataset.ReadBatches(bytes.NewReader(data), dataset.Options{}, func(*dataset.Batch) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		return rep.RowsRead
	}
	set, rep, err := features.BuildFromReader(bytes.NewReader(data), dataset.Options{}, synthSplit)
	if err != nil || set.Len() == 0 {
		b.Fatal(err)
	}
	return rep.RowsRead
}
