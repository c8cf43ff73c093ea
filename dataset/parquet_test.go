package dataset_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/synth"
)

var synthSplit = features.Split{Cutoff: time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 365}

// genBoth renders one generated log as CSV and as Parquet.
func genBoth(t testing.TB, customers int, seed uint64) (csv, pq []byte) {
	t.Helper()
	l, err := synth.Generate(customers, seed, synth.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var c, p bytes.Buffer
	if err := l.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteParquet(&p); err != nil {
		t.Fatal(err)
	}
	return c.Bytes(), p.Bytes()
}

func readTx(t *testing.T, r io.Reader, opts dataset.Options) ([]dataset.Transaction, *dataset.Report) {
	t.Helper()
	var txs []dataset.Transaction
	rep, err := dataset.Read(r, opts, func(tx dataset.Transaction) error {
		txs = append(txs, tx)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return txs, rep
}

// sameReports compares what a CSV and a Parquet read of one log must share.
func sameReports(t *testing.T, c, p *dataset.Report) {
	t.Helper()
	if p.Format != dataset.FormatParquet || c.Format != dataset.FormatCSV {
		t.Errorf("formats %s, %s", c.Format, p.Format)
	}
	if c.RowsRead != p.RowsRead || c.Accepted != p.Accepted || c.Rejected != p.Rejected || c.Customers != p.Customers ||
		c.TotalAmount != p.TotalAmount || !c.MinTime.Equal(p.MinTime) || !c.MaxTime.Equal(p.MaxTime) || !reflect.DeepEqual(c.Rules, p.Rules) {
		t.Errorf("reports differ:\ncsv     %+v\nparquet %+v", c, p)
	}
}

func TestParquetSameTransactionsAsCSV(t *testing.T) {
	csv, pq := genBoth(t, 3000, 7)
	if !bytes.HasPrefix(pq, []byte("PAR1")) {
		t.Fatal("not Parquet")
	}
	ctx, crep := readTx(t, bytes.NewReader(csv), dataset.Options{})
	// A plain io.Reader (not seekable) is buffered to a temporary file.
	ptx, prep := readTx(t, io.MultiReader(bytes.NewReader(pq)), dataset.Options{Name: "log.parquet"})
	sameReports(t, crep, prep)
	if len(ctx) != len(ptx) || len(ctx) < 3000 {
		t.Fatalf("%d CSV rows, %d Parquet rows", len(ctx), len(ptx))
	}
	for i := range ctx {
		// Lines: CSV counts the header line, Parquet counts rows.
		c, p := ctx[i], ptx[i]
		if c.Customer != p.Customer || c.Time != p.Time || c.Amount != p.Amount || c.Line != p.Line+1 {
			t.Fatalf("row %d: csv %+v, parquet %+v", i, c, p)
		}
	}
}

func TestParquetSameFeaturesAsCSV(t *testing.T) {
	csv, pq := genBoth(t, 4000, 11)
	dir := t.TempDir()
	path := filepath.Join(dir, "log.parquet")
	if err := os.WriteFile(path, pq, 0o600); err != nil {
		t.Fatal(err)
	}
	cset, crep, err := features.BuildFromReader(bytes.NewReader(csv), dataset.Options{}, synthSplit)
	if err != nil {
		t.Fatal(err)
	}
	b := features.NewBuilder(synthSplit)
	prep, err := b.ReadFile(path, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pset, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	sameReports(t, crep, prep)
	var cb, pb bytes.Buffer
	if err := cset.WriteCSV(&cb); err != nil {
		t.Fatal(err)
	}
	if err := pset.WriteCSV(&pb); err != nil {
		t.Fatal(err)
	}
	if cset.Len() < 1000 || !bytes.Equal(cb.Bytes(), pb.Bytes()) || !reflect.DeepEqual(cset.Tabular(), pset.Tabular()) {
		t.Fatalf("feature sets differ (%d and %d customers)", cset.Len(), pset.Len())
	}
}

// writeParquet writes rows with the schema of T.
func writeParquet[T any](t *testing.T, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParquetTypes(t *testing.T) {
	type row struct {
		Cust    int64     `parquet:"Customer ID"`
		When    time.Time `parquet:"invoice_date,timestamp(millisecond)"`
		Qty     int32     `parquet:"quantity"`
		Price   int64     `parquet:"unit_price,decimal(2:18)"`
		Invoice string    `parquet:"invoice_no"`
	}
	at := time.Date(2011, 3, 4, 5, 6, 7, 891e6, time.UTC)
	data := writeParquet(t, []row{{17850, at, 3, 255, "536365"}, {17851, at, 2, 10, "C536366"}, {17852, at.AddDate(0, 0, 1), 0, 10, "536367"}})
	txs, rep := readTx(t, bytes.NewReader(data), dataset.Options{Format: dataset.FormatParquet, MaxRejectedFraction: 1})
	price := 2.55 // decimal 255 with scale 2 reads as the float64 of "2.55"
	want := []dataset.Transaction{{Customer: "17850", Time: at, Amount: 3 * price, Line: 1}}
	if !reflect.DeepEqual(txs, want) {
		t.Fatalf("got %+v, want %+v", txs, want)
	}
	if rep.Rules[dataset.RuleCancellation] != 1 || rep.Rules[dataset.RuleNonPositiveQuantity] != 1 || rep.Examples[0].Line != 2 {
		t.Fatalf("report %+v", rep)
	}
	if raw := rep.Examples[1].Raw; raw != "17852,2011-03-05T05:06:07.891Z,0,0.10,536367" {
		t.Fatalf("raw %q", raw)
	}
}

// badRows is a log with rows every rule of a Parquet file can reject, as
// Parquet (nulls where the CSV has empty fields) and as CSV.
func badRows(t *testing.T) (csv, pq []byte) {
	type row struct {
		Cust   *string  `parquet:"customer_id,optional"`
		TS     *int32   `parquet:"ts,date,optional"`
		Amount *float64 `parquet:"amount,optional"`
	}
	s := func(v string) *string { return &v }
	d := func(v int32) *int32 { return &v }
	f := func(v float64) *float64 { return &v }
	nan := 0.0
	rows := []row{{s("1"), d(19000), f(2.5)}, {s("2"), d(19001), f(-4)}, {nil, d(19001), f(3)}, {s("3"), nil, f(1)},
		{s("4"), d(19002), nil}, {s("5"), d(19002), f(nan / nan)}, {s("6"), d(19003), f(0)}, {s("1"), d(19004), f(7.25)}}
	csv = []byte("customer_id,ts,amount\n1,2022-01-08,2.5\n2,2022-01-09,-4\n,2022-01-09,3\n3,,1\n4,2022-01-10,\n5,2022-01-10,NaN\n6,2022-01-11,0\n1,2022-01-12,7.25\n")
	return csv, writeParquet(t, rows)
}

func TestParquetQuarantineMatchesCSV(t *testing.T) {
	csv, pq := badRows(t)
	var cq, pqq bytes.Buffer
	_, crep := readTx(t, bytes.NewReader(csv), dataset.Options{MaxRejectedFraction: 1, Quarantine: &cq})
	ptx, prep := readTx(t, bytes.NewReader(pq), dataset.Options{MaxRejectedFraction: 1, Quarantine: &pqq})
	sameReports(t, crep, prep)
	if prep.Accepted != 2 || prep.Rejected != 6 || len(ptx) != 2 || ptx[1].Amount != 7.25 {
		t.Fatalf("report %+v", prep)
	}
	cl, pl := strings.Split(cq.String(), "\n"), strings.Split(pqq.String(), "\n")
	if len(cl) != 8 || len(pl) != len(cl) || pl[1] != "2,non_positive_amount,\"2,2022-01-09,-4\"" {
		t.Fatalf("quarantine\n%s\n%s", cq.String(), pqq.String())
	}
	for i := 1; i < len(cl)-1; i++ { // same rules, lines off by the CSV header
		c, p := strings.Split(cl[i], ","), strings.Split(pl[i], ",")
		cline, _ := strconv.Atoi(c[0])
		pline, _ := strconv.Atoi(p[0])
		if c[1] != p[1] || cline != pline+1 {
			t.Errorf("quarantine row %d: csv %q, parquet %q", i, cl[i], pl[i])
		}
	}
}

func TestParquetSchemaErrors(t *testing.T) {
	type noTime struct {
		Cust   string  `parquet:"customer_id"`
		Amount float64 `parquet:"amount"`
	}
	type boolAmount struct {
		Cust   string `parquet:"customer_id"`
		TS     int32  `parquet:"ts,date"`
		Amount bool   `parquet:"amount"`
	}
	type dateCustomer struct {
		Cust   int32   `parquet:"customer_id,date"`
		TS     int32   `parquet:"ts,date"`
		Amount float64 `parquet:"amount"`
	}
	for _, c := range []struct {
		name string
		data []byte
		opts dataset.Options
		want []string
	}{
		{"missing", writeParquet(t, []noTime{{"secret-42", 9.75}}), dataset.Options{}, []string{"no time column", `"amount"`}},
		{"mapped missing", writeParquet(t, []noTime{{"secret-42", 9.75}}), dataset.Options{CSV: dataset.CSVMapping{Time: "when"}}, []string{`no time column "when"`}},
		{"bool amount", writeParquet(t, []boolAmount{{"secret-42", 1, true}}), dataset.Options{}, []string{`amount column "amount" has Parquet type BOOLEAN`}},
		{"date customer", writeParquet(t, []dateCustomer{{4242, 1, 9.75}}), dataset.Options{}, []string{`customer column "customer_id" has Parquet type DATE`}},
	} {
		path := filepath.Join(t.TempDir(), "bad.parquet")
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := dataset.ReadFile(path, c.opts, nil)
		t.Logf("%s: %v", c.name, err)
		if !errors.Is(err, dataset.ErrBadHeader) || !strings.HasPrefix(err.Error(), "bad.parquet: ") {
			t.Fatalf("%s: err %v", c.name, err)
		}
		for _, w := range append(c.want, "!secret-42", "!9.75", "!4242") {
			if neg := strings.HasPrefix(w, "!"); neg == strings.Contains(err.Error(), strings.TrimPrefix(w, "!")) {
				t.Errorf("%s: %q in %v", c.name, w, err)
			}
		}
	}
}

func TestParquetCorruptAndEmpty(t *testing.T) {
	_, pq := genBoth(t, 50, 1)
	empty := writeParquet(t, []struct {
		Cust   string  `parquet:"customer_id"`
		TS     int32   `parquet:"ts,date"`
		Amount float64 `parquet:"amount"`
	}{})
	garbled := bytes.Clone(pq)
	for i := 8; i < len(garbled)/2; i++ {
		garbled[i] ^= 0x5a
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty.parquet", nil, dataset.ErrEmpty},
		{"norows.parquet", empty, dataset.ErrHeaderOnly},
		{"truncated.parquet", pq[:len(pq)/2], dataset.ErrRead},
		{"garbage.parquet", []byte("PAR1 this is not parquet at all PAR1"), dataset.ErrRead},
		{"garbled.bin", garbled, dataset.ErrRead},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, c.data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := dataset.ReadFile(path, dataset.Options{}, nil)
		t.Logf("%s: %v", c.name, err)
		if !errors.Is(err, c.want) || !strings.HasPrefix(err.Error(), c.name) || strings.Contains(err.Error(), `",`) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
}

func TestDetectParquet(t *testing.T) {
	_, pq := genBoth(t, 5, 1)
	if f, err := dataset.Detect(pq[:64]); f != dataset.FormatParquet || err != nil {
		t.Fatalf("Detect: %s %v", f, err)
	}
	if f, err := dataset.ParseFormat("Parquet"); f != dataset.FormatParquet || err != nil {
		t.Fatalf("ParseFormat: %s %v", f, err)
	}
}

// TestParquetRowGroupsAndPages reads a log split into many row groups and
// small pages, so chunks, pages and row groups end at different rows.
func TestParquetRowGroupsAndPages(t *testing.T) {
	csv, _ := genBoth(t, 2000, 3)
	ctx, crep := readTx(t, bytes.NewReader(csv), dataset.Options{})
	type row struct {
		Cust   string    `parquet:"customer_id,dict"`
		TS     time.Time `parquet:"ts,timestamp(microsecond)"`
		Amount float64   `parquet:"amount"`
	}
	rows := make([]row, len(ctx))
	for i, tx := range ctx {
		rows[i] = row{tx.Customer, tx.Time, tx.Amount}
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[row](&buf, parquet.MaxRowsPerRowGroup(5003), parquet.PageBufferSize(1<<10))
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil || len(f.RowGroups()) < 3 || len(ctx) < 3*5003 {
		t.Fatalf("%v: %d row groups, %d rows", err, len(f.RowGroups()), len(ctx))
	}
	ptx, prep := readTx(t, bytes.NewReader(buf.Bytes()), dataset.Options{})
	sameReports(t, crep, prep)
	for i := range ctx {
		if c, p := ctx[i], ptx[i]; c.Customer != p.Customer || !c.Time.Equal(p.Time) || c.Amount != p.Amount || p.Line != int64(i+1) {
			t.Fatalf("row %d: csv %+v, parquet %+v", i, c, p)
		}
	}
}

// TestParquetFloatCustomerIDs reads customer ids stored as doubles, as
// pandas writes an id column with missing values: 17850.0 is "17850", NaN
// is a missing customer.
func TestParquetFloatCustomerIDs(t *testing.T) {
	type row struct {
		Cust   float64 `parquet:"CustomerID"`
		TS     string  `parquet:"InvoiceDate"`
		Amount float64 `parquet:"amount"`
	}
	zero := 0.0
	data := writeParquet(t, []row{{17850, "12/1/2010 8:26", 15.3}, {zero / zero, "12/1/2010 8:28", 2}, {123456789, "2010-12-02", 1.5}})
	txs, rep := readTx(t, bytes.NewReader(data), dataset.Options{MaxRejectedFraction: 1})
	if len(txs) != 2 || txs[0].Customer != "17850" || txs[1].Customer != "123456789" || rep.Rules[dataset.RuleMissingCustomer] != 1 ||
		!txs[0].Time.Equal(time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC)) {
		t.Fatalf("%+v %+v", txs, rep)
	}
}

func TestParquetExtensionWithoutMagic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "orders.parquet")
	if err := os.WriteFile(path, []byte("customer_id,ts,amount\n1,2022-01-01,3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.ReadFile(path, dataset.Options{}, nil); !errors.Is(err, dataset.ErrRead) || !strings.Contains(err.Error(), "not a readable Parquet file") {
		t.Fatalf("err %v", err)
	}
}
