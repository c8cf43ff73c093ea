package artifacts

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Part sizes for multipart uploads.
const (
	// DefaultPartSize is the multipart part size used when Config.PartSize
	// is 0. With S3's 10,000-part limit it allows objects of unknown size up
	// to about 156 GiB while buffering one 16 MiB part at a time.
	DefaultPartSize = 16 << 20
	// MinPartSize is the smallest part size S3 accepts.
	MinPartSize = 5 << 20
	// MaxPartSize is the largest part size S3 accepts.
	MaxPartSize = 5 << 30
)

// Config describes how to reach MinIO. It mirrors the storage.* config keys.
type Config struct {
	Endpoint  string // host:port, no scheme (storage.endpoint)
	AccessKey string // storage.access_key
	SecretKey string // storage.secret_key
	Region    string // storage.region; "" means us-east-1
	UseTLS    bool   // storage.use_tls
	// CAFile is a PEM file of extra CA certificates trusted for TLS (only
	// with UseTLS); "" uses the system roots.
	CAFile string
	// Retry is the policy for transient failures; the zero value means
	// [DefaultRetryPolicy].
	Retry RetryPolicy
	// PartSize is the multipart part size in bytes; 0 means
	// [DefaultPartSize]. Uploads of unknown size buffer one part in memory.
	PartSize uint64
}

// DefaultRegion is the region used when Config.Region is empty.
const DefaultRegion = "us-east-1"

// Validate checks the configuration and says which setting is wrong.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint == "" {
		errs = append(errs, errors.New("storage.endpoint is empty: set it to host:port, e.g. 127.0.0.1:9000"))
	} else if strings.Contains(c.Endpoint, "://") {
		errs = append(errs, fmt.Errorf("storage.endpoint %q must be host:port without a scheme (use storage.use_tls for https)", c.Endpoint))
	} else if host, port, err := net.SplitHostPort(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("storage.endpoint %q is not host:port: %v", c.Endpoint, err))
	} else if host == "" {
		errs = append(errs, fmt.Errorf("storage.endpoint %q has no host", c.Endpoint))
	} else if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		errs = append(errs, fmt.Errorf("storage.endpoint %q: port %q is not a number in 1..65535", c.Endpoint, port))
	}
	if c.AccessKey == "" {
		errs = append(errs, errors.New("storage.access_key is empty"))
	}
	if c.SecretKey == "" {
		errs = append(errs, errors.New("storage.secret_key is empty"))
	}
	if c.CAFile != "" {
		if !c.UseTLS {
			errs = append(errs, fmt.Errorf("CA file %q is set but storage.use_tls is false", c.CAFile))
		} else if _, err := loadCAFile(c.CAFile); err != nil {
			errs = append(errs, err)
		}
	}
	if c.PartSize != 0 && (c.PartSize < MinPartSize || c.PartSize > MaxPartSize) {
		errs = append(errs, fmt.Errorf("part size %d is outside [%d, %d] bytes", c.PartSize, MinPartSize, MaxPartSize))
	}
	if c.Retry != (RetryPolicy{}) {
		if err := c.Retry.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return &Error{Op: "config", Kind: Invalid, Endpoint: c.Endpoint, Err: joinOneLine(errs)}
}

func (c Config) region() string {
	if c.Region == "" {
		return DefaultRegion
	}
	return c.Region
}

func (c Config) partSize() uint64 {
	if c.PartSize == 0 {
		return DefaultPartSize
	}
	return c.PartSize
}

func (c Config) retryPolicy() RetryPolicy {
	if c.Retry == (RetryPolicy{}) {
		return DefaultRetryPolicy()
	}
	return c.Retry
}

func loadCAFile(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("CA file: %v", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// joinOneLine joins errors with "; " (errors.Join uses newlines).
func joinOneLine(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "; "))
}

// RetryPolicy bounds the retries of transient failures with exponential
// backoff: the wait before retry n (1-based) is
// min(MaxBackoff, InitialBackoff·Multiplier^(n-1)). Retrying stops after
// MaxAttempts attempts in all, or when the next wait would end later than
// MaxElapsed after the first attempt began (0: no time bound).
// Only [Transient] failures are retried.
type RetryPolicy struct {
	MaxAttempts    int           // attempts in all, including the first; 1 disables retries
	InitialBackoff time.Duration // wait before the first retry
	MaxBackoff     time.Duration // cap on any single wait
	Multiplier     float64       // growth of the wait per retry, ≥ 1
	MaxElapsed     time.Duration // bound on the total time spent; 0 = bounded by MaxAttempts only
}

// DefaultRetryPolicy returns 5 attempts, waits of 200ms, 400ms, 800ms,
// 1.6s (cap 5s), within 30s in all.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, InitialBackoff: 200 * time.Millisecond, MaxBackoff: 5 * time.Second, Multiplier: 2, MaxElapsed: 30 * time.Second}
}

// Validate checks the policy's bounds.
func (p RetryPolicy) Validate() error {
	var errs []error
	if p.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("retry max attempts is %d, want ≥ 1 (1 disables retries)", p.MaxAttempts))
	}
	if p.InitialBackoff < 0 || p.MaxBackoff < 0 || p.MaxElapsed < 0 {
		errs = append(errs, errors.New("retry durations must not be negative"))
	}
	if p.MaxBackoff < p.InitialBackoff {
		errs = append(errs, fmt.Errorf("retry max backoff %s is below the initial backoff %s", p.MaxBackoff, p.InitialBackoff))
	}
	if p.Multiplier < 1 {
		errs = append(errs, fmt.Errorf("retry multiplier %g is below 1", p.Multiplier))
	}
	if len(errs) == 0 {
		return nil
	}
	return joinOneLine(errs)
}

// Backoff returns the wait before retry n (n ≥ 1: the wait after the n-th
// failed attempt).
func (p RetryPolicy) Backoff(n int) time.Duration {
	if n < 1 {
		return 0
	}
	d := float64(p.InitialBackoff)
	for i := 1; i < n && d < float64(p.MaxBackoff); i++ {
		d *= p.Multiplier
	}
	if d > float64(p.MaxBackoff) {
		return p.MaxBackoff
	}
	return time.Duration(d)
}
