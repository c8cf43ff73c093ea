package registry

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// This file holds what the registry's tests share and what needs its
// internals without the fixtures: TestMain (the one of this test binary,
// which also runs the tests of package registry_test), the test MinIO's
// registries and the storage layer's tests. Tests built on the fixtures of
// registrytest are in package registry_test, since registrytest imports
// registry; export_test.go lends them the few internals they use.

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	bucketSeq  atomic.Int64
	s3Ready    sync.Once
	s3ReadyErr error
)

// waitS3Ready polls until the server answers S3 calls: MinIO reports
// /minio/health/ready (what testenv waits for) slightly before its object
// layer accepts requests ("XMinioServerNotInitialized").
func waitS3Ready(ctx context.Context, client *minio.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := client.ListBuckets(ctx)
		if err == nil {
			return nil
		}
		if !strings.HasPrefix(minio.ToErrorResponse(err).Code, "XMinio") {
			return fmt.Errorf("MinIO not usable: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("MinIO not initialised in time: %w", err)
		case <-tick.C:
		}
	}
}

// newTestRegistry returns a registry on a fresh versioned bucket of the test
// binary's MinIO.
func newTestRegistry(t *testing.T, opts Options) (*Registry, *minio.Client) {
	t.Helper()
	srv := testenv.MinIO(t)
	client, err := minio.New(srv.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	s3Ready.Do(func() { s3ReadyErr = waitS3Ready(t.Context(), client) })
	if s3ReadyErr != nil {
		t.Fatal(s3ReadyErr)
	}
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	bucket := fmt.Sprintf("r%d-%s", bucketSeq.Add(1), name)
	if len(bucket) > 63 {
		bucket = strings.TrimRight(bucket[:63], "-")
	}
	r, err := New(client, bucket, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	return r, client
}

func TestIntegrationBucketVersioning(t *testing.T) {
	r, client := newTestRegistry(t, Options{})
	ctx := t.Context()
	cfg, err := client.GetBucketVersioning(ctx, r.Bucket())
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Enabled() {
		t.Fatalf("versioning of %s = %+v, want enabled", r.Bucket(), cfg)
	}
	if err := r.EnsureBucket(ctx); err != nil {
		t.Fatalf("second EnsureBucket: %v", err)
	}
	missing, _ := New(client, "no-such-registry-bucket", Options{})
	_, err = missing.List(ctx)
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-registry-bucket" does not exist`) {
		t.Errorf("List on a missing bucket: %v", err)
	}
}

// The server, not this package, must enforce "create only if absent": a
// conditional PUT of an existing key is refused (and the object unchanged),
// while an unconditional PUT of the same key would have overwritten it.
func TestIntegrationConditionalCreate(t *testing.T) {
	r, client := newTestRegistry(t, Options{})
	ctx := t.Context()
	key := "probe/object.json"
	if err := r.putIfAbsent(ctx, key, []byte(`{"n":1}`)); err != nil {
		t.Fatalf("first conditional create: %v", err)
	}
	err := r.putIfAbsent(ctx, key, []byte(`{"n":2}`))
	if !errors.Is(err, errExists) {
		t.Fatalf("second conditional create: got %v, want errExists", err)
	}
	if b, _ := r.get(ctx, key); string(b) != `{"n":1}` {
		t.Fatalf("object changed by refused write: %s", b)
	}
	// create() accepts a byte-identical existing object (a retried write).
	if err := r.create(ctx, key, []byte(`{"n":1}`)); err != nil {
		t.Errorf("create with identical content: %v", err)
	}
	if _, err := client.PutObject(ctx, r.Bucket(), key, strings.NewReader(`{"n":3}`), 7, minio.PutObjectOptions{}); err != nil {
		t.Fatalf("unconditional put: %v", err)
	}
	if b, _ := r.get(ctx, key); string(b) != `{"n":3}` {
		t.Fatalf("unconditional put did not overwrite (so the test above proves nothing): %s", b)
	}

	// Many concurrent creators of one key: exactly one wins.
	const n = 16
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := r.putIfAbsent(ctx, "probe/race.json", fmt.Appendf(nil, `{"writer":%d}`, i))
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, errExists):
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent creators succeeded, want exactly 1", wins.Load())
	}
}

func TestSeqLogKeys(t *testing.T) {
	versions := seqLog{prefix: "p/versions/", stem: "v"}
	history := seqLog{prefix: "aliases/champion/", pad: 12}
	tests := []struct {
		log  seqLog
		n    int64
		key  string
		bad  []string
		what string
	}{
		{versions, 7, "p/versions/v7.json", []string{"p/versions/v07.json", "p/versions/v0.json", "p/versions/7.json", "p/versions/v7.json.tmp", "versions/v7.json"}, "versions"},
		{history, 3, "aliases/champion/000000000003.json", []string{"aliases/champion/3.json", "aliases/champion/00000000003.json", "aliases/champions/000000000003.json"}, "history"},
	}
	for _, tc := range tests {
		if got := tc.log.key(tc.n); got != tc.key {
			t.Errorf("%s: key(%d) = %q, want %q", tc.what, tc.n, got, tc.key)
		}
		if n, ok := tc.log.parse(tc.key); !ok || n != tc.n {
			t.Errorf("%s: parse(%q) = (%d,%t), want (%d,true)", tc.what, tc.key, n, ok, tc.n)
		}
		for _, b := range tc.bad {
			if n, ok := tc.log.parse(b); ok {
				t.Errorf("%s: parse(%q) accepted as %d", tc.what, b, n)
			}
		}
	}
}
