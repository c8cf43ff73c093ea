package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/clvflow/clvflow/internal/parallel"
)

// Defaults of [BootstrapOptions].
const (
	DefaultResamples  = 1000
	DefaultBootSeed   = uint64(1)
	DefaultConfidence = 0.95
)

// BootstrapOptions control the paired bootstrap of [PairedGiniDiff] and
// [PairedDecileMAPEDiff]. Zero fields take the defaults: 1000 resamples,
// seed 1, confidence 0.95.
type BootstrapOptions struct {
	// Resamples is the number of bootstrap resamples (≥ 0; 0 = 1000).
	Resamples int
	// Seed seeds the resampling: resample r draws from its own PCG stream
	// seeded with (Seed, r), so the result depends on Seed only, never on
	// GOMAXPROCS or scheduling (0 = 1).
	Seed uint64
	// Confidence is the coverage of the percentile interval, in (0, 1)
	// (0 = 0.95).
	Confidence float64
}

// Interval is the outcome of a paired bootstrap: the distribution of a
// difference of a metric between two models over resamples of the same
// customers.
type Interval struct {
	// Estimate is the difference on the full sample (the point estimate).
	Estimate float64 `json:"estimate"`
	// Mean is the mean of the difference over the resamples.
	Mean float64 `json:"mean"`
	// Lo and Hi are the (1−Confidence)/2 and (1+Confidence)/2 percentiles
	// of the resampled differences (linear interpolation between order
	// statistics): the percentile interval.
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	// Resamples, Seed and Confidence are the effective options.
	Resamples  int     `json:"resamples"`
	Seed       uint64  `json:"seed"`
	Confidence float64 `json:"confidence"`
	// Undefined counts resamples on which the metric was undefined for
	// either model (e.g. no holdout spend among the drawn customers); they
	// are left out of Mean, Lo and Hi.
	Undefined int `json:"undefined,omitempty"`
	// Samples are the resampled differences in resample order (NaN for an
	// undefined one), for plots and for combining bootstraps (see
	// [IntervalOf]); not encoded.
	Samples []float64 `json:"-"`
}

// WithDefaults validates o and returns it with the defaults filled in.
func (o BootstrapOptions) WithDefaults() (BootstrapOptions, error) {
	if o.Resamples < 0 {
		return o, fmt.Errorf("metrics: bootstrap: %d resamples is negative", o.Resamples)
	}
	if o.Resamples == 0 {
		o.Resamples = DefaultResamples
	}
	if o.Seed == 0 {
		o.Seed = DefaultBootSeed
	}
	if o.Confidence == 0 {
		o.Confidence = DefaultConfidence
	}
	if !(o.Confidence > 0 && o.Confidence < 1) {
		return o, fmt.Errorf("metrics: bootstrap: confidence %v not in (0, 1)", o.Confidence)
	}
	return o, nil
}

// PairedGiniDiff resamples customers with replacement (the same indices for
// both models) and returns the percentile interval of
// NormalizedGini(a) − NormalizedGini(b) against actual. Within a resample,
// customers are ordered by prediction with ties in original index order,
// so a resample in which every customer is drawn once reproduces
// NormalizedGini exactly. Identical predictions give the interval [0, 0].
// Errors: length mismatch, empty or non-finite input, invalid options, and
// ErrUndefined when the Gini is undefined on the full sample.
func PairedGiniDiff(actual, a, b []float64, o BootstrapOptions) (Interval, error) {
	return pairedDiff(actual, a, b, o, NormalizedGini, giniOrdered)
}

// PairedDecileMAPEDiff is [PairedGiniDiff] for DecileMAPE(a) −
// DecileMAPE(b): the deciles are equal-count buckets of the resample
// ordered by prediction (ties in original index order).
func PairedDecileMAPEDiff(actual, a, b []float64, o BootstrapOptions) (Interval, error) {
	return pairedDiff(actual, a, b, o, DecileMAPE, decileMAPEOrdered)
}

// orderedMetric computes a metric of pred against actual over the
// (possibly repeated) indices in byPred, which lists the observations by
// prediction descending; byActual lists the same multiset by actual
// descending. It returns NaN when the metric is undefined.
type orderedMetric func(pred, actual []float64, byPred, byActual []int) float64

func giniOrdered(_, actual []float64, byPred, byActual []int) float64 {
	total := 0.0
	for _, i := range byPred {
		total += actual[i]
	}
	if total == 0 {
		return math.NaN()
	}
	perfect := giniOrder(actual, byActual, total)
	if perfect == 0 {
		return math.NaN()
	}
	return giniOrder(actual, byPred, total) / perfect
}

func decileMAPEOrdered(pred, actual []float64, byPred, _ []int) float64 {
	v, used := decileMAPEOrder(pred, actual, byPred)
	if used == 0 {
		return math.NaN()
	}
	return v
}

// checkTriple validates the inputs of a paired bootstrap.
func checkTriple(actual, a, b []float64) error {
	if len(a) != len(b) {
		return fmt.Errorf("%w: len(a)=%d, len(b)=%d", ErrLengthMismatch, len(a), len(b))
	}
	if err := checkPair(a, actual); err != nil {
		return err
	}
	return checkFinite("b", b)
}

// pairedDiff runs the paired bootstrap of metric(a) − metric(b): full is
// the metric on the full sample (the estimate), m the same metric on a
// resample.
func pairedDiff(actual, a, b []float64, o BootstrapOptions, full func(pred, actual []float64) (float64, error), m orderedMetric) (Interval, error) {
	o, err := o.WithDefaults()
	if err != nil {
		return Interval{}, err
	}
	if err := checkTriple(actual, a, b); err != nil {
		return Interval{}, err
	}
	ma, err := full(a, actual)
	if err != nil {
		return Interval{}, err
	}
	mb, err := full(b, actual)
	if err != nil {
		return Interval{}, err
	}
	ordA, ordB, ordY := orderDesc(a), orderDesc(b), orderDesc(actual)
	samples := make([]float64, o.Resamples)
	parallel.Ranges(o.Resamples, 16, func(lo, hi int) {
		rs := newResampler(len(actual))
		for r := lo; r < hi; r++ {
			rs.draw(o.Seed, r)
			ya := rs.expand(ordY, 0)
			samples[r] = m(a, actual, rs.expand(ordA, 1), ya) - m(b, actual, rs.expand(ordB, 2), ya)
		}
	})
	iv := IntervalOf(samples, o)
	iv.Estimate = ma - mb
	return iv, nil
}

// IntervalOf summarises bootstrap samples (NaN = undefined resample) as an
// Interval with o's confidence: Mean, percentile Lo and Hi over the defined
// samples (NaN when none is). Callers combining several bootstraps (e.g.
// averaging sample r over independent strata) use it for the result;
// Estimate is left 0 for them to set.
func IntervalOf(samples []float64, o BootstrapOptions) Interval {
	o, err := o.WithDefaults()
	if err != nil {
		o.Confidence = DefaultConfidence
	}
	iv := Interval{Resamples: len(samples), Seed: o.Seed, Confidence: o.Confidence, Samples: samples,
		Mean: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	ok := make([]float64, 0, len(samples))
	for _, s := range samples {
		if math.IsNaN(s) {
			iv.Undefined++
			continue
		}
		ok = append(ok, s)
	}
	if len(ok) == 0 {
		return iv
	}
	slices.Sort(ok)
	sum := 0.0
	for _, s := range ok {
		sum += s
	}
	iv.Mean = sum / float64(len(ok))
	iv.Lo = quantileSorted(ok, (1-o.Confidence)/2)
	iv.Hi = quantileSorted(ok, (1+o.Confidence)/2)
	return iv
}

// quantileSorted is the p-quantile of sorted v with linear interpolation
// between order statistics (numpy's default, Hyndman–Fan type 7).
func quantileSorted(v []float64, p float64) float64 {
	h := p * float64(len(v)-1)
	lo := int(math.Floor(h))
	if lo >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[lo] + (h-float64(lo))*(v[lo+1]-v[lo])
}

// resampler draws one bootstrap resample as per-observation counts and
// expands fixed orders of the full sample into orders of the resample.
type resampler struct {
	counts []int32
	bufs   [3][]int
}

func newResampler(n int) *resampler {
	r := &resampler{counts: make([]int32, n)}
	for i := range r.bufs {
		r.bufs[i] = make([]int, 0, n)
	}
	return r
}

// draw fills counts with resample r of the stream seeded (seed, r).
func (r *resampler) draw(seed uint64, resample int) {
	clear(r.counts)
	rng := rand.New(rand.NewPCG(seed, uint64(resample)))
	n := uint64(len(r.counts))
	for range len(r.counts) {
		r.counts[rng.Uint64N(n)]++
	}
}

// expand lists every index of order as often as it was drawn, in order
// (into buffer buf, valid until the next expand into it).
func (r *resampler) expand(order []int, buf int) []int {
	out := r.bufs[buf][:0]
	for _, i := range order {
		for range r.counts[i] {
			out = append(out, i)
		}
	}
	r.bufs[buf] = out
	return out
}

// intervalJSON mirrors Interval with null-aware floats.
type intervalJSON struct {
	Estimate   jsonFloat `json:"estimate"`
	Mean       jsonFloat `json:"mean"`
	Lo         jsonFloat `json:"lo"`
	Hi         jsonFloat `json:"hi"`
	Resamples  int       `json:"resamples"`
	Seed       uint64    `json:"seed"`
	Confidence float64   `json:"confidence"`
	Undefined  int       `json:"undefined,omitempty"`
}

// MarshalJSON writes the interval with undefined (NaN) values as null and
// without Samples.
func (iv Interval) MarshalJSON() ([]byte, error) {
	return json.Marshal(intervalJSON{Estimate: jsonFloat(iv.Estimate), Mean: jsonFloat(iv.Mean), Lo: jsonFloat(iv.Lo), Hi: jsonFloat(iv.Hi),
		Resamples: iv.Resamples, Seed: iv.Seed, Confidence: iv.Confidence, Undefined: iv.Undefined})
}

// UnmarshalJSON reads an interval written by MarshalJSON (null = NaN).
func (iv *Interval) UnmarshalJSON(b []byte) error {
	nan := jsonFloat(math.NaN())
	j := intervalJSON{Estimate: nan, Mean: nan, Lo: nan, Hi: nan}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*iv = Interval{Estimate: float64(j.Estimate), Mean: float64(j.Mean), Lo: float64(j.Lo), Hi: float64(j.Hi),
		Resamples: j.Resamples, Seed: j.Seed, Confidence: j.Confidence, Undefined: j.Undefined}
	return nil
}
