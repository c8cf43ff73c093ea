package dataset

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	utf8BOM   = []byte{0xef, 0xbb, 0xbf}
)

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// openStream wraps r: gzip is detected by its magic bytes and decompressed,
// and a UTF-8 byte order mark is skipped. It returns a buffered reader over
// the text, the counter of text bytes and whether the input was gzip.
func openStream(r io.Reader) (*bufio.Reader, *countingReader, bool, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(2)
	if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return nil, nil, false, err
	}
	var src io.Reader = br
	isGzip := bytes.Equal(head, gzipMagic)
	if isGzip {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, true, err
		}
		src = zr
	}
	cr := &countingReader{r: src}
	text := bufio.NewReaderSize(cr, 64<<10)
	if bom, _ := text.Peek(3); bytes.Equal(bom, utf8BOM) {
		_, _ = text.Discard(3)
	}
	return text, cr, isGzip, nil
}

// record is one logical record: one line, or several physical lines when a
// quoted CSV field contains newlines.
type record struct {
	text      []byte // without the final line terminator (\n or \r\n)
	line      int64  // 1-based physical line where the record starts
	tooLong   bool   // text was cut at maxBytes; the rest was discarded
	openQuote bool   // a quoted field was still open at end of input
	blank     bool   // only spaces, tabs, CR, VT or FF
}

// recordReader splits a text stream into records. When quoteAware is set, a
// newline inside a quoted field (a '"' at the start of a field, closed by '"'
// not followed by another '"') continues the record.
type recordReader struct {
	br         *bufio.Reader
	line       int64
	maxBytes   int
	quoteAware bool
	delim      byte
	buf        []byte
}

// next returns the next record; the returned text is valid until the next
// call. It returns io.EOF after the last record.
func (rr *recordReader) next(rec *record) error {
	*rec = record{line: rr.line + 1}
	rr.buf = rr.buf[:0]
	for {
		start := len(rr.buf)
		ended, err := rr.readLine(rec)
		rr.line++
		if err != nil && err != io.EOF {
			return err
		}
		if err == io.EOF && !ended && len(rr.buf) == 0 && start == 0 {
			rr.line--
			return io.EOF
		}
		if rr.quoteAware && !rec.tooLong && (start > 0 || bytes.IndexByte(rr.buf, '"') >= 0) && quoteOpen(rr.buf[start:], rr.delim, start > 0) {
			if !ended {
				rec.openQuote = true
				break
			}
			rr.buf = append(rr.buf, '\n')
			continue
		}
		break
	}
	rec.text = rr.buf
	rec.blank = !rec.tooLong && isBlank(rec.text)
	return nil
}

// readLine appends one physical line (without its terminator) to rr.buf,
// honouring maxBytes. ended reports whether a '\n' was found.
func (rr *recordReader) readLine(rec *record) (ended bool, err error) {
	for {
		chunk, err := rr.br.ReadSlice('\n')
		if len(chunk) > 0 && chunk[len(chunk)-1] == '\n' {
			chunk = chunk[:len(chunk)-1]
			if len(chunk) > 0 && chunk[len(chunk)-1] == '\r' {
				chunk = chunk[:len(chunk)-1]
			}
			rr.appendCapped(rec, chunk)
			return true, nil
		}
		rr.appendCapped(rec, chunk)
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			continue
		case io.EOF:
			if n := len(rr.buf); n > 0 && rr.buf[n-1] == '\r' {
				rr.buf = rr.buf[:n-1]
			}
			return false, io.EOF
		default:
			return false, err
		}
	}
}

func (rr *recordReader) appendCapped(rec *record, chunk []byte) {
	if rec.tooLong {
		return
	}
	if room := rr.maxBytes - len(rr.buf); len(chunk) > room {
		rr.buf = append(rr.buf, chunk[:max(room, 0)]...)
		rec.tooLong = true
		return
	}
	rr.buf = append(rr.buf, chunk...)
}

// quoteOpen reports whether text ends inside a quoted field; inQuote is the
// state at the start of text (true for the continuation of a record).
func quoteOpen(text []byte, delim byte, inQuote bool) bool {
	fieldStart := !inQuote
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inQuote {
			if c == '"' {
				if i+1 < len(text) && text[i+1] == '"' {
					i++
					continue
				}
				inQuote = false
			}
			continue
		}
		switch {
		case c == delim:
			fieldStart = true
		case c == '"' && fieldStart:
			inQuote = true
			fieldStart = false
		case c == ' ' && fieldStart:
			// leading spaces keep the field start
		default:
			fieldStart = false
		}
	}
	return inQuote
}

// isBlank reports whether b holds only spaces, tabs, CR, VT or FF.
func isBlank(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}
