package onnxrt_test

import (
	"bufio"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// build builds a test model or fails the test.
func build(tb testing.TB, spec onnxrttest.Spec) *onnxrttest.Model {
	tb.Helper()
	m, err := onnxrttest.Build(spec)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// load builds and loads a test model; the model is closed at test end.
func load(tb testing.TB, spec onnxrttest.Spec) (*onnxrttest.Model, *onnxrt.Model) {
	tb.Helper()
	onnxrttest.RequireORT(tb)
	tm := build(tb, spec)
	m, err := onnxrt.Load(tm.Spec.Version, tm.Bytes, tm.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return tm, m
}

// sharedData returns the directory of the shared test data: $CLVFLOW_SHARED_DATA,
// or ../shared/data next to the repository root (the directory with go.mod).
func sharedData(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("CLVFLOW_SHARED_DATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("shared test data not found: no go.mod above the package dir and CLVFLOW_SHARED_DATA unset")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		tb.Skipf("shared test data not found at %s (set CLVFLOW_SHARED_DATA): %v", d, err)
	}
	return d
}

// cdnowCustomer is one customer of the CDNOW sample, featurised per the
// shared contract (cutoff 1997-09-30).
type cdnowCustomer struct {
	id       string
	features []float32
	seq      []float32
}

// readCDNOWSample featurises cdnow_sample.txt (day-merge, weeks) with the
// contract's base features and a weekly [2, weeks] sequence ending at the cutoff.
func readCDNOWSample(tb testing.TB, path string, weeks int) []cdnowCustomer {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			tb.Fatal(err)
		}
		r = gz
	}
	cutoff := time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)
	type day struct {
		t time.Time
		v float64
	}
	var order []string
	days := map[string][]day{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			tb.Fatalf("%s:%d: %d fields, want 5", path, line, len(fs))
		}
		id := fs[1]
		t, err := time.Parse("20060102", fs[2])
		if err != nil {
			tb.Fatalf("%s:%d: date: %v", path, line, err)
		}
		v, err := strconv.ParseFloat(fs[4], 64)
		if err != nil {
			tb.Fatalf("%s:%d: value: %v", path, line, err)
		}
		if t.After(cutoff) {
			continue
		}
		ds, seen := days[id]
		if !seen {
			order = append(order, id)
		}
		if n := len(ds); n > 0 && ds[n-1].t.Equal(t) {
			ds[n-1].v += v
		} else {
			ds = append(ds, day{t, v})
		}
		days[id] = ds
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	weeksBetween := func(a, b time.Time) float64 { return b.Sub(a).Hours() / 24 / 7 }
	out := make([]cdnowCustomer, 0, len(order))
	for _, id := range order {
		ds := days[id]
		first, last := ds[0], ds[len(ds)-1]
		x := float64(len(ds) - 1)
		tx, T := weeksBetween(first.t, last.t), weeksBetween(first.t, cutoff)
		var spend, rep float64
		for i, d := range ds {
			spend += d.v
			if i > 0 {
				rep += d.v
			}
		}
		mbar := 0.0
		if x > 0 {
			mbar = rep / x
		}
		c := cdnowCustomer{id: id, features: []float32{float32(x), float32(tx), float32(T), float32(T - tx), float32(spend), float32(mbar), float32(first.v)}}
		if weeks > 0 {
			c.seq = make([]float32, 2*weeks)
			for _, d := range ds {
				k := weeks - 1 - int(cutoff.Sub(d.t).Hours()/24/7)
				if k >= 0 {
					c.seq[k] += float32(d.v)
					c.seq[weeks+k]++
				}
			}
		}
		out = append(out, c)
	}
	return out
}
