package features

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MergeCSV merges feature CSV files that [Set.WriteCSV] wrote for disjoint
// parts of one transaction log (every customer's transactions in one part)
// at the same split into w: byte for byte the file WriteCSV writes for the
// feature set a builder of the whole log builds (the Stats, which the file
// does not hold, aside). It streams, holding one row per part, and copies
// the rows as they are, reading only their ids; it returns the customer ids
// in file order ([CompareIDs]). Parts whose first line (the split) or header
// differ, a customer in two parts and a part not sorted by id are errors.
func MergeCSV(w io.Writer, parts ...io.Reader) ([]string, error) {
	rows, head, err := openParts(parts)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := bw.WriteString(head); err != nil {
		return nil, err
	}
	var ids []string
	for {
		var best *rowReader
		for _, r := range rows {
			if r.row != nil && (best == nil || CompareIDs(r.id, best.id) < 0) {
				best = r
			}
		}
		if best == nil {
			break
		}
		if k := len(ids); k > 0 && CompareIDs(ids[k-1], best.id) >= 0 {
			return nil, fmt.Errorf("features: merge: customer %q follows %q: a customer is in two parts or a part is not sorted by id", best.id, ids[k-1])
		}
		if _, err := bw.Write(best.row); err != nil {
			return nil, err
		}
		ids = append(ids, best.id)
		if err := best.next(); err != nil {
			return nil, err
		}
	}
	return ids, bw.Flush()
}

// openParts reads the first two lines (split and header) of every part,
// which must be the same, and its first row; head is those two lines.
func openParts(parts []io.Reader) (rows []*rowReader, head string, err error) {
	if len(parts) == 0 {
		return nil, "", errors.New("features: merge of no feature files")
	}
	var magic, header string
	for i, p := range parts {
		r := &rowReader{br: bufio.NewReaderSize(p, 256<<10), part: i}
		line, err := r.line()
		if err != nil {
			return nil, "", err
		}
		if !strings.HasPrefix(line, csvMagic+" ") {
			return nil, "", fmt.Errorf("features: merge: part %d is not a feature file (first line %q)", i, strings.TrimSpace(line))
		}
		h, err := r.line()
		if err != nil {
			return nil, "", err
		}
		if i == 0 {
			magic, header = line, h
		} else if line != magic || h != header {
			return nil, "", fmt.Errorf("features: merge: part %d has split %q, part 0 %q", i, strings.TrimSpace(line), strings.TrimSpace(magic))
		}
		if err := r.next(); err != nil {
			return nil, "", err
		}
		rows = append(rows, r)
	}
	return rows, magic + header, nil
}

// rowReader reads the rows of one feature file as raw bytes and the id (the
// first field, unquoted) of each.
type rowReader struct {
	br     *bufio.Reader
	part   int
	lineNo int
	row    []byte // the current row with its newline(s), nil at the end
	id     string
}

// line reads one line (with its newline) of the first two.
func (r *rowReader) line() (string, error) {
	s, err := r.br.ReadString('\n')
	r.lineNo++
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("features: merge: part %d: line %d: %w", r.part, r.lineNo, err)
	}
	return s, nil
}

// next reads the next row. An id in quotes (it holds a comma, a quote or a
// line break) may span lines; the row is kept as written.
func (r *rowReader) next() error {
	r.row = r.row[:0]
	start := r.lineNo + 1
	for {
		b, err := r.br.ReadSlice('\n')
		for errors.Is(err, bufio.ErrBufferFull) { // a line longer than the buffer
			r.row = append(r.row, b...)
			b, err = r.br.ReadSlice('\n')
		}
		r.row = append(r.row, b...)
		switch {
		case err == io.EOF && len(r.row) == 0:
			r.row = nil
			return nil
		case err == io.EOF:
			return fmt.Errorf("features: merge: part %d: line %d: the file ends inside a row", r.part, r.lineNo+1)
		case err != nil:
			return fmt.Errorf("features: merge: part %d: %w", r.part, err)
		}
		r.lineNo++
		id, ok, bad := firstField(r.row)
		if bad {
			return fmt.Errorf("features: merge: part %d: line %d: malformed customer id %q", r.part, start, r.row[:min(len(r.row), 40)])
		}
		if ok {
			r.id = id
			return nil
		}
	}
}

// firstField returns the first CSV field of row, unquoted; ok is false when a
// quoted field has not ended yet (more lines follow), bad when the row has
// no comma after the field.
func firstField(row []byte) (id string, ok, bad bool) {
	if len(row) == 0 || row[0] != '"' {
		i := bytes.IndexByte(row, ',')
		if i <= 0 {
			return "", true, true
		}
		return string(row[:i]), true, false
	}
	var b strings.Builder
	for i := 1; i < len(row); i++ {
		if row[i] != '"' {
			b.WriteByte(row[i])
			continue
		}
		if i+1 < len(row) && row[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		if i+1 < len(row) && row[i+1] == ',' {
			return b.String(), true, false
		}
		return "", true, true
	}
	return "", false, false
}
