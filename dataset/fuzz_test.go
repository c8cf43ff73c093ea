package dataset

import (
	"bytes"
	"math"
	"testing"
)

// fuzzRead reads data with format and checks the invariants that hold for
// any input: no panic, rows = accepted + rejected, per-rule counts add up to
// rejected, every accepted transaction is finite, non-negative, has a
// customer, and is passed to the callback exactly once.
func fuzzRead(t *testing.T, data []byte, format Format) {
	var n int64
	var q bytes.Buffer
	rep, err := Read(bytes.NewReader(data), Options{Format: format, MaxRejectedFraction: 1, Quarantine: &q, MaxLineBytes: 4096}, func(tx Transaction) error {
		n++
		if tx.Customer == "" || math.IsNaN(tx.Amount) || math.IsInf(tx.Amount, 0) || tx.Amount < 0 || tx.Line < 1 {
			t.Fatalf("bad accepted transaction %+v", tx)
		}
		return nil
	})
	if rep == nil {
		if err == nil {
			t.Fatal("nil report without error")
		}
		return
	}
	if rep.RowsRead != rep.Accepted+rep.Rejected {
		t.Fatalf("rows %d != accepted %d + rejected %d", rep.RowsRead, rep.Accepted, rep.Rejected)
	}
	if n != rep.Accepted {
		t.Fatalf("callbacks %d != accepted %d", n, rep.Accepted)
	}
	var sum int64
	for _, c := range rep.Rules {
		sum += c
	}
	if sum != rep.Rejected {
		t.Fatalf("rule counts %v sum to %d, rejected %d", rep.Rules, sum, rep.Rejected)
	}
	if err == nil && rep.Accepted == 0 {
		t.Fatal("no error but nothing accepted")
	}
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte("\xef\xbb\xbf\r\n\"\n"))
}

func FuzzReadCDNOW(f *testing.F) {
	addSeeds(f,
		" 00001 19970101  1   11.77\n 00002 19970112  1   12.00\n",
		"customer_id date number_of_cds dollar_value\r\n 1 19970101 1 1e400\n",
		" 00004 0001 19970101  2   29.33\n 00004 0001 19970230  2   NaN\n 1 2 3\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatCDNOW) })
}

func FuzzReadOnlineRetail(f *testing.F) {
	addSeeds(f,
		"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,85123A,\"A, B\",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\nC1,x,y,-1,12/1/2010 8:26,1,,UK\n",
		"Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n1,2,\"multi\nline\",3,2010-12-01 08:26,4,5,6\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatOnlineRetail) })
}

func FuzzReadCSV(f *testing.F) {
	addSeeds(f,
		"customer,timestamp,amount\na,2011-01-01T00:00:00Z,1\nb,1294444800,2\nc,20110101,-1\n",
		"customer_id;date;quantity;price;invoice\nx;1/2/2011;2;3;C9\n",
		"user\tts\trevenue\n\"q\"\"\"\t2011-02-03\t\"1e3\"\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRead(t, data, FormatCSV) })
}
