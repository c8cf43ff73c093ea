package features

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// MergeCSV merges feature CSV files that [Set.WriteCSV] wrote for disjoint
// parts of one transaction log (every customer's transactions in one part)
// at the same split into w: byte for byte the file WriteCSV writes for the
// feature set a builder of the whole log builds (the Stats, which the file
// does not hold, aside). It streams, holding one row per part, and returns
// the customer ids in file order ([CompareIDs]). Parts whose first line
// (the split) or header differ, a customer in two parts and a part not
// sorted by id are errors.
func MergeCSV(w io.Writer, parts ...io.Reader) ([]string, error) {
	if len(parts) == 0 {
		return nil, errors.New("features: merge of no feature files")
	}
	readers := make([]*csv.Reader, len(parts))
	heads := make([][]string, len(parts)) // per part: its next row, nil at its end
	var magic string
	var header []string
	for i, p := range parts {
		br := bufio.NewReaderSize(p, 64<<10)
		line, err := br.ReadString('\n')
		if err != nil && (err != io.EOF || line == "") {
			return nil, fmt.Errorf("features: merge: part %d: first line: %w", i, err)
		}
		if !strings.HasPrefix(line, csvMagic+" ") {
			return nil, fmt.Errorf("features: merge: part %d is not a feature file (first line %q)", i, strings.TrimSpace(line))
		}
		readers[i] = csv.NewReader(br)
		h, err := nextRow(readers[i], i)
		if err != nil || h == nil {
			return nil, fmt.Errorf("features: merge: part %d: no header: %w", i, cmp.Or(err, io.ErrUnexpectedEOF))
		}
		if i == 0 {
			magic, header = line, h
		} else if line != magic || !slices.Equal(h, header) {
			return nil, fmt.Errorf("features: merge: part %d has split %q, part 0 %q", i, strings.TrimSpace(line), strings.TrimSpace(magic))
		}
		if heads[i], err = nextRow(readers[i], i); err != nil {
			return nil, err
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(magic); err != nil {
		return nil, err
	}
	cw := csv.NewWriter(bw)
	if err := cw.Write(header); err != nil {
		return nil, err
	}
	var ids []string
	for {
		best := -1
		for i, h := range heads {
			if h != nil && (best < 0 || CompareIDs(h[0], heads[best][0]) < 0) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		row := heads[best]
		if k := len(ids); k > 0 && CompareIDs(ids[k-1], row[0]) >= 0 {
			return nil, fmt.Errorf("features: merge: customer %q follows %q: a customer is in two parts or a part is not sorted by id", row[0], ids[k-1])
		}
		if err := cw.Write(row); err != nil {
			return nil, err
		}
		ids = append(ids, strings.Clone(row[0])) // not the row's whole backing string
		var err error
		if heads[best], err = nextRow(readers[best], best); err != nil {
			return nil, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, err
	}
	return ids, bw.Flush()
}

// nextRow reads the next row of part i (nil at its end); line numbers in
// errors count the first line, which the CSV reader does not see.
func nextRow(r *csv.Reader, i int) ([]string, error) {
	row, err := r.Read()
	var pe *csv.ParseError
	switch {
	case err == io.EOF:
		return nil, nil
	case errors.As(err, &pe):
		pe.StartLine++
		pe.Line++
		fallthrough
	case err != nil:
		return nil, fmt.Errorf("features: merge: part %d: %w", i, err)
	}
	return row, nil
}
