package artifacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := Config{Endpoint: "127.0.0.1:9000", AccessKey: "ak", SecretKey: "sk"}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string
	}{
		{"minimal", ok, nil},
		{"hostname", with(func(c *Config) { c.Endpoint = "minio.internal:443"; c.UseTLS = true }), nil},
		{"custom retry", with(func(c *Config) { c.Retry = RetryPolicy{MaxAttempts: 1, Multiplier: 1} }), nil},
		{"empty", Config{}, []string{"storage.endpoint is empty", "storage.access_key is empty", "storage.secret_key is empty"}},
		{"scheme", with(func(c *Config) { c.Endpoint = "http://127.0.0.1:9000" }), []string{"must be host:port without a scheme"}},
		{"no port", with(func(c *Config) { c.Endpoint = "127.0.0.1" }), []string{"is not host:port"}},
		{"bad port", with(func(c *Config) { c.Endpoint = "127.0.0.1:99999" }), []string{"not a number in 1..65535"}},
		{"no host", with(func(c *Config) { c.Endpoint = ":9000" }), []string{"has no host"}},
		{"CA without TLS", with(func(c *Config) { c.CAFile = notPEM }), []string{"storage.use_tls is false"}},
		{"CA missing", with(func(c *Config) { c.UseTLS = true; c.CAFile = filepath.Join(dir, "missing.pem") }), []string{"CA file", "no such file"}},
		{"CA not PEM", with(func(c *Config) { c.UseTLS = true; c.CAFile = notPEM }), []string{"holds no PEM certificate"}},
		{"part too small", with(func(c *Config) { c.PartSize = 1 << 20 }), []string{"part size 1048576 is outside"}},
		{"bad retry", with(func(c *Config) { c.Retry = RetryPolicy{MaxAttempts: 0, InitialBackoff: time.Second} }), []string{"max attempts is 0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if KindOf(err) != Invalid {
				t.Fatalf("error %v: kind %v, want invalid", err, KindOf(err))
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("message spans lines: %q", msg)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{}
	if c.region() != DefaultRegion || c.partSize() != DefaultPartSize || c.retryPolicy() != DefaultRetryPolicy() {
		t.Fatalf("defaults: region %q part %d retry %+v", c.region(), c.partSize(), c.retryPolicy())
	}
	c = Config{Region: "eu-west-1", PartSize: MinPartSize, Retry: RetryPolicy{MaxAttempts: 1, Multiplier: 1}}
	if c.region() != "eu-west-1" || c.partSize() != MinPartSize || c.retryPolicy().MaxAttempts != 1 {
		t.Fatalf("overrides not used: %+v", c)
	}
	if _, err := New(Config{Endpoint: "http://x:1"}); KindOf(err) != Invalid {
		t.Fatalf("New with a bad config: %v, want an invalid *Error", err)
	}
}
