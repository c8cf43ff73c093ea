package artifacts

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
)

func netErr(errno syscall.Errno) error {
	return &url.Error{Op: "Get", URL: "http://127.0.0.1:9/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", errno)}}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, Other},
		{"connection refused", netErr(syscall.ECONNREFUSED), Unreachable},
		{"host unreachable", netErr(syscall.EHOSTUNREACH), Unreachable},
		{"unknown host", &url.Error{Op: "Get", URL: "http://nope:9000", Err: &net.DNSError{Err: "no such host", Name: "nope", IsNotFound: true}}, Unreachable},
		{"temporary DNS failure", &net.DNSError{Err: "server misbehaving", Name: "x", IsTemporary: true}, Transient},
		{"connection reset", netErr(syscall.ECONNRESET), Transient},
		{"broken pipe", netErr(syscall.EPIPE), Transient},
		{"unexpected EOF", &url.Error{Op: "Put", URL: "http://x", Err: io.ErrUnexpectedEOF}, Transient},
		{"server closed connection", &url.Error{Op: "Put", URL: "http://x", Err: io.EOF}, Transient},
		{"net timeout", &url.Error{Op: "Get", URL: "http://x", Err: timeoutErr{}}, Transient},
		{"caller cancelled", &url.Error{Op: "Get", URL: "http://x", Err: context.Canceled}, Other},
		{"caller deadline", fmt.Errorf("wrapped: %w", context.DeadlineExceeded), Other},
		{"tls unknown authority", &url.Error{Op: "Get", URL: "https://x", Err: x509.UnknownAuthorityError{}}, Unreachable},
		{"http answer to https", errors.New(`Get "https://x": http: server gave HTTP response to HTTPS client`), Unreachable},
		{"NoSuchKey", minio.ErrorResponse{Code: "NoSuchKey", StatusCode: 404}, NotFound},
		{"NoSuchBucket", minio.ErrorResponse{Code: "NoSuchBucket", StatusCode: 404}, NotFound},
		{"NoSuchVersion", minio.ErrorResponse{Code: "NoSuchVersion", StatusCode: 404}, NotFound},
		{"bare 404", minio.ErrorResponse{Code: "404 Not Found", StatusCode: 404}, NotFound},
		{"InvalidAccessKeyId", minio.ErrorResponse{Code: "InvalidAccessKeyId", StatusCode: 403}, BadCredentials},
		{"SignatureDoesNotMatch", minio.ErrorResponse{Code: "SignatureDoesNotMatch", StatusCode: 403}, BadCredentials},
		{"AccessDenied", minio.ErrorResponse{Code: "AccessDenied", StatusCode: 403}, BadCredentials},
		{"SlowDown", minio.ErrorResponse{Code: "SlowDown", StatusCode: 503}, Transient},
		{"ServerBusy", minio.ErrorResponse{Code: "ServerBusy", StatusCode: 503}, Transient},
		{"RequestTimeout", minio.ErrorResponse{Code: "RequestTimeout", StatusCode: 400}, Transient},
		{"InternalError", minio.ErrorResponse{Code: "InternalError", StatusCode: 500}, Transient},
		{"unknown 502", minio.ErrorResponse{Code: "502 Bad Gateway", StatusCode: 502}, Transient},
		{"429", minio.ErrorResponse{Code: "TooManyRequests", StatusCode: 429}, Transient},
		{"InvalidBucketName", minio.ErrorResponse{Code: "InvalidBucketName", StatusCode: 400}, Invalid},
		{"client-side InvalidArgument", minio.ErrorResponse{Code: "InvalidArgument"}, Invalid},
		{"clock skew", minio.ErrorResponse{Code: "RequestTimeTooSkewed", StatusCode: 403}, Invalid},
		{"bare 400", minio.ErrorResponse{Code: "400 Bad Request", StatusCode: 400}, Invalid},
		{"409", minio.ErrorResponse{Code: "OperationAborted", StatusCode: 409}, Other},
		{"plain error", errors.New("something odd"), Other},
		{"ours kept", &Error{Kind: Integrity, Err: errors.New("x")}, Integrity},
		{"ours wrapped", fmt.Errorf("ctx: %w", &Error{Kind: NotFound}), NotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); got != tc.want {
				t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want []string // substrings
		not  []string
	}{
		{
			name: "unreachable",
			err:  &Error{Op: "ping", Kind: Unreachable, Endpoint: "127.0.0.1:9000", Err: netErr(syscall.ECONNREFUSED)},
			want: []string{"artifacts: cannot reach MinIO at 127.0.0.1:9000 (connection refused): is it running? (storage.endpoint)"},
		},
		{
			name: "unreachable tls",
			err:  &Error{Op: "ping", Kind: Unreachable, Endpoint: "minio:9000", Err: &url.Error{Op: "Get", URL: "https://minio:9000", Err: x509.UnknownAuthorityError{}}},
			want: []string{"artifacts: TLS with MinIO at minio:9000 failed", "check storage.use_tls and the CA file"},
		},
		{
			name: "bad credentials",
			err:  &Error{Op: "ping", Kind: BadCredentials, Endpoint: "127.0.0.1:9000", Err: minio.ErrorResponse{Code: "SignatureDoesNotMatch", Message: "The request signature we calculated does not match"}},
			want: []string{"artifacts: MinIO rejected the credentials for 127.0.0.1:9000: check storage.access_key / storage.secret_key (ping: SignatureDoesNotMatch: The request signature"},
		},
		{
			name: "not found with version",
			err:  &Error{Op: "get", Kind: NotFound, Bucket: "b", Key: "k", VersionID: "v1", Err: minio.ErrorResponse{Code: "NoSuchKey", Message: "The specified key does not exist."}},
			want: []string{"artifacts: get b/k@v1: not found: NoSuchKey: The specified key does not exist."},
		},
		{
			name: "transient with attempts",
			err:  &Error{Op: "put", Kind: Transient, Bucket: "b", Key: "k", Attempts: 5, Err: errors.New("503 SlowDown")},
			want: []string{"artifacts: put b/k: transient (gave up after 5 attempts): 503 SlowDown"},
		},
		{
			name: "multi-line cause folded",
			err:  &Error{Op: "config", Kind: Invalid, Err: errors.New("line one\nline two")},
			want: []string{"artifacts: config: invalid: line one line two"},
			not:  []string{"\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(msg, n) {
					t.Errorf("message %q contains %q", msg, n)
				}
			}
		})
	}
}

func TestKindHelpers(t *testing.T) {
	nf := &Error{Op: "get", Kind: NotFound}
	tests := []struct {
		name      string
		err       error
		kind      Kind
		notFound  bool
		transient bool
	}{
		{"nil", nil, Other, false, false},
		{"plain", errors.New("x"), Other, false, false},
		{"not found", nf, NotFound, true, false},
		{"wrapped not found", fmt.Errorf("outer: %w", nf), NotFound, true, false},
		{"transient", &Error{Kind: Transient}, Transient, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := KindOf(tc.err); got != tc.kind {
				t.Errorf("KindOf = %v, want %v", got, tc.kind)
			}
			if got := IsNotFound(tc.err); got != tc.notFound {
				t.Errorf("IsNotFound = %v, want %v", got, tc.notFound)
			}
			if got := IsTransient(tc.err); got != tc.transient {
				t.Errorf("IsTransient = %v, want %v", got, tc.transient)
			}
		})
	}
	cause := errors.New("root cause")
	if e := (&Error{Err: cause}); !errors.Is(e, cause) {
		t.Error("errors.Is does not reach the cause through *Error")
	}
	if got := Kind(42).String(); got != "kind(42)" {
		t.Errorf("Kind(42).String() = %q", got)
	}
}
