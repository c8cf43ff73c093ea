package dataset

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// parquetReader decodes the mapped columns of a Parquet file into chunks
// of parsed rows.
type parquetReader struct {
	f     *parquet.File
	opts  Options
	cols  []pqCol
	roles [6]int // index in cols of customer, time, amount, quantity, price, invoice; -1 if absent
	tp    *timeParser
	in    *interner
	vals  [][]parquet.Value // per column: the values of the chunk being filled
	num   []byte            // scratch for numbers rendered as text
	id    []byte            // the customer id of the row being converted
	all   bool              // render every row's raw text (duplicate check)
}

// Indexes into parquetReader.roles.
const (
	rCustomer = iota
	rTime
	rAmount
	rQuantity
	rPrice
	rInvoice
)

func newParquetReader(f *parquet.File, opts Options) (*parquetReader, error) {
	cols, _, err := mapParquetColumns(f, opts)
	if err != nil {
		return nil, err
	}
	pr := &parquetReader{f: f, opts: opts, cols: cols, tp: newTimeParser(opts.CSV.TimeLayout, autoCSVLayouts),
		in: newInterner(), vals: make([][]parquet.Value, len(cols)), all: opts.DropDuplicates}
	pr.roles = [6]int{-1, -1, -1, -1, -1, -1}
	for k, c := range cols {
		i := map[string]int{roleCustomer: rCustomer, roleTime: rTime, roleAmount: rAmount, roleQuantity: rQuantity,
			rolePrice: rPrice, roleInvoice: rInvoice}[c.role]
		pr.roles[i] = k
	}
	return pr, nil
}

// start runs the decoding goroutine; the chunks arrive parsed (done
// closed) on the pipeline's ordered channel.
func (pr *parquetReader) start(opts Options) *pipeline {
	pl := &pipeline{chunkBytes: defaultChunkBytes, ordered: make(chan *chunk, 2), free: make(chan *chunk, 4),
		quit: make(chan struct{})}
	pl.wg.Add(1)
	go pr.run(pl)
	return pl
}

func (pr *parquetReader) run(pl *pipeline) {
	defer pl.wg.Done()
	defer close(pl.ordered)
	var line int64
	for _, rg := range pr.f.RowGroups() {
		if !pr.rowGroup(pl, rg, &line) {
			return
		}
	}
}

// rowGroup streams one row group, pqChunkRows rows at a time; false stops
// the read (error or quit).
func (pr *parquetReader) rowGroup(pl *pipeline, rg parquet.RowGroup, line *int64) bool {
	chunks := rg.ColumnChunks()
	curs := make([]pqCursor, len(pr.cols))
	for k, c := range pr.cols {
		curs[k].pages = chunks[c.leaf].Pages()
		defer curs[k].close()
	}
	for left := rg.NumRows(); left > 0; {
		n := min(left, pqChunkRows)
		c := pl.newChunk()
		pr.fill(c, curs, int(n), *line)
		*line += n
		left -= n
		close(c.done)
		select {
		case pl.ordered <- c:
		case <-pl.quit:
			return false
		}
		if c.err != nil {
			return false
		}
	}
	return true
}

// pqCursor reads the values of one column chunk, page after page.
type pqCursor struct {
	pages parquet.Pages
	page  parquet.Page
	vr    parquet.ValueReader // of page; nil between pages
	read  []parquet.Page      // pages read to the end, released after use
}

// release hands the pages read to the end back to the library's buffer
// pool, once no value of theirs is referenced.
func (cu *pqCursor) release() {
	for i, p := range cu.read {
		parquet.Release(p)
		cu.read[i] = nil
	}
	cu.read = cu.read[:0]
}

func (cu *pqCursor) close() {
	cu.release()
	if cu.page != nil {
		parquet.Release(cu.page)
	}
	cu.pages.Close()
}

// next fills buf with the next len(buf) values of the column.
func (cu *pqCursor) next(buf []parquet.Value) error {
	for n := 0; n < len(buf); {
		if cu.vr == nil {
			p, err := cu.pages.ReadPage()
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			if err != nil {
				return err
			}
			cu.page, cu.vr = p, p.Values()
		}
		k, err := cu.vr.ReadValues(buf[n:])
		n += k
		switch {
		case err == io.EOF:
			cu.read = append(cu.read, cu.page)
			cu.page, cu.vr = nil, nil
		case err != nil:
			return err
		case k == 0:
			return io.ErrNoProgress
		}
	}
	return nil
}

// fill decodes n rows starting after row line into c. Rows that may be
// rejected (or all rows, for the duplicate check) get their raw text.
func (pr *parquetReader) fill(c *chunk, curs []pqCursor, n int, line int64) {
	c.recs = c.recs[:0]
	for k := range curs {
		if cap(pr.vals[k]) < n {
			pr.vals[k] = make([]parquet.Value, n)
		}
		pr.vals[k] = pr.vals[k][:n]
		if err := curs[k].next(pr.vals[k]); err != nil {
			c.err, c.errLine = fmt.Errorf("parquet column %q: %w", pr.cols[k].name, redacted{err}), line+1
			return
		}
	}
	if cap(c.rows) < n {
		c.rows = make([]parsedRec, n)
	}
	c.rows = c.rows[:n]
	for i := 0; i < n; i++ {
		row := &c.rows[i]
		pr.convert(i, row)
		m := chunkRec{line: line + int64(i) + 1, start: len(c.text)}
		if pr.all || row.rule != "" || row.amount <= 0 || pr.outside(row) {
			c.text = pr.appendRaw(c.text, i)
		}
		m.end = len(c.text)
		c.recs = append(c.recs, m)
	}
	for k := range curs {
		curs[k].release()
	}
}

// outside reports a time the out_of_range rule rejects.
func (pr *parquetReader) outside(row *parsedRec) bool {
	o := &pr.opts
	return (!o.MinTime.IsZero() && row.time.Before(o.MinTime)) || (!o.MaxTime.IsZero() && row.time.After(o.MaxTime))
}

// appendRaw renders row i as the CSV record of its mapped columns, in the
// order customer, time, amount or quantity and price, invoice.
func (pr *parquetReader) appendRaw(dst []byte, i int) []byte {
	for k, c := range pr.cols {
		if k > 0 {
			dst = append(dst, ',')
		}
		dst = appendValue(dst, c, pr.vals[k][i])
	}
	return dst
}
