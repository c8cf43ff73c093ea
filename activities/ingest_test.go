package activities_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/minio/minio-go/v7"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

func TestIngestDataset(t *testing.T) {
	f := newFixture(t)
	a := f.acts
	env := newEnv(t, a)
	ctx := context.Background()

	gz := demoPath(t)
	plain, plainRows := cdnowSubset(t, 40)
	csvPath := writeFile(t, "orders.csv", "customer,date,amount\nc1,2020-01-02,10.5\nc2,2020-01-03,3\n\nc1,2020-02-01,7\n")

	for _, tc := range []struct {
		name       string
		in         activities.IngestInput
		path       string // the file whose bytes must be stored
		format     string
		lines      int64
		rows       int64 // manifest rows (header excluded)
		filename   string
		sourcePath string
	}{
		{"gzip CDNOW, format detected", activities.IngestInput{Path: gz}, gz, "cdnow", demoLines, demoLines - 1, "cdnow_master.txt.gz", gz},
		{"plain CDNOW subset, format given", activities.IngestInput{Path: plain, Format: "cdnow", Filename: "first-40.txt"}, plain, "cdnow", int64(plainRows + 1), int64(plainRows), "first-40.txt", plain},
		{"generic CSV with a blank line", activities.IngestInput{Path: csvPath}, csvPath, "csv", 4, 3, "orders.csv", csvPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantSHA, wantSize := sha256File(t, tc.path)
			res := mustRun[activities.IngestResult](t, env, a.IngestDataset, tc.in)
			if res.Dataset.SHA256 != wantSHA || res.Dataset.Size != wantSize || res.Bytes != wantSize {
				t.Errorf("dataset ref %+v (bytes %d), want sha256 %s and %d bytes", res.Dataset, res.Bytes, wantSHA, wantSize)
			}
			if res.Dataset.Bucket != a.Buckets.Datasets || res.Dataset.Key != artifacts.ContentKey(activities.RawPrefix, wantSHA) {
				t.Errorf("dataset stored at %s/%s, want %s/%s", res.Dataset.Bucket, res.Dataset.Key, a.Buckets.Datasets, artifacts.ContentKey(activities.RawPrefix, wantSHA))
			}
			if res.Format != tc.format || res.Lines != tc.lines || res.Filename != tc.filename {
				t.Errorf("format %q, lines %d, filename %q; want %q, %d, %q", res.Format, res.Lines, res.Filename, tc.format, tc.lines, tc.filename)
			}
			// The stored bytes are the file's, byte for byte.
			got, err := f.store.GetBytes(ctx, res.Dataset)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(tc.path)
			if !bytes.Equal(got, want) || sha256Hex(got) != wantSHA {
				t.Errorf("stored object differs from %s (%d vs %d bytes)", tc.path, len(got), len(want))
			}
			m, err := f.store.GetDatasetManifest(ctx, a.Buckets.Datasets, wantSHA)
			if err != nil {
				t.Fatalf("manifest: %v", err)
			}
			if m.Ref != res.Dataset || m.Format != tc.format || m.Rows != tc.rows || m.Filename != tc.filename || m.Source != tc.sourcePath || m.CreatedAt.IsZero() {
				t.Errorf("manifest %+v does not describe the ingest (rows want %d)", m, tc.rows)
			}
			if res.Manifest.Key != artifacts.DatasetManifestKey(wantSHA) || res.Manifest.SHA256 == "" {
				t.Errorf("manifest ref %+v", res.Manifest)
			}
		})
	}

	t.Run("from a stored source object", func(t *testing.T) {
		data, err := os.ReadFile(plain)
		if err != nil {
			t.Fatal(err)
		}
		src, err := f.store.PutBytes(ctx, a.Buckets.Datasets, "uploads", data, artifacts.PutOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res := mustRun[activities.IngestResult](t, env, a.IngestDataset, activities.IngestInput{Source: &src})
		if res.Dataset.SHA256 != sha256Hex(data) || res.Format != "cdnow" || res.Lines != int64(plainRows+1) {
			t.Errorf("result %+v, want sha256 %s, cdnow, %d lines", res, sha256Hex(data), plainRows+1)
		}
		if res.Filename != filepath.Base(src.Key) {
			t.Errorf("filename %q, want the source key's base name %q", res.Filename, filepath.Base(src.Key))
		}
	})

	t.Run("retry is idempotent", func(t *testing.T) {
		r1 := mustRun[activities.IngestResult](t, env, a.IngestDataset, activities.IngestInput{Path: csvPath})
		r2 := mustRun[activities.IngestResult](t, env, a.IngestDataset, activities.IngestInput{Path: csvPath})
		if r1.Dataset != r2.Dataset {
			t.Errorf("second ingest stored %+v, first %+v: want the same object version", r2.Dataset, r1.Dataset)
		}
	})
}

func TestIngestDatasetErrors(t *testing.T) {
	f := newFixture(t)
	a := f.acts
	env := newEnv(t, a)
	ctx := context.Background()
	dir := t.TempDir()

	var badGzip bytes.Buffer
	zw := gzip.NewWriter(&badGzip)
	_, _ = zw.Write(bytes.Repeat([]byte("00001 19970101 1 11.77\n"), 200))
	_ = zw.Close()
	truncated := badGzip.Bytes()[:badGzip.Len()/2]

	stored, err := f.store.PutBytes(ctx, a.Buckets.Datasets, "uploads", []byte("customer,date,amount\nc1,2020-01-01,5\n"), artifacts.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		in       activities.IngestInput
		errType  string
		contains []string
	}{
		{"neither path nor source", activities.IngestInput{}, activities.ErrTypeBadInput, []string{"exactly one"}},
		{"both path and source", activities.IngestInput{Path: demoPath(t), Source: &stored}, activities.ErrTypeBadInput, []string{"exactly one"}},
		{"missing file", activities.IngestInput{Path: filepath.Join(dir, "nope.csv")}, activities.ErrTypeBadInput, []string{"nope.csv", "does not exist"}},
		{"directory", activities.IngestInput{Path: dir}, activities.ErrTypeBadInput, []string{"is a directory"}},
		{"empty file", activities.IngestInput{Path: writeFile(t, "empty.csv", "")}, activities.ErrTypeBadInput, []string{"empty"}},
		{"unknown format name", activities.IngestInput{Path: demoPath(t), Format: "orc"}, activities.ErrTypeBadInput, []string{"unknown format", "orc"}},
		{"undetectable format", activities.IngestInput{Path: writeFile(t, "notes.txt", "dear diary\nnothing to see here\n")}, activities.ErrTypeBadInput, []string{"notes.txt", "--format"}},
		{"corrupt gzip", activities.IngestInput{Path: writeFile(t, "cut.txt.gz", string(truncated))}, activities.ErrTypeBadInput, []string{"cut.txt.gz"}},
		{"source not found", activities.IngestInput{Source: new(missing(stored))}, activities.ErrTypeNotFound, []string{"never-written"}},
		{"source digest mismatch", activities.IngestInput{Source: new(withWrongSHA(stored))}, activities.ErrTypeIntegrity, []string{stored.Key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[activities.IngestResult](t, env, a.IngestDataset, tc.in)
			wantNonRetryable(t, err, tc.errType, tc.contains...)
		})
	}
	// Bad input leaves nothing behind: the only raw object and manifest are
	// none (the source object lives under uploads/).
	if k := keys(t, f.store, a.Buckets.Datasets, activities.RawPrefix+"/"); len(k) != 0 {
		t.Errorf("failed ingests left raw objects %v", k)
	}
	if k := keys(t, f.store, a.Buckets.Datasets, "manifests/"); len(k) != 0 {
		t.Errorf("failed ingests left manifests %v", k)
	}
}

func TestIngestDatasetUnreachableStore(t *testing.T) {
	a := unreachable(t)
	env := newEnv(t, a)
	for _, tc := range []struct {
		name string
		in   activities.IngestInput
	}{
		{"upload of a local file", activities.IngestInput{Path: demoPath(t)}},
		{"stored source", activities.IngestInput{Source: &artifacts.Ref{Bucket: "unreachable-ds", Key: "uploads/x.csv"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[activities.IngestResult](t, env, a.IngestDataset, tc.in)
			wantRetryable(t, err, refusedCause)
		})
	}
}

// A canceled ingest reports the cancellation (not bad input) and stores
// neither the dataset nor its manifest.
func TestIngestDatasetCanceled(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(temporal.NewCanceledError())
	env := newEnvWith(t, f.acts, worker.Options{BackgroundActivityContext: ctx})
	_, err := run[activities.IngestResult](t, env, f.acts.IngestDataset, activities.IngestInput{Path: demoPath(t)})
	wantCanceled(t, err)
	if k := keys(t, f.store, f.acts.Buckets.Datasets, ""); len(k) != 0 {
		t.Errorf("a canceled ingest left %v", k)
	}
}

// TestIngestDatasetSizeLimit: a log over MaxUncompressedBytes once
// decompressed — a gzip bomb or a plain file one byte too long — fails as
// non-retryable bad input naming the file and the limit, after reading no
// more than one byte past the limit, and leaves nothing in the bucket (no raw
// object, no manifest, no temporary object or unfinished upload, no object
// version). A file of exactly the limit is ingested.
func TestIngestDatasetSizeLimit(t *testing.T) {
	const limit = 10 << 20
	f := newFixture(t)
	ctx := context.Background()
	var logs lockedBuffer
	acts := *f.acts
	acts.MaxUncompressedBytes = limit
	acts.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	env := newEnv(t, &acts)
	bucket := acts.Buckets.Datasets

	// 200 MiB of zeros: about 200 KiB of gzip, twenty times the limit.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zeros := make([]byte, 1<<20)
	for range 200 {
		if _, err := zw.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	bombPath := writeFile(t, "orders.csv.gz", bomb.String())
	storedBomb, err := f.store.PutBytes(ctx, bucket, "uploads", bomb.Bytes(), artifacts.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	over := csvOfSize(t, limit+1)

	for _, tc := range []struct {
		name string
		in   activities.IngestInput
		file string // the name the error must give
		gzip bool
	}{
		{"gzip bomb", activities.IngestInput{Path: bombPath}, "orders.csv.gz", true},
		{"gzip bomb from a stored source", activities.IngestInput{Source: &storedBomb, Filename: "upload.gz"}, "upload.gz", true},
		{"plain file one byte over", activities.IngestInput{Path: writeFile(t, "big.csv", string(over))}, "big.csv", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			_, err := run[activities.IngestResult](t, env, acts.IngestDataset, tc.in)
			want := []string{"ingest: " + tc.file + ": more than 10.0 MiB uncompressed (ingest.max_uncompressed_bytes = 10485760)", "too large for one worker"}
			if tc.gzip {
				want = append(want, "a gzip bomb")
			}
			wantNonRetryable(t, err, activities.ErrTypeBadInput, want...)
			if err != nil && !tc.gzip && strings.Contains(err.Error(), "gzip") {
				t.Errorf("the error for a plain file speaks of gzip: %q", err)
			}
			if err != nil && (strings.Contains(err.Error(), "\x00") || strings.Contains(err.Error(), "2020-01-")) {
				t.Errorf("the error echoes the file's content: %q", err)
			}
			// Decompression (or reading) stopped one byte past the limit, not
			// at the end of the input.
			refusal := logs.find(t, "ingest refused: over the uncompressed size limit")
			if got := refusal["uncompressed_bytes_read"]; got != float64(limit+1) {
				t.Errorf("read %v uncompressed bytes, want the limit + 1 = %d (log %v)", got, limit+1, refusal)
			}
			if refusal["max_uncompressed_bytes"] != float64(limit) || refusal["gzip"] != tc.gzip {
				t.Errorf("refusal logged as %v", refusal)
			}
			// The stored source stays; nothing else is there.
			wantOnlyObjects(t, f.store, bucket, storedBomb.Key)
		})
	}

	// The upload stops with the counter: of a file four times the limit it
	// reads the limit plus what the store reads ahead (its 1 MiB head and
	// one 16 MiB part), not the whole file.
	t.Run("plain file far over: reading stops", func(t *testing.T) {
		logs.Reset()
		huge := bytes.Repeat([]byte("c0001,2020-01-02,010.50\n"), 4*limit/24+1)
		_, err := run[activities.IngestResult](t, env, acts.IngestDataset, activities.IngestInput{Path: writeFile(t, "huge.csv", string(huge))})
		wantNonRetryable(t, err, activities.ErrTypeBadInput, "huge.csv", "more than 10.0 MiB uncompressed")
		refusal := logs.find(t, "ingest refused: over the uncompressed size limit")
		if read, _ := refusal["bytes_read"].(float64); read <= limit || read >= float64(len(huge)) {
			t.Errorf("read %v of the file's %d bytes, want more than the limit %d and not all (log %v)", refusal["bytes_read"], len(huge), limit, refusal)
		}
		wantOnlyObjects(t, f.store, bucket, storedBomb.Key)
	})

	// A refusal deletes nothing that was there: the same bytes, accepted
	// earlier by a worker with a higher limit, keep their object and
	// manifest (keys are content-addressed, so the upload finds them).
	t.Run("refusal keeps the same bytes ingested under a higher limit", func(t *testing.T) {
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write([]byte("customer,date,amount\n"))
		_, _ = zw.Write(bytes.Repeat([]byte("c1,2020-01-02,10.50\n"), limit/20+1))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		path := writeFile(t, "repeat.csv.gz", gz.String())
		generous := acts
		generous.MaxUncompressedBytes = 2 * limit
		first := mustRun[activities.IngestResult](t, newEnv(t, &generous), generous.IngestDataset, activities.IngestInput{Path: path})
		_, err := run[activities.IngestResult](t, env, acts.IngestDataset, activities.IngestInput{Path: path})
		wantNonRetryable(t, err, activities.ErrTypeBadInput, "repeat.csv.gz", "more than 10.0 MiB uncompressed")
		if got, err := f.store.GetBytes(ctx, first.Dataset); err != nil || !bytes.Equal(got, gz.Bytes()) {
			t.Errorf("the dataset ingested under the higher limit is gone or changed: %v", err)
		}
		if _, err := f.store.GetDatasetManifest(ctx, bucket, first.Dataset.SHA256); err != nil {
			t.Errorf("its manifest: %v", err)
		}
		for _, ref := range []artifacts.Ref{first.Dataset, first.Manifest} {
			if err := f.store.Delete(ctx, ref); err != nil {
				t.Fatal(err)
			}
		}
	})

	t.Run("plain file of exactly the limit", func(t *testing.T) {
		exact := csvOfSize(t, limit)
		res := mustRun[activities.IngestResult](t, env, acts.IngestDataset, activities.IngestInput{Path: writeFile(t, "exact.csv", string(exact))})
		lines := int64(bytes.Count(exact, []byte("\n")))
		if res.Bytes != limit || res.Dataset.SHA256 != sha256Hex(exact) || res.Format != "csv" || res.Lines != lines {
			t.Errorf("result %+v, want %d bytes, sha256 %s, csv, %d lines", res, limit, sha256Hex(exact), lines)
		}
		if _, err := f.store.GetDatasetManifest(ctx, bucket, res.Dataset.SHA256); err != nil {
			t.Errorf("manifest: %v", err)
		}
	})

	t.Run("gzip of exactly the limit", func(t *testing.T) {
		exact := csvOfSize(t, limit)
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		_, _ = zw.Write(exact)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		res := mustRun[activities.IngestResult](t, env, acts.IngestDataset, activities.IngestInput{Path: writeFile(t, "exact.csv.gz", gz.String())})
		if res.Bytes != int64(gz.Len()) || res.Lines != int64(bytes.Count(exact, []byte("\n"))) {
			t.Errorf("result %+v, want the %d compressed bytes stored and %d lines", res, gz.Len(), bytes.Count(exact, []byte("\n")))
		}
	})
}

// csvOfSize returns a generic CSV transaction log of exactly size bytes.
func csvOfSize(tb testing.TB, size int) []byte {
	tb.Helper()
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString("customer,date,amount\n")
	for i := 0; ; i++ {
		row := fmt.Sprintf("c%04d,2020-01-%02d,%03d.50\n", i%5000, 1+i%28, 1+i%997)
		if rest := size - b.Len(); rest < 2*len(row) {
			// One last row, its amount zero-padded to fill the size.
			prefix := fmt.Sprintf("c%04d,2020-02-01,", i%5000)
			b.WriteString(fmt.Sprintf("%s%0*d.50\n", prefix, rest-len(prefix)-4, 7))
			break
		}
		b.WriteString(row)
	}
	if b.Len() != size {
		tb.Fatalf("csvOfSize: %d bytes, want %d", b.Len(), size)
	}
	return b.Bytes()
}

// wantOnlyObjects checks that bucket holds exactly the objects keep: no
// other key under any prefix (temporary uploads included), in any version,
// not even a delete marker, and no unfinished multipart upload.
func wantOnlyObjects(tb testing.TB, st *artifacts.Store, bucket string, keep ...string) {
	tb.Helper()
	ctx := context.Background()
	var extra []string
	for oi := range st.Client().ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if oi.Err != nil {
			tb.Fatalf("list %s: %v", bucket, oi.Err)
		}
		if !slices.Contains(keep, oi.Key) || oi.IsDeleteMarker {
			extra = append(extra, fmt.Sprintf("%s (version %s, delete marker %t)", oi.Key, oi.VersionID, oi.IsDeleteMarker))
		}
	}
	for u := range st.Client().ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err != nil {
			tb.Fatalf("list unfinished uploads in %s: %v", bucket, u.Err)
		}
		extra = append(extra, "unfinished upload of "+u.Key)
	}
	if len(extra) > 0 {
		tb.Errorf("bucket %s holds %v, want only %v", bucket, extra, keep)
	}
}

// lockedBuffer collects JSON log lines written from any goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// find returns the attributes of the one record logged with msg.
func (b *lockedBuffer) find(tb testing.TB, msg string) map[string]any {
	tb.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var found []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err == nil && rec["msg"] == msg {
			found = append(found, rec)
		}
	}
	if len(found) != 1 {
		tb.Fatalf("want one log record %q, got %d in:\n%s", msg, len(found), b.buf.String())
	}
	return found[0]
}
