package nn_test

import (
	"context"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
)

// BenchmarkTrainEpoch measures one training epoch (forward, backward and
// Adam over every row, no validation) on a CDNOW-sized synthetic training set
// of 18,856 customers with the default architecture; one op = one epoch.
func BenchmarkTrainEpoch(b *testing.B) {
	for _, kind := range []modelkind.Kind{modelkind.ZILN, modelkind.Seq} {
		b.Run(string(kind), func(b *testing.B) {
			cfg := nn.DefaultConfig(kind)
			ds := nntest.Synthetic(18856, cfg.SeqWeeks, 5)
			data := nn.Data{Tabular: ds.Tabular, Seq: ds.Seq, Label: ds.Label}
			cfg.Ensemble, cfg.ValFraction, cfg.Patience, cfg.MaxEpochs = 1, 0, 0, b.N
			b.ResetTimer()
			if _, err := nn.Train(context.Background(), cfg, data, nn.TrainOptions{}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(len(data.Label))*float64(b.N)/b.Elapsed().Seconds(), "examples/s")
		})
	}
}
