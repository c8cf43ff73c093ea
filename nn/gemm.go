package nn

import "math"

// Dense kernels of the hand-written MLP training pass (mlpTrainer). Every
// output element is one chain of fused multiply-adds over k in increasing
// k starting from zero (math.FMA, or the same chain in the AVX2 kernels
// lane by lane), so the results do not depend on blocking, CPU features or
// architecture and are reproducible bit for bit.

// gemm sets c[m×n] = a[m×k]·b[k×n] (row-major, k ≥ 1).
func gemm(c, a, b []float64, m, k, n int) {
	_, _, _ = c[m*n-1], a[m*k-1], b[k*n-1]
	mb, nb := 0, 0
	if useAVX2 {
		mb, nb = m&^3, n&^3
		for i := 0; i < mb; i += 4 {
			j := 0
			for ; j+8 <= nb; j += 8 {
				gemm4x8(&c[i*n+j], &a[i*k], &b[j], k, k, n, n)
			}
			if j < nb {
				gemm4x4(&c[i*n+j], &a[i*k], &b[j], k, k, n, n)
			}
		}
	}
	gemmEdge(c, a, b, m, k, n, k, 1, mb, nb)
}

// gemmTN sets c[m×n] = aᵀ·b[k×n] for a row-major a[k×m] (k ≥ 1).
func gemmTN(c, a, b []float64, m, k, n int) {
	_, _, _ = c[m*n-1], a[m*k-1], b[k*n-1]
	mb, nb := 0, 0
	if useAVX2 {
		mb, nb = m&^3, n&^3
		for i := 0; i < mb; i += 4 {
			j := 0
			for ; j+8 <= nb; j += 8 {
				gemmTN4x8(&c[i*n+j], &a[i], &b[j], k, m, n, n)
			}
			if j < nb {
				gemmTN4x4(&c[i*n+j], &a[i], &b[j], k, m, n, n)
			}
		}
	}
	gemmEdge(c, a, b, m, k, n, 1, m, mb, nb)
}

// gemmEdge computes the elements of c outside the 4×4 blocks of the first
// mb rows and nb columns; element (i, kk) of the left factor is
// a[i·rs + kk·ks].
func gemmEdge(c, a, b []float64, m, k, n, rs, ks, mb, nb int) {
	for i := range m {
		j0 := nb
		if i >= mb {
			j0 = 0
		}
		for j := j0; j < n; j++ {
			var s float64
			for kk := range k {
				s = math.FMA(a[i*rs+kk*ks], b[kk*n+j], s)
			}
			c[i*n+j] = s
		}
	}
}

// transpose writes the transpose of src[rows×cols] into dst[cols×rows].
func transpose(dst, src []float64, rows, cols int) {
	for r := range rows {
		row := src[r*cols : (r+1)*cols]
		for j, v := range row {
			dst[j*rows+r] = v
		}
	}
}

// colSums sets dst[j] to the sum over the rows of d[rows×len(dst)] of
// column j, in row order.
func colSums(dst, d []float64, rows int) {
	clear(dst)
	n := len(dst)
	for r := range rows {
		row := d[r*n : (r+1)*n]
		for j, v := range row {
			dst[j] += v
		}
	}
}
