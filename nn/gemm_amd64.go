package nn

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernel gemm4x4.
var useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// gemm4x4 sets the 4×4 block at c (row stride ldc) to the product of the
// 4×k block at a (row stride lda) and the k×4 block at b (row stride ldb);
// k ≥ 1. Each element is the FMA chain of dotFMA.
//
//go:noescape
func gemm4x4(c, a, b *float64, k, lda, ldb, ldc int)

// gemmTN4x4 is gemm4x4 with a transposed left factor: the 4×k block is
// read as the first four columns of the k×lda matrix at a.
//
//go:noescape
func gemmTN4x4(c, a, b *float64, k, lda, ldb, ldc int)

// gemm4x8 is gemm4x4 for a 4×8 block.
//
//go:noescape
func gemm4x8(c, a, b *float64, k, lda, ldb, ldc int)

// gemmTN4x8 is gemmTN4x4 for a 4×8 block.
//
//go:noescape
func gemmTN4x8(c, a, b *float64, k, lda, ldb, ldc int)
