package artifacts

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
)

// maxPrealloc caps the buffer GetBytes allocates up front from the
// object's announced size.
const maxPrealloc = 64 << 20

// Get opens the object version ref points at (the latest when VersionID is
// empty) for streaming. The reader checks, when it reaches the end, that
// the bytes hash to ref.SHA256 (or, when that is empty, to the digest
// recorded on the object, if any) and that their number is ref.Size
// (checked whenever ref.SHA256 or ref.Size is set, else the announced
// length). A mismatch makes Read return an [*Error] of kind [Integrity]
// instead of io.EOF, and Close return it too. A mismatch visible before
// reading (announced size or recorded digest differ from ref) fails Get
// itself. A stream closed before its end is not checked.
//
// Opening is retried on transient failures; a failure in the middle of the
// stream is returned from Read (the caller decides whether to start over).
func (s *Store) Get(ctx context.Context, ref Ref) (io.ReadCloser, error) {
	var vr *verifyingReader
	err := s.retry.do(ctx, func(int) (err error) {
		vr, _, err = s.open(ctx, "get", ref)
		return err
	})
	if err != nil {
		return nil, err
	}
	return vr, nil
}

// GetBytes reads the whole object version ref points at and verifies it
// (as [Store.Get]) before returning anything. A transient failure at any
// point, including mid-stream, restarts the read under the retry policy.
func (s *Store) GetBytes(ctx context.Context, ref Ref) ([]byte, error) {
	var out []byte
	err := s.retry.do(ctx, func(int) error {
		vr, size, err := s.open(ctx, "get", ref)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		buf.Grow(int(max(0, min(size, maxPrealloc)))) // size is -1 when not announced
		_, err = io.Copy(&buf, vr)
		cerr := vr.Close()
		if err != nil {
			return err
		}
		if cerr != nil {
			return cerr
		}
		out = buf.Bytes()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// open issues one GET (no retry) and wraps the body in a verifying reader.
// It returns the object's announced size.
func (s *Store) open(ctx context.Context, op string, ref Ref) (*verifyingReader, int64, error) {
	if err := ref.Validate(); err != nil {
		return nil, 0, s.invalid(op, ref.Bucket, ref.Key, err)
	}
	body, oi, _, err := s.core.GetObject(ctx, ref.Bucket, ref.Key, minio.GetObjectOptions{VersionID: ref.VersionID})
	if err != nil {
		return nil, 0, withVersion(s.wrap(op, ref.Bucket, ref.Key, err), ref.VersionID)
	}
	info := objectInfo(ref.Bucket, oi, false)
	ei := Error{Op: op, Bucket: ref.Bucket, Key: ref.Key, VersionID: info.VersionID, Endpoint: s.cfg.Endpoint}
	if ei.VersionID == "" {
		ei.VersionID = ref.VersionID
	}
	wantSHA := ref.SHA256
	if wantSHA == "" {
		wantSHA = info.SHA256
	}
	wantSize := oi.Size
	if ref.SHA256 != "" || ref.Size > 0 {
		wantSize = ref.Size
	}
	fail := func(cause error) (*verifyingReader, int64, error) {
		body.Close()
		e := ei
		e.Kind = Integrity
		e.Err = cause
		return nil, 0, &e
	}
	if ref.SHA256 != "" && info.SHA256 != "" && info.SHA256 != ref.SHA256 {
		return fail(fmt.Errorf("the object records sha256 %s, the reference expects %s", info.SHA256, ref.SHA256))
	}
	if oi.Size >= 0 && oi.Size != wantSize {
		return fail(fmt.Errorf("size mismatch: the object has %d bytes, expected %d", oi.Size, wantSize))
	}
	return newVerifyingReader(body, wantSHA, wantSize, ei), oi.Size, nil
}
