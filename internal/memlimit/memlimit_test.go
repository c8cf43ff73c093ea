package memlimit

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4294967296\n", 4 << 30, true},
		{"max\n", 0, false},
		{"9223372036854771712\n", 0, false}, // cgroup v1 without a limit
		{"0", 0, false},
		{"-1", 0, false},
		{"", 0, false},
	} {
		if got, ok := Parse(c.in); got != c.want || ok != c.ok {
			t.Errorf("Parse(%q) = %d, %v; want %d, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// TestSet: a container limit becomes the runtime's soft limit (Fraction of
// it); GOMEMLIMIT, or no limit, leaves the runtime's alone.
func TestSet(t *testing.T) {
	defer func(files []string) { cgroupFiles = files }(cgroupFiles)
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	dir := t.TempDir()
	v2, v1 := filepath.Join(dir, "memory.max"), filepath.Join(dir, "limit_in_bytes")
	cgroupFiles = []string{v2, v1}
	if err := os.WriteFile(v2, []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v1, []byte("4294967296\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	limit := int64(4 << 30)
	want := int64(float64(limit) * Fraction)
	if soft, file := Set(); soft != want || file != v1 || debug.SetMemoryLimit(-1) != soft {
		t.Fatalf("Set() = %d from %q, runtime limit %d", soft, file, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(before)
	t.Setenv("GOMEMLIMIT", "1GiB")
	if soft, _ := Set(); soft != 0 || debug.SetMemoryLimit(-1) != before {
		t.Fatal("Set overrode GOMEMLIMIT")
	}
	t.Setenv("GOMEMLIMIT", "")
	if err := os.WriteFile(v1, []byte("9223372036854771712\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if soft, _ := Set(); soft != 0 || debug.SetMemoryLimit(-1) != before {
		t.Fatal("Set applied a limit without one")
	}
}
