// Package memlimit gives the Go runtime a soft memory limit below the
// memory limit of the container (cgroup) the process runs in, so that the
// collector works harder as the heap nears the limit instead of letting it
// grow to twice the live data and the kernel kill the process. An explicit
// GOMEMLIMIT wins.
package memlimit

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Fraction of the container's limit given to the Go heap; the rest is for
// memory the runtime does not manage (cgo: ONNX Runtime, stacks, buffers).
const Fraction = 0.85

// cgroupFiles hold the memory limit under cgroup v2 and v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// unlimited is what cgroup v1 reports without a limit (a page-rounded
// maximum); any value from here up means none.
const unlimited = 1 << 60

// Set applies Fraction of the container's memory limit as the runtime's
// soft limit, unless GOMEMLIMIT is set or there is no limit. It returns
// the limit it set (0: none) and the file it read.
func Set() (int64, string) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return 0, ""
	}
	for _, f := range cgroupFiles {
		if b, err := os.ReadFile(f); err == nil {
			if limit, ok := Parse(string(b)); ok {
				soft := int64(float64(limit) * Fraction)
				debug.SetMemoryLimit(soft)
				return soft, f
			}
		}
	}
	return 0, ""
}

// Parse reads a cgroup memory limit file: a number of bytes, or "max" (v2)
// or a huge number (v1) for none (false).
func Parse(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= unlimited {
		return 0, false
	}
	return n, true
}
