package dataset

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"testing"
)

// TestRealData checks the cleaning of the shared real files against the
// counts documented in ../shared/data/README.md.
func TestRealData(t *testing.T) {
	tests := []struct {
		file      string
		format    Format
		header    bool
		rows      int64
		accepted  int64
		customers int
		total     float64
		rules     map[Rule]int64
	}{
		// README: 6,919 rows (no header), 2,357 customers; 8 zero-dollar
		// rows are purchases.
		{"cdnow_sample.txt", FormatCDNOW, false, 6919, 6919, 2357, 244091.94, map[Rule]int64{}},
		// README: 69,659 rows + 1 header line, 23,570 customers.
		{"cdnow_master.txt.gz", FormatCDNOW, true, 69659, 69659, 23570, 2500315.63, map[Rule]int64{}},
		// README "Online Retail procedure": drop blank CustomerID, C
		// invoices, Quantity <= 0 and UnitPrice <= 0 → 397,884 rows. Those
		// rows have 4,338 distinct customers (3,362 scored + 976
		// holdout-only in the reference); 4,339 is the count before the
		// UnitPrice rule (one customer has only zero-price rows).
		{"online_retail_uci.csv.gz", FormatOnlineRetail, true, 541909, 397884, 4338, 8911407.904,
			map[Rule]int64{RuleMissingCustomer: 135080, RuleCancellation: 8905, RuleNonPositivePrice: 40}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := sharedFile(t, tc.file)
			var n int64
			var sum float64
			rep, err := ReadFile(path, Options{}, func(tx Transaction) error {
				n++
				sum += tx.Amount
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Format != tc.format || rep.Header != tc.header || rep.RowsRead != tc.rows || rep.Accepted != tc.accepted ||
				n != tc.accepted || rep.Customers != tc.customers {
				t.Errorf("format %s header %v rows %d accepted %d (callbacks %d) customers %d; want %s %v %d %d %d",
					rep.Format, rep.Header, rep.RowsRead, rep.Accepted, n, rep.Customers, tc.format, tc.header, tc.rows, tc.accepted, tc.customers)
			}
			if math.Abs(rep.TotalAmount-tc.total) > 1e-6 || math.Abs(sum-tc.total) > 1e-4 {
				t.Errorf("total amount %.6f (callback sum %.6f), want %.3f", rep.TotalAmount, sum, tc.total)
			}
			if fmt.Sprint(rep.Rules) != fmt.Sprint(tc.rules) {
				t.Errorf("rules %v, want %v", rep.Rules, tc.rules)
			}
		})
	}
}

// genReader produces a generic CSV log of n rows for k customers without
// holding it in memory.
type genReader struct {
	n, k, i int
	buf     []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i <= g.n {
		if g.i == 0 {
			g.buf = append(g.buf, "customer_id,timestamp,amount\n"...)
		} else {
			g.buf = fmt.Appendf(g.buf, "c%d,2011-%02d-%02d %02d:00:00,%d.%02d\n", g.i%g.k, 1+g.i%12, 1+g.i%28, g.i%24, 1+g.i%97, g.i%100)
		}
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	m := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[m:])]
	return m, nil
}

// TestMemoryGrowsWithCustomersNotRows streams 2,000,000 rows (about 60 MB)
// of 100 customers and checks, at the last callback, that the live heap has
// grown by far less than the input: the reader keeps no rows, only the
// chunks in flight (a few MiB, whatever the input).
func TestMemoryGrowsWithCustomersNotRows(t *testing.T) {
	const rows, customers = 2_000_000, 100
	if testing.Short() {
		t.Skip("streams 60 MB")
	}
	var before, at runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var seen int
	var inputBytes int64
	rep, err := Read(&genReader{n: rows, k: customers}, Options{}, func(tx Transaction) error {
		seen++
		if seen == rows {
			runtime.GC()
			runtime.ReadMemStats(&at)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	inputBytes = rep.Bytes
	if rep.Accepted != rows || rep.Customers != customers {
		t.Fatalf("accepted %d customers %d", rep.Accepted, rep.Customers)
	}
	growth := int64(at.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("input %d bytes, live heap growth %d bytes", inputBytes, growth)
	if growth > 8<<20 || growth*10 > inputBytes {
		t.Errorf("live heap grew by %d bytes for %d input bytes: rows are being retained", growth, inputBytes)
	}
}
