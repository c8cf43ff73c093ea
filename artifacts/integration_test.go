package artifacts

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// fastRetry keeps retry tests quick.
var fastRetry = RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Multiplier: 2}

var bucketSeq atomic.Int64

// testBucketName returns a fresh valid bucket name derived from the test name.
func testBucketName(tb testing.TB) string {
	var b strings.Builder
	for _, r := range strings.ToLower(tb.Name()) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	name := b.String()
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	return fmt.Sprintf("t-%s-%d", name, bucketSeq.Add(1))
}

func serverConfig(srv *testenv.MinIOServer) Config {
	return Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Retry: fastRetry}
}

// rawClient talks to MinIO directly, bypassing the Store, to check and to
// tamper with what the Store wrote.
func rawClient(tb testing.TB, srv *testenv.MinIOServer) *minio.Client {
	tb.Helper()
	c, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// fixture is a Store on the test MinIO with a fresh versioned bucket.
type fixture struct {
	srv    *testenv.MinIOServer
	store  *Store
	raw    *minio.Client
	bucket string
}

func newFixture(tb testing.TB, mutate func(*Config)) fixture {
	tb.Helper()
	srv := testenv.MinIO(tb)
	cfg := serverConfig(srv)
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	f := fixture{srv: srv, store: s, raw: rawClient(tb, srv), bucket: testBucketName(tb)}
	if err := s.EnsureBucket(context.Background(), f.bucket); err != nil {
		tb.Fatal(err)
	}
	return f
}

// allVersions lists every version and delete marker under prefix, as
// "key@version" (delete markers marked), plus unfinished multipart uploads
// ("incomplete upload key").
func (f fixture) allVersions(tb testing.TB, prefix string) []string {
	tb.Helper()
	var out []string
	var keys []string
	for oi := range f.raw.ListObjectsIter(context.Background(), f.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			tb.Fatal(oi.Err)
		}
		s := oi.Key + "@" + oi.VersionID
		if oi.IsDeleteMarker {
			s += " (delete marker)"
		}
		out = append(out, s)
		keys = append(keys, oi.Key)
	}
	for _, u := range f.incompleteUploads(tb, prefix, keys...) {
		out = append(out, "incomplete upload "+u.Key)
	}
	return out
}

// incompleteUploads lists the unfinished multipart uploads under prefix.
// MinIO ignores the prefix of a listing of uploads unless it is a whole key
// (it then lists that key's uploads) or empty (then it lists, from memory,
// the bucket's uploads since it started): so this lists the bucket-wide
// ones and those of each key given, filtered by prefix.
func (f fixture) incompleteUploads(tb testing.TB, prefix string, keys ...string) []minio.ObjectMultipartInfo {
	tb.Helper()
	var out []minio.ObjectMultipartInfo
	seen := map[string]bool{}
	for _, p := range append([]string{"", prefix}, keys...) {
		for u := range f.raw.ListIncompleteUploads(context.Background(), f.bucket, p, true) {
			if u.Err != nil {
				tb.Fatal(u.Err)
			}
			if strings.HasPrefix(u.Key, prefix) && !seen[u.UploadID] {
				seen[u.UploadID] = true
				out = append(out, u)
			}
		}
	}
	return out
}

// streamReader yields n seeded pseudo-random bytes and is not seekable.
type streamReader struct {
	rng  *rand.Rand
	left int64
	// failAt, when > 0, makes Read fail once that many bytes were produced.
	failAt   int64
	produced int64
	onByte   func(produced int64) // called after each Read
}

var errSourceBroke = errors.New("source broke")

func newStream(seed uint64, n int64) *streamReader {
	return &streamReader{rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), left: n}
}

func (s *streamReader) Read(p []byte) (int, error) {
	if s.failAt > 0 && s.produced >= s.failAt {
		return 0, errSourceBroke
	}
	if s.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	n = min(n, s.left)
	if s.failAt > 0 {
		n = min(n, s.failAt-s.produced)
	}
	for i := range n {
		p[i] = byte(s.rng.Uint32())
	}
	s.left -= n
	s.produced += n
	if s.onByte != nil {
		s.onByte(s.produced)
	}
	return int(n), nil
}

func streamBytes(seed uint64, n int64) []byte {
	b, err := io.ReadAll(newStream(seed, n))
	if err != nil {
		panic(err)
	}
	return b
}

func TestIntegrationEnsureBucketVersioning(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	// Idempotent.
	for i := range 2 {
		if err := f.store.EnsureBucket(ctx, f.bucket); err != nil {
			t.Fatalf("EnsureBucket call %d: %v", i+2, err)
		}
	}
	vc, err := f.raw.GetBucketVersioning(ctx, f.bucket)
	if err != nil || !vc.Enabled() {
		t.Fatalf("versioning on %s: %+v, %v; want enabled", f.bucket, vc, err)
	}
	// A bucket made without versioning gets it turned on.
	plain := testBucketName(t)
	if err := f.raw.MakeBucket(ctx, plain, minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	if on, err := f.store.VersioningEnabled(ctx, plain); err != nil || on {
		t.Fatalf("plain bucket versioning = %v, %v; want off", on, err)
	}
	if err := f.store.EnsureBucket(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if on, err := f.store.VersioningEnabled(ctx, plain); err != nil || !on {
		t.Fatalf("after EnsureBucket versioning = %v, %v; want on", on, err)
	}
	if err := f.store.EnsureBucket(ctx, "Bad_Bucket"); KindOf(err) != Invalid {
		t.Fatalf("EnsureBucket(Bad_Bucket) = %v, want invalid", err)
	}
}

func TestIntegrationPutGetRoundTrip(t *testing.T) {
	// Small parts so that a few MB exercise multipart with several parts.
	f := newFixture(t, func(c *Config) { c.PartSize = MinPartSize })
	ctx := context.Background()
	dir := t.TempDir()
	fileData := streamBytes(11, 3<<20+17)
	path := filepath.Join(dir, "transactions.csv")
	if err := os.WriteFile(path, fileData, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		put   func() (Ref, error)
		data  []byte
		ctype string
		fname string
	}{
		{"empty", func() (Ref, error) { return f.store.PutBytes(ctx, f.bucket, "empty", nil, PutOptions{}) }, nil, DefaultContentType, ""},
		{"small bytes", func() (Ref, error) {
			return f.store.PutBytes(ctx, f.bucket, "small", []byte("customer,date,amount\n1,1997-01-01,9.99\n"), PutOptions{ContentType: "text/csv", Filename: "tiny.csv"})
		}, []byte("customer,date,amount\n1,1997-01-01,9.99\n"), "text/csv", "tiny.csv"},
		{"12 MiB stream of unknown size, 3 parts", func() (Ref, error) {
			return f.store.Put(ctx, f.bucket, "stream", newStream(12, 12<<20+5), PutOptions{Metadata: map[string]string{"Seed": "12"}})
		}, streamBytes(12, 12<<20+5), DefaultContentType, ""},
		{"small stream of unknown size", func() (Ref, error) {
			return f.store.Put(ctx, f.bucket, "smallstream", newStream(13, 1000), PutOptions{})
		}, streamBytes(13, 1000), DefaultContentType, ""},
		{"file", func() (Ref, error) {
			return f.store.PutFile(ctx, f.bucket, "files/", path, PutOptions{ContentType: "text/csv"})
		}, fileData, "text/csv", "transactions.csv"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := tc.put()
			if err != nil {
				t.Fatal(err)
			}
			want := sha(tc.data)
			if ref.SHA256 != want || ref.Size != int64(len(tc.data)) {
				t.Fatalf("ref %+v; want sha %s size %d", ref, want, len(tc.data))
			}
			if !strings.HasSuffix(ref.Key, "/sha256/"+want) || ref.Bucket != f.bucket || ref.VersionID == "" {
				t.Fatalf("ref %+v: want key .../sha256/%s in %s with a version", ref, want, f.bucket)
			}
			// Streaming read.
			rc, err := f.store.Get(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("Get returned %d bytes differing from the %d put", len(got), len(tc.data))
			}
			// Whole read, and a latest-version read by key only.
			for _, r := range []Ref{ref, {Bucket: ref.Bucket, Key: ref.Key}} {
				b, err := f.store.GetBytes(ctx, r)
				if err != nil || !bytes.Equal(b, tc.data) {
					t.Fatalf("GetBytes(%v): %d bytes, %v", r, len(b), err)
				}
			}
			st, err := f.store.Stat(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if st.SHA256 != want || st.Size != ref.Size || st.ContentType != tc.ctype || st.Filename != tc.fname || st.VersionID != ref.VersionID || st.Key != ref.Key {
				t.Fatalf("Stat = %+v; want sha %s size %d type %s filename %q", st, want, ref.Size, tc.ctype, tc.fname)
			}
			// The digest lives in the object's user metadata.
			oi, err := f.raw.StatObject(ctx, ref.Bucket, ref.Key, minio.StatObjectOptions{VersionID: ref.VersionID})
			if err != nil || oi.UserMetadata["Clvflow-Sha256"] != want {
				t.Fatalf("raw metadata %v, %v; want Clvflow-Sha256=%s", oi.UserMetadata, err, want)
			}
		})
	}
	if st, err := f.store.Stat(ctx, Ref{Bucket: f.bucket, Key: ContentKey("stream", sha(streamBytes(12, 12<<20+5)))}); err != nil || st.Metadata["seed"] != "12" {
		t.Fatalf("user metadata: %+v, %v", st.Metadata, err)
	}
	if left := f.allVersions(t, TempPrefix); len(left) != 0 {
		t.Fatalf("temporary objects left behind: %v", left)
	}
}

func TestIntegrationDedupe(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	data := streamBytes(21, 2<<20)
	first, err := f.store.Put(ctx, f.bucket, "datasets", newStream(21, 2<<20), PutOptions{Filename: "a.csv"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.store.PutBytes(ctx, f.bucket, "datasets", data, PutOptions{Filename: "b.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("same content gave different refs:\n%+v\n%+v", first, second)
	}
	if v := f.allVersions(t, ""); len(v) != 1 || v[0] != first.Key+"@"+first.VersionID {
		t.Fatalf("bucket holds %v, want only %s@%s", v, first.Key, first.VersionID)
	}
	other, err := f.store.PutBytes(ctx, f.bucket, "datasets", append(bytes.Clone(data), '!'), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if other.Key == first.Key || other.SHA256 == first.SHA256 {
		t.Fatalf("different content shares a key: %+v", other)
	}
	// Same content under another prefix is stored again (prefixes are separate namespaces).
	elsewhere, err := f.store.PutBytes(ctx, f.bucket, "models", data, PutOptions{})
	if err != nil || elsewhere.Key != ContentKey("models", first.SHA256) {
		t.Fatalf("other prefix: %+v, %v", elsewhere, err)
	}
	list, err := f.store.List(ctx, f.bucket, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Fatalf("List = %d objects, want 3: %+v", len(list), list)
	}
	for i := 1; i < len(list); i++ {
		if list[i-1].Key >= list[i].Key {
			t.Fatalf("List not sorted: %s before %s", list[i-1].Key, list[i].Key)
		}
	}
	for _, o := range list {
		if !ValidSHA256(o.SHA256) || o.VersionID == "" {
			t.Fatalf("listed object lacks digest or version: %+v", o)
		}
	}
	if list[0].Key == first.Key && list[0].Filename != "a.csv" {
		t.Fatalf("dedupe must keep the first upload's metadata, got filename %q", list[0].Filename)
	}
}

func TestIntegrationIntegrity(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	data := streamBytes(31, 300_000)
	ref, err := f.store.PutBytes(ctx, f.bucket, "m", data, PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sameSize := bytes.Clone(data)
	sameSize[123_456] ^= 0x80
	tests := []struct {
		name    string
		tamper  []byte            // bytes written over the object (a new latest version)
		meta    map[string]string // metadata written with them
		ref     func(Ref) Ref
		wantErr string
		atOpen  bool // the mismatch is visible before reading
	}{
		{"one bit flipped", sameSize, nil, func(r Ref) Ref { r.VersionID = ""; return r }, "sha256 mismatch", false},
		{"one bit flipped, digest metadata copied", sameSize, map[string]string{"clvflow-sha256": ref.SHA256}, func(r Ref) Ref { r.VersionID = ""; return r }, "sha256 mismatch", false},
		{"truncated", data[:1000], nil, func(r Ref) Ref { r.VersionID = ""; return r }, "size mismatch", true},
		{"replaced by other content", []byte("x"), map[string]string{"clvflow-sha256": sha([]byte("x"))}, func(r Ref) Ref { r.VersionID = ""; return r }, "the object records sha256", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.raw.PutObject(ctx, ref.Bucket, ref.Key, bytes.NewReader(tc.tamper), int64(len(tc.tamper)), minio.PutObjectOptions{UserMetadata: tc.meta}); err != nil {
				t.Fatal(err)
			}
			r := tc.ref(ref)
			// GetBytes returns nothing but the error.
			b, err := f.store.GetBytes(ctx, r)
			t.Logf("GetBytes: %v", err)
			if KindOf(err) != Integrity || b != nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("GetBytes = %d bytes, %v; want an integrity error with %q", len(b), err, tc.wantErr)
			}
			// Streaming: the error surfaces at open or at the end of the stream.
			rc, err := f.store.Get(ctx, r)
			if tc.atOpen {
				if KindOf(err) != Integrity {
					t.Fatalf("Get = %v, want an integrity error at open", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, rerr := io.Copy(io.Discard, rc)
			cerr := rc.Close()
			if KindOf(rerr) != Integrity || KindOf(cerr) != Integrity {
				t.Fatalf("Read err %v, Close err %v; want integrity errors", rerr, cerr)
			}
			// The pinned version is intact.
			if b, err := f.store.GetBytes(ctx, ref); err != nil || !bytes.Equal(b, data) {
				t.Fatalf("pinned version: %d bytes, %v", len(b), err)
			}
		})
	}
	t.Run("unversioned bucket overwritten in place", func(t *testing.T) {
		plain := testBucketName(t)
		if err := f.raw.MakeBucket(ctx, plain, minio.MakeBucketOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := f.store.PutBytes(ctx, plain, "m", data, PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.VersionID != "" {
			t.Fatalf("unversioned bucket returned version %q", r.VersionID)
		}
		if _, err := f.raw.PutObject(ctx, plain, r.Key, bytes.NewReader(sameSize), int64(len(sameSize)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.store.GetBytes(ctx, r); KindOf(err) != Integrity {
			t.Fatalf("GetBytes = %v, want integrity", err)
		}
		// Temporary objects are removed from unversioned buckets too.
		var left []string
		for oi := range f.raw.ListObjectsIter(ctx, plain, minio.ListObjectsOptions{Prefix: TempPrefix, Recursive: true, WithVersions: true}) {
			left = append(left, oi.Key)
		}
		if len(left) != 0 {
			t.Fatalf("temporary objects left: %v", left)
		}
	})
}

func TestIntegrationCredentialsAndReachability(t *testing.T) {
	srv := testenv.MinIO(t)
	ctx := context.Background()
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	closed := fmt.Sprintf("127.0.0.1:%d", port)
	tests := []struct {
		name    string
		cfg     func(Config) Config
		want    Kind
		wantMsg string
	}{
		{"good", func(c Config) Config { return c }, Other, ""},
		{"wrong password", func(c Config) Config { c.SecretKey = "not-the-secret"; return c }, BadCredentials,
			"artifacts: MinIO rejected the credentials for " + srv.Endpoint + ": check storage.access_key / storage.secret_key"},
		{"unknown access key", func(c Config) Config { c.AccessKey = "nobody"; return c }, BadCredentials, "check storage.access_key"},
		{"closed port", func(c Config) Config { c.Endpoint = closed; return c }, Unreachable,
			"artifacts: cannot reach MinIO at " + closed + " (connection refused): is it running? (storage.endpoint)"},
		{"TLS against plain HTTP", func(c Config) Config { c.UseTLS = true; return c }, Unreachable, "check storage.use_tls"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg(serverConfig(srv)))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Ping(ctx)
			t.Logf("Ping: %v", err)
			if tc.wantMsg == "" {
				if err != nil {
					t.Fatalf("Ping: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Kind != tc.want {
				t.Fatalf("Ping = %v (kind %v), want kind %v", err, KindOf(err), tc.want)
			}
			if e.Attempts > 1 {
				t.Errorf("a %v failure was retried %d times", e.Kind, e.Attempts)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("message %q does not contain %q", err.Error(), tc.wantMsg)
			}
			// Data operations report the same kind.
			if _, err := s.PutBytes(ctx, "clvflow-datasets", "x", []byte("x"), PutOptions{}); KindOf(err) != tc.want {
				t.Errorf("PutBytes = %v, want kind %v", err, tc.want)
			}
			if _, err := s.GetBytes(ctx, Ref{Bucket: "clvflow-datasets", Key: "x"}); KindOf(err) != tc.want {
				t.Errorf("GetBytes = %v, want kind %v", err, tc.want)
			}
		})
	}
}

func TestIntegrationNotFound(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	ref, err := f.store.PutBytes(ctx, f.bucket, "p", []byte("content"), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.Delete(ctx, Ref{Bucket: ref.Bucket, Key: ref.Key}); err != nil { // delete marker
		t.Fatal(err)
	}
	missingVersion := ref
	missingVersion.VersionID = "8c2e7b5e-0e1f-4d69-9d3e-6f5a5d1c0a11"
	tests := []struct {
		name string
		ref  Ref
	}{
		{"missing key", Ref{Bucket: f.bucket, Key: "no/such/key"}},
		{"missing bucket", Ref{Bucket: "no-such-bucket-here", Key: "k"}},
		{"missing version", missingVersion},
		{"deleted latest", Ref{Bucket: ref.Bucket, Key: ref.Key}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.store.Get(ctx, tc.ref); !IsNotFound(err) {
				t.Errorf("Get = %v, want not found", err)
			}
			if _, err := f.store.GetBytes(ctx, tc.ref); !IsNotFound(err) {
				t.Errorf("GetBytes = %v, want not found", err)
			}
			if _, err := f.store.Stat(ctx, tc.ref); !IsNotFound(err) {
				t.Errorf("Stat = %v, want not found", err)
			}
			var v map[string]any
			if err := f.store.GetJSON(ctx, tc.ref, &v); !IsNotFound(err) {
				t.Errorf("GetJSON = %v, want not found", err)
			}
		})
	}
	// The pinned version survives the delete marker; deleting it removes it.
	if _, err := f.store.GetBytes(ctx, ref); err != nil {
		t.Fatalf("pinned version after a delete marker: %v", err)
	}
	if err := f.store.Delete(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Stat(ctx, ref); !IsNotFound(err) {
		t.Fatalf("Stat of a deleted version = %v, want not found", err)
	}
	if list, err := f.store.List(ctx, f.bucket, "p/"); err != nil || len(list) != 0 {
		t.Fatalf("List after delete = %+v, %v; want empty", list, err)
	}
}

func TestIntegrationFailedUploadLeavesNothing(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.PartSize = MinPartSize })
	tests := []struct {
		name     string
		size     int64
		failAt   int64
		cancelAt int64 // cancel the context once this many bytes were read
		want     Kind
		wantMsg  string
	}{
		{"source fails within the read-ahead", 4 << 20, 100_000, 0, Other, "reading the input"},
		{"source fails in the second part", 12 << 20, 7 << 20, 0, Other, "reading the input failed after"},
		{"source fails in the third part", 12 << 20, 11 << 20, 0, Other, "reading the input failed after"},
		{"context cancelled mid-upload", 12 << 20, 0, 6 << 20, Other, "context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := newStream(41, tc.size)
			src.failAt = tc.failAt
			if tc.cancelAt > 0 {
				src.onByte = func(n int64) {
					if n >= tc.cancelAt {
						cancel()
					}
				}
			}
			ref, err := f.store.Put(ctx, f.bucket, "fail", src, PutOptions{})
			t.Logf("Put: %v", err)
			if err == nil || KindOf(err) != tc.want || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Put = %+v, %v; want kind %v with %q", ref, err, tc.want, tc.wantMsg)
			}
			if left := f.allVersions(t, ""); len(left) != 0 {
				t.Fatalf("failed upload left %v", left)
			}
		})
	}
}

// faultProxy forwards to MinIO and answers 503 SlowDown to the requests
// that fail() selects.
type faultProxy struct {
	*httptest.Server
	mu       sync.Mutex
	fail     func(r *http.Request, n int) bool // n: 1-based count of matching requests so far
	seen     map[string]int
	injected int
}

func newFaultProxy(tb testing.TB, target string, fail func(r *http.Request, n int) bool) *faultProxy {
	u, err := url.Parse("http://" + target)
	if err != nil {
		tb.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	p := &faultProxy{fail: fail, seen: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		k := r.Method + " " + requestKind(r)
		p.seen[k]++
		inject := p.fail(r, p.seen[k])
		if inject {
			p.injected++
		}
		p.mu.Unlock()
		if inject {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><Resource>%s</Resource><RequestId>fault</RequestId></Error>`, r.URL.Path)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(p.Close)
	return p
}

func (p *faultProxy) endpoint() string { return strings.TrimPrefix(p.URL, "http://") }

// requestKind names an S3 request for fault selection: "bucket", "part",
// "multipart", "copy", "temp" (an object under TempPrefix) or "object".
func requestKind(r *http.Request) string {
	q := r.URL.Query()
	_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case key == "":
		return "bucket"
	case q.Has("partNumber"):
		return "part"
	case q.Has("uploads"), q.Has("uploadId"):
		return "multipart"
	case r.Header.Get("X-Amz-Copy-Source") != "":
		return "copy"
	case strings.HasPrefix(key, TempPrefix):
		return "temp"
	default:
		return "object"
	}
}

func TestIntegrationTransientRetry(t *testing.T) {
	srv := testenv.MinIO(t)
	ctx := context.Background()
	small := streamBytes(51, 200_000)
	tests := []struct {
		name         string
		fail         func(r *http.Request, n int) bool
		op           func(s *Store, bucket string) error
		wantErr      Kind // Other with wantOK means success
		wantOK       bool
		wantMsg      string
		wantInjected int
	}{
		{
			name: "seekable upload retried from the start",
			fail: func(r *http.Request, n int) bool {
				return r.Method == http.MethodPut && requestKind(r) == "object" && n == 1
			},
			op: func(s *Store, b string) error {
				ref, err := s.Put(ctx, b, "x", bytes.NewReader(small), PutOptions{})
				if err == nil && ref.SHA256 != sha(small) {
					return fmt.Errorf("sha %s after a retried upload, want %s", ref.SHA256, sha(small))
				}
				return err
			},
			wantOK: true, wantInjected: 1,
		},
		{
			name: "short stream read ahead is retried",
			fail: func(r *http.Request, n int) bool {
				return r.Method == http.MethodPut && requestKind(r) == "object" && n <= 2
			},
			op: func(s *Store, b string) error {
				_, err := s.Put(ctx, b, "x", newStream(52, 5000), PutOptions{})
				return err
			},
			wantOK: true, wantInjected: 2,
		},
		{
			name: "non-seekable multipart stream fails clearly",
			fail: func(r *http.Request, n int) bool { return requestKind(r) == "part" && n == 2 },
			op: func(s *Store, b string) error {
				_, err := s.Put(ctx, b, "x", newStream(53, 12<<20), PutOptions{})
				return err
			},
			wantErr: Transient, wantMsg: "not retried because the input cannot be rewound", wantInjected: 1,
		},
		{
			name: "server-side copy retried",
			fail: func(r *http.Request, n int) bool { return requestKind(r) == "copy" && n == 1 },
			op: func(s *Store, b string) error {
				want := streamBytes(54, 2<<20)
				ref, err := s.Put(ctx, b, "x", newStream(54, 2<<20), PutOptions{})
				if err == nil && ref.SHA256 != sha(want) {
					return fmt.Errorf("sha %s after a retried copy, want %s", ref.SHA256, sha(want))
				}
				return err
			},
			wantOK: true, wantInjected: 1,
		},
		{
			name: "read retried",
			fail: func(r *http.Request, n int) bool {
				return r.Method == http.MethodGet && requestKind(r) == "object" && n <= 2
			},
			op: func(s *Store, b string) error {
				ref, err := s.PutBytes(ctx, b, "x", small, PutOptions{})
				if err != nil {
					return err
				}
				got, err := s.GetBytes(ctx, ref)
				if err == nil && !bytes.Equal(got, small) {
					return errors.New("content differs")
				}
				return err
			},
			wantOK: true, wantInjected: 2,
		},
		{
			name: "persistent overload gives up",
			fail: func(r *http.Request, n int) bool { return r.Method == http.MethodGet && requestKind(r) == "object" },
			op: func(s *Store, b string) error {
				_, err := s.GetBytes(ctx, Ref{Bucket: b, Key: "whatever"})
				return err
			},
			wantErr: Transient, wantMsg: "gave up after 3 attempts", wantInjected: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newFaultProxy(t, srv.Endpoint, tc.fail)
			cfg := serverConfig(srv)
			cfg.Endpoint = p.endpoint()
			cfg.PartSize = MinPartSize
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			bucket := testBucketName(t)
			if err := s.EnsureBucket(ctx, bucket); err != nil {
				t.Fatal(err)
			}
			err = tc.op(s, bucket)
			t.Logf("op: %v", err)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("op failed: %v", err)
				}
			} else if KindOf(err) != tc.wantErr || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("op = %v; want kind %v with %q", err, tc.wantErr, tc.wantMsg)
			}
			p.mu.Lock()
			injected := p.injected
			p.mu.Unlock()
			if injected != tc.wantInjected {
				t.Errorf("faults injected = %d, want %d", injected, tc.wantInjected)
			}
			fx := fixture{raw: rawClient(t, srv), bucket: bucket}
			if left := fx.allVersions(t, TempPrefix); len(left) != 0 {
				t.Fatalf("temporary objects left: %v", left)
			}
		})
	}
}

func TestIntegrationJSONManifests(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	raw := []byte("Customer ID,Date,Amount\n00001,19970101,1\n00001,19970118,2\n")
	data, err := f.store.PutBytes(ctx, f.bucket, "datasets", raw, PutOptions{ContentType: "text/csv", Filename: "CDNOW_sample.txt"})
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := DatasetManifest{Ref: data, Filename: "CDNOW_sample.txt", Format: "cdnow", Rows: 2, Bytes: data.Size, CreatedAt: created, Source: "test"}
	mref, err := f.store.PutDatasetManifest(ctx, f.bucket, m)
	if err != nil {
		t.Fatal(err)
	}
	if mref.Key != DatasetManifestKey(data.SHA256) || mref.ContentType != JSONContentType || !ValidSHA256(mref.SHA256) || mref.VersionID == "" {
		t.Fatalf("manifest ref %+v", mref)
	}
	got, err := f.store.GetDatasetManifest(ctx, f.bucket, data.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got != m {
		t.Fatalf("manifest round trip:\n got %+v\nwant %+v", got, m)
	}
	// A second version at the same key; the first stays readable by version.
	m2 := m
	m2.Rows = 3
	m2ref, err := f.store.PutDatasetManifest(ctx, f.bucket, m2)
	if err != nil {
		t.Fatal(err)
	}
	if m2ref.VersionID == mref.VersionID {
		t.Fatal("rewriting a manifest did not create a new version")
	}
	var old, latest DatasetManifest
	if err := f.store.GetJSON(ctx, mref, &old); err != nil || old.Rows != 2 {
		t.Fatalf("old version: %+v, %v", old, err)
	}
	if err := f.store.GetJSON(ctx, Ref{Bucket: f.bucket, Key: mref.Key}, &latest); err != nil || latest.Rows != 3 {
		t.Fatalf("latest: %+v, %v", latest, err)
	}
	// Artifact manifest with lineage.
	am := ArtifactManifest{Name: "clv-ziln", Kind: "onnx-model", Ref: data, Parents: []Ref{data}, CreatedAt: created, Labels: map[string]string{"seed": "7"}}
	aref, err := f.store.PutArtifactManifest(ctx, f.bucket, am)
	if err != nil {
		t.Fatal(err)
	}
	var amBack ArtifactManifest
	if err := f.store.GetJSON(ctx, aref, &amBack); err != nil || amBack.Parents[0] != data || amBack.Labels["seed"] != "7" {
		t.Fatalf("artifact manifest: %+v, %v", amBack, err)
	}
	// Error cases.
	if _, err := f.store.PutDatasetManifest(ctx, f.bucket, DatasetManifest{}); KindOf(err) != Invalid {
		t.Errorf("empty manifest: %v, want invalid", err)
	}
	if _, err := f.store.PutJSON(ctx, f.bucket, "bad.json", func() {}); KindOf(err) != Invalid {
		t.Errorf("unencodable value: %v, want invalid", err)
	}
	if err := f.store.GetJSON(ctx, data, &latest); KindOf(err) != Invalid || !strings.Contains(err.Error(), "decode JSON") {
		t.Errorf("GetJSON of a CSV: %v, want invalid decode error", err)
	}
	if _, err := f.store.GetDatasetManifest(ctx, f.bucket, "nothex"); KindOf(err) != Invalid {
		t.Errorf("bad sha: %v, want invalid", err)
	}
	if _, err := f.store.GetDatasetManifest(ctx, f.bucket, sha([]byte("absent"))); !IsNotFound(err) {
		t.Errorf("absent manifest: %v, want not found", err)
	}
}

// BenchmarkPut measures uploads (MB/s) against the test MinIO, hashing,
// dedupe check, server-side copy and cleanup included: "stream" is a
// non-seekable input of unknown size (temporary key + copy), "seekable" an
// in-memory input (hash pass + one direct PUT).
func BenchmarkPut(b *testing.B) {
	for _, size := range []int64{1 << 20, 32 << 20} {
		b.Run(fmt.Sprintf("stream/%dMiB", size>>20), func(b *testing.B) {
			f := newFixture(b, nil)
			ctx := context.Background()
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				// A different seed per iteration, so no upload is deduplicated.
				if _, err := f.store.Put(ctx, f.bucket, "bench", newStream(uint64(1000+i), size), PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("seekable/%dMiB", size>>20), func(b *testing.B) {
			f := newFixture(b, nil)
			ctx := context.Background()
			data := streamBytes(2000, size)
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				binary.LittleEndian.PutUint64(data, uint64(i)) // distinct content per iteration
				if _, err := f.store.Put(ctx, f.bucket, "bench", bytes.NewReader(data), PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// shiftingReader is an io.ReadSeeker whose content changes each time it is
// sought back to the start: it imitates a file rewritten while being stored.
type shiftingReader struct {
	versions [][]byte
	idx      int
	r        *bytes.Reader
}

func newShiftingReader(versions ...[]byte) *shiftingReader {
	return &shiftingReader{versions: versions, r: bytes.NewReader(versions[0])}
}

func (s *shiftingReader) Read(p []byte) (int, error) { return s.r.Read(p) }

func (s *shiftingReader) Seek(off int64, whence int) (int64, error) {
	if whence == io.SeekStart {
		s.idx = min(s.idx+1, len(s.versions)-1)
		s.r = bytes.NewReader(s.versions[s.idx])
	}
	return s.r.Seek(off, whence)
}

func TestIntegrationInputChangesWhileStored(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	a := streamBytes(61, 100_000)
	b := bytes.Clone(a)
	b[50_000] ^= 1
	tests := []struct {
		name    string
		r       io.Reader
		want    Kind
		wantMsg string
	}{
		// Seek-backs: prepareSource's (→ version 1, hashed), the rewind before upload (→ version 2, uploaded).
		{"same size, other bytes", newShiftingReader(a, a, b), Integrity, "the input changed while it was stored"},
		{"shorter", newShiftingReader(a, a, a[:60_000]), Invalid, "the input ended after 60000 bytes, 100000 were announced"},
		{"longer", newShiftingReader(a, a, append(bytes.Clone(a), 'x')), Invalid, "the input is longer than the 100000 bytes announced"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := f.store.Put(ctx, f.bucket, "changing", tc.r, PutOptions{})
			t.Logf("Put: %v", err)
			if KindOf(err) != tc.want || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Put = %+v, %v; want kind %v with %q", ref, err, tc.want, tc.wantMsg)
			}
			if left := f.allVersions(t, ""); len(left) != 0 {
				t.Fatalf("objects left: %v", left)
			}
		})
	}
}

func TestIntegrationSharedDataRoundTrip(t *testing.T) {
	dir := testenv.SharedData(t)
	f := newFixture(t, func(c *Config) { c.PartSize = MinPartSize })
	ctx := context.Background()
	tests := []struct {
		name   string
		file   string
		format string
		gunzip bool // stream the decompressed content (non-seekable, unknown size)
		header bool // the stored text has a header line
		rows   int64
	}{
		// Stored compressed: rows as documented in shared/data/README.md, not counted here.
		{"online retail gzip file", "online_retail_uci.csv.gz", "online-retail", false, false, 541_909},
		{"cdnow master decompressed stream", "cdnow_master.txt.gz", "cdnow", true, true, 69_659},
		{"cdnow sample file", "cdnow_sample.txt", "cdnow", false, false, 6_919},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.file)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := raw
			var ref Ref
			if tc.gunzip {
				zr, err := gzip.NewReader(bytes.NewReader(raw))
				if err != nil {
					t.Fatal(err)
				}
				if want, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
				fh, err := os.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				defer fh.Close()
				zs, err := gzip.NewReader(fh)
				if err != nil {
					t.Fatal(err)
				}
				ref, err = f.store.Put(ctx, f.bucket, "datasets", zs, PutOptions{ContentType: "text/plain", Filename: strings.TrimSuffix(tc.file, ".gz")})
				if err != nil {
					t.Fatal(err)
				}
			} else {
				ref, err = f.store.PutFile(ctx, f.bucket, "datasets", path, PutOptions{})
				if err != nil {
					t.Fatal(err)
				}
			}
			if ref.SHA256 != sha(want) || ref.Size != int64(len(want)) {
				t.Fatalf("ref %+v, want sha %s size %d", ref, sha(want), len(want))
			}
			got, err := f.store.GetBytes(ctx, ref)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("GetBytes: %d bytes, %v", len(got), err)
			}
			if !strings.HasSuffix(tc.file, ".gz") || tc.gunzip {
				rows := int64(bytes.Count(want, []byte("\n")))
				if tc.header {
					rows--
				}
				if rows != tc.rows {
					t.Fatalf("rows = %d, want %d (shared/data/README.md)", rows, tc.rows)
				}
			}
			m := DatasetManifest{Ref: ref, Filename: tc.file, Format: tc.format, Rows: tc.rows, Bytes: ref.Size, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Source: path}
			if _, err := f.store.PutDatasetManifest(ctx, f.bucket, m); err != nil {
				t.Fatal(err)
			}
			back, err := f.store.GetDatasetManifest(ctx, f.bucket, ref.SHA256)
			if err != nil || back != m {
				t.Fatalf("manifest: %+v, %v", back, err)
			}
		})
	}
}
