//go:build !amd64 || amd64.v3

package onnxrt

const useAVX = false

func gemmRowAVX(y, b, x *float32, idx *int32, nnz int, w *float32, n, blocks int) {
	panic("onnxrt: gemmRowAVX without AVX")
}
