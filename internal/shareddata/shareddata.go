// Package shareddata finds the public reference datasets that tests and
// benchmarks may read (../shared/data beside the repository, or
// $CLVFLOW_SHARED_DATA) and skips the caller with a clear message when they
// are absent. The project's own tests never depend on them to pass.
package shareddata

import (
	"compress/gzip"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Find returns the shared data directory: $CLVFLOW_SHARED_DATA when set, else
// ../shared/data next to the directory holding go.mod; "" when neither
// exists.
func Find() string {
	if d := os.Getenv("CLVFLOW_SHARED_DATA"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		return ""
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Dir returns Find() or skips the test.
func Dir(t testing.TB) string {
	t.Helper()
	d := Find()
	if d == "" {
		t.Skip("shared reference data not found (set CLVFLOW_SHARED_DATA or provide ../shared/data beside the repository root); skipping real-data test")
	}
	return d
}

// File returns the path of name in the shared data, or skips the test.
func File(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Dir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared data file %s missing: %v", name, err)
	}
	return p
}

// Columns reads a CSV (optionally .gz) file of the shared data and returns
// the named numeric columns.
func Columns(t testing.TB, name string, cols ...string) map[string][]float64 {
	t.Helper()
	path := File(t, name)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(name, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		defer gz.Close()
		r = gz
	}
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	idx := map[string]int{}
	for i, h := range recs[0] {
		idx[h] = i
	}
	out := map[string][]float64{}
	for _, c := range cols {
		j, ok := idx[c]
		if !ok {
			t.Fatalf("%s: no column %q in header %v", path, c, recs[0])
		}
		v := make([]float64, len(recs)-1)
		for i, rec := range recs[1:] {
			v[i], err = strconv.ParseFloat(rec[j], 64)
			if err != nil {
				t.Fatalf("%s line %d column %s: %v", path, i+2, c, err)
			}
		}
		out[c] = v
	}
	return out
}
