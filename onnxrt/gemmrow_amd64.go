package onnxrt

import "golang.org/x/sys/cpu"

// useAVX selects the assembly kernel gemmRowAVX for gemmRow.
var useAVX = cpu.X86.HasAVX

// gemmRowAVX computes blocks·8 columns of gemmRow from column 0: for every
// column j, y[j] = b[j] + x[idx[0]]·w[idx[0]·n+j] + x[idx[1]]·w[idx[1]·n+j]
// + …, each product rounded to float32 and added in idx order (VMULPS then
// VADDPS, no FMA), which is what the scalar Go loop computes. w has n
// columns; b holds at least blocks·8 biases.
//
//go:noescape
func gemmRowAVX(y, b, x *float32, idx *int32, nnz int, w *float32, n, blocks int)
