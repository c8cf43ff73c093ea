package artifacts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"
)

func sha(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// prngBytes returns n seeded pseudo-random bytes.
func prngBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestValidSHA256(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{emptySHA256, true},
		{sha([]byte("x")), true},
		{strings.ToUpper(emptySHA256), false},
		{emptySHA256[:63], false},
		{emptySHA256 + "0", false},
		{"", false},
		{strings.Repeat("g", 64), false},
	}
	for _, tc := range tests {
		if got := ValidSHA256(tc.in); got != tc.want {
			t.Errorf("ValidSHA256(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if sha(nil) != emptySHA256 {
		t.Fatalf("emptySHA256 constant is wrong")
	}
}

func TestHashingReader(t *testing.T) {
	data := prngBytes(1, 100_003)
	boom := errors.New("disk on fire")
	tests := []struct {
		name        string
		r           io.Reader
		wantData    []byte
		wantReadErr error
		wantEOF     bool
	}{
		{"empty", bytes.NewReader(nil), nil, nil, true},
		{"small", strings.NewReader("hello"), []byte("hello"), nil, true},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data[:4097])), data[:4097], nil, true},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(data)), data, nil, true},
		{"half reads", iotest.HalfReader(bytes.NewReader(data)), data, nil, true},
		{"error mid-way", io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(boom)), data[:1000], boom, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hr := newHashingReader(tc.r)
			got, err := io.ReadAll(hr)
			if !errors.Is(err, tc.wantReadErr) {
				t.Fatalf("ReadAll error = %v, want %v", err, tc.wantReadErr)
			}
			if !bytes.Equal(got, tc.wantData) {
				t.Fatalf("passed through %d bytes, want %d", len(got), len(tc.wantData))
			}
			if hr.Size() != int64(len(tc.wantData)) {
				t.Errorf("Size = %d, want %d", hr.Size(), len(tc.wantData))
			}
			if hr.Sum() != sha(tc.wantData) {
				t.Errorf("Sum = %s, want %s", hr.Sum(), sha(tc.wantData))
			}
			if !errors.Is(hr.readErr, tc.wantReadErr) {
				t.Errorf("readErr = %v, want %v", hr.readErr, tc.wantReadErr)
			}
			if hr.eof != tc.wantEOF {
				t.Errorf("eof = %v, want %v", hr.eof, tc.wantEOF)
			}
		})
	}
}

// closeRecorder is an io.ReadCloser that records Close.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestVerifyingReader(t *testing.T) {
	data := prngBytes(2, 70_000)
	tampered := bytes.Clone(data)
	tampered[12345] ^= 0x01
	info := Error{Op: "get", Bucket: "b", Key: "k", VersionID: "v1", Endpoint: "127.0.0.1:9000"}
	tests := []struct {
		name      string
		body      []byte
		wantSHA   string
		wantSize  int64
		readFully bool
		wantErr   string // "" means no error; else substring of the integrity error
		wantBytes int    // bytes handed out before the error when wantErr != ""
	}{
		{"intact", data, sha(data), int64(len(data)), true, "", len(data)},
		{"intact, size unknown", data, sha(data), -1, true, "", len(data)},
		{"intact, digest unknown", data, "", int64(len(data)), true, "", len(data)},
		{"empty", nil, emptySHA256, 0, true, "", 0},
		{"one bit flipped", tampered, sha(data), int64(len(data)), true, "sha256 mismatch", len(data)},
		{"truncated", data[:len(data)-1], sha(data), int64(len(data)), true, "size mismatch: read 69999 bytes, expected 70000", len(data) - 1},
		{"longer than expected", append(bytes.Clone(data), 'x'), sha(data), int64(len(data)), true, "longer than the expected 70000 bytes", len(data)},
		{"closed early is not checked", tampered, sha(data), int64(len(data)), false, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &closeRecorder{Reader: iotest.HalfReader(bytes.NewReader(tc.body))}
			v := newVerifyingReader(rc, tc.wantSHA, tc.wantSize, info)
			if !tc.readFully {
				buf := make([]byte, 100)
				if _, err := io.ReadFull(v, buf); err != nil {
					t.Fatalf("partial read: %v", err)
				}
				if err := v.Close(); err != nil {
					t.Fatalf("Close after a partial read = %v, want nil", err)
				}
				if !rc.closed {
					t.Fatal("underlying body not closed")
				}
				return
			}
			got, err := io.ReadAll(v)
			cerr := v.Close()
			if !rc.closed {
				t.Fatal("underlying body not closed")
			}
			if tc.wantErr == "" {
				if err != nil || cerr != nil {
					t.Fatalf("read err %v, close err %v; want none", err, cerr)
				}
				if !bytes.Equal(got, tc.body) {
					t.Fatal("content differs")
				}
				return
			}
			for what, e := range map[string]error{"Read": err, "Close": cerr} {
				var ae *Error
				if !errors.As(e, &ae) || ae.Kind != Integrity {
					t.Fatalf("%s error = %v, want an integrity *Error", what, e)
				}
				if !strings.Contains(e.Error(), tc.wantErr) || !strings.Contains(e.Error(), "get b/k@v1: integrity") {
					t.Errorf("%s error %q lacks %q or the object name", what, e.Error(), tc.wantErr)
				}
			}
			if len(got) > tc.wantBytes {
				t.Errorf("handed out %d bytes, want at most %d", len(got), tc.wantBytes)
			}
			// The error is sticky.
			if _, err2 := v.Read(make([]byte, 1)); KindOf(err2) != Integrity {
				t.Errorf("second Read = %v, want the integrity error again", err2)
			}
		})
	}
}
