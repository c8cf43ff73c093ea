package artifacts

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/minio/minio-go/v7"
)

func TestSweepTempRefusesBadArguments(t *testing.T) {
	s, err := New(Config{Endpoint: "127.0.0.1:1", AccessKey: "k", SecretKey: "secret-key"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.SweepTemp(ctx, "Bad_Bucket", 0); KindOf(err) != Invalid {
		t.Errorf("SweepTemp(bad bucket) = %v, want invalid", err)
	}
	if _, err := s.SweepTemp(ctx, "b-ok", -time.Second); KindOf(err) != Invalid || !strings.Contains(err.Error(), "negative") {
		t.Errorf("SweepTemp(negative age) = %v, want invalid", err)
	}
}

func TestJoinedErrorsKeepKinds(t *testing.T) {
	if joinErrors(nil) != nil {
		t.Fatal("no errors must join to nil")
	}
	one := &Error{Op: "x", Kind: NotFound, Err: errors.New("gone")}
	if joinErrors([]error{one}) != one {
		t.Fatal("one error must be returned as it is")
	}
	var errs []error
	errs = append(errs, fmt.Errorf("plain"))
	for i := range 7 {
		errs = append(errs, &Error{Op: "sweep-temp-remove", Bucket: "b", Key: fmt.Sprintf("k%d", i), Kind: Transient, Err: errors.New("SlowDown")})
	}
	err := joinErrors(errs)
	if KindOf(err) != Transient {
		t.Errorf("KindOf(joined) = %v, want the first *Error's kind (transient)", KindOf(err))
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "plain; artifacts: sweep-temp-remove b/k0") || !strings.HasSuffix(msg, "; and 3 more failures") {
		t.Errorf("message %q: want one line, the first 5 failures, and a count of the rest", msg)
	}
	var e *Error
	if !errors.As(err, &e) || e.Key != "k0" {
		t.Errorf("errors.As found %+v, want the first *Error", e)
	}
}

// abandonedTemp leaves in f's bucket what crashed uploads leave, the way
// they leave it, and returns the keys used:
//   - versioned: three versions and a delete marker of one temporary key,
//     written straight through the store's minio client;
//   - upload: an unfinished multipart upload with one part under
//     TempPrefix, and no object at its key.
func abandonedTemp(t *testing.T, f fixture) (versioned, upload string, versionBytes int64) {
	t.Helper()
	ctx := context.Background()
	cl := f.store.Client()
	versioned = TempPrefix + rand.Text()
	for i := range 3 {
		data := bytes.Repeat([]byte{byte('a' + i)}, 1000*(i+1))
		if _, err := cl.PutObject(ctx, f.bucket, versioned, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		versionBytes += int64(len(data))
	}
	if err := cl.RemoveObject(ctx, f.bucket, versioned, minio.RemoveObjectOptions{}); err != nil { // delete marker
		t.Fatal(err)
	}
	upload = TempPrefix + rand.Text()
	core := minio.Core{Client: cl}
	id, err := core.NewMultipartUpload(ctx, f.bucket, upload, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := bytes.Repeat([]byte("p"), MinPartSize)
	if _, err := core.PutObjectPart(ctx, f.bucket, upload, id, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	// What is there, to compare with what the sweep leaves.
	if got := f.allVersions(t, versioned); len(got) != 4 {
		t.Fatalf("setup: %d versions at %s, want 3 and a delete marker: %v", len(got), versioned, got)
	}
	if got := f.incompleteUploads(t, TempPrefix, upload); len(got) != 1 || got[0].UploadID != id {
		t.Fatalf("setup: uploads under %s = %+v, want upload %s", TempPrefix, got, id)
	}
	return versioned, upload, versionBytes
}

func TestIntegrationSweepTemp(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()

	// What must stay: an object outside the prefix, one under a name that
	// only looks like it, and a content-addressed object stored by Put
	// (streamed, so through a temporary key of its own).
	cl := f.store.Client()
	keep := map[string][]byte{"other/object.txt": []byte("keep me"), strings.TrimSuffix(TempPrefix, "/") + "-lookalike/x": []byte("keep me too")}
	for k, v := range keep {
		if _, err := cl.PutObject(ctx, f.bucket, k, bytes.NewReader(v), int64(len(v)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	streamed := streamBytes(61, 2<<20)
	ref, err := f.store.Put(ctx, f.bucket, "data", newStream(61, 2<<20), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if left := f.allVersions(t, TempPrefix); len(left) != 0 {
		t.Fatalf("Put left %v", left)
	}
	versioned, upload, versionBytes := abandonedTemp(t, f)
	before := f.allVersions(t, "")

	// Young temporary objects are kept.
	res, err := f.store.SweepTemp(ctx, f.bucket, time.Hour)
	t.Logf("SweepTemp(1h) = %+v, %v", res, err)
	if err != nil || res.Removed() || res.Young != 5 {
		t.Fatalf("SweepTemp(1h) = %+v, %v; want nothing removed and 5 young (4 versions, 1 upload)", res, err)
	}
	if after := f.allVersions(t, ""); !slices.Equal(after, before) {
		t.Fatalf("SweepTemp(1h) changed the bucket:\nbefore %v\nafter  %v", before, after)
	}

	// Age 0 removes everything under the prefix, and nothing else.
	res, err = f.store.SweepTemp(ctx, f.bucket, 0)
	t.Logf("SweepTemp(0) = %+v, %v", res, err)
	want := SweepResult{Objects: 1, Versions: 4, Uploads: 1, Bytes: versionBytes}
	if err != nil || res != want {
		t.Fatalf("SweepTemp(0) = %+v, %v; want %+v", res, err, want)
	}
	if left := f.allVersions(t, TempPrefix); len(left) != 0 {
		t.Fatalf("left under %s: %v", TempPrefix, left)
	}
	if left := f.incompleteUploads(t, "", versioned, upload); len(left) != 0 {
		t.Fatalf("uploads left: %+v", left)
	}
	var kept []string
	for _, v := range before {
		if !strings.HasPrefix(v, TempPrefix) && !strings.HasPrefix(v, "incomplete upload "+TempPrefix) {
			kept = append(kept, v)
		}
	}
	if after := f.allVersions(t, ""); !slices.Equal(after, kept) || len(kept) != 3 {
		t.Fatalf("after the sweep: %v, want the 3 objects outside %s: %v", after, TempPrefix, kept)
	}
	for k, v := range keep {
		if got, err := f.store.GetBytes(ctx, Ref{Bucket: f.bucket, Key: k}); err != nil || !bytes.Equal(got, v) {
			t.Errorf("%s after the sweep: %q, %v", k, got, err)
		}
	}
	if got, err := f.store.GetBytes(ctx, ref); err != nil || !bytes.Equal(got, streamed) {
		t.Errorf("content-addressed object after the sweep: %d bytes, %v", len(got), err)
	}

	// Nothing left: a second sweep does nothing and does not fail.
	if res, err := f.store.SweepTemp(ctx, f.bucket, 0); err != nil || res != (SweepResult{}) {
		t.Fatalf("second SweepTemp(0) = %+v, %v; want nothing", res, err)
	}
}

// An upload in flight is younger than the sweep's age: it is left alone
// and completes.
func TestIntegrationSweepTempSparesUploadInFlight(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.PartSize = MinPartSize })
	ctx := context.Background()
	const size = 12 << 20
	src := newStream(62, size)
	reached, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	src.onByte = func(n int64) {
		if n >= 7<<20 { // the first part is stored
			once.Do(func() { close(reached); <-resume })
		}
	}
	type result struct {
		ref Ref
		err error
	}
	done := make(chan result, 1)
	go func() {
		ref, err := f.store.Put(ctx, f.bucket, "flight", src, PutOptions{})
		done <- result{ref, err}
	}()
	select {
	case <-reached:
	case r := <-done:
		t.Fatalf("Put ended before it was paused: %+v, %v", r.ref, r.err)
	case <-time.After(time.Minute):
		t.Fatal("the upload did not reach its second part within a minute")
	}
	inFlight := f.allVersions(t, TempPrefix)
	res, err := f.store.SweepTemp(ctx, f.bucket, time.Hour)
	close(resume)
	t.Logf("in flight: %v; SweepTemp(1h) = %+v, %v", inFlight, res, err)
	if err != nil || res.Removed() || res.Young != 2 {
		t.Errorf("SweepTemp(1h) during an upload = %+v, %v; want nothing removed, 2 young (marker and upload)", res, err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("Put did not finish")
	}
	if r.err != nil || r.ref.SHA256 != sha(streamBytes(62, size)) {
		t.Fatalf("Put after the sweep = %+v, %v", r.ref, r.err)
	}
	if left := f.allVersions(t, TempPrefix); len(left) != 0 {
		t.Fatalf("left under %s: %v", TempPrefix, left)
	}
}

// MinIO dies in the middle of a streamed Put: the Put cannot clean up,
// and after the restart MinIO's bucket-wide listing of uploads (kept in
// memory) no longer shows the unfinished upload. The marker Put wrote at
// the temporary key is how SweepTemp finds it.
func TestIntegrationSweepTempAfterMinIORestart(t *testing.T) {
	srv := testenv.StartOwnMinIO(t)
	cfg := serverConfig(&srv.MinIOServer)
	cfg.PartSize = MinPartSize
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := fixture{srv: &srv.MinIOServer, store: s, raw: rawClient(t, &srv.MinIOServer), bucket: testBucketName(t)}
	ctx := context.Background()
	if err := s.EnsureBucket(ctx, f.bucket); err != nil {
		t.Fatal(err)
	}
	src := newStream(63, 12<<20)
	var once sync.Once
	src.onByte = func(n int64) {
		if n >= 7<<20 { // the first part is stored
			once.Do(srv.Kill)
		}
	}
	_, err = s.Put(ctx, f.bucket, "crash", src, PutOptions{})
	t.Logf("Put with MinIO killed: %v", err)
	if KindOf(err) != Unreachable {
		t.Fatalf("Put = %v, want unreachable", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	var markers []string
	for oi := range f.raw.ListObjectsIter(ctx, f.bucket, minio.ListObjectsOptions{Prefix: TempPrefix, Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		markers = append(markers, oi.Key)
	}
	if len(markers) != 1 {
		t.Fatalf("versions under %s after the crash: %v, want the one marker", TempPrefix, markers)
	}
	if got := f.incompleteUploads(t, TempPrefix, markers[0]); len(got) != 1 || got[0].Key != markers[0] {
		t.Fatalf("uploads after the crash: %+v, want one at the marker's key %s", got, markers[0])
	}
	t.Logf("left by the crash: %v", f.allVersions(t, TempPrefix))
	bucketWide := 0
	for u := range f.raw.ListIncompleteUploads(ctx, f.bucket, "", true) {
		if u.Err == nil {
			bucketWide++
		}
	}
	t.Logf("uploads in MinIO's bucket-wide listing after the restart: %d (the marker's key finds the one left)", bucketWide)
	res, err := s.SweepTemp(ctx, f.bucket, 0)
	t.Logf("SweepTemp(0) = %+v, %v", res, err)
	if err != nil || res.Uploads != 1 || res.Versions != 1 {
		t.Fatalf("SweepTemp(0) = %+v, %v; want the upload aborted and the marker removed", res, err)
	}
	if left := f.allVersions(t, TempPrefix); len(left) != 0 {
		t.Fatalf("left under %s: %v", TempPrefix, left)
	}
	if left := f.incompleteUploads(t, TempPrefix, markers[0]); len(left) != 0 {
		t.Fatalf("uploads left: %+v", left)
	}
}

func TestSweepTempUnreachable(t *testing.T) {
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Endpoint: fmt.Sprintf("127.0.0.1:%d", port), AccessKey: "clvflow", SecretKey: "clvflow-secret", Retry: fastRetry}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.SweepTemp(context.Background(), "clvflow-datasets", time.Hour)
	t.Logf("SweepTemp = %+v, %v", res, err)
	var e *Error
	if !errors.As(err, &e) || e.Kind != Unreachable || KindOf(err) != Unreachable {
		t.Fatalf("SweepTemp against a closed port = %v (kind %v), want unreachable", err, KindOf(err))
	}
	if res != (SweepResult{}) {
		t.Errorf("result %+v, want nothing", res)
	}
	if !strings.Contains(err.Error(), "cannot reach MinIO at "+cfg.Endpoint) {
		t.Errorf("message %q", err.Error())
	}
}
