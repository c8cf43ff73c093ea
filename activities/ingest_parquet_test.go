package activities_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/synth"
)

// TestIngestValidateParquet ingests and validates the same generated log
// as CSV and as Parquet: the manifests count the same rows (the Parquet
// one from the file's metadata) and validation gives the same clean
// dataset, byte for byte, and the same counts.
func TestIngestValidateParquet(t *testing.T) {
	f := newFixture(t)
	env := newEnv(t, f.acts)
	l, err := synth.Generate(400, 11, synth.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	var csvBuf, pqBuf bytes.Buffer
	if err := l.WriteCSV(&csvBuf); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteParquet(&pqBuf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir() // under os.TempDir, an allowed input directory
	csvPath, pqPath := filepath.Join(dir, "log.csv"), filepath.Join(dir, "log.parquet")
	if err := os.WriteFile(csvPath, csvBuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pqPath, pqBuf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	rows := int64(bytes.Count(csvBuf.Bytes(), []byte("\n")) - 1)

	type outcome struct {
		ingest   activities.IngestResult
		rows     int64
		validate activities.ValidateResult
	}
	run := func(path string) outcome {
		in := mustRun[activities.IngestResult](t, env, f.acts.IngestDataset, activities.IngestInput{Path: path})
		m, err := f.store.GetDatasetManifest(t.Context(), f.acts.Buckets.Datasets, in.Dataset.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		v := mustRun[activities.ValidateResult](t, env, f.acts.ValidateDataset,
			activities.ValidateInput{Dataset: in.Dataset, Format: in.Format, MaxRejectedFraction: 0.5, DropReversed: true})
		return outcome{in, m.Rows, v}
	}
	c, p := run(csvPath), run(pqPath)
	if c.ingest.Format != "csv" || p.ingest.Format != "parquet" {
		t.Fatalf("formats %q, %q", c.ingest.Format, p.ingest.Format)
	}
	if c.rows != rows || p.rows != rows || p.ingest.Lines != rows {
		t.Errorf("manifest rows: csv %d, parquet %d (result lines %d); want %d", c.rows, p.rows, p.ingest.Lines, rows)
	}
	cv, pv := c.validate, p.validate
	if cv.Clean.SHA256 != pv.Clean.SHA256 || cv.Clean.Size != pv.Clean.Size {
		t.Errorf("clean dataset: csv %s (%d bytes), parquet %s (%d bytes)", cv.Clean.SHA256, cv.Clean.Size, pv.Clean.SHA256, pv.Clean.Size)
	}
	if cv.Rows != rows || cv.Rows != pv.Rows || cv.Accepted != pv.Accepted || cv.Rejected != pv.Rejected || cv.Customers != pv.Customers ||
		!maps.Equal(cv.RuleCounts, pv.RuleCounts) || cv.MinTime != pv.MinTime || cv.MaxTime != pv.MaxTime {
		t.Errorf("validation: csv %+v, parquet %+v", cv, pv)
	}
}
