package btyd

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

// findSharedData returns the directory of the shared reference data:
// $CLVFLOW_SHARED_DATA, or ../shared/data next to the repository root (the
// directory holding go.mod); "" when neither exists.
func findSharedData() string {
	if dir := os.Getenv("CLVFLOW_SHARED_DATA"); dir != "" {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
		return ""
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			data := filepath.Join(dir, "..", "shared", "data")
			if _, err := os.Stat(data); err == nil {
				return data
			}
			return ""
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// sharedDataDir returns findSharedData() or skips the test with a message
// saying where the data were looked for.
func sharedDataDir(t testing.TB) string {
	t.Helper()
	dir := findSharedData()
	if dir == "" {
		t.Skip("shared reference data not found (looked at $CLVFLOW_SHARED_DATA and ../shared/data next to the directory holding go.mod); skipping")
	}
	return dir
}

// readColumns reads a CSV (optionally .gz) file from the shared data
// directory and returns the named numeric columns.
func readColumns(t testing.TB, name string, cols ...string) map[string][]float64 {
	t.Helper()
	path := filepath.Join(sharedDataDir(t), name)
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("reference file %s not available: %v", path, err)
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
