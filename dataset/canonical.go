package dataset

import (
	"bufio"
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// CanonicalHeader is the header of the canonical clean CSV.
var CanonicalHeader = []string{"customer", "timestamp", "amount"}

// CanonicalWriter streams clean transactions as the canonical CSV
// "customer,timestamp,amount": timestamps in UTC RFC 3339 (with fractional
// seconds only when present), amounts in the shortest form that reads back
// to the same float64. The output reads back with [Read] (format detected
// as csv, columns guessed) to the same transactions.
type CanonicalWriter struct {
	bw     *bufio.Writer
	cw     *csv.Writer
	header bool
	rec    [3]string
	rows   int64
}

// NewCanonicalWriter returns a writer to w; call Flush at the end.
func NewCanonicalWriter(w io.Writer) *CanonicalWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	return &CanonicalWriter{bw: bw, cw: csv.NewWriter(bw)}
}

// Write writes one transaction (and the header before the first one).
func (c *CanonicalWriter) Write(tx Transaction) error {
	if !c.header {
		if err := c.cw.Write(CanonicalHeader); err != nil {
			return err
		}
		c.header = true
	}
	c.rec[0] = tx.Customer
	c.rec[1] = tx.Time.UTC().Format(time.RFC3339Nano)
	c.rec[2] = strconv.FormatFloat(tx.Amount, 'g', -1, 64)
	c.rows++
	return c.cw.Write(c.rec[:])
}

// Rows returns the number of transactions written.
func (c *CanonicalWriter) Rows() int64 { return c.rows }

// Flush writes the header if nothing was written yet, then flushes
// buffered data and reports any write error.
func (c *CanonicalWriter) Flush() error {
	if !c.header {
		if err := c.cw.Write(CanonicalHeader); err != nil {
			return err
		}
		c.header = true
	}
	c.cw.Flush()
	if err := c.cw.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// WriteCanonical reads r with opts and streams the accepted transactions to
// w as canonical CSV; it returns the read report.
func WriteCanonical(w io.Writer, r io.Reader, opts Options) (*Report, error) {
	cw := NewCanonicalWriter(w)
	rep, err := Read(r, opts, cw.Write)
	if err != nil {
		return rep, err
	}
	return rep, cw.Flush()
}
