package activities

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/synth"
)

// TestParquetRows: the row count from the kept tail, from the whole object
// when the footer is not in the tail, and errors that quote nothing.
func TestParquetRows(t *testing.T) {
	l, err := synth.Generate(300, 5, synth.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var pq, csv bytes.Buffer
	if err := l.WriteParquet(&pq); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteCSV(&csv); err != nil {
		t.Fatal(err)
	}
	want := int64(bytes.Count(csv.Bytes(), []byte("\n")) - 1)
	data := pq.Bytes()
	opened := 0
	open := func() (io.ReadCloser, error) { opened++; return io.NopCloser(bytes.NewReader(data)), nil }
	for _, keep := range []int{len(data), 20} {
		opened = 0
		got, err := parquetRows(int64(len(data)), "log.parquet", data[len(data)-keep:], open)
		if err != nil || got != want {
			t.Errorf("tail of %d bytes: %d rows, %v; want %d", keep, got, err, want)
		}
		if wantOpened := map[bool]int{true: 0, false: 1}[keep == len(data)]; opened != wantOpened {
			t.Errorf("tail of %d bytes: object opened %d times, want %d", keep, opened, wantOpened)
		}
	}
	secret := []byte("customer_id,ts,amount\nSECRET,2020-01-01,1\n")
	broken := append(bytes.Clone(data[:len(data)-8]), 1, 0, 0, 0, 'P', 'A', 'R', '1') // footer length 1: garbage
	for _, bad := range [][]byte{secret, broken, data[len(data)-4:]} {
		_, err := parquetRows(int64(len(bad)), "log.parquet", bad, open)
		if err == nil || !strings.Contains(err.Error(), "not a readable Parquet file") || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("bad footer: %v", err)
		}
	}
}
