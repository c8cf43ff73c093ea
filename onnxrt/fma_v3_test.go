//go:build amd64.v3 || arm64 || ppc64 || ppc64le || s390x || riscv64 || loong64

package onnxrt

// compilerFusesFMA: on this target the Go compiler may fuse x*y+z into one
// FMA, and whether it does depends on code shape (load folding), so the
// Go path and nn's reference can differ in the last bit; the tests then
// hold them to the parity tolerance instead of to the bit.
const compilerFusesFMA = true
