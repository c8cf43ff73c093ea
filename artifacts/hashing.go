package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
)

// emptySHA256 is the sha256 of zero bytes.
const emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// ValidSHA256 reports whether s is a lower-case hex sha256 digest.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hashingReader passes bytes through while counting them and hashing them
// with sha256. It remembers the first error of the underlying reader other
// than io.EOF, so an upload failure can be told apart from a source failure.
type hashingReader struct {
	r       io.Reader
	h       hash.Hash
	n       int64
	eof     bool
	readErr error
}

func newHashingReader(r io.Reader) *hashingReader {
	return &hashingReader{r: r, h: sha256.New()}
}

func (hr *hashingReader) Read(p []byte) (int, error) {
	n, err := hr.r.Read(p)
	if n > 0 {
		hr.h.Write(p[:n])
		hr.n += int64(n)
	}
	if err == io.EOF {
		hr.eof = true
	} else if err != nil && hr.readErr == nil {
		hr.readErr = err
	}
	return n, err
}

// Sum returns the hex sha256 of the bytes read so far.
func (hr *hashingReader) Sum() string { return hex.EncodeToString(hr.h.Sum(nil)) }

// Size returns the number of bytes read so far.
func (hr *hashingReader) Size() int64 { return hr.n }

// verifyingReader streams an object and checks, at end of stream, that the
// bytes hash to wantSHA (when set) and number wantSize (when ≥ 0). A
// mismatch is reported as an *Error of kind Integrity from Read instead of
// io.EOF, and again from Close. Reading past wantSize fails at once.
type verifyingReader struct {
	rc       io.ReadCloser
	h        hash.Hash
	n        int64
	wantSHA  string
	wantSize int64
	errInfo  Error // Op, Bucket, Key, VersionID, Endpoint for the integrity error
	done     bool
	err      error // sticky integrity error
}

func newVerifyingReader(rc io.ReadCloser, wantSHA string, wantSize int64, info Error) *verifyingReader {
	return &verifyingReader{rc: rc, h: sha256.New(), wantSHA: wantSHA, wantSize: wantSize, errInfo: info}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.done {
		return 0, io.EOF
	}
	n, err := v.rc.Read(p)
	if n > 0 {
		v.h.Write(p[:n])
		v.n += int64(n)
		if v.wantSize >= 0 && v.n > v.wantSize {
			v.err = v.integrity(fmt.Errorf("object is longer than the expected %d bytes", v.wantSize))
			return 0, v.err
		}
	}
	if err == io.EOF {
		v.done = true
		if ierr := v.check(); ierr != nil {
			v.err = ierr
			return n, ierr
		}
		return n, io.EOF
	}
	if err != nil {
		return n, newError(v.errInfo.Op, v.errInfo.Endpoint, v.errInfo.Bucket, v.errInfo.Key, err)
	}
	return n, nil
}

// check compares the totals with the expectations.
func (v *verifyingReader) check() error {
	if v.wantSize >= 0 && v.n != v.wantSize {
		return v.integrity(fmt.Errorf("size mismatch: read %d bytes, expected %d", v.n, v.wantSize))
	}
	if v.wantSHA != "" {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.wantSHA {
			return v.integrity(fmt.Errorf("sha256 mismatch: read %s, expected %s", got, v.wantSHA))
		}
	}
	return nil
}

func (v *verifyingReader) integrity(cause error) error {
	e := v.errInfo
	e.Kind = Integrity
	e.Err = cause
	return &e
}

// Close closes the stream. It returns the integrity error when the end of
// the stream was reached and the check failed; a stream closed early is
// not checked.
func (v *verifyingReader) Close() error {
	cerr := v.rc.Close()
	if v.err != nil {
		return v.err
	}
	if cerr != nil {
		return newError(v.errInfo.Op, v.errInfo.Endpoint, v.errInfo.Bucket, v.errInfo.Key, cerr)
	}
	return nil
}
