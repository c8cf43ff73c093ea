package activities

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/encoding/thrift"
	"github.com/parquet-go/parquet-go/format"
)

// IngestInput names the transaction log to ingest: a file on the worker's
// file system (Path) or an object already in the store (Source).
type IngestInput struct {
	Path     string         `json:"path,omitempty"`
	Source   *artifacts.Ref `json:"source,omitempty"`
	Format   string         `json:"format,omitempty"`   // auto when empty
	Filename string         `json:"filename,omitempty"` // recorded in the manifest; defaults to the base name
}

// IngestResult references the stored raw dataset and its manifest.
type IngestResult struct {
	Dataset  artifacts.Ref `json:"dataset"`
	Manifest artifacts.Ref `json:"manifest"`
	Format   string        `json:"format"`
	Lines    int64         `json:"lines"`
	Bytes    int64         `json:"bytes"`
	Filename string        `json:"filename"`
}

// RawPrefix is where raw datasets are stored (content-addressed below it).
const RawPrefix = "raw"

// IngestDataset streams the input into the datasets bucket (sha256 computed
// while uploading), counts its lines (the rows of a Parquet file, from its
// footer), detects its format and writes the dataset manifest. A missing, empty or unreadable input is a BadInput error
// and nothing is written. So is an input whose decompressed size (its size
// when plain) exceeds MaxUncompressedBytes: a gzip bomb or a file too large
// for one worker. Decompression and upload stop as soon as the limit is
// passed.
func (a *Activities) IngestDataset(ctx context.Context, in IngestInput) (IngestResult, error) {
	var res IngestResult
	format, err := dataset.ParseFormat(in.Format)
	if err != nil {
		return res, nonRetryable(ErrTypeBadInput, err)
	}
	src, name, err := a.openIngestSource(ctx, in)
	if err != nil {
		return res, err
	}
	defer src.Close()
	ref, counter, err := a.uploadRaw(ctx, src, name)
	if err != nil {
		return res, err
	}
	lines, sample, cerr := counter.Close()
	if format, err = checkIngested(ref, name, format, sample, cerr); err != nil {
		// Bad input leaves nothing behind. Deleting the raw object is safe
		// even though keys are content-addressed: the same bytes always
		// fail the same way, so no manifest can reference them.
		_ = a.Store.Delete(context.WithoutCancel(ctx), ref)
		return res, err
	}
	rows := lines - headerLines(sample, format)
	if format == dataset.FormatParquet {
		open := func() (io.ReadCloser, error) { return a.Store.Get(ctx, ref) }
		if rows, err = parquetRows(ref.Size, name, counter.tail, open); err != nil {
			_ = a.Store.Delete(context.WithoutCancel(ctx), ref) // as for checkIngested: the same bytes always fail
			return res, err
		}
		lines = rows // a Parquet file has no lines: its rows stand for them
	}
	m := artifacts.DatasetManifest{Ref: ref, Filename: name, Format: string(format), Rows: rows,
		Bytes: ref.Size, CreatedAt: activityTime(ctx), Source: in.Path}
	mref, err := a.Store.PutJSON(ctx, a.Buckets.Datasets, artifacts.DatasetManifestKey(ref.SHA256), m)
	if err != nil {
		return res, Classify(err)
	}
	a.log().Info("dataset ingested", "file", name, "sha256", ref.SHA256, "bytes", ref.Size, "lines", lines, "format", format)
	return IngestResult{Dataset: ref, Manifest: mref, Format: string(format), Lines: lines, Bytes: ref.Size, Filename: name}, nil
}

// uploadRaw stores src as the raw dataset name, counting its lines on the
// way (heartbeating the bytes sent and read); over the uncompressed size
// limit nothing is stored and the error says so.
func (a *Activities) uploadRaw(ctx context.Context, src io.Reader, name string) (artifacts.Ref, *lineCounter, error) {
	limit := a.maxUncompressed()
	counter := newLineCounter(limit)
	var sent atomic.Int64
	stop := heartbeatEvery(ctx, 10*time.Second, func() any {
		return map[string]int64{"bytes_uploaded": sent.Load(), "bytes_uncompressed": counter.text.Load()}
	})
	// The counter sees every byte before the upload does; over the limit its
	// error fails the Put (at the latest at the end of the input), which
	// then removes what it had sent.
	body := &verdictReader{r: io.TeeReader(&countingReader{r: src, n: &sent}, counter), lc: counter}
	ref, err := a.Store.Put(ctx, a.Buckets.Datasets, RawPrefix, body,
		artifacts.PutOptions{ContentType: "application/octet-stream", Filename: name})
	stop()
	if _, _, cerr := counter.Close(); errors.Is(cerr, errOverLimit) {
		// The counter's error failed the Put, which leaves nothing behind.
		// Nothing is deleted here: the same bytes may be an earlier ingest's
		// object (keys are content-addressed), accepted under a higher limit.
		a.log().Warn("ingest refused: over the uncompressed size limit", "file", name, "max_uncompressed_bytes", limit,
			"uncompressed_bytes_read", counter.text.Load(), "bytes_read", sent.Load(), "gzip", counter.gzip)
		return ref, counter, overLimitError(name, limit, counter.gzip)
	}
	if err != nil {
		return ref, counter, Classify(err)
	}
	return ref, counter, nil
}

// openIngestSource opens the input file or stored object and names it.
func (a *Activities) openIngestSource(ctx context.Context, in IngestInput) (io.ReadCloser, string, error) {
	if (in.Path == "") == (in.Source == nil) {
		return nil, "", nonRetryablef(ErrTypeBadInput, "ingest: give exactly one of an input path or a stored source object")
	}
	name := in.Filename
	if in.Path != "" {
		path, err := a.allowedPath(in.Path)
		if err != nil {
			return nil, "", err
		}
		f, err := OpenInput(path)
		if err != nil {
			return nil, "", nonRetryable(ErrTypeBadInput, err)
		}
		if name == "" {
			name = filepath.Base(in.Path)
		}
		return f, name, nil
	}
	rc, err := a.Store.Get(ctx, *in.Source)
	if err != nil {
		return nil, "", Classify(err)
	}
	if name == "" {
		name = filepath.Base(in.Source.Key)
	}
	return rc, name, nil
}

// AllowedDirsKey is the config key of the directories a worker may read.
const AllowedDirsKey = "ingest.allowed_dirs"

// allowedPath resolves path (absolute, symbolic links followed) and returns
// it when it lies under one of AllowedInputDirs. Anything else is refused
// as bad input before it is opened: the error names the path, the key and
// what to do instead, and nothing of the file.
func (a *Activities) allowedPath(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nonRetryablef(ErrTypeBadInput, "ingest: input path %s: %v", path, err)
	}
	real, rerr := filepath.EvalSymlinks(abs)
	if rerr != nil {
		// Missing (or unreadable) here: judged by its name; OpenInput then
		// says what is wrong with it.
		real = filepath.Clean(abs)
	}
	for _, d := range a.AllowedInputDirs {
		if !filepath.IsAbs(d) {
			continue
		}
		dir := filepath.Clean(d)
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			dir = r
		}
		if within(real, dir) || (rerr != nil && within(real, filepath.Clean(d))) {
			return real, nil
		}
	}
	where := "none are configured, so this worker reads only objects already in the store"
	if len(a.AllowedInputDirs) > 0 {
		where = "allowed: " + strings.Join(a.AllowedInputDirs, ", ")
	}
	target := ""
	if real != filepath.Clean(abs) {
		target = " (it resolves to " + real + ")"
	}
	return "", nonRetryablef(ErrTypeBadInput,
		"ingest: refusing input path %s%s: it is not under %s (%s); upload the file with `clvflow ingest --input FILE` or `clvflow train --input FILE`, which start the run with a stored object, or add its directory to %s (env CLVFLOW_INGEST_ALLOWED_DIRS) on the workers",
		path, target, AllowedDirsKey, where, AllowedDirsKey)
}

// within reports whether the clean absolute path p is dir or lies below it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// maxUncompressed is the limit on an ingested log's decompressed size.
func (a *Activities) maxUncompressed() int64 {
	if a.MaxUncompressedBytes > 0 {
		return a.MaxUncompressedBytes
	}
	return dataset.DefaultMaxUncompressedBytes
}

// overLimitError is the BadInput error of a log larger than limit once
// decompressed. It names the file and the limit, never the content.
func overLimitError(name string, limit int64, gz bool) error {
	what := "a file too large for one worker"
	if gz {
		what = "a gzip bomb or a file too large for one worker"
	}
	return nonRetryablef(ErrTypeBadInput, "ingest: %s: more than %s uncompressed (ingest.max_uncompressed_bytes = %d): %s; if the file is genuine, split it or raise the limit on the workers",
		name, formatBytes(limit), limit, what)
}

// formatBytes writes n in binary units with one decimal ("1.0 GiB").
func formatBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < 4 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i])
}

// checkIngested refuses an empty or unreadable upload and detects the
// format (when auto) from its first lines.
func checkIngested(ref artifacts.Ref, name string, format dataset.Format, sample []byte, countErr error) (dataset.Format, error) {
	switch {
	case ref.Size == 0:
		return format, nonRetryablef(ErrTypeBadInput, "ingest: %s is empty: give a transaction log with a header or at least one row", name)
	case countErr != nil:
		return format, nonRetryablef(ErrTypeBadInput, "ingest: %s: %v", name, countErr)
	case format != dataset.FormatAuto:
		return format, nil
	}
	f, err := dataset.Detect(sample)
	if err != nil {
		// Detect's message may quote the first line; describe it instead,
		// so that no error ever carries the file's contents.
		return format, nonRetryablef(ErrTypeBadInput, "ingest: %s: unknown format: %s (pass --format cdnow|online-retail|csv)", name, describeHead(sample))
	}
	return f, nil
}

// describeHead says what the first non-blank line of a log that is no
// known format looks like — its length and how it splits — without
// quoting any of it.
func describeHead(sample []byte) string {
	if len(bytes.TrimSpace(sample)) == 0 {
		return "only blank lines"
	}
	ctl := 0
	head := sample[:min(len(sample), 1024)]
	for _, c := range head {
		if c == 0 || c < 0x20 && !bytes.ContainsRune([]byte("\t\r\n\f\v"), rune(c)) {
			ctl++
		}
	}
	if bytes.IndexByte(head, 0) >= 0 || ctl*10 > len(head) {
		return "binary data, not a text transaction log"
	}
	var line []byte
	for rest := sample; len(rest) > 0; {
		l, r, _ := bytes.Cut(rest, []byte("\n"))
		rest = r
		if len(bytes.TrimSpace(l)) > 0 {
			line = bytes.TrimRight(l, "\r")
			break
		}
	}
	best, n := "", 1
	for _, d := range []struct{ name, sep string }{{"comma", ","}, {"semicolon", ";"}, {"tab", "\t"}, {"pipe", "|"}} {
		if c := bytes.Count(line, []byte(d.sep)) + 1; c > n {
			best, n = d.name, c
		}
	}
	split := "no comma, semicolon, tab or pipe delimiter"
	if best != "" {
		split = fmt.Sprintf("%d %s-separated fields", n, best)
	}
	if f := len(bytes.Fields(line)); best == "" && f > 1 {
		split += fmt.Sprintf(", %d space-separated fields", f)
	}
	return fmt.Sprintf("the first line (%d bytes; %s) is no CDNOW, Online Retail or delimited header with customer, time and amount columns", len(line), split)
}

// headerLines is 1 when the file starts with a header line: always for the
// CSV formats, and for CDNOW logs whose first field is not a customer number.
func headerLines(sample []byte, f dataset.Format) int64 {
	if f != dataset.FormatCDNOW {
		return 1
	}
	line, _, _ := bytes.Cut(sample, []byte("\n"))
	fields := bytes.Fields(line)
	if len(fields) == 0 {
		return 0
	}
	for _, c := range fields[0] {
		if c < '0' || c > '9' {
			return 1
		}
	}
	return 0
}

// parquetTail is how much of the end of a Parquet input the line counter
// keeps: enough for the footer (the file's metadata) of any ordinary log.
const parquetTail = 4 << 20

// parquetRows returns the number of rows of a stored Parquet object of
// size bytes from its footer: from tail (the last bytes of the upload)
// when the footer lies within it, else from a copy of the object (open)
// in a temporary file. An unreadable footer is a BadInput error that
// quotes nothing of the file.
func parquetRows(size int64, name string, tail []byte, open func() (io.ReadCloser, error)) (int64, error) {
	bad := func(what string) error {
		return nonRetryablef(ErrTypeBadInput, "ingest: %s: not a readable Parquet file: %s", name, what)
	}
	n := len(tail)
	if size < 12 || n < 8 || !bytes.Equal(tail[n-4:], []byte("PAR1")) {
		return 0, bad("it does not end with the Parquet magic bytes")
	}
	footer := int64(binary.LittleEndian.Uint32(tail[n-8 : n-4]))
	if footer+12 > size {
		return 0, bad("its footer length runs past the start of the file")
	}
	if footer+8 <= int64(n) {
		var md format.FileMetaData
		if err := thrift.Unmarshal(new(thrift.CompactProtocol), tail[n-8-int(footer):n-8], &md); err != nil || md.NumRows < 0 {
			return 0, bad("its footer cannot be decoded")
		}
		return md.NumRows, nil
	}
	// A footer larger than the kept tail: read it from the stored object.
	tmp, err := os.CreateTemp("", "clvflow-ingest-*.parquet")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	rc, err := open()
	if err != nil {
		return 0, Classify(err)
	}
	defer rc.Close()
	if _, err := io.Copy(tmp, rc); err != nil {
		return 0, Classify(err)
	}
	f, err := parquet.OpenFile(tmp, size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return 0, bad("its footer cannot be decoded")
	}
	return f.NumRows(), nil
}

// OpenInput opens a local input file and turns the common mistakes into
// one clear line each.
func OpenInput(path string) (*os.File, error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("input file %s does not exist (check the path; relative paths are relative to the worker's working directory)", path)
	case err != nil:
		return nil, fmt.Errorf("input file %s: %v", path, err)
	case st.IsDir():
		return nil, fmt.Errorf("input %s is a directory: give one transaction log file (CSV, CSV.gz or CDNOW text)", path)
	case st.Size() == 0:
		return nil, fmt.Errorf("input file %s is empty: give a transaction log with at least one row", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("input file %s cannot be opened: %v", path, err)
	}
	return f, nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// verdictReader passes the upload's input through and, at its end, waits
// for the line counter: an input over the size limit then fails the upload
// instead of completing it, even when the counter, which reads a little
// ahead of its decompression, only finds out after the last byte was sent.
type verdictReader struct {
	r  io.Reader
	lc *lineCounter
}

func (v *verdictReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if err == io.EOF {
		if _, _, cerr := v.lc.Close(); errors.Is(cerr, errOverLimit) {
			return n, cerr
		}
	}
	return n, err
}

// lineCounter counts the non-empty lines of the (possibly gzip-compressed)
// bytes written to it and keeps the first sampleSize decompressed bytes for
// format detection. Decompression runs in its own goroutine behind a pipe,
// so the upload stays a single streaming pass.
//
// It reads at most limit+1 decompressed bytes: one past the limit it stops,
// reports errOverLimit from Close and fails every further Write with it, so
// the upload that feeds it stops too.
type lineCounter struct {
	pw     *io.PipeWriter
	done   chan struct{}
	limit  int64
	text   atomic.Int64 // decompressed bytes read so far
	gzip   bool
	lines  int64
	inLine bool // the bytes since the last newline are not all blank
	sample []byte
	tail   []byte // the last parquetTail bytes or more, of a Parquet input only
	err    error
}

// errOverLimit is the counter's error for an input over its limit.
var errOverLimit = errors.New("over the uncompressed size limit")

const sampleSize = 64 << 10

func newLineCounter(limit int64) *lineCounter {
	pr, pw := io.Pipe()
	lc := &lineCounter{pw: pw, done: make(chan struct{}), limit: limit}
	go func() {
		defer close(lc.done)
		br := bufio.NewReaderSize(pr, 256<<10)
		defer func() { _, _ = io.Copy(io.Discard, br) }()
		r, isParquet, err := lc.open(br)
		if err != nil {
			lc.err = err
			_, _ = io.Copy(io.Discard, br)
			pr.CloseWithError(err)
			return
		}
		if err := lc.count(r, isParquet); err != nil {
			lc.err = err
			if err == errOverLimit {
				pr.CloseWithError(errOverLimit)
			}
		}
	}()
	return lc
}

// open looks at the first bytes: a Parquet file is counted as it is (its
// tail kept for the footer), a gzip stream decompressed.
func (lc *lineCounter) open(br *bufio.Reader) (r io.Reader, isParquet bool, err error) {
	magic, _ := br.Peek(4)
	isParquet = bytes.Equal(magic, []byte("PAR1"))
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, false, fmt.Errorf("not a valid gzip stream: %v", err)
		}
		lc.gzip = true
		return zr, isParquet, nil
	}
	return br, isParquet, nil
}

// count reads r to its end (or one byte past the limit: errOverLimit),
// keeping the sample, the Parquet tail and the line count.
func (lc *lineCounter) count(r io.Reader, isParquet bool) error {
	buf := make([]byte, 256<<10)
	var total int64
	for {
		// Never ask for more than one byte past the limit.
		want := min(int64(len(buf)), lc.limit-total+1)
		n, err := r.Read(buf[:want])
		total += int64(n)
		lc.text.Store(total)
		if total > lc.limit {
			return errOverLimit
		}
		lc.add(buf[:n], isParquet)
		if err == io.EOF {
			if lc.inLine {
				lc.lines++
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot decompress: %v", err)
		}
	}
}

// add accounts for the next chunk of decompressed bytes.
func (lc *lineCounter) add(chunk []byte, isParquet bool) {
	if len(lc.sample) < sampleSize {
		lc.sample = append(lc.sample, chunk[:min(len(chunk), sampleSize-len(lc.sample))]...)
	}
	if isParquet {
		lc.tail = append(lc.tail, chunk...)
		if len(lc.tail) >= 2*parquetTail {
			lc.tail = lc.tail[:copy(lc.tail, lc.tail[len(lc.tail)-parquetTail:])]
		}
	}
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			if len(bytes.TrimSpace(chunk)) > 0 {
				lc.inLine = true
			}
			return
		}
		if lc.inLine || len(bytes.TrimSpace(chunk[:i])) > 0 {
			lc.lines++
		}
		lc.inLine = false
		chunk = chunk[i+1:]
	}
}

func (lc *lineCounter) Write(p []byte) (int, error) {
	if _, err := lc.pw.Write(p); errors.Is(err, errOverLimit) {
		// Over the limit: stop the upload rather than read the rest.
		return 0, err
	}
	// Any other failure of the counter (bad gzip) keeps accepting bytes so
	// the upload itself is not disturbed; the error is reported by Close.
	return len(p), nil
}

// Close ends the stream and returns the line count and the sample. It may
// be called more than once.
func (lc *lineCounter) Close() (int64, []byte, error) {
	lc.pw.Close()
	<-lc.done
	return lc.lines, lc.sample, lc.err
}
