package dataset

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parsedRow is the result of parsing one data record.
type parsedRow struct {
	customer []byte
	time     time.Time
	amount   float64
	rule     Rule
	msg      string
	// line is the reversal key (customer, stock code, unit price, |quantity|)
	// of an Online Retail row, purchase or cancellation; "" otherwise.
	line string
}

func (r *parsedRow) fail(rule Rule, format string, a ...any) {
	r.rule = rule
	r.msg = fmt.Sprintf(format, a...)
}

// rowParser parses the data records of one format.
type rowParser interface {
	parse(rec []byte, out *parsedRow)
	// csvDelim is the CSV delimiter, or 0 for whitespace-separated input
	// (no quoting).
	csvDelim() byte
	// cloneable reports whether rows parse independently of each other,
	// so that clones may parse chunks in parallel.
	cloneable() bool
	// clone returns a parser with the same configuration and its own
	// scratch space.
	clone() rowParser
	// reversalKeys reports whether rows can carry a reversal key
	// (parsedRow.line): without one, [CollectReversals] finds nothing.
	reversalKeys() bool
}

// normName lower-cases a column name and drops spaces, '_', '-' and '.'.
func normName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch r {
		case ' ', '_', '-', '.', '\t', '"':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ---- CDNOW ----

type cdnowParser struct {
	sp    fieldSplitter
	ncols int // 4 or 5 once known
}

// newCDNOW inspects the first record; it returns whether it is a header.
func newCDNOW(first []byte) (*cdnowParser, bool) {
	p := &cdnowParser{}
	f := p.sp.splitSpace(first)
	if n := len(f); n == 4 || n == 5 {
		if _, ok := parseCompactDate(f[n-3]); ok {
			p.ncols = n
			return p, false
		}
	}
	for _, c := range first {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			if n := len(f); n == 4 || n == 5 {
				p.ncols = n
			}
			return p, true
		}
	}
	return p, false
}

func (p *cdnowParser) csvDelim() byte { return 0 }

// cloneable: until the column count is known the first 4- or 5-column row
// fixes it, so rows depend on earlier ones.
func (p *cdnowParser) cloneable() bool { return p.ncols != 0 }

func (p *cdnowParser) clone() rowParser { return &cdnowParser{ncols: p.ncols} }

func (p *cdnowParser) reversalKeys() bool { return false }

func (p *cdnowParser) parse(rec []byte, out *parsedRow) {
	f := p.sp.splitSpace(rec)
	if p.ncols == 0 && (len(f) == 4 || len(f) == 5) {
		p.ncols = len(f)
	}
	if p.ncols == 0 || len(f) != p.ncols {
		want := "4 or 5"
		if p.ncols != 0 {
			want = fmt.Sprint(p.ncols)
		}
		out.fail(RuleColumnCount, "%d columns, want %s", len(f), want)
		return
	}
	off := p.ncols - 4
	out.customer = stripZeros(f[off])
	t, ok := parseCompactDate(f[off+1])
	if !ok {
		out.fail(RuleBadTime, "unparsable date %q (want YYYYMMDD)", f[off+1])
		return
	}
	out.time = t
	cds, why, ok := parseDecimal(f[off+2])
	if !ok {
		out.fail(RuleBadNumber, "unparsable number of CDs %q (%s)", f[off+2], why)
		return
	}
	dollars, why, ok := parseDecimal(f[off+3])
	if !ok {
		out.fail(RuleBadNumber, "unparsable dollar value %q (%s)", f[off+3], why)
		return
	}
	if cds <= 0 {
		out.fail(RuleNonPositiveQuantity, "number of CDs %s ≤ 0", f[off+2])
		return
	}
	out.amount = dollars
}

// ---- CSV (Online Retail and generic) ----

// csvParser handles Online Retail and generic CSV files: both are a header
// plus rows mapped by column index.
type csvParser struct {
	sp       fieldSplitter
	delim    byte
	ncols    int
	customer int
	time     int
	amount   int // -1 when quantity × price
	quantity int
	price    int
	invoice  int // -1 when absent
	stock    int // -1 when absent (reversal matching needs it)
	tp       *timeParser
	names    []string
}

func (p *csvParser) csvDelim() byte { return p.delim }

// cloneable: the time parser only remembers which layout to try first, and
// the layouts of one list never read one text differently.
func (p *csvParser) cloneable() bool { return true }

// reversalKeys: see reversalKey.
func (p *csvParser) reversalKeys() bool { return p.stock >= 0 && p.quantity >= 0 && p.price >= 0 }

func (p *csvParser) clone() rowParser {
	c := *p
	c.sp = fieldSplitter{}
	tp := *p.tp
	c.tp = &tp
	return &c
}

func (p *csvParser) parse(rec []byte, out *parsedRow) {
	f := p.sp.splitCSV(rec, p.delim)
	if len(f) != p.ncols {
		out.fail(RuleColumnCount, "%d columns, want %d", len(f), p.ncols)
		return
	}
	out.customer = normalizeID(f[p.customer])
	if len(out.customer) == 0 {
		out.fail(RuleMissingCustomer, "missing customer id (column %q)", p.names[p.customer])
		return
	}
	if p.invoice >= 0 {
		if inv := f[p.invoice]; len(inv) > 0 && (inv[0] == 'C' || inv[0] == 'c') {
			out.line = p.reversalKey(f, out.customer)
			out.fail(RuleCancellation, "cancellation invoice %q", inv)
			return
		}
	}
	t, ok := p.tp.parse(f[p.time])
	if !ok {
		out.fail(RuleBadTime, "unparsable time %q", f[p.time])
		return
	}
	out.time = t
	if p.amount >= 0 {
		v, why, ok := parseDecimal(f[p.amount])
		if !ok {
			out.fail(RuleBadNumber, "unparsable %s %q (%s)", p.names[p.amount], f[p.amount], why)
			return
		}
		out.amount = v
		return
	}
	p.parseLine(f, out)
}

// parseLine reads the amount of an order line, quantity × unit price, and
// its reversal key.
func (p *csvParser) parseLine(f [][]byte, out *parsedRow) {
	q, why, ok := parseDecimal(f[p.quantity])
	if !ok {
		out.fail(RuleBadNumber, "unparsable %s %q (%s)", p.names[p.quantity], f[p.quantity], why)
		return
	}
	pr, why, ok := parseDecimal(f[p.price])
	if !ok {
		out.fail(RuleBadNumber, "unparsable %s %q (%s)", p.names[p.price], f[p.price], why)
		return
	}
	if q <= 0 {
		out.fail(RuleNonPositiveQuantity, "%s %s ≤ 0", p.names[p.quantity], f[p.quantity])
		return
	}
	if pr <= 0 {
		out.fail(RuleNonPositivePrice, "%s %s ≤ 0", p.names[p.price], f[p.price])
		return
	}
	out.amount = q * pr
	out.line = p.reversalKey(f, out.customer)
	if out.amount > maxFloat {
		out.fail(RuleBadNumber, "amount %s × %s overflows", f[p.quantity], f[p.price])
	}
}

const maxFloat = 1.7976931348623157e308

// reversalKey identifies the order line a cancellation reverses: customer,
// stock code, unit price and |quantity|; "" without a stock code column or
// with unparsable numbers.
func (p *csvParser) reversalKey(f [][]byte, customer []byte) string {
	if p.stock < 0 || p.quantity < 0 || p.price < 0 {
		return ""
	}
	q, _, ok := parseDecimal(f[p.quantity])
	if !ok {
		return ""
	}
	pr, _, ok := parseDecimal(f[p.price])
	if !ok {
		return ""
	}
	return string(customer) + "\x00" + string(f[p.stock]) + "\x00" + strconv.FormatFloat(pr, 'g', -1, 64) + "\x00" + strconv.FormatFloat(math.Abs(q), 'g', -1, 64)
}

// Online Retail column names (normalised) of both header variants.
var onlineRetailColumns = struct{ invoice, quantity, date, price, customer []string }{
	invoice:  []string{"invoiceno", "invoice"},
	quantity: []string{"quantity"},
	date:     []string{"invoicedate"},
	price:    []string{"unitprice", "price"},
	customer: []string{"customerid"},
}

func isOnlineRetailHeader(names []string) bool {
	_, err := onlineRetailIndexes(names)
	return err == nil
}

func onlineRetailIndexes(names []string) ([5]int, error) {
	var idx [5]int
	var missing []string
	for k, alts := range [][]string{onlineRetailColumns.invoice, onlineRetailColumns.quantity,
		onlineRetailColumns.date, onlineRetailColumns.price, onlineRetailColumns.customer} {
		idx[k] = findColumn(names, alts)
		if idx[k] < 0 {
			missing = append(missing, alts[0])
		}
	}
	if missing != nil {
		return idx, fmt.Errorf("missing column(s) %s", strings.Join(missing, ", "))
	}
	return idx, nil
}

// findColumn returns the index of the first header name (normalised) equal
// to one of alts (normalised), trying alts in order.
func findColumn(names []string, alts []string) int {
	for _, a := range alts {
		a = normName(a)
		for i, n := range names {
			if normName(n) == a {
				return i
			}
		}
	}
	return -1
}

func headerNames(fields [][]byte) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = string(f)
	}
	return names
}

func newOnlineRetail(header []byte, file string) (*csvParser, error) {
	p := &csvParser{delim: ','}
	names := headerNames(p.sp.splitCSV(header, ','))
	idx, err := onlineRetailIndexes(names)
	if err != nil {
		return nil, &Error{File: file, Line: 1, Err: ErrBadHeader, Msg: fmt.Sprintf(
			"not an Online Retail header: %v in %s (want InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country or Invoice,...,Price,Customer ID,Country, comma-separated)",
			err, quoteStrings(names))}
	}
	p.ncols = len(names)
	p.names = names
	p.invoice, p.quantity, p.time, p.price, p.customer = idx[0], idx[1], idx[2], idx[3], idx[4]
	p.stock = findColumn(names, []string{"stockcode"})
	p.amount = -1
	p.tp = newTimeParser("", onlineRetailLayouts)
	return p, nil
}

func quoteStrings(s []string) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// Guessed generic CSV column names, most specific first.
var (
	guessCustomer = []string{"customer_id", "customerid", "customer", "cust_id", "client_id", "user_id", "member_id", "customer_key"}
	guessTime     = []string{"timestamp", "invoice_date", "order_date", "transaction_date", "purchase_date", "datetime", "date", "time", "created_at", "ts"}
	guessAmount   = []string{"amount", "revenue", "sales", "spend", "value", "total", "monetary", "dollars", "dollar_value", "order_value", "total_amount"}
	guessQuantity = []string{"quantity", "qty"}
	guessPrice    = []string{"unit_price", "unitprice", "price"}
	guessInvoice  = []string{"invoice_no", "invoice", "invoice_number"}
)

// detectDelim picks the delimiter that splits the header into most fields.
func detectDelim(header []byte) byte {
	best, bestN := byte(','), 1
	for _, d := range []byte{',', ';', '\t', '|'} {
		var sp fieldSplitter
		if n := len(sp.splitCSV(header, d)); n > bestN {
			best, bestN = d, n
		}
	}
	return best
}

func newGenericCSV(header []byte, m CSVMapping, file string) (*csvParser, error) {
	delim := byte(m.Delimiter)
	if delim == 0 {
		delim = detectDelim(header)
	}
	p := &csvParser{delim: delim, stock: -1}
	names := headerNames(p.sp.splitCSV(header, delim))
	p.names, p.ncols = names, len(names)
	bad := func(format string, a ...any) error {
		return &Error{File: file, Line: 1, Err: ErrBadHeader, Msg: fmt.Sprintf(format, a...) +
			fmt.Sprintf(" in header %s (delimiter %q)", quoteStrings(names), delim)}
	}
	c, err := mapColumns(names, m, bad)
	if err != nil {
		return nil, err
	}
	p.customer, p.time, p.amount, p.quantity, p.price, p.invoice = c.customer, c.time, c.amount, c.quantity, c.price, c.invoice
	p.tp = newTimeParser(m.TimeLayout, autoCSVLayouts)
	return p, nil
}

// mappedColumns are the column indexes a [CSVMapping] resolves to; -1 for
// a column that is absent (amount when quantity × price, invoice).
type mappedColumns struct {
	customer, time, amount, quantity, price, invoice int
}

// mapColumns resolves m against the column names of a CSV header or a
// Parquet schema; bad makes the error.
func mapColumns(names []string, m CSVMapping, bad func(format string, a ...any) error) (mappedColumns, error) {
	c := mappedColumns{amount: -1, quantity: -1, price: -1, invoice: -1}
	var err error
	col := func(what, given string, guesses []string) int {
		if err != nil {
			return -1
		}
		if given == "" {
			return findColumn(names, guesses)
		}
		i := findColumn(names, []string{given})
		if i < 0 {
			err = bad("no %s column %q", what, given)
		}
		return i
	}
	if c.customer = col("customer", m.Customer, guessCustomer); err == nil && c.customer < 0 {
		err = bad("no customer column (set the customer column)")
	}
	if c.time = col("time", m.Time, guessTime); err == nil && c.time < 0 {
		err = bad("no time column (set the time column)")
	}
	if m.Amount != "" || (m.Quantity == "" && m.Price == "") {
		c.amount = col("amount", m.Amount, guessAmount)
	}
	if c.amount < 0 {
		c.quantity = col("quantity", m.Quantity, guessQuantity)
		c.price = col("price", m.Price, guessPrice)
		if err == nil && (c.quantity < 0 || c.price < 0) {
			err = bad("no amount column and no quantity and price columns (set the amount column, or quantity and price)")
		}
	}
	c.invoice = col("invoice", m.Invoice, guessInvoice)
	if err != nil {
		return c, err
	}
	return c, c.distinct(names, bad)
}

// distinct checks that no column is mapped twice.
func (c mappedColumns) distinct(names []string, bad func(format string, a ...any) error) error {
	used := map[int]string{}
	for _, r := range []struct {
		name string
		i    int
	}{{"customer", c.customer}, {"time", c.time}, {"amount", c.amount}, {"quantity", c.quantity}, {"price", c.price}, {"invoice", c.invoice}} {
		if r.i < 0 {
			continue
		}
		if prev, dup := used[r.i]; dup {
			return bad("column %q is mapped to both %s and %s", names[r.i], prev, r.name)
		}
		used[r.i] = r.name
	}
	return nil
}
