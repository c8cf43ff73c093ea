package activities_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/clvflow/clvflow/activities"
)

// smallTempDir mounts a 32 KiB tmpfs and makes it the process's temp dir
// for the test (os.TempDir reads TMPDIR), so that the worker's disk fills
// up for real. It needs the privilege to mount (root); without it the test
// is skipped with the reason.
func smallTempDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill the worker's disk (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
	t.Setenv("TMPDIR", dir)
	return dir
}

// A worker whose temp dir fills up while cleaning a dataset reports a
// retryable Infrastructure error that says so and names the directory, not
// bad data; nothing is uploaded.
func TestValidateDatasetDiskFull(t *testing.T) {
	f := newFixture(t)
	path, _ := cdnowSubset(t, 1500)
	raw := mustRun[activities.IngestResult](t, newEnv(t, f.acts), f.acts.IngestDataset, activities.IngestInput{Path: path, Format: "cdnow"})
	dir := smallTempDir(t)
	_, err := run[activities.ValidateResult](t, newEnv(t, f.acts), f.acts.ValidateDataset,
		activities.ValidateInput{Dataset: raw.Dataset, Format: raw.Format, MaxRejectedFraction: 0.5})
	wantRetryable(t, err, "disk is full", dir, "no space left on device")
	if typ := activities.ErrorType(err); typ != activities.ErrTypeInfrastructure {
		t.Errorf("error type %q, want %q: %v", typ, activities.ErrTypeInfrastructure, err)
	}
	for _, prefix := range []string{activities.CleanPrefix, activities.QuarantinePrefix, activities.ReportPrefix} {
		if keys := keys(t, f.store, f.acts.Buckets.Datasets, prefix); len(keys) > 0 {
			t.Errorf("a validation that hit a full disk stored %v", keys)
		}
	}
}
