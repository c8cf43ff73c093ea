package dataset

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// CanonicalHeader is the header of the canonical clean CSV.
var CanonicalHeader = []string{"customer", "timestamp", "amount"}

// CanonicalWriter streams clean transactions as the canonical CSV
// "customer,timestamp,amount": timestamps in UTC RFC 3339 (with fractional
// seconds only when present), amounts in the shortest form that reads back
// to the same float64, fields quoted as encoding/csv quotes them (the same
// bytes). The output reads back with [Read] (format detected as csv,
// columns guessed) to the same transactions.
type CanonicalWriter struct {
	bw     *bufio.Writer
	header bool
	rows   atomic.Int64 // read by heartbeats while rows are written
	line   []byte
	lastT  time.Time // the time of lastTS
	lastTS []byte
}

// NewCanonicalWriter returns a writer to w; call Flush at the end.
func NewCanonicalWriter(w io.Writer) *CanonicalWriter {
	return &CanonicalWriter{bw: bufio.NewWriterSize(w, 64<<10)}
}

// Write writes one transaction (and the header before the first one).
func (c *CanonicalWriter) Write(tx Transaction) error {
	c.line = AppendCSVField(c.line[:0], tx.Customer)
	return c.writeRow(tx.Time, tx.Amount)
}

// WriteBatch writes the transactions of b as Write would, one by one; it
// is a batch consumer for [ReadBatches].
func (c *CanonicalWriter) WriteBatch(b *Batch) error {
	for i, k := range b.Keys {
		if k%2 == 0 && b.names[i] == "" { // a canonical number: digits need no quotes
			c.line = strconv.AppendInt(c.line[:0], int64(k/2), 10)
		} else {
			c.line = AppendCSVField(c.line[:0], b.Customer(i))
		}
		if err := c.writeRow(b.Times[i], b.Amounts[i]); err != nil {
			return err
		}
	}
	return nil
}

// writeRow ends the row whose customer field is in c.line and writes it.
func (c *CanonicalWriter) writeRow(t time.Time, amount float64) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	if len(c.lastTS) == 0 || !t.Equal(c.lastT) {
		c.lastT, c.lastTS = t, t.UTC().AppendFormat(c.lastTS[:0], time.RFC3339Nano)
	}
	c.line = append(append(c.line, ','), c.lastTS...)
	c.line = strconv.AppendFloat(append(c.line, ','), amount, 'g', -1, 64)
	c.rows.Add(1)
	_, err := c.bw.Write(append(c.line, '\n'))
	return err
}

func (c *CanonicalWriter) writeHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	_, err := c.bw.WriteString(strings.Join(CanonicalHeader, ",") + "\n")
	return err
}

// AppendCSVField appends field to b as encoding/csv's Writer writes it
// (comma delimiter, LF line ends): quoted, with quotes doubled, when it
// holds a comma, quote, CR or LF, starts with a space or is `\.`.
func AppendCSVField(b []byte, field string) []byte {
	if !csvNeedsQuotes(field) {
		return append(b, field...)
	}
	b = append(b, '"')
	for i := 0; i < len(field); i++ {
		if field[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, field[i])
	}
	return append(b, '"')
}

func csvNeedsQuotes(field string) bool {
	if field == "" {
		return false
	}
	if field == `\.` || strings.ContainsAny(field, ",\"\r\n") {
		return true
	}
	r, _ := utf8.DecodeRuneInString(field)
	return unicode.IsSpace(r)
}

// Rows returns the number of transactions written; it may be called from
// any goroutine.
func (c *CanonicalWriter) Rows() int64 { return c.rows.Load() }

// Flush writes the header if nothing was written yet, then flushes
// buffered data and reports any write error.
func (c *CanonicalWriter) Flush() error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// WriteCanonical reads r with opts and streams the accepted transactions to
// w as canonical CSV; it returns the read report.
func WriteCanonical(w io.Writer, r io.Reader, opts Options) (*Report, error) {
	cw := NewCanonicalWriter(w)
	rep, err := ReadBatches(r, opts, cw.WriteBatch)
	if err != nil {
		return rep, err
	}
	return rep, cw.Flush()
}
