package serving

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/clvflow/clvflow/onnxrt"
)

// FileSource serves one ONNX file (clvflow serve --model FILE). The version is
// the file's clvflow.version metadata (or "sha256-<first 12 hex>" without
// one); the sha256 is computed from the file, so replacing the file makes the
// server reload it.
type FileSource struct {
	Path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	ref     ModelRef
}

// NewFileSource returns a source for the ONNX file at path.
func NewFileSource(path string) *FileSource { return &FileSource{Path: path} }

// Current implements ModelSource; the file is re-read only when its size or
// modification time changed.
func (f *FileSource) Current(context.Context) (ModelRef, error) {
	st, err := os.Stat(f.Path)
	if err != nil {
		return ModelRef{}, fmt.Errorf("serving: model file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ref.SHA256 != "" && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.ref, nil
	}
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return ModelRef{}, fmt.Errorf("serving: model file: %w", err)
	}
	sum := onnxrt.SHA256Hex(data)
	version := "sha256-" + sum[:12]
	if md, err := onnxrt.ReadMetadata(data); err != nil {
		return ModelRef{}, fmt.Errorf("serving: model file %s: %w", f.Path, err)
	} else if md.Version != "" {
		version = md.Version
	}
	f.ref, f.modTime, f.size = ModelRef{Version: version, SHA256: sum}, st.ModTime(), st.Size()
	return f.ref, nil
}

// Fetch implements ModelSource.
func (f *FileSource) Fetch(_ context.Context, ref ModelRef) ([]byte, error) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("serving: model file for %s: %w", ref.Version, err)
	}
	return data, nil
}

// DirSource serves models from a directory laid out like a tiny registry:
// <Dir>/<version>.onnx files, an optional <version>.onnx.sha256 next to each
// (sha256sum format; without it the sha256 is computed from the file), and an
// alias file <Dir>/<Alias> whose content is the version to serve. Moving the
// alias (write a temporary file and rename it over the alias file) makes the
// server swap models.
type DirSource struct {
	Dir   string
	Alias string
}

// NewDirSource returns a source reading alias (default "champion") in dir.
func NewDirSource(dir, alias string) *DirSource {
	if alias == "" {
		alias = "champion"
	}
	return &DirSource{Dir: dir, Alias: alias}
}

func (d *DirSource) modelPath(version string) string {
	return filepath.Join(d.Dir, version+".onnx")
}

// Current implements ModelSource.
func (d *DirSource) Current(context.Context) (ModelRef, error) {
	aliasPath := filepath.Join(d.Dir, d.Alias)
	b, err := os.ReadFile(aliasPath)
	if err != nil {
		return ModelRef{}, fmt.Errorf("serving: alias %s: %w", d.Alias, err)
	}
	version := strings.TrimSpace(string(b))
	if version == "" || version == "." || version == ".." || strings.ContainsAny(version, `/\`) {
		return ModelRef{}, fmt.Errorf("serving: alias file %s names %q, want a version (file name without .onnx)", aliasPath, version)
	}
	if sidecar, err := os.ReadFile(d.modelPath(version) + ".sha256"); err == nil {
		fields := strings.Fields(string(sidecar))
		if len(fields) == 0 {
			return ModelRef{}, fmt.Errorf("serving: %s.sha256 is empty", d.modelPath(version))
		}
		return ModelRef{Version: version, SHA256: strings.ToLower(fields[0])}, nil
	} else if !os.IsNotExist(err) {
		return ModelRef{}, fmt.Errorf("serving: %w", err)
	}
	data, err := os.ReadFile(d.modelPath(version))
	if err != nil {
		return ModelRef{}, fmt.Errorf("serving: alias %s → version %s: %w", d.Alias, version, err)
	}
	return ModelRef{Version: version, SHA256: onnxrt.SHA256Hex(data)}, nil
}

// Fetch implements ModelSource.
func (d *DirSource) Fetch(_ context.Context, ref ModelRef) ([]byte, error) {
	data, err := os.ReadFile(d.modelPath(ref.Version))
	if err != nil {
		return nil, fmt.Errorf("serving: model %s: %w", ref.Version, err)
	}
	return data, nil
}

// OpenLocalSource returns a DirSource when path is a directory and a
// FileSource otherwise.
func OpenLocalSource(path, alias string) (ModelSource, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("serving: model path: %w", err)
	}
	if st.IsDir() {
		return NewDirSource(path, alias), nil
	}
	return NewFileSource(path), nil
}
