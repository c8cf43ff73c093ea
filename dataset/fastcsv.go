package dataset

import (
	"bytes"
	"slices"
	"time"
)

// The fast path of generic CSV logs. Most lines of a log have one shape:
// the header's number of fields, no quotes, a customer id, an ISO date
// (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SSZ as clean datasets write it) and a
// positive amount without exponent, none of them padded with spaces. A
// worker parses a block of such lines in one pass straight into the batch
// of its chunk. At the first line of another shape it drops what it made
// and leaves the block to the general path (splitBlock, parseRecord, the
// row rules), which reads such lines exactly as the fast path does
// (TestFastCSVSameAsGeneral).

// fastCSV locates the columns of a generic CSV file for the fast path.
type fastCSV struct {
	delim   byte
	roles   []fastRole // per column
	rfc3339 bool       // YYYY-MM-DDTHH:MM:SSZ is one of the time layouts
}

// fastRole is what the fast path reads in a column.
type fastRole uint8

const (
	fastOther fastRole = iota
	fastCustomer
	fastTime
	fastAmount
)

// fastCSVOf returns the fast path of p, or nil when p reads no generic CSV
// with an amount column and ISO dates in its time layouts.
func fastCSVOf(p rowParser) *fastCSV {
	c, ok := p.(*csvParser)
	if !ok || c.amount < 0 || c.invoice >= 0 || !slices.Contains(c.tp.layouts, layoutISO) ||
		c.delim == '"' || isSpace(c.delim) || c.delim == '.' || c.delim == '-' || (c.delim >= '0' && c.delim <= '9') {
		return nil
	}
	f := &fastCSV{delim: c.delim, roles: make([]fastRole, c.ncols), rfc3339: slices.Contains(c.tp.layouts, time.RFC3339Nano)}
	f.roles[c.customer], f.roles[c.time], f.roles[c.amount] = fastCustomer, fastTime, fastAmount
	return f
}

// fastRow is one line parsed by the fast path.
type fastRow struct {
	customer []byte
	key      int32 // the interner's key of customer when it is direct, else -1
	secs     int64 // Unix time
	amount   float64
}

// parse parses one line (without its terminator) of a block, which has
// no quotes (see fillBlock), in one pass; false when the line has another
// shape. memo holds the last date read.
func (f *fastCSV) parse(line []byte, out *fastRow, memo *dateMemo) bool {
	at, last := 0, len(f.roles)-1
	for k, role := range f.roles {
		var end int
		switch role {
		case fastCustomer:
			end = f.scanCustomer(line, at, out)
		case fastTime:
			end = f.scanTime(line, at, out, memo)
		case fastAmount:
			end = f.scanAmount(line, at, out)
		default:
			if end = bytes.IndexByte(line[at:], f.delim); end >= 0 {
				end += at
			} else {
				end = len(line)
			}
		}
		switch {
		case end < 0:
			return false
		case k == last:
			return end == len(line)
		case end == len(line): // too few fields
			return false
		}
		at = end + 1 // line[end] is a delimiter
	}
	return false
}

// scanCustomer reads the customer id at line[at:], up to the next
// delimiter, and returns the end of the field, or -1 when normalizeID
// would change the id (padding, a dot) or it is empty. The key is the
// interner's direct key of the id, or -1 when it has none.
func (f *fastCSV) scanCustomer(line []byte, at int, out *fastRow) int {
	id, delim := line[at:], f.delim
	n, digits := 0, true
	for i, c := range id {
		if c == delim {
			id = id[:i]
			break
		}
		if d := c - '0'; d <= 9 {
			n = n*10 + int(d)
		} else if digits = false; c == '.' {
			return -1
		}
	}
	if len(id) == 0 || id[0] == ' ' || id[0] == '\t' || id[len(id)-1] == ' ' || id[len(id)-1] == '\t' {
		return -1
	}
	out.customer, out.key = id, -1
	if digits && len(id) <= 7 && (id[0] != '0' || len(id) == 1) && n < maxDirect {
		out.key = int32(2 * n)
	}
	return at + len(id)
}

// scanTime reads the time at line[at:], YYYY-MM-DD or (when a layout)
// YYYY-MM-DDTHH:MM:SSZ, and returns the end of the field, or -1.
func (f *fastCSV) scanTime(line []byte, at int, out *fastRow, memo *dateMemo) int {
	rest := line[at:]
	n := 10
	if len(rest) > n && rest[n] != f.delim {
		n = 20
	}
	if len(rest) < n || (len(rest) > n && rest[n] != f.delim) || (n == 20 && !f.rfc3339) {
		return -1
	}
	var ok bool
	if out.secs, ok = memo.unix(rest[:n]); !ok {
		return -1
	}
	return at + n
}

// scanAmount reads the amount at line[at:], up to the next delimiter,
// when it is digits with at most one '.', at most 15 bytes and positive:
// the fast path of parseDecimal, bit for bit. It returns the end of the
// field, or -1.
func (f *fastCSV) scanAmount(line []byte, at int, out *fastRow) int {
	b, delim := line[at:], f.delim
	n, frac, digits := int64(0), -1, 0
	for i, c := range b {
		if c == delim {
			b = b[:i]
			break
		}
		if d := c - '0'; d <= 9 {
			n = n*10 + int64(d)
			digits++
		} else if c != '.' || frac >= 0 {
			return -1
		} else {
			frac = i
		}
	}
	if len(b) > 15 || digits == 0 || n == 0 {
		return -1
	}
	out.amount = float64(n)
	if frac >= 0 {
		out.amount /= pow10[len(b)-1-frac]
	}
	return at + len(b)
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
		end, next := lineAt(text, start)
		if end-start > pl.rr.maxBytes || !pl.fast.parse(text[start:end], &row, &memo) {
			return false
		}
		t := time.Unix(row.secs, 0).UTC()
		if !pl.rules.inRange(t) {
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
