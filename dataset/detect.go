package dataset

import (
	"bytes"
	"compress/gzip"
	"io"
)

// Detect guesses the format of a file from its first bytes (a few KiB are
// plenty; a gzip-compressed head is decompressed as far as it goes). It
// recognises the Online Retail header (both variants), CDNOW lines (4 or 5
// whitespace-separated fields with a YYYYMMDD date, or the CDNOW header) and
// otherwise any delimited text with a header as [FormatCSV]; a head
// starting with the Parquet magic bytes "PAR1" is [FormatParquet]. It returns
// [ErrEmpty] for blank input and [ErrUnknownFormat] (wrapped in an [*Error])
// for binary data or a single-column text.
func Detect(head []byte) (Format, error) {
	if bytes.HasPrefix(head, parquetMagic) {
		return FormatParquet, nil
	}
	if bytes.HasPrefix(head, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(head))
		if err != nil {
			return "", &Error{Msg: "gzip header: " + err.Error(), Err: ErrUnknownFormat}
		}
		var buf bytes.Buffer
		_, _ = io.CopyN(&buf, zr, 64<<10) // a truncated stream ends in an error we ignore
		head = buf.Bytes()
	}
	return detectText(bytes.TrimPrefix(head, utf8BOM), "")
}

func detectText(head []byte, file string) (Format, error) {
	unknown := func(msg string) error {
		return &Error{File: file, Line: 1, Msg: msg, Err: ErrUnknownFormat}
	}
	if len(bytes.TrimSpace(head)) == 0 {
		return "", &Error{File: file, Err: ErrEmpty}
	}
	if looksBinary(head) {
		return "", unknown("binary data, not a text transaction log")
	}
	// First non-blank line.
	var line []byte
	for len(head) > 0 {
		i := bytes.IndexByte(head, '\n')
		var l []byte
		if i < 0 {
			l, head = head, nil
		} else {
			l, head = head[:i], head[i+1:]
		}
		if l = bytes.TrimRight(l, "\r"); len(bytes.TrimSpace(l)) > 0 {
			line = l
			break
		}
	}
	var sp fieldSplitter
	if isOnlineRetailHeader(headerNames(sp.splitCSV(line, ','))) {
		return FormatOnlineRetail, nil
	}
	if !bytes.ContainsAny(line, ",;|") {
		f := sp.splitSpace(line)
		if n := len(f); n == 4 || n == 5 {
			if _, ok := parseCompactDate(f[n-3]); ok {
				return FormatCDNOW, nil
			}
			names := headerNames(f)
			if findColumn(names, []string{"date"}) == n-3 && findColumn(names, []string{"dollar_value", "dollars"}) == n-1 {
				return FormatCDNOW, nil
			}
		}
	}
	if n := len(sp.splitCSV(line, detectDelim(line))); n >= 3 {
		return FormatCSV, nil
	}
	return "", unknown("cannot tell the format from the first line " + truncRawQ(line) +
		" (want CDNOW, Online Retail or a delimited header with customer, time and amount columns)")
}

func truncRawQ(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return "\"" + string(bytes.ToValidUTF8(b, []byte("?"))) + "\""
}

// looksBinary reports NUL bytes or more than 10% control bytes (other than
// tab, CR, LF) in the first 1 KiB.
func looksBinary(head []byte) bool {
	if len(head) > 1024 {
		head = head[:1024]
	}
	ctl := 0
	for _, c := range head {
		switch {
		case c == 0:
			return true
		case c < 0x20 && c != '\t' && c != '\r' && c != '\n' && c != '\f' && c != '\v':
			ctl++
		}
	}
	return ctl*10 > len(head)
}
