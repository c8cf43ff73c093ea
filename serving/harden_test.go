package serving

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "127.1.2.3:80": true, "[::1]:8080": true, "localhost:8080": true, "LOCALHOST:1": true,
		"0.0.0.0:8080": false, "[::]:8080": false, ":8080": false, "192.168.1.10:8080": false, "10.0.0.1:80": false,
		"example.com:8080": false, "localhost.example.com:80": false, "[fe80::1]:80": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v; want %v", addr, got, want)
		}
	}
}

// TestExposureRefusedWithoutToken: a non-loopback listen address with no
// token is refused at start with an error naming both keys and --insecure;
// a token, --insecure or a loopback address make it acceptable.
func TestExposureRefusedWithoutToken(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8080", "[::]:8080", ":8080", "192.168.1.10:8080", "clvflow.example.com:8080"} {
		err := Config{Listen: listen}.withDefaults().Validate()
		if err == nil {
			t.Errorf("Validate(listen %s, no token) = nil; want a refusal", listen)
			continue
		}
		for _, want := range []string{"serving.listen", "serving.auth_token", "--insecure", listen} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Validate(listen %s) = %q; want it to name %q", listen, err, want)
			}
		}
		if err := (Config{Listen: listen, AuthToken: "s3cret"}).withDefaults().Validate(); err != nil {
			t.Errorf("Validate(listen %s, token) = %v", listen, err)
		}
		if err := (Config{Listen: listen, Insecure: true}).withDefaults().Validate(); err != nil {
			t.Errorf("Validate(listen %s, insecure) = %v", listen, err)
		}
	}
	for _, listen := range []string{"127.0.0.1:8080", "127.0.0.53:1", "[::1]:8080", "localhost:8080"} {
		if err := (Config{Listen: listen}).withDefaults().Validate(); err != nil {
			t.Errorf("Validate(loopback %s, no token) = %v", listen, err)
		}
	}
}

// TestServeChecksTheBoundAddress: Serve refuses a listener bound to all
// interfaces without a token, and with Insecure serves it with a warning.
func TestServeChecksTheBoundAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skipf("cannot listen on 0.0.0.0: %v", err)
	}
	s := New(Config{}, NewDirSource(t.TempDir(), ""), WithLogger(quietLogger(t)))
	err = s.Serve(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "serving.auth_token") || !strings.Contains(err.Error(), "--insecure") {
		t.Fatalf("Serve on %s without a token = %v; want a refusal naming serving.auth_token and --insecure", ln.Addr(), err)
	}

	ln, err = net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s = New(Config{Insecure: true, ReloadInterval: time.Hour}, NewDirSource(t.TempDir(), ""), WithLogger(log))
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve --insecure = %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "INSECURE") {
		t.Fatalf("no loud warning for --insecure; logs:\n%s", logs.String())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir and returns their paths and the certificate.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "clvflow test " + name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func TestTLSConfigValidation(t *testing.T) {
	dir := t.TempDir()
	certA, keyA, _ := selfSigned(t, dir, "a")
	_, keyB, _ := selfSigned(t, dir, "b")
	tests := []struct {
		name      string
		cert, key string
		want      []string
	}{
		{name: "cert only", cert: certA, want: []string{"serving.tls_key_file", "both"}},
		{name: "key only", key: keyA, want: []string{"serving.tls_cert_file", "both"}},
		{name: "missing cert", cert: filepath.Join(dir, "nope.crt"), key: keyA, want: []string{"serving.tls_cert_file", "no such file"}},
		{name: "missing key", cert: certA, key: filepath.Join(dir, "nope.key"), want: []string{"serving.tls_key_file", "no such file"}},
		{name: "mismatched pair", cert: certA, key: keyB, want: []string{"serving.tls_cert_file", "serving.tls_key_file", "matching"}},
		{name: "key as cert", cert: keyA, key: keyA, want: []string{"serving.tls_cert_file", "serving.tls_key_file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Config{TLSCertFile: tt.cert, TLSKeyFile: tt.key}.withDefaults().Validate()
			if err == nil {
				t.Fatal("Validate = nil; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q; want it to contain %q", err, w)
				}
			}
		})
	}
	if err := (Config{TLSCertFile: certA, TLSKeyFile: keyA}).withDefaults().Validate(); err != nil {
		t.Fatalf("a matching pair: %v", err)
	}
}

// startServe runs s.Serve on a loopback listener until the test ends.
func startServe(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve = %v", err)
		}
	})
	return ln.Addr().String()
}

// TestServeTLS: with a certificate and key the server speaks HTTPS only; a
// client trusting the certificate gets answers, a plain HTTP one does not.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, cert := selfSigned(t, t.TempDir(), "server")
	s := New(Config{TLSCertFile: certFile, TLSKeyFile: keyFile, ReloadInterval: time.Hour}, NewDirSource(t.TempDir(), ""), WithLogger(quietLogger(t)))
	addr := startServe(t, s)

	pool := x509.NewCertPool()
	pool.AddCert(cert)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS GET /healthz: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 || !resp.TLS.PeerCertificates[0].Equal(cert) {
		t.Fatalf("HTTPS /healthz = %d %s (tls %v)", resp.StatusCode, body, resp.TLS != nil)
	}

	plain := &http.Client{Timeout: 10 * time.Second}
	if resp, err := plain.Get("http://" + addr + "/healthz"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatalf("plain HTTP to the TLS server answered 200: %s", body)
		}
	}
	untrusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer untrusting.CloseIdleConnections()
	if _, err := untrusting.Get("https://" + addr + "/healthz"); err == nil {
		t.Fatal("a client that does not trust the self-signed certificate connected")
	}
}

// TestSlowlorisCutByReadHeaderTimeout: a client that sends part of its
// headers and then nothing loses its connection after
// serving.read_header_timeout; the client's own (far longer) read deadline
// is the bound, so nothing here sleeps.
func TestSlowlorisCutByReadHeaderTimeout(t *testing.T) {
	const headerTimeout = 200 * time.Millisecond
	const bound = 10 * time.Second
	s := New(Config{ReadHeaderTimeout: headerTimeout, ReadTimeout: time.Minute, ReloadInterval: time.Hour}, NewDirSource(t.TempDir(), ""), WithLogger(quietLogger(t)))
	addr := startServe(t, s)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: clvflow\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(bound)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn) // returns when the server closes the connection
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept a half-sent request open for %v (serving.read_header_timeout %v)", elapsed, headerTimeout)
	}
	if strings.Contains(string(got), "200 OK") {
		t.Fatalf("the half-sent request was answered: %q", got)
	}
	if elapsed < headerTimeout/2 {
		t.Fatalf("connection closed after %v, before the header timeout %v", elapsed, headerTimeout)
	}
	t.Logf("connection closed after %v (read %q, err %v)", elapsed, got, err)

	// A prompt client on a new connection is still served.
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after the slow client = %d", resp.StatusCode)
	}
}

// TestMaxInFlight: with serving.max_in_flight requests blocked inside
// /v1/predict, another gets 503 with Retry-After and a JSON body saying the
// server is at capacity, probes still answer, and once the blocked requests
// finish new ones are served again.
func TestMaxInFlight(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	d.add("v1", onnxrttest.Spec{Seed: 1})
	d.point("v1")
	const limit = 2
	s := New(Config{MaxInFlight: limit}, d, WithLogger(quietLogger(t)))
	defer s.Close()
	if _, err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{}, 16)
	release := make(chan struct{})
	s.beforePredict = func(int) {
		entered <- struct{}{}
		<-release
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	f, _ := onnxrttest.Rows(2, 3, 0)
	body := predictBody(f, nil)

	codes := make(chan int, limit)
	for range limit {
		go func() {
			code, _, err := post(ts.Client(), ts.URL+"/v1/predict", "", body)
			if err != nil {
				t.Error(err)
			}
			codes <- code
		}()
	}
	for range limit {
		select {
		case <-entered:
		case <-time.After(30 * time.Second):
			t.Fatal("the blocked requests never reached the model")
		}
	}

	resp, err := ts.Client().Post(ts.URL+"/v1/predict", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var eb errorBody
	if err := json.Unmarshal(raw, &eb); err != nil {
		t.Fatalf("503 body %q is not JSON: %v", raw, err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || eb.Error.Code != "at_capacity" ||
		!strings.Contains(eb.Error.Message, "at capacity") || !strings.Contains(eb.Error.Message, "serving.max_in_flight") {
		t.Fatalf("request beyond the limit = %d Retry-After %q %s; want 503, Retry-After 1 and an at_capacity body", resp.StatusCode, resp.Header.Get("Retry-After"), raw)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s at capacity = %d; probes must not be limited", path, resp.StatusCode)
		}
	}

	close(release)
	for range limit {
		if code := <-codes; code != http.StatusOK {
			t.Fatalf("a blocked request finished with %d", code)
		}
	}
	if code, r, err := post(ts.Client(), ts.URL+"/v1/predict", "", body); err != nil || code != http.StatusOK || len(r.Predictions) != len(f) {
		t.Fatalf("after the blocked requests finished: %d %+v %v", code, r, err)
	}
	if !metricLine(scrape(t, s.Handler()), "clvflow_serving_requests_rejected_at_capacity_total 1") {
		t.Error("the refused request was not counted")
	}
}

// TestBodyTooLargeIsClear keeps the 413 for oversized bodies, with a JSON
// body naming serving.max_body_bytes.
func TestBodyTooLargeIsClear(t *testing.T) {
	s := New(Config{MaxBodyBytes: 1024}, NewDirSource(t.TempDir(), ""), WithLogger(quietLogger(t)))
	defer s.Close()
	rec := doRequest(s.Handler(), http.MethodPost, "/v1/predict", "", bytes.Repeat([]byte("x"), 4096))
	var eb errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || rec.Code != http.StatusRequestEntityTooLarge || eb.Error.Code != "body_too_large" ||
		!strings.Contains(eb.Error.Message, "serving.max_body_bytes") {
		t.Fatalf("oversized body = %d %s (%v)", rec.Code, rec.Body, err)
	}
}
