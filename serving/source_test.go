package serving

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

func TestFileSource(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "model.onnx")
	m1 := onnxrttest.MustBuild(onnxrttest.Spec{Version: "2024-01-01.1", Seed: 1})
	m2 := onnxrttest.MustBuild(onnxrttest.Spec{Version: "2024-02-01.1", Seed: 2})
	anon := onnxrttest.MustBuild(onnxrttest.Spec{Seed: 3, Props: map[string]string{onnxrt.MetaVersion: ""}})
	src := NewFileSource(path)
	if _, err := src.Current(ctx); err == nil {
		t.Fatal("Current on a missing file succeeded")
	}
	tests := []struct {
		name        string
		model       *onnxrttest.Model
		wantVersion string
	}{
		{name: "version from metadata", model: m1, wantVersion: "2024-01-01.1"},
		{name: "replaced file", model: m2, wantVersion: "2024-02-01.1"},
		{name: "no version in metadata", model: anon, wantVersion: "sha256-" + anon.SHA256[:12]},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(path, tt.model.Bytes, 0o644); err != nil {
				t.Fatal(err)
			}
			// Distinct modification times, so the stat shortcut cannot hide the change.
			mt := time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC)
			if err := os.Chtimes(path, mt, mt); err != nil {
				t.Fatal(err)
			}
			ref, err := src.Current(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ref.Version != tt.wantVersion || ref.SHA256 != tt.model.SHA256 {
				t.Fatalf("Current = %+v; want version %s sha %s", ref, tt.wantVersion, tt.model.SHA256)
			}
			data, err := src.Fetch(ctx, ref)
			if err != nil || onnxrt.SHA256Hex(data) != ref.SHA256 {
				t.Fatalf("Fetch = %d bytes, %v", len(data), err)
			}
		})
	}
	if err := os.WriteFile(path, []byte("not onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Current(ctx); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Current on a non-ONNX file = %v; want an error naming the file", err)
	}
}

func TestDirSource(t *testing.T) {
	ctx := context.Background()
	m := onnxrttest.MustBuild(onnxrttest.Spec{Version: "v3", Seed: 4})
	tests := []struct {
		name    string
		files   map[string]string
		wantSHA string
		wantErr string
	}{
		{name: "no alias", files: map[string]string{"v3.onnx": string(m.Bytes)}, wantErr: "alias champion"},
		{name: "alias escapes the directory", files: map[string]string{"champion": "../v3"}, wantErr: "want a version"},
		{name: "alias to a missing version", files: map[string]string{"champion": "v9"}, wantErr: "version v9"},
		{name: "sha computed", files: map[string]string{"champion": "v3\n", "v3.onnx": string(m.Bytes)}, wantSHA: m.SHA256},
		{name: "sha from sidecar", files: map[string]string{"champion": "v3", "v3.onnx": string(m.Bytes), "v3.onnx.sha256": strings.ToUpper(m.SHA256) + "  v3.onnx\n"}, wantSHA: m.SHA256},
		{name: "empty sidecar", files: map[string]string{"champion": "v3", "v3.onnx": string(m.Bytes), "v3.onnx.sha256": " \n"}, wantErr: "is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				if err := writeFile(dir, name, content); err != nil {
					t.Fatal(err)
				}
			}
			src, err := OpenLocalSource(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			ref, err := src.Current(ctx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Current = %+v, %v; want error containing %q", ref, err, tt.wantErr)
				}
				return
			}
			if err != nil || ref.Version != "v3" || ref.SHA256 != tt.wantSHA {
				t.Fatalf("Current = %+v, %v; want v3 %s", ref, err, tt.wantSHA)
			}
			data, err := src.Fetch(ctx, ref)
			if err != nil || onnxrt.SHA256Hex(data) != m.SHA256 {
				t.Fatalf("Fetch = %d bytes, %v", len(data), err)
			}
		})
	}
	if _, err := OpenLocalSource(filepath.Join(t.TempDir(), "absent"), ""); err == nil {
		t.Fatal("OpenLocalSource on a missing path succeeded")
	}
}
