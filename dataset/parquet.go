package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Parquet input. A Parquet file is read with its footer (parquet.OpenFile on
// an io.ReaderAt) and then row group by row group, each mapped column page
// by page, pqChunkRows rows at a time: memory holds the footer, the current
// page of each mapped column and a few chunks, never a whole row group or
// file. One goroutine decodes and converts the rows (the columns of a row
// group are read in step, so this stays sequential) and the calling
// goroutine applies the rules, in file order.

var parquetMagic = []byte("PAR1")

// pqChunkRows is the number of rows converted per chunk.
const pqChunkRows = 4096

// isParquetFile reports whether the file starts with the Parquet magic
// bytes or has the .parquet extension (then a file that is no Parquet gets
// a Parquet error, not a guess at its text).
func isParquetFile(f io.ReaderAt, path string) bool {
	var head [4]byte
	n, _ := f.ReadAt(head[:], 0)
	return bytes.Equal(head[:n], parquetMagic) && n == 4 || strings.EqualFold(extOf(path), ".parquet")
}

func extOf(path string) string {
	if i := strings.LastIndexByte(path, '.'); i >= 0 && !strings.ContainsAny(path[i:], `/\`) {
		return path[i:]
	}
	return ""
}

// sniffParquet tells whether r is to be read as Parquet: opts.Format says
// so, or it is auto and r starts with the Parquet magic bytes. The bytes
// are peeked without consuming them: it returns the reader to read on.
func sniffParquet(r io.Reader, opts Options) (io.Reader, bool, error) {
	switch format, _ := ParseFormat(string(opts.Format)); format {
	case FormatParquet:
		return r, true, nil
	case FormatAuto:
	default:
		return r, false, nil
	}
	if ra, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok {
		off, err := ra.Seek(0, io.SeekCurrent)
		if err != nil {
			return r, false, err
		}
		var head [4]byte
		n, _ := ra.ReadAt(head[:], off)
		return r, bytes.Equal(head[:n], parquetMagic), nil
	}
	br := bufio.NewReaderSize(r, 64<<10) // openStream reuses it
	head, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return br, false, err
	}
	return br, bytes.Equal(head, parquetMagic), nil
}

// readParquetFrom reads a Parquet stream. A reader that is also an
// io.ReaderAt and io.Seeker (*os.File, *bytes.Reader) is read in place from
// its current offset; any other stream is first copied to a temporary file
// (removed afterwards), since Parquet keeps its metadata at the end.
func readParquetFrom(r io.Reader, opts Options, out sink) (*Report, error) {
	if ra, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok {
		off, err1 := ra.Seek(0, io.SeekCurrent)
		end, err2 := ra.Seek(0, io.SeekEnd)
		if err := errors.Join(err1, err2); err != nil {
			return nil, readError(opts.Name, 0, err)
		}
		return readParquet(io.NewSectionReader(ra, off, end-off), end-off, opts, out)
	}
	tmp, err := os.CreateTemp("", "clvflow-parquet-*")
	if err != nil {
		return nil, readError(opts.Name, 0, fmt.Errorf("parquet needs a file; buffering the stream: %w", err))
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	n, err := io.Copy(tmp, r)
	if err != nil {
		return nil, readError(opts.Name, 0, fmt.Errorf("parquet needs a file; buffering the stream: %w", err))
	}
	return readParquet(tmp, n, opts, out)
}

// readParquet reads the Parquet file ra of size bytes.
func readParquet(ra io.ReaderAt, size int64, opts Options, out sink) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	rep := &Report{File: opts.Name, Format: FormatParquet, Header: true, Bytes: size, Rules: map[Rule]int64{},
		MaxRejectedFraction: opts.maxRejected(), DropDuplicates: opts.DropDuplicates}
	if size == 0 {
		return rep, &Error{File: opts.Name, Err: ErrEmpty}
	}
	f, err := parquet.OpenFile(ra, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true),
		parquet.ReadBufferSize(256<<10))
	if err != nil {
		err = redacted{err}
		return rep, &Error{File: opts.Name, Msg: "not a readable Parquet file: " + err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
	}
	pr, err := newParquetReader(f, opts)
	if err != nil {
		return rep, err
	}
	v := newValidator(opts, FormatParquet, rep, out)
	if err := v.consume(pr.start(opts)); err != nil {
		return rep, err
	}
	return rep, v.finish()
}

// redacted wraps an error of the Parquet library whose text may quote
// bytes of the file: its text replaces quoted parts with "…".
type redacted struct{ err error }

func (r redacted) Unwrap() error { return r.err }

func (r redacted) Error() string {
	parts := strings.Split(r.err.Error(), `"`)
	for i := 1; i < len(parts); i += 2 {
		parts[i] = "…"
	}
	return strings.Join(parts, `"`)
}
