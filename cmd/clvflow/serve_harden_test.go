package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runServeArgs runs `clvflow serve ARGS` in process and returns its error.
func runServeArgs(t *testing.T, args ...string) error {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(append([]string{"serve"}, args...))
	return root.Execute()
}

// TestServeRefusesOpenListenWithoutToken: serve refuses a non-loopback
// address with no token before loading anything, naming serving.listen,
// serving.auth_token and --insecure; --insecure, a token or a loopback
// address get past that check (the missing model file fails later).
func TestServeRefusesOpenListenWithoutToken(t *testing.T) {
	t.Setenv("CLVFLOW_SERVING_AUTH_TOKEN", "")
	t.Setenv("CLVFLOW_SERVING_INSECURE", "")
	model := filepath.Join(t.TempDir(), "missing.onnx")
	for _, listen := range []string{"0.0.0.0:0", "[::]:0", "192.0.2.10:8080", "serve.example.com:8080"} {
		err := runServeArgs(t, "--listen", listen, "--model", model)
		if err == nil {
			t.Fatalf("serve --listen %s without a token = nil", listen)
		}
		for _, want := range []string{"serving.listen", "serving.auth_token", "--insecure"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("serve --listen %s = %q; want it to name %s", listen, err, want)
			}
		}
	}
	passes := func(name string, err error) {
		t.Helper()
		if err == nil || strings.Contains(err.Error(), "serving.auth_token") {
			t.Errorf("%s = %v; want to pass the exposure check and fail on the missing model", name, err)
		}
	}
	passes("--insecure", runServeArgs(t, "--listen", "0.0.0.0:0", "--insecure", "--model", model))
	passes("127.0.0.1", runServeArgs(t, "--listen", "127.0.0.1:0", "--model", model))
	passes("localhost", runServeArgs(t, "--listen", "localhost:0", "--model", model))
	t.Setenv("CLVFLOW_SERVING_INSECURE", "true")
	passes("serving.insecure from env", runServeArgs(t, "--listen", "0.0.0.0:0", "--model", model))
	if err := runServeArgs(t, "--listen", "0.0.0.0:0", "--insecure=false", "--model", model); err == nil || !strings.Contains(err.Error(), "serving.auth_token") {
		t.Errorf("--insecure=false over CLVFLOW_SERVING_INSECURE=true = %v; want the refusal", err)
	}
	t.Setenv("CLVFLOW_SERVING_INSECURE", "")
	t.Setenv("CLVFLOW_SERVING_AUTH_TOKEN", "s3cret")
	passes("a token", runServeArgs(t, "--listen", "0.0.0.0:0", "--model", model))
}

// TestServeTLSFlagsValidatedAtStart: a certificate without its key, or a
// file that is no certificate, stops serve at start with the key named.
func TestServeTLSFlagsValidatedAtStart(t *testing.T) {
	dir := t.TempDir()
	bogus := filepath.Join(dir, "bogus.pem")
	if err := os.WriteFile(bogus, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(dir, "missing.onnx")
	if err := runServeArgs(t, "--listen", "127.0.0.1:0", "--tls-cert", bogus, "--model", model); err == nil || !strings.Contains(err.Error(), "serving.tls_key_file") {
		t.Errorf("serve --tls-cert without --tls-key = %v; want it to name serving.tls_key_file", err)
	}
	if err := runServeArgs(t, "--listen", "127.0.0.1:0", "--tls-cert", bogus, "--tls-key", bogus, "--model", model); err == nil ||
		!strings.Contains(err.Error(), "serving.tls_cert_file") || !strings.Contains(err.Error(), "serving.tls_key_file") {
		t.Errorf("serve with a bogus certificate = %v; want it to name both keys", err)
	}
	if err := runServeArgs(t, "--listen", "127.0.0.1:0", "--tls-cert", filepath.Join(dir, "none.crt"), "--tls-key", bogus, "--model", model); err == nil ||
		!strings.Contains(err.Error(), "serving.tls_cert_file") {
		t.Errorf("serve with a missing certificate = %v; want it to name serving.tls_cert_file", err)
	}
}
