package nn

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn/nntest"
)

// TestTrainSameWithoutAVX2 trains the MLP with and without the assembly
// kernels and requires byte-identical models, so that the weights do not
// depend on the CPU features of the training machine.
func TestTrainSameWithoutAVX2(t *testing.T) {
	if !useAVX2 {
		t.Skip("CPU without AVX2/FMA: only the Go path can run")
	}
	c := smallConfig(modelkind.ZILN)
	c.Ensemble = 2
	ds := nntest.Synthetic(500, c.SeqWeeks, 9)
	data := Data{Tabular: ds.Tabular, Label: ds.Label}
	var blobs [2][]byte
	for i, avx := range []bool{true, false} {
		useAVX2 = avx
		m, err := Train(context.Background(), c, data, TrainOptions{})
		useAVX2 = true
		if err != nil {
			t.Fatal(err)
		}
		if blobs[i], err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(blobs[0], blobs[1]) {
		t.Fatal("the model trained with the AVX2 kernels differs from the Go path's")
	}
}
