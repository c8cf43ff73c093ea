package dataset

import (
	"math"
	"strconv"
	"time"
)

// parseDecimal parses a plain decimal number: optional sign, digits with an
// optional fraction, optional exponent. It refuses NaN, Inf, hex, thousands
// separators and values that overflow float64 (e.g. 1e400).
func parseDecimal(b []byte) (float64, string, bool) {
	if !isDecimal(b) {
		return 0, "not a decimal number", false
	}
	// Fast path: at most 15 digits and no exponent. The digits form an
	// integer n < 10^15 < 2^53 and the fraction has k ≤ 15 digits, so n and
	// 10^k are exact float64 values and n / 10^k is the correctly rounded
	// value: the result of strconv.ParseFloat bit for bit (its own exact
	// path, Clinger's).
	if len(b) <= 15 {
		n, neg, i, frac := int64(0), false, 0, -1
		if b[0] == '-' || b[0] == '+' {
			neg = b[0] == '-'
			i = 1
		}
		for ; i < len(b); i++ {
			c := b[i]
			if c >= '0' && c <= '9' {
				n = n*10 + int64(c-'0')
			} else if c == '.' && frac < 0 {
				frac = i
			} else {
				break
			}
		}
		if i == len(b) {
			v := float64(n)
			if frac >= 0 {
				v /= pow10[len(b)-1-frac] // exact powers (parquet_values.go)
			}
			if neg {
				v = -v
			}
			return v, "", true
		}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, "out of float64 range", false
	}
	return v, "", true
}

func isDecimal(b []byte) bool {
	i := 0
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		i++
	}
	digits := 0
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
		digits++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		exp := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	return i == len(b)
}

// normalizeID trims an id and turns an integer written as a float
// ("17850.0", as spreadsheet and pandas exports do) into the integer.
func normalizeID(b []byte) []byte {
	b = trimSpace(b)
	if dot := indexByte(b, '.'); dot > 0 {
		for _, c := range b[:dot] {
			if c < '0' || c > '9' {
				return b
			}
		}
		if dot == len(b)-1 {
			return b
		}
		for _, c := range b[dot+1:] {
			if c != '0' {
				return b
			}
		}
		return b[:dot]
	}
	return b
}

// stripZeros removes leading zeros from an all-digit id ("0001" → "1",
// "0000" → "0"); other ids are returned unchanged.
func stripZeros(b []byte) []byte {
	if len(b) == 0 {
		return b
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return b
		}
	}
	for len(b) > 1 && b[0] == '0' {
		b = b[1:]
	}
	return b
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// digitsN parses b[i:i+n] as a decimal number of exactly n digits.
func digitsN(b []byte, i, n int) (int, bool) {
	if i+n > len(b) {
		return 0, false
	}
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

func mkTime(y, mo, d, h, mi, s int) (time.Time, bool) {
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	secs := daysFromCivil(y, mo, d)*86400 + int64(h*3600+mi*60+s)
	return time.Unix(secs, 0).UTC(), true // == time.Date(y, mo, d, h, mi, s, 0, time.UTC), without its normalisation
}

// daysFromCivil returns the days from 1970-01-01 to the valid proleptic
// Gregorian date y-m-d (H. Hinnant's days_from_civil).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era-- // floor division
	}
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// parseCompactDate parses YYYYMMDD.
func parseCompactDate(b []byte) (time.Time, bool) {
	if len(b) != 8 {
		return time.Time{}, false
	}
	y, ok1 := digitsN(b, 0, 4)
	m, ok2 := digitsN(b, 4, 2)
	d, ok3 := digitsN(b, 6, 2)
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return mkTime(y, m, d, 0, 0, 0)
}

// parseISO parses "2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05"
// and the same with 'T' instead of the space, all in UTC.
func parseISO(b []byte) (time.Time, bool) {
	if len(b) != 10 && len(b) != 16 && len(b) != 19 {
		return time.Time{}, false
	}
	y, ok1 := digitsN(b, 0, 4)
	m, ok2 := digitsN(b, 5, 2)
	d, ok3 := digitsN(b, 8, 2)
	if !ok1 || !ok2 || !ok3 || b[4] != '-' || b[7] != '-' {
		return time.Time{}, false
	}
	if len(b) == 10 {
		return mkTime(y, m, d, 0, 0, 0)
	}
	if (b[10] != ' ' && b[10] != 'T') || b[13] != ':' {
		return time.Time{}, false
	}
	h, ok4 := digitsN(b, 11, 2)
	mi, ok5 := digitsN(b, 14, 2)
	if !ok4 || !ok5 {
		return time.Time{}, false
	}
	s := 0
	if len(b) == 19 {
		var ok6 bool
		s, ok6 = digitsN(b, 17, 2)
		if !ok6 || b[16] != ':' {
			return time.Time{}, false
		}
	}
	return mkTime(y, m, d, h, mi, s)
}

// parseUnix parses Unix seconds, possibly with a fraction.
func parseUnix(b []byte) (time.Time, bool) {
	if len(b) == 0 || !isDecimal(b) {
		return time.Time{}, false
	}
	for _, c := range b {
		if c == 'e' || c == 'E' {
			return time.Time{}, false
		}
	}
	v, err := strconv.ParseFloat(string(b), 64)
	// ±1e11 s is about ±5000 years around 1970.
	if err != nil || math.Abs(v) > 1e11 {
		return time.Time{}, false
	}
	sec := math.Floor(v)
	return time.Unix(int64(sec), int64(math.Round((v-sec)*1e9))).UTC(), true
}

// timeParser parses timestamps with a fixed list of layouts, trying the
// last successful one first.
type timeParser struct {
	layouts []string
	last    int
}

// Layout pseudo-names handled without time.Parse.
const (
	layoutISO     = "<iso>"
	layoutCompact = "20060102"
	layoutUnix    = "unix"
	// layoutUnixAuto is Unix seconds in the automatic list, where an
	// 8-digit value is taken as YYYYMMDD instead.
	layoutUnixAuto = "<unix-auto>"
)

func newTimeParser(layout string, auto []string) *timeParser {
	if layout != "" {
		return &timeParser{layouts: []string{layout}}
	}
	return &timeParser{layouts: auto}
}

var (
	autoCSVLayouts = []string{layoutISO, layoutCompact, time.RFC3339Nano, "2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05Z07:00", "1/2/2006 15:04:05", "1/2/2006 15:04", "1/2/2006", layoutUnixAuto}
	onlineRetailLayouts = []string{layoutISO, "1/2/2006 15:04", "1/2/2006 15:04:05", "1/2/06 15:04", time.RFC3339Nano}
)

func (p *timeParser) parse(b []byte) (time.Time, bool) {
	if len(b) == 0 {
		return time.Time{}, false
	}
	if t, ok := parseWith(p.layouts[p.last], b); ok {
		return t, true
	}
	for i, l := range p.layouts {
		if i == p.last {
			continue
		}
		if t, ok := parseWith(l, b); ok {
			p.last = i
			return t, true
		}
	}
	return time.Time{}, false
}

func parseWith(layout string, b []byte) (time.Time, bool) {
	switch layout {
	case layoutISO:
		return parseISO(b)
	case layoutCompact:
		return parseCompactDate(b)
	case layoutUnix:
		return parseUnix(b)
	case layoutUnixAuto:
		if len(b) == 8 && indexByte(b, '.') < 0 {
			return time.Time{}, false // 8 digits are YYYYMMDD, not Unix time
		}
		return parseUnix(b)
	}
	t, err := time.ParseInLocation(layout, string(b), time.UTC)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
