package nn

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
)

// TabularColumns are the names of the per-customer base features, in the
// order of the tabular input: package features' columns.
var TabularColumns = features.TabularColumns

// NumTabular is the number of tabular input columns.
const NumTabular = 7

// SeqChannels are the channels of the weekly sequence input, channel-major.
var SeqChannels = features.SequenceChannels

// RateColumns are the per-week rates derived inside the model when
// Config.RateFeatures is set: numerator and denominator columns of the raw
// features, rate = numerator / max(denominator, 1) (x / T and
// cal_spend / T), each then log1p-transformed and standardised like the
// other inputs. BG/NBD's key statistic is such a rate; a ReLU MLP cannot
// divide, so new customers with a few purchases in a short T were ranked
// far too low without them.
var RateColumns = [][2]int{{0, 2}, {4, 2}}

// RateNames names the derived RateColumns.
var RateNames = []string{"x_per_week", "spend_per_week"}

// NumSeqChannels is the number of sequence channels.
const NumSeqChannels = 2

// DefaultSeed is the seed of [DefaultConfig].
const DefaultSeed uint64 = 42

// Config holds the architecture and training hyper-parameters. Every field
// influences the trained weights, so the whole Config is stored in the Model.
type Config struct {
	// Kind selects the architecture.
	Kind modelkind.Kind `json:"kind"`
	// Hidden are the widths of the ReLU dense layers before the ZILN head.
	Hidden []int `json:"hidden"`
	// LR is Adam's learning rate.
	LR float64 `json:"lr"`
	// WeightDecay is the L2 coefficient added to every gradient (as in
	// PyTorch's Adam weight_decay).
	WeightDecay float64 `json:"weight_decay"`
	// BatchSize is the fixed mini-batch size of the training graph.
	BatchSize int `json:"batch_size"`
	// MaxEpochs bounds the epochs per ensemble member.
	MaxEpochs int `json:"max_epochs"`
	// Patience is the number of epochs without validation improvement before
	// stopping; 0 disables early stopping. With validation rows the weights of
	// the epoch with the lowest validation loss are kept, otherwise the last.
	Patience int `json:"patience"`
	// ValFraction is the share of training rows held out (seeded, per member)
	// for early stopping; 0 trains on all rows without early stopping.
	ValFraction float64 `json:"val_fraction"`
	// Seed drives initialisation, validation split and shuffling.
	Seed uint64 `json:"seed"`
	// SeqWeeks is the sequence length W (modelkind.Seq).
	SeqWeeks int `json:"seq_weeks"`
	// ConvFilters is the number of convolution filters (modelkind.Seq).
	ConvFilters int `json:"conv_filters"`
	// KernelSize is the convolution width in weeks (modelkind.Seq).
	KernelSize int `json:"kernel_size"`
	// ConvStride is the convolution stride in weeks (modelkind.Seq).
	ConvStride int `json:"conv_stride"`
	// Ensemble is the number of independently seeded members averaged.
	Ensemble int `json:"ensemble"`
	// LogColumns are the tabular columns transformed with log1p(max(v,0))
	// before standardisation.
	LogColumns []int `json:"log_columns"`
	// RateFeatures appends the derived RateColumns to the network input.
	RateFeatures bool `json:"rate_features"`
	// SigmaFloor is added to softplus(raw) to form sigma.
	SigmaFloor float64 `json:"sigma_floor"`
	// ClipNorm clips the global gradient norm of each step; 0 disables it.
	ClipNorm float64 `json:"clip_norm"`
}

// DefaultConfig returns the tuned defaults for a kind: MLP 64-32, Adam
// lr 1e-3 with weight decay 1e-4, batch 256, early stopping (patience 20 on a
// 15 % validation split), an ensemble of 3 seeds, log1p on x and the three
// spend columns and the two derived per-week rates; seq adds 4 filters over non-overlapping 13-week blocks of the
// last 52 weeks. They were chosen on the mean over several seeded splits of
// CDNOW master and Online Retail (see package nn/quality).
func DefaultConfig(kind modelkind.Kind) Config {
	c := Config{
		Kind:         kind,
		Hidden:       []int{64, 32},
		LR:           1e-3,
		WeightDecay:  1e-4,
		BatchSize:    256,
		MaxEpochs:    200,
		Patience:     20,
		ValFraction:  0.15,
		Seed:         DefaultSeed,
		Ensemble:     3,
		LogColumns:   []int{0, 4, 5, 6},
		RateFeatures: true,
		SigmaFloor:   1e-3,
		ClipNorm:     0,
	}
	if kind == modelkind.Seq {
		c.SeqWeeks = 52
		c.ConvFilters = 4
		c.KernelSize = 13
		c.ConvStride = 13
	}
	return c
}

// InputWidth is the number of standardised tabular inputs of the network:
// NumTabular plus the derived rates.
func (c Config) InputWidth() int {
	if c.RateFeatures {
		return NumTabular + len(RateColumns)
	}
	return NumTabular
}

// SeqPositions returns the number of convolution output positions
// (W−K)/S+1 for modelkind.Seq, 0 otherwise.
func (c Config) SeqPositions() int {
	if c.Kind != modelkind.Seq || c.ConvStride <= 0 || c.SeqWeeks < c.KernelSize {
		return 0
	}
	return (c.SeqWeeks-c.KernelSize)/c.ConvStride + 1
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf("nn: config: "+format, a...)) }
	if !c.Kind.IsNetwork() {
		bad("kind %q is not %q or %q", c.Kind, modelkind.ZILN, modelkind.Seq)
	}
	if len(c.Hidden) == 0 {
		bad("hidden must list at least one layer width")
	}
	for i, h := range c.Hidden {
		if h < 1 || h > 4096 {
			bad("hidden[%d] = %d, want 1..4096", i, h)
		}
	}
	c.checkTraining(bad)
	seen := map[int]bool{}
	for _, col := range c.LogColumns {
		if col < 0 || col >= NumTabular {
			bad("log_columns contains %d, want 0..%d", col, NumTabular-1)
		} else if seen[col] {
			bad("log_columns repeats %d", col)
		}
		seen[col] = true
	}
	if !(c.SigmaFloor > 0 && c.SigmaFloor < 1) {
		bad("sigma_floor = %v, want (0, 1)", c.SigmaFloor)
	}
	if c.Kind == modelkind.Seq {
		c.checkConv(bad)
	}
	return errors.Join(errs...)
}

// checkTraining checks the optimiser and schedule settings.
func (c Config) checkTraining(bad func(string, ...any)) {
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		bad("lr = %v, want a finite value > 0", c.LR)
	}
	if !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0) {
		bad("weight_decay = %v, want a finite value >= 0", c.WeightDecay)
	}
	if c.BatchSize < 1 || c.BatchSize > 1<<16 {
		bad("batch_size = %d, want 1..65536", c.BatchSize)
	}
	if c.MaxEpochs < 1 {
		bad("max_epochs = %d, want >= 1", c.MaxEpochs)
	}
	if c.Patience < 0 {
		bad("patience = %d, want >= 0", c.Patience)
	}
	if !(c.ValFraction >= 0 && c.ValFraction <= 0.5) {
		bad("val_fraction = %v, want 0..0.5", c.ValFraction)
	}
	if c.Ensemble < 1 || c.Ensemble > 32 {
		bad("ensemble = %d, want 1..32", c.Ensemble)
	}
	if !(c.ClipNorm >= 0) || math.IsInf(c.ClipNorm, 0) {
		bad("clip_norm = %v, want a finite value >= 0", c.ClipNorm)
	}
}

// checkConv checks the sequence model's convolution settings.
func (c Config) checkConv(bad func(string, ...any)) {
	if c.SeqWeeks < 1 || c.SeqWeeks > 1040 {
		bad("seq_weeks = %d, want 1..1040", c.SeqWeeks)
	}
	if c.ConvFilters < 1 || c.ConvFilters > 256 {
		bad("conv_filters = %d, want 1..256", c.ConvFilters)
	}
	if c.KernelSize < 1 || c.KernelSize > c.SeqWeeks {
		bad("kernel_size = %d, want 1..seq_weeks (%d)", c.KernelSize, c.SeqWeeks)
	}
	if c.ConvStride < 1 || c.ConvStride > c.KernelSize {
		bad("conv_stride = %d, want 1..kernel_size (%d)", c.ConvStride, c.KernelSize)
	}
}

// clone deep-copies the slices of c.
func (c Config) clone() Config {
	c.Hidden = slices.Clone(c.Hidden)
	c.LogColumns = slices.Clone(c.LogColumns)
	return c
}
