package nn

// Dense kernels of the hand-written MLP training pass (mlpTrainer). Every
// output element is one sum over k taken in increasing k, so the results do
// not depend on blocking and are reproducible bit for bit.

// gemm sets c[m×n] = a[m×k]·b[k×n] (row-major, k ≥ 1).
func gemm(c, a, b []float64, m, k, n int) {
	_, _, _ = c[m*n-1], a[m*k-1], b[k*n-1]
	i := 0
	for ; i+2 <= m; i += 2 {
		gemmRows2(c[i*n:(i+2)*n], a[i*k:(i+2)*k], b, k, n)
	}
	if i < m {
		gemmRow(c[i*n:(i+1)*n], a[i*k:(i+1)*k], b, n)
	}
}

// gemmRows2 computes two rows of c, four columns at a time.
func gemmRows2(c, a, b []float64, k, n int) {
	ar0, ar1 := a[:k], a[k:2*k]
	cr0, cr1 := c[:n], c[n:2*n]
	j := 0
	for ; j+4 <= n; j += 4 {
		var s00, s01, s02, s03, s10, s11, s12, s13 float64
		for kk, x0 := range ar0 {
			x1 := ar1[kk]
			off := kk*n + j
			bb := b[off : off+4 : off+4]
			s00 += x0 * bb[0]
			s01 += x0 * bb[1]
			s02 += x0 * bb[2]
			s03 += x0 * bb[3]
			s10 += x1 * bb[0]
			s11 += x1 * bb[1]
			s12 += x1 * bb[2]
			s13 += x1 * bb[3]
		}
		cr0[j], cr0[j+1], cr0[j+2], cr0[j+3] = s00, s01, s02, s03
		cr1[j], cr1[j+1], cr1[j+2], cr1[j+3] = s10, s11, s12, s13
	}
	for ; j < n; j++ {
		var s0, s1 float64
		for kk, x0 := range ar0 {
			bv := b[kk*n+j]
			s0 += x0 * bv
			s1 += ar1[kk] * bv
		}
		cr0[j], cr1[j] = s0, s1
	}
}

// gemmRow computes one row of c.
func gemmRow(c, a, b []float64, n int) {
	for j := range c {
		var s float64
		for kk, x := range a {
			s += x * b[kk*n+j]
		}
		c[j] = s
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
