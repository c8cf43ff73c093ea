package artifacts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"
)

// Kind classifies an [*Error] by what the caller can do about it.
type Kind int

// The kinds of failure. Other is the zero value.
const (
	// Other is any failure that fits no other kind (including cancellation
	// of the caller's context).
	Other Kind = iota
	// Unreachable: the MinIO endpoint could not be reached (connection
	// refused, unknown host, TLS handshake failure).
	Unreachable
	// BadCredentials: MinIO rejected the access key or secret key, or denied
	// access.
	BadCredentials
	// NotFound: the bucket, object or object version does not exist.
	NotFound
	// Integrity: the bytes read do not match the expected sha256 or size.
	Integrity
	// Invalid: the request, configuration or stored document is malformed;
	// retrying cannot help.
	Invalid
	// Transient: a failure worth retrying (connection reset, timeout, 5xx,
	// SlowDown, ServerBusy, RequestTimeout). The store has already retried
	// it according to its [RetryPolicy] when the error reaches the caller.
	Transient
)

var kindNames = [...]string{
	Other:          "other",
	Unreachable:    "unreachable",
	BadCredentials: "bad credentials",
	NotFound:       "not found",
	Integrity:      "integrity",
	Invalid:        "invalid",
	Transient:      "transient",
}

// String returns the kind's lower-case name.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("kind(%d)", int(k))
	}
	return kindNames[k]
}

// Error is the one error type returned by this package.
type Error struct {
	Op       string // operation: "put", "get", "stat", "delete", "list", "ping", "ensure-bucket", "config", ...
	Bucket   string // bucket involved, if any
	Key      string // object key involved, if any
	Kind     Kind
	Err      error  // underlying cause
	Endpoint string // MinIO endpoint (host:port), for the unreachable / credentials messages
	// VersionID is the object version involved, if any.
	VersionID string
	// Attempts is how many attempts were made when a transient failure was
	// retried and finally given up (0 or 1 when it was not retried).
	Attempts int
}

// Error returns a single actionable line.
func (e *Error) Error() string {
	switch e.Kind {
	case Unreachable:
		if isTLSFailure(e.Err) {
			return fmt.Sprintf("artifacts: TLS with MinIO at %s failed (%s): check storage.use_tls and the CA file", e.Endpoint, causeText(e.Err))
		}
		return fmt.Sprintf("artifacts: cannot reach MinIO at %s (%s): is it running? (storage.endpoint)", e.Endpoint, causeText(e.Err))
	case BadCredentials:
		what := e.Op
		if t := e.target(); t != "" {
			what += " " + t
		}
		return fmt.Sprintf("artifacts: MinIO rejected the credentials for %s: check storage.access_key / storage.secret_key (%s: %s)", e.Endpoint, what, causeText(e.Err))
	}
	var b strings.Builder
	b.WriteString("artifacts: ")
	b.WriteString(e.Op)
	if t := e.target(); t != "" {
		b.WriteString(" ")
		b.WriteString(t)
	}
	b.WriteString(": ")
	b.WriteString(e.Kind.String())
	if e.Kind == Transient && e.Attempts > 1 {
		fmt.Fprintf(&b, " (gave up after %d attempts)", e.Attempts)
	}
	if e.Err != nil {
		msg := e.Err.Error()
		// minio-go's ErrorResponse prints only its message; keep the S3 code.
		var er minio.ErrorResponse
		if errors.As(e.Err, &er) && er.Code != "" && !strings.Contains(msg, er.Code) {
			msg = er.Code + ": " + msg
		}
		b.WriteString(": ")
		b.WriteString(oneLine(msg))
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) target() string {
	t := e.Bucket
	if e.Key != "" {
		t += "/" + e.Key
	}
	if e.VersionID != "" {
		t += "@" + e.VersionID
	}
	return t
}

// KindOf returns the kind of err: the Kind of the first [*Error] in its
// chain, else Other (also for nil).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Other
}

// IsNotFound reports whether err is an [*Error] of kind [NotFound].
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == NotFound
}

// IsTransient reports whether err is an [*Error] of kind [Transient].
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Transient
}

// newError builds an *Error from err, keeping an *Error already in the chain
// unchanged.
func newError(op, endpoint, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Op: op, Bucket: bucket, Key: key, Endpoint: endpoint, Kind: classify(err), Err: err}
}

// S3 / MinIO error codes by kind.
var (
	notFoundCodes = map[string]bool{
		"NoSuchKey": true, "NoSuchBucket": true, "NoSuchVersion": true, "NoSuchUpload": true,
	}
	credentialCodes = map[string]bool{
		"InvalidAccessKeyId": true, "SignatureDoesNotMatch": true, "AccessDenied": true,
		"InvalidToken": true, "ExpiredToken": true, "XMinioInvalidAccessKey": true,
	}
	transientCodes = map[string]bool{
		"SlowDown": true, "SlowDownRead": true, "SlowDownWrite": true, "ServerBusy": true,
		"RequestTimeout": true, "InternalError": true, "ServiceUnavailable": true,
		"XMinioServerNotInitialized": true, "XMinioReadQuorum": true, "XMinioWriteQuorum": true,
		"OperationTimedOut": true,
	}
	invalidCodes = map[string]bool{
		"InvalidArgument": true, "InvalidBucketName": true, "XMinioInvalidObjectName": true,
		"InvalidObjectName": true, "EntityTooLarge": true, "EntityTooSmall": true, "InvalidRange": true,
		"MalformedXML": true, "KeyTooLongError": true, "InvalidPart": true, "InvalidPartOrder": true,
		"AuthorizationHeaderMalformed": true, "RequestTimeTooSkewed": true, "InvalidDigest": true,
		"BadDigest": true, "XAmzContentSHA256Mismatch": true, "MissingContentLength": true,
	}
)

// classify maps an error from minio-go, net/http or the network to a Kind.
func classify(err error) Kind {
	if err == nil {
		return Other
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	// The caller gave up: never retried, never blamed on the server.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Other
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		return classifyResponse(er)
	}
	if isTLSFailure(err) {
		return Unreachable
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && !dnsErr.IsTemporary {
		return Unreachable
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EADDRNOTAVAIL):
		return Unreachable
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ETIMEDOUT),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// io.EOF here is net/http's "server closed the connection before
		// answering", never the end of a body (callers handle that).
		return Transient
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Transient
	}
	if dnsErr != nil && dnsErr.IsTemporary {
		return Transient
	}
	return Other
}

func classifyResponse(er minio.ErrorResponse) Kind {
	c := er.Code
	switch {
	case notFoundCodes[c]:
		return NotFound
	case credentialCodes[c]:
		return BadCredentials
	case transientCodes[c]:
		return Transient
	case invalidCodes[c]:
		return Invalid
	}
	switch s := er.StatusCode; {
	case s == http.StatusNotFound:
		return NotFound
	case s == http.StatusUnauthorized, s == http.StatusForbidden:
		return BadCredentials
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		return Transient
	case s == http.StatusBadRequest:
		return Invalid
	}
	return Other
}

// isTLSFailure reports whether err comes from a failed TLS handshake or a
// plain-HTTP server answering an HTTPS client.
func isTLSFailure(err error) bool {
	if err == nil {
		return false
	}
	var (
		unknownAuth x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalid     x509.CertificateInvalidError
		recordHdr   tls.RecordHeaderError
		certVerify  *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuth) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &recordHdr) || errors.As(err, &certVerify) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// causeText is the short cause shown in parentheses: "connection refused",
// "no such host", or the innermost message.
func causeText(err error) string {
	if err == nil {
		return "no cause recorded"
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		if er.Message != "" {
			return er.Code + ": " + oneLine(er.Message)
		}
		return er.Code
	}
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &dnsErr):
		return "cannot resolve " + dnsErr.Name + ": " + dnsErr.Err
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return oneLine(err.Error())
		}
		err = u
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// permanent marks an error that must end a retry loop even if it is
// transient (for example a put whose reader cannot be rewound).
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }
