package nn

// float is the element type of the two forward passes: float64 (the
// arithmetic of training, Model.Predict) and float32 (the exported graph's,
// Model.PredictFloat32). Both run the same loops in the same order.
type float interface{ ~float32 | ~float64 }

// convRelu writes Relu(Conv1D(q)) of a convolution with the shape of c and
// the given weights and biases into x[nz:], flattened position-major (index
// t·Filters + f, the order of Flatten(Transpose(·)) in the graph), where q
// holds InChannels rows of w values; it returns x[:nz+positions·Filters].
func convRelu[T float](c *Conv1D, weights, bias, q []T, w int, x []T, nz int) []T {
	l := (w-c.Kernel)/c.Stride + 1
	for t := 0; t < l; t++ {
		for f := 0; f < c.Filters; f++ {
			acc := bias[f]
			for ch := 0; ch < c.InChannels; ch++ {
				wr := weights[(f*c.InChannels+ch)*c.Kernel:][:c.Kernel]
				qr := q[ch*w+t*c.Stride:][:c.Kernel]
				for j := range wr {
					acc += wr[j] * qr[j]
				}
			}
			x[nz+t*c.Filters+f] = max(acc, 0)
		}
	}
	return x[:nz+l*c.Filters]
}

// affine computes y = x·W + b for a row-major W of len(x) rows and len(y)
// columns.
func affine[T float](weights, bias, x, y []T) {
	copy(y, bias)
	for i, xi := range x {
		row := weights[i*len(y):][:len(y)]
		for j, w := range row {
			y[j] += xi * w
		}
	}
}
