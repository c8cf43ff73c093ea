package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/dataset"
)

func TestGenWritesGzipDeterministically(t *testing.T) {
	dir := t.TempDir()
	var outs [][]byte
	for _, name := range []string{"a.csv.gz", "b.csv.gz"} {
		var out bytes.Buffer
		root := newRootCmd(&out, io.Discard)
		root.SetArgs([]string{"gen", "--customers", "300", "--seed", "5", "--output", filepath.Join(dir, name)})
		if err := root.Execute(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "300 customers") {
			t.Fatalf("output %q", out.String())
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, data)
	}
	if !bytes.HasPrefix(outs[0], []byte("customer_id,ts,amount\n")) || !bytes.Equal(outs[0], outs[1]) {
		t.Fatalf("logs differ or lack the header: %q", outs[0][:min(len(outs[0]), 60)])
	}
}

func TestGenNeedsOutput(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	root.SetArgs([]string{"gen", "--customers", "3"})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "--output") {
		t.Fatalf("err %v", err)
	}
}

func TestGenWritesParquet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tx.parquet")
	root := newRootCmd(io.Discard, io.Discard)
	root.SetArgs([]string{"gen", "--customers", "200", "--seed", "5", "--output", path})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	rep, err := dataset.ReadFile(path, dataset.Options{}, nil)
	if err != nil || rep.Format != dataset.FormatParquet || rep.Customers != 200 {
		t.Fatalf("%v: %+v", err, rep)
	}
}
