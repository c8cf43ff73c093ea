package onnxrt

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// EnvLibraryPath is the environment variable consulted for the ONNX Runtime
// shared library when no explicit path is configured.
const EnvLibraryPath = "ONNXRUNTIME_SHARED_LIBRARY_PATH"

// libraryGlob matches the library file names inside a search directory.
const libraryGlob = "libonnxruntime.so*"

// Options configure the process-wide ONNX Runtime environment.
type Options struct {
	// LibraryPath is the explicit path of libonnxruntime.so (config key
	// onnx.library_path). Empty means: search (see FindLibrary).
	LibraryPath string
	// IntraOpThreads is the number of intra-op threads each session uses
	// (config key onnx.intra_op_threads). Zero or negative means 1.
	IntraOpThreads int
}

func (o Options) withDefaults() Options {
	if o.IntraOpThreads <= 0 {
		o.IntraOpThreads = 1
	}
	return o
}

// LibraryNotFoundError reports that no usable ONNX Runtime shared library was
// found. Tried lists every path or pattern that was checked, in order.
type LibraryNotFoundError struct {
	Tried []string
}

// Error implements error.
func (e *LibraryNotFoundError) Error() string {
	var b strings.Builder
	b.WriteString("onnxrt: ONNX Runtime shared library not found; tried:")
	for _, t := range e.Tried {
		b.WriteString("\n  - ")
		b.WriteString(t)
	}
	b.WriteString("\nfix: run `clvflow dev up` (it fetches the CPU library into <repo>/.tools/lib), " +
		"or set onnx.library_path (env CLVFLOW_ONNX_LIBRARY_PATH) or " + EnvLibraryPath +
		" to a libonnxruntime.so of version 1.24 or newer")
	return b.String()
}

// FindLibrary resolves the ONNX Runtime shared library path. The order is:
// the explicit path (config key onnx.library_path), then the environment
// variable ONNXRUNTIME_SHARED_LIBRARY_PATH, then <repo>/.tools/lib/libonnxruntime.so*
// where <repo> is found by walking up to go.mod from the working directory,
// then the directory of the executable (itself, its .tools/lib, and the
// .tools/lib of the repository it lives in). An explicit path or environment
// value that is set but not a regular file is an error, not a fall-through, so
// a misconfiguration never silently loads a different library. The error is a
// *LibraryNotFoundError listing every path tried.
func FindLibrary(explicit string) (string, error) {
	if explicit != "" {
		if isFile(explicit) {
			return filepath.Abs(explicit)
		}
		return "", &LibraryNotFoundError{Tried: []string{explicit + " (onnx.library_path: not a regular file)"}}
	}
	var tried []string
	if p := os.Getenv(EnvLibraryPath); p != "" {
		if isFile(p) {
			return filepath.Abs(p)
		}
		return "", &LibraryNotFoundError{Tried: []string{p + " (" + EnvLibraryPath + ": not a regular file)"}}
	}
	tried = append(tried, "$"+EnvLibraryPath+" (unset)")

	var dirs []string
	if wd, err := os.Getwd(); err == nil {
		if root, ok := findModuleRoot(wd); ok {
			dirs = append(dirs, filepath.Join(root, ".tools", "lib"))
		} else {
			tried = append(tried, "go.mod above "+wd+" (none found)")
		}
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		exeDir := filepath.Dir(exe)
		dirs = append(dirs, exeDir, filepath.Join(exeDir, ".tools", "lib"))
		if root, ok := findModuleRoot(exeDir); ok {
			dirs = append(dirs, filepath.Join(root, ".tools", "lib"))
		}
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		pattern := filepath.Join(d, libraryGlob)
		matches, _ := filepath.Glob(pattern)
		matches = slices.DeleteFunc(matches, func(m string) bool { return !isFile(m) })
		if len(matches) == 0 {
			tried = append(tried, pattern+" (no match)")
			continue
		}
		slices.SortFunc(matches, compareLibraryNames)
		return matches[len(matches)-1], nil
	}
	return "", &LibraryNotFoundError{Tried: tried}
}

// compareLibraryNames orders libonnxruntime.so, libonnxruntime.so.1,
// libonnxruntime.so.1.9.0, libonnxruntime.so.1.24.1 by numeric version suffix.
func compareLibraryNames(a, b string) int {
	va, vb := librarySuffix(a), librarySuffix(b)
	for i := 0; i < len(va) && i < len(vb); i++ {
		if va[i] != vb[i] {
			return va[i] - vb[i]
		}
	}
	if len(va) != len(vb) {
		return len(va) - len(vb)
	}
	return strings.Compare(a, b)
}

func librarySuffix(path string) []int {
	base := filepath.Base(path)
	_, rest, _ := strings.Cut(base, ".so")
	var out []int
	for _, part := range strings.Split(strings.TrimPrefix(rest, "."), ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			n = -1
		}
		out = append(out, n)
	}
	return out
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// findModuleRoot walks up from dir to the first directory containing go.mod.
func findModuleRoot(dir string) (string, bool) {
	dir = filepath.Clean(dir)
	for {
		if isFile(filepath.Join(dir, "go.mod")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// RuntimeInfo describes the initialised ONNX Runtime environment.
type RuntimeInfo struct {
	// LibraryPath is the absolute path of the loaded shared library.
	LibraryPath string
	// IntraOpThreads is the intra-op thread count of every session.
	IntraOpThreads int
	// Version is the ONNX Runtime version string reported by the library.
	Version string
}

var (
	envOnce  sync.Once
	envState struct {
		requested Options
		info      RuntimeInfo
		err       error
	}
)

// Init initialises the process-wide ONNX Runtime environment with opts. The
// library can be initialised only once per process: the first call (or the
// first Load, which uses Options{}) wins. A later Init with the same effective
// options returns the first result; one that asks for a different library or
// thread count returns an error naming both, rather than being silently
// ignored.
func Init(opts Options) error {
	opts = opts.withDefaults()
	envOnce.Do(func() { initialise(opts) })
	if envState.err != nil {
		return envState.err
	}
	got := envState.info
	if opts.IntraOpThreads != got.IntraOpThreads {
		return fmt.Errorf("onnxrt: ONNX Runtime already initialised with %d intra-op threads; cannot change to %d in this process",
			got.IntraOpThreads, opts.IntraOpThreads)
	}
	if opts.LibraryPath != "" {
		abs, err := filepath.Abs(opts.LibraryPath)
		if err != nil || abs != got.LibraryPath {
			return fmt.Errorf("onnxrt: ONNX Runtime already initialised from %s; cannot switch to %s in this process",
				got.LibraryPath, opts.LibraryPath)
		}
	}
	return nil
}

// ensureInit initialises the environment with default options unless Init
// already ran, and returns the outcome of the first initialisation.
func ensureInit() (RuntimeInfo, error) {
	envOnce.Do(func() { initialise(Options{}.withDefaults()) })
	return envState.info, envState.err
}

func initialise(opts Options) {
	envState.requested = opts
	lib, err := FindLibrary(opts.LibraryPath)
	if err != nil {
		envState.err = err
		return
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(); err != nil {
		envState.err = fmt.Errorf("onnxrt: initialise ONNX Runtime from %s: %w (onnxruntime_go v1.27.0 needs ONNX Runtime 1.24 or newer)", lib, err)
		return
	}
	envState.info = RuntimeInfo{LibraryPath: lib, IntraOpThreads: opts.IntraOpThreads, Version: ort.GetVersion()}
}

// Info returns the runtime description, initialising the environment with
// default options if nothing initialised it yet.
func Info() (RuntimeInfo, error) {
	return ensureInit()
}

// IsLibraryNotFound reports whether err (or an error it wraps) is a
// *LibraryNotFoundError; tests use it to skip when no library is installed.
func IsLibraryNotFound(err error) bool {
	var nf *LibraryNotFoundError
	return errors.As(err, &nf)
}
