package activities_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
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
		{"unknown format name", activities.IngestInput{Path: demoPath(t), Format: "parquet"}, activities.ErrTypeBadInput, []string{"unknown format", "parquet"}},
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
