package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readAll(t *testing.T, input string, opts Options) ([]Transaction, *Report, error) {
	t.Helper()
	var txs []Transaction
	rep, err := Read(strings.NewReader(input), opts, func(tx Transaction) error {
		txs = append(txs, tx)
		return nil
	})
	return txs, rep, err
}

// mul multiplies at run time (float64 rounding, unlike constant folding).
func mul(a, b float64) float64 { return a * b }

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestFormats(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		opts   Options
		format Format
		header bool
		want   []Transaction
	}{
		{
			name:   "cdnow 4 columns with header",
			input:  " customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00012 19970112  2   0.00\r\n",
			format: FormatCDNOW, header: true,
			want: []Transaction{{"1", day(1997, 1, 1), 11.77, 2}, {"12", day(1997, 1, 12), 0, 3}},
		},
		{
			name:   "cdnow 5 columns, customer is the sample id",
			input:  " 00004 0001 19970101  2   29.33\n 00018 0002 19970112  1   11.77\n",
			format: FormatCDNOW,
			want:   []Transaction{{"1", day(1997, 1, 1), 29.33, 1}, {"2", day(1997, 1, 12), 11.77, 2}},
		},
		{
			name:   "online retail variant 1",
			input:  "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n536365,85123A,\"HEART, WHITE\",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n536366,22633,HAND WARMER,6,12/1/2010 8:28,1.85,17850,United Kingdom\n536367,84879,BIRD,32,2010-12-01 08:34,1.69,13047,United Kingdom\n",
			format: FormatOnlineRetail, header: true,
			want: []Transaction{
				{"17850", time.Date(2010, 12, 1, 8, 26, 0, 0, time.UTC), mul(6, 2.55), 2},
				{"17850", time.Date(2010, 12, 1, 8, 28, 0, 0, time.UTC), mul(6, 1.85), 3},
				{"13047", time.Date(2010, 12, 1, 8, 34, 0, 0, time.UTC), mul(32, 1.69), 4},
			},
		},
		{
			name:   "online retail variant 2",
			input:  "Invoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\n489434,85048,LIGHTS,12,2009-12-01 07:45:00,6.95,13085.0,United Kingdom\n",
			format: FormatOnlineRetail, header: true,
			want: []Transaction{{"13085", time.Date(2009, 12, 1, 7, 45, 0, 0, time.UTC), mul(12, 6.95), 2}},
		},
		{
			name:   "generic csv guessed columns, several layouts",
			input:  "customer_id,timestamp,amount\na,2011-01-02T03:04:05Z,1.5\nb,2011-01-02T03:04:05+02:00,2\nc,20110103,3\nd,1/4/2011,4\ne,1294444800,5\nf,2011-01-06 10:11:12,6\n",
			format: FormatCSV, header: true,
			want: []Transaction{
				{"a", time.Date(2011, 1, 2, 3, 4, 5, 0, time.UTC), 1.5, 2},
				{"b", time.Date(2011, 1, 2, 1, 4, 5, 0, time.UTC), 2, 3},
				{"c", day(2011, 1, 3), 3, 4},
				{"d", day(2011, 1, 4), 4, 5},
				{"e", day(2011, 1, 8), 5, 6},
				{"f", time.Date(2011, 1, 6, 10, 11, 12, 0, time.UTC), 6, 7},
			},
		},
		{
			name:   "generic csv explicit mapping, quantity x price, invoice, semicolons",
			input:  "who;when;n;each;order\nx;03.02.2011;2;2.5;A1\nx;04.02.2011;1;1;C2\n",
			opts:   Options{Format: FormatCSV, CSV: CSVMapping{Customer: "who", Time: "when", Quantity: "n", Price: "each", Invoice: "order", TimeLayout: "02.01.2006"}},
			format: FormatCSV, header: true,
			want: []Transaction{{"x", day(2011, 2, 3), 5, 2}},
		},
		{
			name:   "generic csv unix layout",
			input:  "user,ts,value\nu,86400,1\n",
			opts:   Options{CSV: CSVMapping{Customer: "user", Time: "ts", Amount: "value", TimeLayout: "unix"}},
			format: FormatCSV, header: true,
			want: []Transaction{{"u", day(1970, 1, 2), 1, 2}},
		},
		{
			name:   "multi-line quoted field keeps line numbers",
			input:  "customer,date,amount,note\na,2011-01-01,1,\"two\nlines\"\nb,2011-01-02,2,\n",
			format: FormatCSV, header: true,
			want: []Transaction{{"a", day(2011, 1, 1), 1, 2}, {"b", day(2011, 1, 2), 2, 4}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rep, err := readAll(t, tc.input, tc.opts)
			if err != nil {
				t.Fatalf("Read: %v (report %+v)", err, rep)
			}
			if rep.Format != tc.format || rep.Header != tc.header {
				t.Errorf("format/header = %s/%v, want %s/%v", rep.Format, rep.Header, tc.format, tc.header)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d transactions %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i].Customer != tc.want[i].Customer || !got[i].Time.Equal(tc.want[i].Time) ||
					got[i].Amount != tc.want[i].Amount || got[i].Line != tc.want[i].Line {
					t.Errorf("tx %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestDetect(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(" 00001 19970101  1   11.77\n"))
	_ = zw.Close()
	tests := []struct {
		name    string
		head    []byte
		want    Format
		wantErr error
	}{
		{"cdnow 4", []byte(" 00001 19970101  1   11.77\n"), FormatCDNOW, nil},
		{"cdnow 5", []byte(" 00004 0001 19970101  2   29.33\r\n"), FormatCDNOW, nil},
		{"cdnow header", []byte("customer_id  date number_of_cds  dollar_value\n"), FormatCDNOW, nil},
		{"cdnow gzip", gz.Bytes(), FormatCDNOW, nil},
		{"online retail 1", []byte("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"), FormatOnlineRetail, nil},
		{"online retail 2 with BOM", []byte("\xef\xbb\xbfInvoice,StockCode,Description,Quantity,InvoiceDate,Price,Customer ID,Country\r\n"), FormatOnlineRetail, nil},
		{"generic", []byte("\n\ncustomer,timestamp,amount\n"), FormatCSV, nil},
		{"generic tabs", []byte("customer\ttimestamp\tamount\n"), FormatCSV, nil},
		{"empty", nil, "", ErrEmpty},
		{"blank", []byte(" \r\n\n"), "", ErrEmpty},
		{"binary", []byte{0, 1, 2, 3, 'a', 'b'}, "", ErrUnknownFormat},
		{"one column", []byte("hello\n"), "", ErrUnknownFormat},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 0}, "", ErrUnknownFormat},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect(tc.head)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("Detect = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in   string
		want Format
		ok   bool
	}{
		{"", FormatAuto, true}, {"auto", FormatAuto, true}, {"CDNOW", FormatCDNOW, true},
		{"online-retail", FormatOnlineRetail, true}, {"csv", FormatCSV, true}, {"parquet", FormatParquet, true}, {"orc", "", false},
	}
	for _, tc := range tests {
		got, err := ParseFormat(tc.in)
		if got != tc.want || (err == nil) != tc.ok {
			t.Errorf("ParseFormat(%q) = %q, %v", tc.in, got, err)
		}
		if !tc.ok && !errors.Is(err, ErrUnknownFormat) {
			t.Errorf("ParseFormat(%q) error %v does not wrap ErrUnknownFormat", tc.in, err)
		}
	}
}

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"12", 12, true}, {"-3", -3, true}, {"+4.5", 4.5, true}, {"0.001", 0.001, true}, {".5", 0.5, true},
		{"5.", 5, true}, {"1e3", 1000, true}, {"2.5E-2", 0.025, true}, {"123456789012345678", 123456789012345678, true},
		{"", 0, false}, {"-", 0, false}, {".", 0, false}, {"1e", 0, false}, {"1e400", 0, false}, {"-1e400", 0, false},
		{"NaN", 0, false}, {"Inf", 0, false}, {"-Infinity", 0, false}, {"0x1p4", 0, false}, {"1,5", 0, false},
		{"1_000", 0, false}, {"$5", 0, false}, {"5 ", 0, false},
	}
	for _, tc := range tests {
		got, _, ok := parseDecimal([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseDecimal(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in     string
		layout string
		want   time.Time
		ok     bool
	}{
		{"2011-12-09", "", day(2011, 12, 9), true},
		{"2011-12-09 12:50:00", "", time.Date(2011, 12, 9, 12, 50, 0, 0, time.UTC), true},
		{"2011-12-09 12:50", "", time.Date(2011, 12, 9, 12, 50, 0, 0, time.UTC), true},
		{"2011-12-09T12:50:01", "", time.Date(2011, 12, 9, 12, 50, 1, 0, time.UTC), true},
		{"2011-12-09T12:50:01.25Z", "", time.Date(2011, 12, 9, 12, 50, 1, 250e6, time.UTC), true},
		{"20120229", "", day(2012, 2, 29), true},
		{"12/9/2011", "", day(2011, 12, 9), true},
		{"12/9/2011 8:05", "", time.Date(2011, 12, 9, 8, 5, 0, 0, time.UTC), true},
		{"1323435000", "", time.Date(2011, 12, 9, 12, 50, 0, 0, time.UTC), true},
		{"1323435000.5", "", time.Date(2011, 12, 9, 12, 50, 0, 5e8, time.UTC), true},
		{"09/12/2011", "02/01/2006", day(2011, 12, 9), true},
		{"19700101", "unix", time.Unix(19700101, 0).UTC(), true},
		{"2011-13-45", "", time.Time{}, false},
		{"20110230", "", time.Time{}, false},
		{"20110229", "", time.Time{}, false},
		{"2011-12-09 24:00:00", "", time.Time{}, false},
		{"2011-12-09 12:60", "", time.Time{}, false},
		{"yesterday", "", time.Time{}, false},
		{"", "", time.Time{}, false},
		{"1e10", "", time.Time{}, false},
		{"99999999999999", "", time.Time{}, false},
	}
	for _, tc := range tests {
		got, ok := newTimeParser(tc.layout, autoCSVLayouts).parse([]byte(tc.in))
		if ok != tc.ok || (ok && !got.Equal(tc.want)) {
			t.Errorf("parse(%q, %q) = %v, %v; want %v, %v", tc.in, tc.layout, got, ok, tc.want, tc.ok)
		}
	}
}

func TestNormalizeID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"17850.0", "17850"}, {" 17850 ", "17850"}, {"17850.00", "17850"}, {"17850.5", "17850.5"},
		{"A1.0", "A1.0"}, {"12.", "12."}, {".0", ".0"}, {"", ""},
	}
	for _, tc := range tests {
		if got := string(normalizeID([]byte(tc.in))); got != tc.want {
			t.Errorf("normalizeID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for in, want := range map[string]string{"0001": "1", "0000": "0", "120": "120", "a01": "a01"} {
		if got := string(stripZeros([]byte(in))); got != want {
			t.Errorf("stripZeros(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitCSV(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"a,b,c", []string{"a", "b", "c"}},
		{" a , b ,", []string{"a", "b", ""}},
		{`"a,b",c`, []string{"a,b", "c"}},
		{`"say ""hi""",x`, []string{`say "hi"`, "x"}},
		{` "q" ,5" tall`, []string{"q", `5" tall`}},
		{`"ab"cd,e`, []string{"abcd", "e"}},
		{`""`, []string{""}},
		{`x,"`, []string{"x", ""}},
	}
	for _, tc := range tests {
		var sp fieldSplitter
		got := sp.splitCSV([]byte(tc.in), ',')
		if len(got) != len(tc.want) {
			t.Errorf("splitCSV(%q) = %q, want %q", tc.in, got, tc.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tc.want[i] {
				t.Errorf("splitCSV(%q)[%d] = %q, want %q", tc.in, i, got[i], tc.want[i])
			}
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "orders.csv", Line: 17, Rule: RuleBadTime, Msg: `unparsable time "2011-13-45"`}, `orders.csv:17: unparsable time "2011-13-45" (rule bad_time)`},
		{&Error{File: "orders.csv", Err: ErrEmpty}, "orders.csv: empty input"},
		{&Error{Msg: "boom"}, "input: boom"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	// The example of a rejected row reads the same way.
	_, rep, err := readAll(t, "customer,date,amount\na,2011-01-01,1\nb,2011-13-45,2\nc,2011-01-02,3\n", Options{Name: "orders.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Examples) != 1 {
		t.Fatalf("examples = %+v", rep.Examples)
	}
	if got, want := rep.Examples[0].Error(), `orders.csv:3: unparsable time "2011-13-45" (rule bad_time)`; got != want {
		t.Errorf("example = %q, want %q", got, want)
	}
	if RuleOf(&rep.Examples[0]) != RuleBadTime || RuleOf(errors.New("x")) != "" {
		t.Errorf("RuleOf wrong")
	}
}

func TestQuarantineAndReport(t *testing.T) {
	input := "customer,date,amount\na,2011-01-01,1\n,2011-01-02,2\nb,bad,3\nc,2011-01-03,-1\nd,2011-01-04,4\nd,2011-01-05,5\ne,2011-01-06,\"x,y\"\n"
	var q bytes.Buffer
	_, rep, err := readAll(t, input, Options{Name: "in.csv", Quarantine: &q, MaxRejectedFraction: 0.6})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&q).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"line", "rule", "raw"}, {"3", "missing_customer", ",2011-01-02,2"}, {"4", "bad_time", "b,bad,3"},
		{"5", "non_positive_amount", "c,2011-01-03,-1"}, {"8", "bad_number", `e,2011-01-06,"x,y"`}}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Errorf("quarantine = %q, want %q", recs, want)
	}
	if rep.RowsRead != 7 || rep.Accepted != 3 || rep.Rejected != 4 || rep.Customers != 2 || rep.TotalAmount != 10 {
		t.Errorf("report counts wrong: %+v", rep)
	}
	if !rep.MinTime.Equal(day(2011, 1, 1)) || !rep.MaxTime.Equal(day(2011, 1, 5)) {
		t.Errorf("time range = %v..%v", rep.MinTime, rep.MaxTime)
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rows_read", "accepted", "rejected", "rules", "examples", "customers", "min_time", "max_time", "total_amount"} {
		if _, ok := back[k]; !ok {
			t.Errorf("report JSON lacks %q: %s", k, js)
		}
	}
	if !bytes.Contains(js, []byte(`"rules":{"bad_number":1,"bad_time":1,"missing_customer":1,"non_positive_amount":1}`)) {
		t.Errorf("rules not encoded in sorted order: %s", js)
	}
}

func TestMaxRejectedFraction(t *testing.T) {
	input := "customer,date,amount\na,2011-01-01,1\nb,bad,2\nc,bad,3\nd,2011-01-02,-4\n" // 3 of 4 rejected
	tests := []struct {
		max     float64
		wantErr bool
	}{{0, true}, {0.5, true}, {0.74, true}, {0.75, false}, {1, false}, {-1, true}}
	for _, tc := range tests {
		_, rep, err := readAll(t, input, Options{MaxRejectedFraction: tc.max})
		if (err != nil) != tc.wantErr {
			t.Errorf("max %v: err = %v", tc.max, err)
		}
		if err != nil {
			if !errors.Is(err, ErrTooManyRejected) || RuleOf(err) != RuleBadTime || !strings.Contains(err.Error(), "bad_time: 2 rows") {
				t.Errorf("max %v: error %v should name dominant rule bad_time with 2 rows", tc.max, err)
			}
		}
		if rep.RejectedFraction != 0.75 {
			t.Errorf("rejected fraction = %v", rep.RejectedFraction)
		}
	}
	// A single rejected row fails when none is tolerated.
	_, _, err := readAll(t, "customer,date,amount\na,2011-01-01,1\nb,2011-01-01,0\n", Options{MaxRejectedFraction: -1})
	if !errors.Is(err, ErrTooManyRejected) {
		t.Errorf("strict mode: err = %v", err)
	}
	_, _, err = readAll(t, "customer,date,amount\n", Options{MaxRejectedFraction: 2})
	if !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("fraction 2: err = %v", err)
	}
}

func TestTimeRangeAndDuplicates(t *testing.T) {
	input := "customer,date,amount\na,2010-12-31,1\na,2011-01-01,1\na,2011-01-01,1\nb,2011-06-30,2\nb,2011-07-01,2\n"
	tests := []struct {
		name  string
		opts  Options
		acc   int64
		rules map[Rule]int64
		sat   bool
	}{
		{"none", Options{}, 5, map[Rule]int64{}, false},
		{"range", Options{MinTime: day(2011, 1, 1), MaxTime: day(2011, 6, 30)}, 3, map[Rule]int64{RuleOutOfRange: 2}, false},
		{"dedupe", Options{DropDuplicates: true}, 4, map[Rule]int64{RuleDuplicate: 1}, false},
		{"range+dedupe", Options{DropDuplicates: true, MinTime: day(2011, 1, 1)}, 3, map[Rule]int64{RuleOutOfRange: 1, RuleDuplicate: 1}, false},
		// With room for one hash only, the first row is remembered and the
		// later duplicate pair is not detected; the report says so.
		{"saturated", Options{DropDuplicates: true, MaxDedupeEntries: 1}, 5, map[Rule]int64{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, rep, err := readAll(t, input, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Accepted != tc.acc || fmt.Sprint(rep.Rules) != fmt.Sprint(tc.rules) || rep.DedupeSaturated != tc.sat {
				t.Errorf("accepted %d rules %v saturated %v; want %d %v %v", rep.Accepted, rep.Rules, rep.DedupeSaturated, tc.acc, tc.rules, tc.sat)
			}
		})
	}
}

func TestLineTooLongAndGzip(t *testing.T) {
	long := "customer,date,amount\na,2011-01-01,1\nb,2011-01-01," + strings.Repeat("9", 5000) + "\nc,2011-01-02,3\n"
	_, rep, err := readAll(t, long, Options{MaxLineBytes: 100, Name: "long.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rules[RuleLineTooLong] != 1 || rep.Accepted != 2 || rep.Examples[0].Line != 3 {
		t.Errorf("report %+v", rep)
	}
	// gzip is found by content: the name says .txt.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(long))
	_ = zw.Close()
	rep2, err := Read(bytes.NewReader(gz.Bytes()), Options{MaxLineBytes: 100, Name: "plain.txt"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep2.Gzip || rep2.Accepted != 2 || rep2.Bytes != int64(len(long)) {
		t.Errorf("gzip report %+v", rep2)
	}
}

func TestConsumerError(t *testing.T) {
	stop := errors.New("stop here")
	n := 0
	_, err := Read(strings.NewReader("customer,date,amount\na,2011-01-01,1\nb,2011-01-02,2\n"), Options{}, func(Transaction) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || !errors.Is(err, ErrConsumer) || n != 1 {
		t.Errorf("err = %v after %d calls", err, n)
	}
}

func TestInvalidOptions(t *testing.T) {
	tests := []Options{
		{Format: "xml"},
		{MaxRejectedFraction: math.NaN()},
		{MinTime: day(2012, 1, 1), MaxTime: day(2011, 1, 1)},
		{ZeroAmounts: "maybe"},
		{CSV: CSVMapping{Delimiter: 'x'}},
	}
	for i, o := range tests {
		if _, err := Read(strings.NewReader("customer,date,amount\na,2011-01-01,1\n"), o, nil); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("case %d: err = %v, want ErrInvalidOptions", i, err)
		}
	}
}

func TestBadMapping(t *testing.T) {
	tests := []struct {
		header string
		m      CSVMapping
		want   string
	}{
		{"c,d,a", CSVMapping{Customer: "cust"}, `no customer column "cust"`},
		{"customer,amount", CSVMapping{}, "no time column"},
		{"customer,date,note", CSVMapping{}, "no amount column"},
		{"customer,date,amount", CSVMapping{Amount: "customer"}, "mapped to both customer and amount"},
	}
	for _, tc := range tests {
		_, err := Read(strings.NewReader(tc.header+"\n"), Options{Format: FormatCSV, CSV: tc.m, Name: "m.csv"}, nil)
		if !errors.Is(err, ErrBadHeader) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "m.csv:1: ") {
			t.Errorf("header %q mapping %+v: err = %v, want ErrBadHeader containing %q", tc.header, tc.m, err, tc.want)
		}
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	input := "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" +
		"536365,85123A,X,6,2010-12-01 08:26:00,2.55,17850.0,UK\n536366,1,Y,3,2010-12-02 09:00:00,0.1,\"1,2\",UK\nC1,1,Z,-1,2010-12-03 09:00:00,1,17850,UK\n"
	var out bytes.Buffer
	rep, err := WriteCanonical(&out, strings.NewReader(input), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 2 {
		t.Fatalf("accepted %d", rep.Accepted)
	}
	wantText := "customer,timestamp,amount\n17850,2010-12-01T08:26:00Z,15.299999999999999\n\"1,2\",2010-12-02T09:00:00Z,0.30000000000000004\n"
	if out.String() != wantText {
		t.Errorf("canonical =\n%s\nwant\n%s", out.String(), wantText)
	}
	orig, _, err := readAll(t, input, Options{})
	if err != nil {
		t.Fatal(err)
	}
	back, rep2, err := readAll(t, out.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Format != FormatCSV || len(back) != len(orig) {
		t.Fatalf("read back %d rows as %s", len(back), rep2.Format)
	}
	for i := range back {
		if back[i].Customer != orig[i].Customer || !back[i].Time.Equal(orig[i].Time) || back[i].Amount != orig[i].Amount {
			t.Errorf("row %d: %+v != %+v", i, back[i], orig[i])
		}
	}
	var empty bytes.Buffer
	if err := NewCanonicalWriter(&empty).Flush(); err != nil || empty.String() != "customer,timestamp,amount\n" {
		t.Errorf("empty canonical = %q, %v", empty.String(), err)
	}
}

func TestDropReversed(t *testing.T) {
	csvText := "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" +
		"1,A,x,10,2011-01-01 10:00:00,2.5,7,UK\n" + // reversed below
		"2,A,x,10,2011-01-02 10:00:00,2.5,7,UK\n" + // same line again: only one cancellation
		"3,B,x,4,2011-01-02 11:00:00,1.0,7,UK\n" + // different stock code: kept
		"C4,A,x,-10,2011-01-03 10:00:00,2.5,7,UK\n" +
		"5,A,x,10,2011-01-03 10:00:00,2.5,8,UK\n" // another customer: kept
	dir := t.TempDir()
	path := filepath.Join(dir, "or.csv")
	if err := os.WriteFile(path, []byte(csvText), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, drop := range []bool{false, true} {
		var got []Transaction
		rep, err := ReadFile(path, Options{Format: FormatOnlineRetail, DropReversed: drop}, func(tx Transaction) error {
			got = append(got, tx)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := 4
		if drop {
			want = 3
		}
		if len(got) != want || rep.Rules[RuleCancellation] != 1 {
			t.Fatalf("drop=%v: %d accepted, rules %v", drop, len(got), rep.Rules)
		}
		if drop && (rep.Rules[RuleReversed] != 1 || got[0].Line != 3) {
			t.Fatalf("drop=%v: want the first matching purchase (line 2) reversed, got rules %v first line %d", drop, rep.Rules, got[0].Line)
		}
	}
}
