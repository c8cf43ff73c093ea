//go:build !amd64

package nn

const useAVX2 = false

func gemm4x4(c, a, b *float64, k, lda, ldb, ldc int) { panic("nn: gemm4x4 without AVX2") }

func gemmTN4x4(c, a, b *float64, k, lda, ldb, ldc int) { panic("nn: gemmTN4x4 without AVX2") }

func gemm4x8(c, a, b *float64, k, lda, ldb, ldc int) { panic("nn: gemm4x8 without AVX2") }

func gemmTN4x8(c, a, b *float64, k, lda, ldb, ldc int) { panic("nn: gemmTN4x8 without AVX2") }
