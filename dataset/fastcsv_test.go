package dataset

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFastCSVSameAsGeneral: logs (three columns, or four in another order
// with another delimiter) mixing lines of the fast path's shape with every
// near miss (padding, quotes, signs, exponents, zero amounts,
// long numbers, times of day, ids with dots or leading zeros, bad dates,
// wrong column counts, CRLF, blank lines, lines over the length limit,
// dates outside the accepted range) read into batches with the fast path
// give the transactions, report and quarantine of the general path.
func TestFastCSVSameAsGeneral(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 1))
	ids := []string{"154", "0", "007", "17850.0", "c-9", " 42", "42 ", "4194304", "99999999999", "12.5", ""}
	dates := []string{"2022-01-01", "2022-02-29", "2024-02-29", "2022-13-01", "2022-1-01", "2022-01-01 10:00", "20220101", " 2022-01-03", "1/2/2022",
		"2022-03-04T05:06:07Z", "2022-03-04T23:59:59Z", "2022-03-04T24:00:00Z", "2022-03-04T10:60:00Z", "2022-03-04T10:00:60Z",
		"2022-02-30T10:00:00Z", "2022-03-04T05:06:07.5Z", "2022-03-04T05:06:07+01:00", "2022-03-04 05:06:07Z", "2022-03-04T5:06:07Z"}
	amounts := []string{"30.02", "5", "5.", ".5", "0", "0.00", "-3", "+3", "1e3", "123456789012.345", "1234567890123.456", "12,5", " 7", "\"8\"", "x"}
	stores := []string{"s1", "", "s;2", " s3 "}
	line := func(wide bool) string {
		id, date, amount := ids[r.IntN(len(ids))], dates[r.IntN(len(dates))], amounts[r.IntN(len(amounts))]
		switch r.IntN(40) {
		case 0:
			return "   "
		case 1:
			id, date, amount = "154", "2022-01-01", ""
		case 2:
			amount += ",extra"
		}
		if wide { // time;store;amount;customer
			return strings.ReplaceAll(date+","+stores[r.IntN(len(stores))]+","+amount+","+id, ",", ";")
		}
		return id + "," + date + "," + amount
	}
	for i := 0; i < 300; i++ {
		var buf bytes.Buffer
		wide := i%2 == 1
		if wide {
			buf.WriteString("ts;store;amount;customer_id\n")
		} else {
			buf.WriteString("customer_id,ts,amount\n")
		}
		for range r.IntN(200) {
			buf.WriteString(line(wide))
			buf.WriteString([]string{"\n", "\r\n"}[r.IntN(2)])
		}
		opts := Options{Format: FormatCSV, MaxRejectedFraction: 1, chunkBytes: []int{64, 1024, 16 << 10}[r.IntN(3)],
			MaxLineBytes: []int{0, 22}[r.IntN(2)]}
		if i%3 == 0 {
			opts.MinTime, opts.MaxTime = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		fastRecords = false
		want := readBatchesText(t, buf.Bytes(), opts)
		fastRecords = true
		if got := readBatchesText(t, buf.Bytes(), opts); got != want {
			t.Fatalf("input %q:\nfast %s\ngeneral %s", buf.Bytes(), got, want)
		}
	}
}

// readBatchesText reads data into batches and prints what came out.
func readBatchesText(t *testing.T, data []byte, opts Options) string {
	t.Helper()
	var q bytes.Buffer
	opts.Quarantine = &q
	var txs []Transaction
	rep, err := ReadBatches(bytes.NewReader(data), opts, func(b *Batch) error {
		for i := range b.Len() {
			txs = append(txs, Transaction{Customer: b.Customer(i), Time: b.Times[i], Amount: b.Amounts[i], Line: b.Lines[i]})
		}
		return nil
	})
	return fmt.Sprintf("%v\n%+v\n%v\n%s", err, rep, txs, q.String())
}

// TestFastFieldParsers: scanAmount, isoDay and dateMemo.unix read what
// parseDecimal, parseISO and time.RFC3339Nano read, bit for bit, and
// refuse the rest.
func TestFastFieldParsers(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 2))
	f := &fastCSV{delim: ','}
	const alphabet = "0123456789.-+e "
	for range 200000 {
		b := make([]byte, r.IntN(17))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		var row fastRow
		if end := f.scanAmount(append(b, ','), 0, &row); end >= 0 {
			w, _, wok := parseDecimal(b)
			if end != len(b) || !wok || w <= 0 || row.amount != w {
				t.Fatalf("scanAmount(%q) = %v at %d, parseDecimal %v %v", b, row.amount, end, w, wok)
			}
		}
	}
	for day := time.Date(1899, 12, 25, 0, 0, 0, 0, time.UTC); day.Year() < 2101; day = day.AddDate(0, 0, 1) {
		d, ok := isoDay([]byte(day.Format(time.DateOnly)))
		if want, wok := parseISO([]byte(day.Format(time.DateOnly))); !ok || !wok || time.Unix(d*86400, 0).UTC() != want {
			t.Fatalf("isoDay(%s) = %d %v", day.Format(time.DateOnly), d, ok)
		}
	}
	var memo dateMemo
	for range 100000 {
		ts := time.Unix(r.Int64N(4e9)-1e9, 0).UTC().Format(time.RFC3339Nano)
		secs, ok := memo.unix([]byte(ts))
		if want, err := time.ParseInLocation(time.RFC3339Nano, ts, time.UTC); !ok || err != nil || time.Unix(secs, 0).UTC() != want {
			t.Fatalf("unix(%s) = %d %v", ts, secs, ok)
		}
	}
	for _, s := range []string{"2022-02-29", "2022-00-10", "2022-04-31", "2022/01/01", "2022-01-1x", "2022-01-01T"} {
		if _, ok := isoDay([]byte(s)); ok {
			t.Fatalf("isoDay(%q) accepted", s)
		}
	}
	if !reflect.DeepEqual(fastCSVOf(&cdnowParser{}), (*fastCSV)(nil)) {
		t.Fatal("fast path for CDNOW text")
	}
}
