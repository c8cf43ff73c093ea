package features

import (
	"os"
	"path/filepath"
	"testing"
)

// sharedDataDir returns the shared real-data directory (env
// CLVFLOW_SHARED_DATA, or ../shared/data next to the repository root that
// holds go.mod), or skips the test.
func sharedDataDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CLVFLOW_SHARED_DATA"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		t.Skipf("CLVFLOW_SHARED_DATA=%s is not a directory; skipping real-data test", d)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Skipf("no working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	t.Skip("shared data not found (set CLVFLOW_SHARED_DATA or provide ../shared/data beside the repository root); skipping real-data test")
	return ""
}

// sharedFile returns the path of name in the shared data or skips.
func sharedFile(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(sharedDataDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data file %s missing: %v", name, err)
	}
	return p
}
