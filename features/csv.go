package features

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clvflow/clvflow/dataset"
)

// csvMagic starts the first line of a feature CSV file.
const csvMagic = "# clvflow-features v1"

// CSVColumns returns the column names of a feature CSV file for a sequence
// of w weeks: id, the tabular columns, first_purchase, x_holdout,
// spend_holdout, seq_spend_0 … seq_spend_{w-1} and seq_days_0 …
// seq_days_{w-1} (week 0 is the oldest).
func CSVColumns(w int) []string {
	cols := []string{"id"}
	cols = append(cols, TabularColumns...)
	cols = append(cols, "first_purchase", "x_holdout", "spend_holdout")
	for _, ch := range []string{"seq_spend_", "seq_days_"} {
		for k := 0; k < w; k++ {
			cols = append(cols, ch+strconv.Itoa(k))
		}
	}
	return cols
}

const nFixedCols = 1 + 7 + 3

// WriteCSV writes the set as CSV: a first comment line
//
//	# clvflow-features v1 cutoff=1997-09-30 horizon_days=273 seq_weeks=52
//
// then a header ([CSVColumns]) and one row per customer. A set without
// sequences adds " sequences=none" to the first line and has no sequence
// columns. Numbers use the
// shortest representation that reads back to the same float64, so
// [ReadCSV] returns an identical set (Stats excepted).
func (s *Set) WriteCSV(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	sw, tail := s.Split.SeqWeeks, ""
	if s.WithoutSequences {
		sw, tail = 0, " sequences=none"
	}
	if _, err := fmt.Fprintf(bw, "%s cutoff=%s horizon_days=%d seq_weeks=%d%s\n", csvMagic,
		s.Split.Cutoff.UTC().Format(time.DateOnly), s.Split.HorizonDays, s.Split.SeqWeeks, tail); err != nil {
		return err
	}
	cw := csv.NewWriter(bw)
	if err := cw.Write(CSVColumns(sw)); err != nil {
		return err
	}
	if cw.Flush(); cw.Error() != nil {
		return cw.Error()
	}
	for i := range s.Customers {
		if c := &s.Customers[i]; !s.WithoutSequences && (len(c.Seq[0]) != sw || len(c.Seq[1]) != sw) {
			return fmt.Errorf("features: customer %q has a %d/%d-week sequence, set has %d", c.ID, len(c.Seq[0]), len(c.Seq[1]), sw)
		}
	}
	err := parallelChunks(len(s.Customers), csvChunk, func(lo, hi int, buf []byte) []byte {
		for i := lo; i < hi; i++ {
			buf = appendCSVRow(buf, &s.Customers[i], sw)
		}
		return buf
	}, func(b []byte) error { _, err := bw.Write(b); return err })
	if err != nil {
		return err
	}
	return bw.Flush()
}

// csvChunk is the number of customers whose rows one goroutine of WriteCSV
// formats at a time.
const csvChunk = 2048

// appendCSVRow appends customer c's row (sw weeks of sequence) as
// encoding/csv writes the record of strconv's shortest forms.
func appendCSVRow(b []byte, c *Customer, sw int) []byte {
	b = dataset.AppendCSVField(b, c.ID)
	b = strconv.AppendInt(append(b, ','), int64(c.X), 10)
	for _, v := range [...]float64{c.TX, c.T, c.Recency, c.CalSpend, c.MBar, c.FirstValue} {
		b = appendShortest(append(b, ','), v)
	}
	b = c.FirstPurchase.UTC().AppendFormat(append(b, ','), time.DateOnly)
	b = strconv.AppendInt(append(b, ','), int64(c.HoldoutX), 10)
	b = appendShortest(append(b, ','), c.HoldoutSpend)
	for ch := range 2 {
		for _, v := range c.Seq[ch][:sw] {
			b = appendShortest(append(b, ','), v)
		}
	}
	return append(b, '\n')
}

// appendShortest is strconv.AppendFloat(b, v, 'g', -1, 64), with +0 (most
// weeks of a sequence) written without the conversion.
func appendShortest(b []byte, v float64) []byte {
	if v == 0 && !math.Signbit(v) {
		return append(b, '0')
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// parallelChunks formats the n items in chunks of size on all cores and
// writes the chunks in order: format(lo, hi, buf) appends the text of
// items lo…hi−1 to buf; write takes it (its first error stops the rest).
func parallelChunks(n, size int, format func(lo, hi int, buf []byte) []byte, write func([]byte) error) error {
	workers := max(1, min(runtime.GOMAXPROCS(0), (n+size-1)/size))
	type chunk struct {
		buf  []byte
		done chan struct{}
	}
	chunks := make(chan *chunk, 2*workers)
	quit, stopped := make(chan struct{}), make(chan struct{})
	// No goroutine reads the items once this returns.
	defer func() { close(quit); <-stopped }()
	// The producer hands out the chunks in order, at most 2·workers ahead.
	go func() {
		defer close(stopped)
		defer close(chunks)
		var wg sync.WaitGroup
		sem := make(chan struct{}, workers)
		for lo := 0; lo < n; lo += size {
			c := &chunk{done: make(chan struct{})}
			select {
			case chunks <- c:
			case <-quit:
				wg.Wait()
				return
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem; close(c.done) }()
				c.buf = format(lo, min(lo+size, n), nil)
			})
		}
		wg.Wait()
	}()
	for c := range chunks {
		<-c.done
		if err := write(c.buf); err != nil {
			return err
		}
	}
	return nil
}

// CSVError is an error at one line of a feature CSV file.
type CSVError struct {
	Line   int
	Column string
	Msg    string
}

// Error implements error.
func (e *CSVError) Error() string {
	if e.Column != "" {
		return fmt.Sprintf("features csv:%d: column %s: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("features csv:%d: %s", e.Line, e.Msg)
}

// ReadCSV reads a file written by [Set.WriteCSV]. Every value is checked:
// finite numbers, integer counts ≥ 0, sequence length matching the header.
func ReadCSV(r io.Reader) (*Set, error) {
	br := bufio.NewReader(r)
	first, err := br.ReadString('\n')
	switch {
	case err == nil, errors.Is(err, io.EOF) && first != "":
	case errors.Is(err, io.EOF):
		return nil, &CSVError{Line: 1, Msg: "empty file"}
	default:
		return nil, err
	}
	split, noSeq, err := parseMagic(strings.TrimRight(first, "\r\n"))
	if err != nil {
		return nil, err
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	rr := csvRows{cr: cr}
	if noSeq {
		rr.weeks = 0
	} else {
		rr.weeks = split.SeqWeeks
	}
	if err := rr.header(); err != nil {
		return nil, err
	}
	set := &Set{Split: split, WithoutSequences: noSeq}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return set, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, &CSVError{Line: pe.Line + 1, Msg: pe.Err.Error()}
			}
			return nil, err
		}
		c, err := rr.customer(rec)
		if err != nil {
			return nil, err
		}
		set.Customers = append(set.Customers, c)
	}
}

// csvRows reads the header and the rows of a feature CSV file after its
// first line.
type csvRows struct {
	cr    *csv.Reader
	weeks int      // sequence weeks of the columns (0: no sequence columns)
	want  []string // the columns
	rec   []string // the row being read
	line  int      // its line in the file
}

// header checks the header line against [CSVColumns].
func (rr *csvRows) header() error {
	header, err := rr.cr.Read()
	if err != nil {
		return &CSVError{Line: 2, Msg: "missing header: " + err.Error()}
	}
	rr.want = CSVColumns(rr.weeks)
	if len(header) != len(rr.want) {
		return &CSVError{Line: 2, Msg: fmt.Sprintf("%d columns, want %d for seq_weeks=%d", len(header), len(rr.want), rr.weeks)}
	}
	for i := range rr.want {
		if header[i] != rr.want[i] {
			return &CSVError{Line: 2, Msg: fmt.Sprintf("column %d is %q, want %q", i+1, header[i], rr.want[i])}
		}
	}
	return nil
}

// customer reads one row, checking every value.
func (rr *csvRows) customer(rec []string) (Customer, error) {
	rr.rec = rec
	rr.line, _ = rr.cr.FieldPos(0)
	rr.line++ // the magic line was read before the csv reader
	// A field of the csv reader shares the memory of its whole line: the
	// id is cloned so that the set keeps only the id.
	c := Customer{ID: strings.Clone(rec[0])}
	if c.ID == "" {
		return c, &CSVError{Line: rr.line, Column: "id", Msg: "empty"}
	}
	var err error
	if c.X, err = rr.count(1); err != nil {
		return c, err
	}
	for k, dst := range []*float64{&c.TX, &c.T, &c.Recency, &c.CalSpend, &c.MBar, &c.FirstValue} {
		if *dst, err = rr.num(2 + k); err != nil {
			return c, err
		}
	}
	if c.FirstPurchase, err = time.Parse(time.DateOnly, rec[8]); err != nil {
		return c, &CSVError{Line: rr.line, Column: rr.want[8], Msg: fmt.Sprintf("not a date: %q", rec[8])}
	}
	if c.HoldoutX, err = rr.count(9); err != nil {
		return c, err
	}
	if c.HoldoutSpend, err = rr.num(10); err != nil {
		return c, err
	}
	if rr.weeks > 0 {
		seq := make([]float64, 2*rr.weeks)
		for k := range seq {
			if seq[k], err = rr.num(nFixedCols + k); err != nil {
				return c, err
			}
		}
		c.Seq[0], c.Seq[1] = seq[:rr.weeks:rr.weeks], seq[rr.weeks:]
	}
	return c, nil
}

// num reads column k of the row: a finite number.
func (rr *csvRows) num(k int) (float64, error) {
	v, err := strconv.ParseFloat(rr.rec[k], 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, &CSVError{Line: rr.line, Column: rr.want[k], Msg: fmt.Sprintf("not a finite number: %q", rr.rec[k])}
	}
	return v, nil
}

// count reads column k of the row: an integer ≥ 0.
func (rr *csvRows) count(k int) (int, error) {
	v, err := strconv.Atoi(rr.rec[k])
	if err != nil || v < 0 {
		return 0, &CSVError{Line: rr.line, Column: rr.want[k], Msg: fmt.Sprintf("not a count: %q", rr.rec[k])}
	}
	return v, nil
}

// parseMagic reads the first line: the split and whether the file has no
// sequence columns (sequences=none).
func parseMagic(line string) (Split, bool, error) {
	bad := func(msg string) (Split, bool, error) {
		return Split{}, false, &CSVError{Line: 1, Msg: msg + fmt.Sprintf(" (want %q)", csvMagic+" cutoff=YYYY-MM-DD horizon_days=N seq_weeks=W")}
	}
	rest, ok := strings.CutPrefix(line, csvMagic)
	if !ok {
		return bad("not a clvflow feature file")
	}
	var s Split
	noSeq := false
	seen := map[string]bool{}
	for _, kv := range strings.Fields(rest) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return bad(fmt.Sprintf("bad field %q", kv))
		}
		var err error
		switch k {
		case "cutoff":
			s.Cutoff, err = time.Parse(time.DateOnly, v)
		case "horizon_days":
			s.HorizonDays, err = strconv.Atoi(v)
		case "seq_weeks":
			s.SeqWeeks, err = strconv.Atoi(v)
		case "sequences":
			if v != "none" {
				return bad(fmt.Sprintf("bad sequences %q (only \"none\" is defined)", v))
			}
			noSeq = true
		default:
			continue // unknown keys are ignored for forward compatibility
		}
		if err != nil {
			return bad(fmt.Sprintf("bad %s %q", k, v))
		}
		seen[k] = true
	}
	for _, k := range []string{"cutoff", "horizon_days", "seq_weeks"} {
		if !seen[k] {
			return bad("missing " + k)
		}
	}
	if s.SeqWeeks <= 0 {
		return bad(fmt.Sprintf("seq_weeks %d ≤ 0", s.SeqWeeks))
	}
	s, err := s.Validate()
	if err != nil {
		return bad(err.Error())
	}
	return s, noSeq, nil
}
