//go:build amd64 && !amd64.v3

package onnxrt

import "golang.org/x/sys/cpu"

// useAVX selects the assembly kernel gemmRowAVX for gemmRow.
var useAVX = cpu.X86.HasAVX

// gemmRowAVX computes blocks·8 columns of gemmRow from column 0: for every
// column j, y[j] = b[j] + x[idx[0]]·w[idx[0]·n+j] + x[idx[1]]·w[idx[1]·n+j]
// + …, each product rounded to float32 and added in idx order (VMULPS then
// VADDPS, no FMA), which is what the scalar Go loop computes below
// GOAMD64=v3 (from v3 on the compiler fuses x*y+z into FMA, so this file
// is left out and gemmRow's Go loops round like nn's reference). w has n
// columns; b holds at least blocks·8 biases.
//
//go:noescape
func gemmRowAVX(y, b, x *float32, idx *int32, nnz int, w *float32, n, blocks int)
