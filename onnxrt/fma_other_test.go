//go:build !(amd64.v3 || arm64 || ppc64 || ppc64le || s390x || riscv64 || loong64)

package onnxrt

// compilerFusesFMA: see fma_v3_test.go; here float32 x*y+z is always a
// rounded multiply then a rounded add.
const compilerFusesFMA = false
