package dataset

import "bytes"

// fieldSplitter splits records into fields without allocating per row: the
// field slices point into the record, or into scratch for quoted fields.
type fieldSplitter struct {
	fields  [][]byte
	scratch []byte
}

// splitCSV splits an RFC 4180 record. A '"' opens a quoted field only at the
// start of a field (after optional spaces); inside it "" is a literal quote.
// A '"' elsewhere is kept literally (lazy quotes). Unquoted fields are
// trimmed of spaces and tabs.
func (s *fieldSplitter) splitCSV(rec []byte, delim byte) [][]byte {
	s.fields = s.fields[:0]
	if bytes.IndexByte(rec, '"') < 0 {
		for {
			i := bytes.IndexByte(rec, delim)
			if i < 0 {
				s.fields = append(s.fields, trimSpace(rec))
				return s.fields
			}
			s.fields = append(s.fields, trimSpace(rec[:i]))
			rec = rec[i+1:]
		}
	}
	if cap(s.scratch) < len(rec) {
		s.scratch = make([]byte, 0, len(rec)+len(rec)/2)
	}
	s.scratch = s.scratch[:0]
	for i := 0; ; {
		// start of a field
		j := i
		for j < len(rec) && (rec[j] == ' ' || rec[j] == '\t') && rec[j] != delim {
			j++
		}
		var k int
		if j < len(rec) && rec[j] == '"' {
			k = s.quoted(rec, j, delim)
		} else if k = bytes.IndexByte(rec[i:], delim); k < 0 {
			k = len(rec)
			s.fields = append(s.fields, trimSpace(rec[i:]))
		} else {
			k += i
			s.fields = append(s.fields, trimSpace(rec[i:k]))
		}
		if k >= len(rec) {
			return s.fields
		}
		i = k + 1
	}
}

// quoted appends the quoted field that opens at rec[j] ('"'), unquoted in
// scratch, and returns the index of the delimiter after it (len(rec) at
// the end). Text between the closing quote and the delimiter is kept,
// without its spaces and tabs.
func (s *fieldSplitter) quoted(rec []byte, j int, delim byte) int {
	start := len(s.scratch)
	k := j + 1
	for k < len(rec) {
		if rec[k] == '"' {
			if k+1 < len(rec) && rec[k+1] == '"' {
				s.scratch = append(s.scratch, '"')
				k += 2
				continue
			}
			k++
			break
		}
		s.scratch = append(s.scratch, rec[k])
		k++
	}
	for k < len(rec) && rec[k] != delim {
		if rec[k] != ' ' && rec[k] != '\t' {
			s.scratch = append(s.scratch, rec[k])
		}
		k++
	}
	s.fields = append(s.fields, s.scratch[start:len(s.scratch):len(s.scratch)])
	return k
}

// splitSpace splits on runs of spaces and tabs.
func (s *fieldSplitter) splitSpace(rec []byte) [][]byte {
	s.fields = s.fields[:0]
	i := 0
	for i < len(rec) {
		for i < len(rec) && isSpace(rec[i]) {
			i++
		}
		if i == len(rec) {
			break
		}
		j := i
		for j < len(rec) && !isSpace(rec[j]) {
			j++
		}
		s.fields = append(s.fields, rec[i:j])
		i = j
	}
	return s.fields
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' }

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}
