package dataset

import (
	"bytes"
	"slices"
	"time"
)

// The fast path of generic CSV logs. Most lines of a log have one shape:
// the header's number of fields, no quotes, a customer id, an ISO date
// (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ as clean datasets write it) and a
// positive amount without exponent, none of them padded with spaces. A worker parses a block of such lines in one pass straight
// into the batch of its chunk. At the first line of another shape it
// drops what it made and leaves the block to the general path (splitBlock,
// parseRecord, the row rules), which reads such lines exactly as the fast
// path does (TestFastCSVSameAsGeneral).

// maxFastCols bounds the columns of a file read on the fast path.
const maxFastCols = 16

// fastCSV locates the columns of a generic CSV file for the fast path.
type fastCSV struct {
	delim                  byte
	ncols                  int
	customer, time, amount int
}

// fastCSVOf returns the fast path of p, or nil when p reads no generic CSV
// with an amount column and ISO dates in its time layouts.
func fastCSVOf(p rowParser) *fastCSV {
	c, ok := p.(*csvParser)
	if !ok || c.amount < 0 || c.invoice >= 0 || c.ncols > maxFastCols || !slices.Contains(c.tp.layouts, layoutISO) ||
		c.delim == '"' || isSpace(c.delim) || c.delim == '.' || c.delim == '-' || (c.delim >= '0' && c.delim <= '9') {
		return nil
	}
	return &fastCSV{delim: c.delim, ncols: c.ncols, customer: c.customer, time: c.time, amount: c.amount}
}

// fastRow is one line parsed by the fast path.
type fastRow struct {
	customer []byte
	key      int32 // the interner's key of customer when it is direct, else -1
	secs     int64 // Unix time
	amount   float64
}

// parse parses one line (without its terminator) of a block, which has
// no quotes (see fillBlock); false when the line has another shape. memo
// holds the last date read.
func (f *fastCSV) parse(line []byte, out *fastRow, memo *dateMemo) bool {
	var fields [3][]byte // customer, time, amount
	if !f.split(line, &fields) {
		return false
	}
	var ok bool
	out.customer = fields[0]
	if out.key, ok = plainID(out.customer); !ok {
		return false
	}
	if out.secs, ok = memo.unix(fields[1]); !ok {
		return false
	}
	out.amount, ok = positiveDecimal(fields[2])
	return ok
}

// split finds the customer, time and amount fields of line; false when
// it has too few or too many fields. A delimiter in the last field is
// left to the checks of the time and amount fields, which refuse it.
func (f *fastCSV) split(line []byte, fields *[3][]byte) bool {
	if f.ncols == 3 { // the common case, without a loop
		i := bytes.IndexByte(line, f.delim)
		if i < 0 {
			return false
		}
		j := bytes.IndexByte(line[i+1:], f.delim) + i + 1
		if j <= i {
			return false
		}
		all := [3][]byte{line[:i], line[i+1 : j], line[j+1:]}
		fields[0], fields[1], fields[2] = all[f.customer], all[f.time], all[f.amount]
		return f.customer != 2 || bytes.IndexByte(all[2], f.delim) < 0
	}
	for k, at, last := 0, 0, f.ncols-1; k <= last; k++ {
		end := at + bytes.IndexByte(line[at:], f.delim)
		if (end < at) != (k == last) {
			return false
		}
		if k == last {
			end = len(line)
		}
		switch k {
		case f.customer:
			fields[0] = line[at:end]
		case f.time:
			fields[1] = line[at:end]
		case f.amount:
			fields[2] = line[at:end]
		}
		at = end + 1
	}
	return true
}

// plainID reports whether id is non-empty, unpadded and without a dot
// (normalizeID leaves it as it is) and returns its direct key (see
// interner.key), or -1 when it has none.
func plainID(id []byte) (int32, bool) {
	if len(id) == 0 || id[0] == ' ' || id[0] == '\t' || id[len(id)-1] == ' ' || id[len(id)-1] == '\t' {
		return 0, false
	}
	n, digits := 0, len(id) <= 7 && (id[0] != '0' || len(id) == 1)
	for _, c := range id {
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int(c-'0')
		case c == '.':
			return 0, false
		default:
			digits = false
		}
	}
	if digits && n < maxDirect {
		return int32(2 * n), true
	}
	return -1, true
}

// dateMemo remembers the last ISO date read: the lines of a log sorted by
// time repeat their date.
type dateMemo struct {
	text [10]byte
	d    int64
	ok   bool
}

// unix reads a time of the fast path's shapes, YYYY-MM-DD (parseISO's
// reading) or YYYY-MM-DDTHH:MM:SSZ (time.RFC3339Nano's), into Unix
// seconds; the day from the memo when it holds the date.
func (m *dateMemo) unix(b []byte) (int64, bool) {
	if len(b) != 10 && (len(b) != 20 || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != 'Z') {
		return 0, false
	}
	var d int64
	if m.ok && [10]byte(b[:10]) == m.text {
		d = m.d
	} else {
		var ok bool
		if d, ok = isoDay(b[:10]); !ok {
			return 0, false
		}
		m.text, m.d, m.ok = [10]byte(b[:10]), d, true
	}
	if len(b) == 10 {
		return d * 86400, true
	}
	h, ok1 := digitsN(b, 11, 2)
	mi, ok2 := digitsN(b, 14, 2)
	sec, ok3 := digitsN(b, 17, 2)
	if !ok1 || !ok2 || !ok3 || h > 23 || mi > 59 || sec > 59 {
		return 0, false
	}
	return d*86400 + int64(h*3600+mi*60+sec), true
}

// isoDay returns the day number of a valid date YYYY-MM-DD (parseISO's
// reading of it).
func isoDay(b []byte) (int64, bool) {
	if len(b) != 10 || b[4] != '-' || b[7] != '-' {
		return 0, false
	}
	y, ok1 := digitsN(b, 0, 4)
	m, ok2 := digitsN(b, 5, 2)
	d, ok3 := digitsN(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return 0, false
	}
	return daysFromCivil(y, m, d), true
}

// positiveDecimal parses digits with at most one '.', at most 15 bytes,
// when the value is positive: the fast path of parseDecimal, bit for bit.
func positiveDecimal(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	n, i := int64(0), 0
	for ; i < len(b) && b[i]-'0' <= 9; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	digits := i
	v := float64(0)
	if i < len(b) {
		if b[i] != '.' {
			return 0, false
		}
		for i++; i < len(b) && b[i]-'0' <= 9; i++ {
			n = n*10 + int64(b[i]-'0')
		}
		if i < len(b) || (digits == 0 && len(b) == 1) {
			return 0, false
		}
		v = float64(n) / pow10[len(b)-1-digits]
	} else {
		v = float64(n)
	}
	return v, n > 0
}

// fastBlock parses the lines of a block chunk straight into its batch and
// marks it clean (true), when every line has the fast path's shape, is
// short enough and passes the row rules. Otherwise (false) the chunk is
// left as it came, for the general path.
func (pl *pipeline) fastBlock(c *chunk) bool {
	b, text, line := &c.batch, c.text, c.firstLine
	b.reset()
	var row fastRow
	var memo dateMemo
	minSecs, maxSecs := int64(0), int64(0)
	for start := 0; start < len(text); line++ {
		next := start + bytes.IndexByte(text[start:], '\n') + 1
		end := next - 1
		if end > start && text[end-1] == '\r' {
			end--
		}
		if end-start > pl.rr.maxBytes || !pl.fast.parse(text[start:end], &row, &memo) {
			return false
		}
		t := time.Unix(row.secs, 0).UTC()
		if pl.rules.bounded && !pl.rules.inRange(t) {
			return false
		}
		if b.Len() == 0 || row.secs < minSecs {
			minSecs = row.secs
		}
		if b.Len() == 0 || row.secs > maxSecs {
			maxSecs = row.secs
		}
		cust, key := "", row.key
		if key < 0 {
			cust, key = pl.in.key(row.customer)
		}
		b.names, b.Keys, b.Times = append(b.names, cust), append(b.Keys, key), append(b.Times, t)
		b.Amounts, b.Lines = append(b.Amounts, row.amount), append(b.Lines, line)
		start = next
	}
	c.clean, c.blanks = true, 0
	c.minTime, c.maxTime = time.Unix(minSecs, 0).UTC(), time.Unix(maxSecs, 0).UTC()
	return true
}
