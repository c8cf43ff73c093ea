package dataset

import (
	"bytes"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
)

// convert parses row i of the chunk being filled, with the rules of a CSV
// row and in their order, and interns its customer.
func (pr *parquetReader) convert(i int, out *parsedRec) {
	*out = parsedRec{}
	row := &out.parsedRow
	c := pr.cols[pr.roles[rCustomer]]
	pr.id = append(pr.id[:0], normalizeID(pr.text(c, pr.vals[pr.roles[rCustomer]][i]))...)
	if len(pr.id) == 0 {
		row.fail(RuleMissingCustomer, "missing customer id (column %q)", c.name)
		return
	}
	if k := pr.roles[rInvoice]; k >= 0 {
		if v := pr.vals[k][i]; pr.cols[k].kind == pqText && !v.IsNull() {
			if inv := v.ByteArray(); len(inv) > 0 && (inv[0] == 'C' || inv[0] == 'c') {
				row.fail(RuleCancellation, "cancellation invoice %q", inv)
				return
			}
		}
	}
	pr.convertValues(i, row)
	if row.rule == "" {
		out.cust, out.key = pr.in.key(pr.id)
	}
}

// convertValues parses the time and the amount of row i.
func (pr *parquetReader) convertValues(i int, row *parsedRow) {
	k := pr.roles[rTime]
	t, ok := pr.time(pr.cols[k], pr.vals[k][i])
	if !ok {
		row.fail(RuleBadTime, "unparsable time %q", pr.display(k, i))
		return
	}
	row.time = t
	if k := pr.roles[rAmount]; k >= 0 {
		v, why, ok := pr.number(pr.cols[k], pr.vals[k][i])
		if !ok {
			row.fail(RuleBadNumber, "unparsable %s %q (%s)", pr.cols[k].name, pr.display(k, i), why)
		}
		row.amount = v
		return
	}
	kq, kp := pr.roles[rQuantity], pr.roles[rPrice]
	q, why, ok := pr.number(pr.cols[kq], pr.vals[kq][i])
	if !ok {
		row.fail(RuleBadNumber, "unparsable %s %q (%s)", pr.cols[kq].name, pr.display(kq, i), why)
		return
	}
	p, why, ok := pr.number(pr.cols[kp], pr.vals[kp][i])
	switch {
	case !ok:
		row.fail(RuleBadNumber, "unparsable %s %q (%s)", pr.cols[kp].name, pr.display(kp, i), why)
	case q <= 0:
		row.fail(RuleNonPositiveQuantity, "%s %s ≤ 0", pr.cols[kq].name, pr.display(kq, i))
	case p <= 0:
		row.fail(RuleNonPositivePrice, "%s %s ≤ 0", pr.cols[kp].name, pr.display(kp, i))
	case q*p > maxFloat:
		row.fail(RuleBadNumber, "amount %s × %s overflows", pr.display(kq, i), pr.display(kp, i))
	default:
		row.amount = q * p
	}
}

// display renders the value of column k in row i for a message.
func (pr *parquetReader) display(k, i int) []byte {
	return appendValue(nil, pr.cols[k], pr.vals[k][i])
}

// text returns the text of a value ("" for null), numbers as in a CSV
// export: a float in plain notation ("17850" for 17850.0, as pandas writes
// ids that have missing values), "" for NaN or ±Inf. It may use pr.num.
func (pr *parquetReader) text(c pqCol, v parquet.Value) []byte {
	switch {
	case v.IsNull():
		return nil
	case c.kind == pqText:
		return v.ByteArray()
	case c.kind == pqFloat:
		f := v.Double()
		if v.Kind() == parquet.Float {
			f = float64(v.Float())
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		pr.num = strconv.AppendFloat(pr.num[:0], f, 'f', -1, 64)
		return pr.num
	}
	pr.num = appendValue(pr.num[:0], c, v)
	return pr.num
}

// number converts an amount, quantity or price value.
func (pr *parquetReader) number(c pqCol, v parquet.Value) (float64, string, bool) {
	switch {
	case v.IsNull():
		return 0, "null", false
	case c.kind == pqInt:
		return float64(v.Int64()), "", true
	case c.kind == pqFloat:
		f := v.Double()
		if v.Kind() == parquet.Float {
			f = float64(v.Float())
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, "not a finite number", false
		}
		return f, "", true
	case c.kind == pqDecimal && c.scale >= 0 && c.scale <= 22 && absBelow(v.Int64(), 1<<53):
		// Both operands are exact, so the quotient is the correctly rounded
		// value of the decimal: the float64 that parsing its text gives.
		return float64(v.Int64()) / pow10[c.scale], "", true
	}
	return parseDecimal(pr.text(c, v))
}

func absBelow(n, limit int64) bool { return n > -limit && n < limit }

var pow10 = func() (p [23]float64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// time converts a time value: dates and timestamps directly, numbers and
// strings by the CSV time rules (Options.CSV.TimeLayout or the automatic
// layouts).
func (pr *parquetReader) time(c pqCol, v parquet.Value) (time.Time, bool) {
	switch {
	case v.IsNull():
		return time.Time{}, false
	case c.kind == pqDate, c.kind == pqTimestamp, c.kind == pqInt96:
		return timeOf(c, v), true
	}
	return pr.tp.parse(pr.text(c, v))
}

// timeOf converts a non-null DATE, TIMESTAMP or INT96 value.
func timeOf(c pqCol, v parquet.Value) time.Time {
	switch c.kind {
	case pqDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC()
	case pqTimestamp:
		per := int64(time.Second / c.unit)
		x := v.Int64()
		return time.Unix(x/per, x%per*int64(c.unit)).UTC()
	}
	return int96Time(v)
}

// int96Time converts a legacy INT96 timestamp: nanoseconds of the day and
// Julian day number.
func int96Time(v parquet.Value) time.Time {
	i := v.Int96()
	nanos := int64(i[1])<<32 | int64(i[0])
	days := int64(i[2]) - 2440588 // Julian day of 1970-01-01
	return time.Unix(days*86400, nanos).UTC()
}

// appendValue renders v as CSV field text: null as nothing, strings quoted
// where needed, numbers in their shortest form, decimals with their scale,
// dates as YYYY-MM-DD and timestamps in RFC 3339.
func appendValue(dst []byte, c pqCol, v parquet.Value) []byte {
	if v.IsNull() {
		return dst
	}
	switch c.kind {
	case pqText:
		return appendCSVField(dst, v.ByteArray())
	case pqInt:
		return strconv.AppendInt(dst, v.Int64(), 10)
	case pqFloat:
		if v.Kind() == parquet.Float {
			return strconv.AppendFloat(dst, float64(v.Float()), 'g', -1, 32)
		}
		return strconv.AppendFloat(dst, v.Double(), 'g', -1, 64)
	case pqDecimal:
		return appendScaled(dst, big.NewInt(v.Int64()), c.scale)
	case pqDecimalBytes:
		return appendScaled(dst, twosComplement(v.ByteArray()), c.scale)
	case pqDate:
		return timeOf(c, v).AppendFormat(dst, time.DateOnly)
	case pqTimestamp, pqInt96:
		return timeOf(c, v).AppendFormat(dst, time.RFC3339Nano)
	}
	return dst
}

// appendCSVField appends b, quoted when it holds a delimiter, quote or
// line break.
func appendCSVField(dst, b []byte) []byte {
	if !bytes.ContainsAny(b, ",\"\r\n") {
		return append(dst, b...)
	}
	dst = append(dst, '"')
	dst = append(dst, bytes.ReplaceAll(b, []byte{'"'}, []byte{'"', '"'})...)
	return append(dst, '"')
}

// twosComplement reads a big-endian two's complement integer.
func twosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return n
}

// appendScaled appends n·10^-scale as a decimal.
func appendScaled(dst []byte, n *big.Int, scale int32) []byte {
	s := n.Text(10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
		dst = append(dst, '-')
	}
	if scale <= 0 {
		dst = append(dst, s...)
		for ; scale < 0; scale++ {
			dst = append(dst, '0')
		}
		return dst
	}
	for int32(len(s)) <= scale {
		s = "0" + s
	}
	dst = append(dst, s[:int32(len(s))-scale]...)
	dst = append(dst, '.')
	return append(dst, s[int32(len(s))-scale:]...)
}
