package artifacts

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// TempPrefix is the key prefix of uploads in flight. Put removes its
// temporary object whatever happens; only a process (or a server) that dies
// mid-upload can leave one behind, and [Store.SweepTemp] removes that.
const TempPrefix = ".clvflow-tmp/"

// DefaultContentType is used when PutOptions.ContentType is empty.
const DefaultContentType = "application/octet-stream"

// headSize is how much of an input of unknown size Put reads ahead: an
// input of at most headSize bytes is then held in memory (so it can be
// hashed first and retried), a longer one streams multipart.
const headSize = 1 << 20

// maxUserMetadata is S3's limit on the total size of user metadata.
const maxUserMetadata = 2048

// cleanupTimeout bounds the removal of a temporary object, which runs even
// when the caller's context is already cancelled.
const cleanupTimeout = 30 * time.Second

// PutOptions describes an object being stored.
type PutOptions struct {
	// ContentType of the object; "" means application/octet-stream.
	ContentType string
	// Filename is the original file name, recorded in the object's metadata.
	Filename string
	// Metadata is extra user metadata: keys of letters, digits and '-'
	// (stored and returned lower-cased), values of printable ASCII, 2 KiB in
	// all. The keys clvflow-sha256 and clvflow-filename are reserved.
	Metadata map[string]string
}

func (o PutOptions) contentType() string {
	if o.ContentType == "" {
		return DefaultContentType
	}
	return o.ContentType
}

// userMetadata validates Metadata and returns it with the filename added.
func (o PutOptions) userMetadata() (map[string]string, error) {
	m := make(map[string]string, len(o.Metadata)+2)
	keys := make([]string, 0, len(o.Metadata))
	for k := range o.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	total := 0
	for _, k := range keys {
		v := o.Metadata[k]
		lk := strings.ToLower(k)
		if !validMetaKey(lk) {
			return nil, fmt.Errorf("metadata key %q: use letters, digits and '-' only", k)
		}
		if lk == metaSHA256 || lk == metaFilename {
			return nil, fmt.Errorf("metadata key %q is reserved by the artifact store", k)
		}
		if _, dup := m[lk]; dup {
			return nil, fmt.Errorf("metadata key %q is given twice (keys are case-insensitive)", k)
		}
		if !printableASCII(v) {
			return nil, fmt.Errorf("metadata %q: value must be printable ASCII", k)
		}
		m[lk] = v
		total += len(lk) + len(v)
	}
	if o.Filename != "" {
		m[metaFilename] = url.PathEscape(o.Filename)
		total += len(metaFilename) + len(m[metaFilename])
	}
	total += len(metaSHA256) + 64
	if total > maxUserMetadata {
		return nil, fmt.Errorf("user metadata is %d bytes, S3 allows %d", total, maxUserMetadata)
	}
	return m, nil
}

func validMetaKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ContentKey returns the content-addressed key <prefix>/sha256/<hex> that
// Put stores data under (prefix is trimmed of slashes; "" gives
// sha256/<hex>).
func ContentKey(prefix, sha string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return "sha256/" + sha
	}
	return prefix + "/sha256/" + sha
}

// Put stores r under <prefix>/sha256/<hex of its sha256> in bucket and
// returns the reference; the digest is also recorded in the object's user
// metadata. When the key already holds an object with the same digest and
// size, that version is returned and nothing new is stored (opts are then
// not applied). On failure nothing is left in the bucket.
//
// How the bytes travel depends on the input:
//   - an io.Seeker of at most 5 GiB (a file, a bytes.Reader, or a stream
//     that ended within the 1 MiB read-ahead) is hashed in one pass, checked
//     for a duplicate before any upload, then sent in a single PUT straight
//     to its content key; if it changed between the two passes the stored
//     version is removed and an [Integrity] error returned;
//   - any other input is hashed and counted while it streams, in parts of
//     Config.PartSize (memory stays bounded), to a temporary key under
//     [TempPrefix]; a server-side copy then gives it its content key and the
//     temporary object is removed, also on failure (a failed multipart upload
//     is aborted).
//
// A transient failure is retried from the beginning of the input when it
// can be rewound; otherwise Put fails with a [Transient] error that says
// the input could not be rewound. An input shorter or longer than the size
// announced (PutFile) is [Invalid]; a failing input is [Other].
func (s *Store) Put(ctx context.Context, bucket, prefix string, r io.Reader, opts PutOptions) (Ref, error) {
	return s.put(ctx, bucket, prefix, r, -1, opts)
}

// PutBytes is Put for data held in memory.
func (s *Store) PutBytes(ctx context.Context, bucket, prefix string, data []byte, opts PutOptions) (Ref, error) {
	return s.put(ctx, bucket, prefix, bytes.NewReader(data), int64(len(data)), opts)
}

// PutFile is Put for a local file; the file name is recorded unless
// opts.Filename is set. Retries re-read the file from the start.
func (s *Store) PutFile(ctx context.Context, bucket, prefix, path string, opts PutOptions) (Ref, error) {
	f, err := os.Open(path)
	if err != nil {
		return Ref{}, s.invalid("put", bucket, ContentKey(prefix, "…"), fmt.Errorf("open input: %w", err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Ref{}, s.invalid("put", bucket, ContentKey(prefix, "…"), fmt.Errorf("stat input: %w", err))
	}
	if !st.Mode().IsRegular() {
		return Ref{}, s.invalid("put", bucket, ContentKey(prefix, "…"), fmt.Errorf("input %s is not a regular file", path))
	}
	if opts.Filename == "" {
		opts.Filename = filepath.Base(path)
	}
	return s.put(ctx, bucket, prefix, f, st.Size(), opts)
}

// source is the input prepared for (re)uploading.
type source struct {
	r      io.Reader
	size   int64        // -1 when unknown
	rewind func() error // nil when the input cannot be re-read
}

// prepareSource works out the size and a way to rewind: from io.Seeker
// when the reader supports it, else by reading up to headSize ahead.
func prepareSource(r io.Reader, size int64) (source, error) {
	if rs, ok := r.(io.Seeker); ok {
		if start, err := rs.Seek(0, io.SeekCurrent); err == nil {
			if size < 0 {
				end, err := rs.Seek(0, io.SeekEnd)
				if err != nil {
					return source{}, fmt.Errorf("seek to the end of the input: %w", err)
				}
				if _, err := rs.Seek(start, io.SeekStart); err != nil {
					return source{}, fmt.Errorf("seek back in the input: %w", err)
				}
				size = end - start
			}
			return source{r: r, size: size, rewind: func() error {
				_, err := rs.Seek(start, io.SeekStart)
				return err
			}}, nil
		}
	}
	if size >= 0 {
		return source{r: r, size: size}, nil
	}
	head := make([]byte, headSize+1)
	n, err := io.ReadFull(r, head)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		br := bytes.NewReader(head[:n])
		return source{r: br, size: int64(n), rewind: func() error {
			_, err := br.Seek(0, io.SeekStart)
			return err
		}}, nil
	case nil:
		return source{r: io.MultiReader(bytes.NewReader(head), r), size: -1}, nil
	default:
		return source{}, err
	}
}

func (s *Store) put(ctx context.Context, bucket, prefix string, r io.Reader, size int64, opts PutOptions) (Ref, error) {
	const op = "put"
	prefix = strings.Trim(prefix, "/")
	target := ContentKey(prefix, "…")
	if err := checkBucket(bucket); err != nil {
		return Ref{}, s.invalid(op, bucket, target, err)
	}
	if err := s3utils.CheckValidObjectName(ContentKey(prefix, emptySHA256)); err != nil {
		return Ref{}, s.invalid(op, bucket, target, fmt.Errorf("prefix %q: %v", prefix, err))
	}
	if strings.HasPrefix(prefix+"/", TempPrefix) {
		return Ref{}, s.invalid(op, bucket, target, fmt.Errorf("prefix %q is reserved for uploads in flight", prefix))
	}
	meta, err := opts.userMetadata()
	if err != nil {
		return Ref{}, s.invalid(op, bucket, target, err)
	}
	if r == nil {
		return Ref{}, s.invalid(op, bucket, target, errors.New("nil reader"))
	}
	src, err := prepareSource(r, size)
	if err != nil {
		return Ref{}, &Error{Op: op, Bucket: bucket, Key: target, Endpoint: s.cfg.Endpoint, Kind: Other, Err: fmt.Errorf("reading the input: %w", err)}
	}

	if src.rewind != nil && src.size >= 0 && src.size <= MaxPartSize {
		return s.putDirect(ctx, bucket, prefix, src, opts.contentType(), meta)
	}
	return s.putViaTemp(ctx, bucket, prefix, src, opts.contentType(), meta)
}

// putDirect stores a rewindable input of known size: one pass hashes it,
// a dedupe check may end there, else a single PUT writes it straight to
// its content key with the digest in its metadata. No temporary object is
// involved and a failed single PUT stores nothing.
func (s *Store) putDirect(ctx context.Context, bucket, prefix string, src source, contentType string, meta map[string]string) (Ref, error) {
	const op = "put"
	target := ContentKey(prefix, "…")
	pre := newHashingReader(src.r)
	if _, err := io.Copy(io.Discard, pre); err != nil {
		return Ref{}, &Error{Op: op, Bucket: bucket, Key: target, Endpoint: s.cfg.Endpoint, Kind: Other, Err: fmt.Errorf("reading the input: %w", err)}
	}
	if pre.Size() != src.size {
		return Ref{}, s.invalid(op, bucket, target, fmt.Errorf("the input has %d bytes, %d were announced", pre.Size(), src.size))
	}
	if err := src.rewind(); err != nil {
		return Ref{}, &Error{Op: op, Bucket: bucket, Key: target, Endpoint: s.cfg.Endpoint, Kind: Other, Err: fmt.Errorf("rewinding the input: %w", err)}
	}
	sum := pre.Sum()
	finalKey := ContentKey(prefix, sum)
	ref := Ref{Bucket: bucket, Key: finalKey, SHA256: sum, Size: src.size, ContentType: contentType}
	if existing, ok, err := s.existing(ctx, ref); err != nil || ok {
		return existing, err
	}
	meta[metaSHA256] = sum
	hr, info, _, err := s.upload(ctx, bucket, finalKey, src, minio.PutObjectOptions{
		ContentType: contentType, UserMetadata: meta, DisableMultipart: true,
	}, false)
	if err != nil {
		return Ref{}, err
	}
	if hr.Sum() != sum || info.Size != src.size {
		// The input changed between the hashing pass and the upload: what was
		// stored does not match its key, so remove exactly that version.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		derr := s.call(cctx, "remove-mismatch", bucket, finalKey, func(ctx context.Context) error {
			return s.client.RemoveObject(ctx, bucket, finalKey, minio.RemoveObjectOptions{VersionID: info.VersionID})
		})
		return Ref{}, s.withCleanup(&Error{Op: op, Bucket: bucket, Key: finalKey, VersionID: info.VersionID, Endpoint: s.cfg.Endpoint, Kind: Integrity,
			Err: fmt.Errorf("the input changed while it was stored: hashed %s (%d bytes), then uploaded %s (%d bytes stored)", sum, src.size, hr.Sum(), info.Size)}, derr)
	}
	ref.VersionID = info.VersionID
	return ref, nil
}

// existing returns the latest version at ref's content key when it already
// holds ref's digest and size (dedupe).
func (s *Store) existing(ctx context.Context, ref Ref) (Ref, bool, error) {
	st, err := s.Stat(ctx, Ref{Bucket: ref.Bucket, Key: ref.Key})
	switch {
	case err == nil && st.SHA256 == ref.SHA256 && st.Size == ref.Size:
		ref.VersionID = st.VersionID
		ref.ContentType = st.ContentType
		return ref, true, nil
	case err != nil && !IsNotFound(err):
		return Ref{}, false, err
	}
	return Ref{}, false, nil
}

// putViaTemp stores an input that cannot be read twice: it streams to a
// temporary key while being hashed, then a server-side copy gives it its
// content key (unless that key already holds the digest), and the
// temporary object is removed whatever happens: the uploaded version and
// the marker written before it (see upload).
func (s *Store) putViaTemp(ctx context.Context, bucket, prefix string, src source, contentType string, meta map[string]string) (Ref, error) {
	const op = "put"
	tempKey := TempPrefix + rand.Text()
	hr, tmp, mark, err := s.upload(ctx, bucket, tempKey, src, minio.PutObjectOptions{ContentType: contentType, PartSize: s.cfg.partSize()}, true)
	if err != nil {
		return Ref{}, err
	}
	sum, n := hr.Sum(), hr.Size()
	fail := func(err error) (Ref, error) {
		return Ref{}, s.withCleanup(err, s.removeTemp(ctx, bucket, tempKey, tmp.VersionID, mark))
	}
	if tmp.Size != n {
		return fail(&Error{Op: op, Bucket: bucket, Key: tempKey, Endpoint: s.cfg.Endpoint, Kind: Integrity,
			Err: fmt.Errorf("the server stored %d bytes, %d were sent", tmp.Size, n)})
	}
	finalKey := ContentKey(prefix, sum)
	ref := Ref{Bucket: bucket, Key: finalKey, SHA256: sum, Size: n, ContentType: contentType}
	existing, ok, err := s.existing(ctx, ref)
	if err != nil {
		return fail(err)
	}
	if ok {
		if cerr := s.removeTemp(ctx, bucket, tempKey, tmp.VersionID, mark); cerr != nil {
			return Ref{}, cerr
		}
		return existing, nil
	}

	meta[metaSHA256] = sum
	var up minio.UploadInfo
	err = s.call(ctx, op, bucket, finalKey, func(ctx context.Context) (err error) {
		dst := minio.CopyDestOptions{Bucket: bucket, Object: finalKey, ReplaceMetadata: true, UserMetadata: meta, ContentType: contentType}
		srcOpt := minio.CopySrcOptions{Bucket: bucket, Object: tempKey, VersionID: tmp.VersionID}
		if n > MaxPartSize {
			up, err = s.client.ComposeObject(ctx, dst, srcOpt)
		} else {
			up, err = s.client.CopyObject(ctx, dst, srcOpt)
		}
		return err
	})
	if err != nil {
		return fail(err)
	}
	if cerr := s.removeTemp(ctx, bucket, tempKey, tmp.VersionID, mark); cerr != nil {
		return Ref{}, cerr
	}
	ref.VersionID = up.VersionID
	return ref, nil
}

// upload streams src to key, hashing it, under the retry policy; a retry
// rewinds src, and an input that cannot be rewound ends the retries with a
// clear error.
//
// When temp is set, each attempt first writes an empty marker object at
// key, whose version id is returned (mark; "" in an unversioned bucket),
// and every failed attempt removes what it may have left under key (marker,
// object versions, unfinished multipart upload). The marker makes an
// upload that a crash interrupts findable by [Store.SweepTemp]: MinIO lists
// unfinished multipart uploads by exact key only (its bucket-wide listing
// is an in-memory cache that a restart empties), so a key that holds a
// version is how the sweep finds one.
func (s *Store) upload(ctx context.Context, bucket, key string, src source, po minio.PutObjectOptions, temp bool) (hr *hashingReader, info minio.UploadInfo, mark string, err error) {
	const op = "put"
	err = s.retry.do(ctx, func(attempt int) error {
		if hr != nil { // an earlier attempt read from the input
			if err := src.rewind(); err != nil {
				return permanent{&Error{Op: op, Bucket: bucket, Key: key, Endpoint: s.cfg.Endpoint, Kind: Other,
					Err: fmt.Errorf("rewinding the input for a retry: %w", err)}}
			}
		}
		if temp {
			m, err := s.client.PutObject(ctx, bucket, key, bytes.NewReader(nil), 0, minio.PutObjectOptions{DisableMultipart: true})
			if err != nil {
				// The input was not read: a transient failure is retried even
				// when the input cannot be rewound.
				return s.withCleanup(s.wrap(op, bucket, key, err), s.removeTemp(ctx, bucket, key))
			}
			mark = m.VersionID
		}
		hr = newHashingReader(src.r)
		var err error
		info, err = s.client.PutObject(ctx, bucket, key, hr, src.size, po)
		if err == nil {
			return nil
		}
		var cerr error
		if temp {
			cerr = s.removeTemp(ctx, bucket, key)
		}
		switch {
		case hr.readErr != nil:
			err = permanent{&Error{Op: op, Bucket: bucket, Key: key, Endpoint: s.cfg.Endpoint, Kind: Other,
				Err: fmt.Errorf("reading the input failed after %d bytes: %w", hr.Size(), hr.readErr)}}
		case src.size >= 0 && hr.eof && hr.Size() < src.size:
			err = permanent{&Error{Op: op, Bucket: bucket, Key: key, Endpoint: s.cfg.Endpoint, Kind: Invalid,
				Err: fmt.Errorf("the input ended after %d bytes, %d were announced", hr.Size(), src.size)}}
		case src.size >= 0 && hr.Size() > src.size:
			err = permanent{&Error{Op: op, Bucket: bucket, Key: key, Endpoint: s.cfg.Endpoint, Kind: Invalid,
				Err: fmt.Errorf("the input is longer than the %d bytes announced", src.size)}}
		default:
			err = s.wrap(op, bucket, key, err)
			if IsTransient(err) && src.rewind == nil {
				e := *(err.(*Error))
				e.Err = fmt.Errorf("%w; not retried because the input cannot be rewound (not an io.Seeker): retry the whole step, or pass a file or another io.ReadSeeker", e.Err)
				err = permanent{&e}
			}
		}
		return s.withCleanup(err, cerr)
	})
	return hr, info, mark, err
}

// removeTemp deletes a temporary object: the given versions when they are
// all known (a versioned bucket), else every version and any unfinished
// multipart upload under the key. It runs even when ctx is cancelled.
func (s *Store) removeTemp(ctx context.Context, bucket, tempKey string, versionIDs ...string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	const op = "remove-temp"
	if len(versionIDs) > 0 && !slices.Contains(versionIDs, "") {
		var errs []error
		for _, v := range versionIDs {
			if err := s.call(cctx, op, bucket, tempKey, func(ctx context.Context) error {
				return s.client.RemoveObject(ctx, bucket, tempKey, minio.RemoveObjectOptions{VersionID: v})
			}); err != nil {
				errs = append(errs, withVersion(err, v))
			}
		}
		if len(errs) == 0 {
			return nil
		}
		return joinOneLine(errs)
	}
	var errs []error
	if err := s.call(cctx, op, bucket, tempKey, func(ctx context.Context) error {
		return s.client.RemoveIncompleteUpload(ctx, bucket, tempKey)
	}); err != nil && !IsNotFound(err) {
		errs = append(errs, err)
	}
	var versions []string
	if err := s.call(cctx, op, bucket, tempKey, func(ctx context.Context) error {
		versions = versions[:0]
		for oi := range s.client.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: tempKey, WithVersions: true, Recursive: true}) {
			if oi.Err != nil {
				return oi.Err
			}
			if oi.Key == tempKey {
				versions = append(versions, oi.VersionID)
			}
		}
		return nil
	}); err != nil {
		errs = append(errs, err)
	}
	for _, v := range versions {
		if err := s.call(cctx, op, bucket, tempKey, func(ctx context.Context) error {
			return s.client.RemoveObject(ctx, bucket, tempKey, minio.RemoveObjectOptions{VersionID: v})
		}); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return joinOneLine(errs)
}

// withCleanup adds a failed cleanup to err's message, keeping err's kind.
func (s *Store) withCleanup(err, cleanupErr error) error {
	if cleanupErr == nil || err == nil {
		return err
	}
	var p permanent
	if errors.As(err, &p) {
		return permanent{s.withCleanup(p.err, cleanupErr)}
	}
	var e *Error
	if !errors.As(err, &e) {
		return fmt.Errorf("%w (and removing the temporary object failed: %v)", err, cleanupErr)
	}
	c := *e
	c.Err = fmt.Errorf("%w (and removing the temporary object failed: %v)", e.Err, cleanupErr)
	return &c
}
