package dataset

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestFillBufferedSameAsRecordReader: reading with the fast paths (blocks
// split by the workers, buffered lines, clean chunks handed over as their
// workers' batches) gives the transactions, report and quarantine of the
// record reader alone, row by row, on inputs with quotes over lines, CRLF,
// blank and long lines and no final newline.
func TestFillBufferedSameAsRecordReader(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	pieces := []string{"c1,2020-01-02,5\n", "c2,2020-01-03,7.5\r\n", "\n", "  \r\n", "\"c 3\",2020-02-01,1\n", "\"c\n4\",2020-02-02,2\n",
		"c5,2020-02-03,\"3\"\n", "c6,bad,1\n", "c7,2020-03-01,-1\n", "x,y\n", "\"open,2020-01-01,1\n", "c8,2020-04-01,1"}
	read := func(data []byte, format Format, maxLine int, batches bool) string {
		opts := Options{Format: format, MaxRejectedFraction: 1, MaxLineBytes: maxLine, chunkBytes: 64}
		if batches {
			return readBatchesText(t, data, opts)
		}
		var q bytes.Buffer
		var txs []Transaction
		opts.Quarantine = &q
		rep, err := Read(bytes.NewReader(data), opts, func(tx Transaction) error { txs = append(txs, tx); return nil })
		return fmt.Sprintf("%v\n%+v\n%v\n%s", err, rep, txs, q.String())
	}
	for i := 0; i < 400; i++ {
		var buf bytes.Buffer
		format := FormatCSV
		if i%4 == 3 {
			format = FormatCDNOW
			buf.WriteString("00001 19970101 1 11.77\n")
			for range r.IntN(40) {
				fmt.Fprintf(&buf, "%05d 1997%02d%02d %d %d.%02d%s", r.IntN(50), 1+r.IntN(12), 1+r.IntN(28), r.IntN(3), r.IntN(40), r.IntN(100), []string{"\n", "\r\n", "\n\n"}[r.IntN(3)])
			}
		} else {
			buf.WriteString("customer,date,amount\n")
			for range r.IntN(60) {
				buf.WriteString(pieces[r.IntN(len(pieces))])
			}
		}
		maxLine := []int{0, 12, 4096}[r.IntN(3)]
		data := buf.Bytes()
		fastRecords = false
		want := read(data, format, maxLine, false)
		fastRecords = true
		for _, batches := range []bool{false, true} {
			if got := read(data, format, maxLine, batches); !reflect.DeepEqual(got, want) {
				t.Fatalf("input %q (max line %d, batches %v):\nfast %s\nrecord reader %s", data, maxLine, batches, got, want)
			}
		}
	}
}
