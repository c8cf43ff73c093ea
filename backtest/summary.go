package backtest

import (
	"encoding/json"
	"errors"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/clvflow/clvflow/metrics"
)

// Repeat is one split of a run with Options.Repeats > 1.
type Repeat struct {
	Seed           uint64                 `json:"seed"`
	TrainCustomers int                    `json:"train_customers"`
	TestCustomers  int                    `json:"test_customers"`
	Models         map[string]RepeatModel `json:"models"`
}

// RepeatModel is one model of a [Repeat] (its params are in Result.Models
// for the first split only).
type RepeatModel struct {
	// FitSeconds is the split's fit time; naive and the BTYD kinds do not
	// depend on the split, are fitted once and repeat that fit's time.
	FitSeconds float64        `json:"fit_seconds"`
	Metrics    metrics.Report `json:"metrics"`
}

// Interval methods of a [Summary].
const (
	StatInterval = "95% t-interval of the mean over splits: mean ± t(0.975, n−1)·sd/√n"
	DiffInterval = "paired percentile bootstrap of the mean difference over splits: resample r draws the test customers of every split with replacement (the same customers for both models; split k's stream is seeded (bootstrap seed + k, r)) and averages the per-split differences"
)

// Summary aggregates the splits of a run with Options.Repeats > 1.
type Summary struct {
	Splits int      `json:"splits"`
	Seeds  []uint64 `json:"seeds"`
	// StatInterval and DiffInterval say how the intervals were computed.
	StatInterval string `json:"stat_interval"`
	DiffInterval string `json:"diff_interval"`
	// Models holds, per model and metric (the keys of metrics.Report's
	// JSON), the distribution of the metric over the splits.
	Models map[string]map[string]Stat `json:"models"`
	// Comparisons pair every two models on the same test customers, the
	// later model of the canonical order as A.
	Comparisons []Comparison `json:"comparisons"`
}

// Stat is the distribution of one metric over the splits; undefined
// splits are left out (N counts the others). SD, Lo and Hi are NaN (null)
// when N < 2.
type Stat struct {
	N    int
	Mean float64
	SD   float64
	Lo   float64
	Hi   float64
}

// MarshalJSON writes NaN as null.
func (s Stat) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"n": s.N, "mean": finiteOrNil(s.Mean), "sd": finiteOrNil(s.SD), "lo": finiteOrNil(s.Lo), "hi": finiteOrNil(s.Hi)})
}

// UnmarshalJSON reads a Stat written by MarshalJSON (null = NaN).
func (s *Stat) UnmarshalJSON(b []byte) error {
	var j struct {
		N                *int
		Mean, SD, Lo, Hi *float64
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Stat{Mean: orNaN(j.Mean), SD: orNaN(j.SD), Lo: orNaN(j.Lo), Hi: orNaN(j.Hi)}
	if j.N != nil {
		s.N = *j.N
	}
	return nil
}

// Comparison compares model A with model B over the splits.
type Comparison struct {
	A string `json:"a"`
	B string `json:"b"`
	// NormalizedGini is about Gini(A) − Gini(B) (A wins when higher),
	// DecileMAPE about MAPE(A) − MAPE(B) (A wins when lower).
	NormalizedGini PairedSummary `json:"normalized_gini"`
	DecileMAPE     PairedSummary `json:"decile_mape"`
}

// PairedSummary is the difference of one metric between two models.
type PairedSummary struct {
	// MeanDiff and SD are the mean and standard deviation over the splits
	// of the per-split difference.
	MeanDiff float64
	SD       float64
	// Bootstrap is the paired bootstrap interval of the mean difference
	// (Summary.DiffInterval); its Estimate is MeanDiff.
	Bootstrap metrics.Interval
	// WinsA and WinsB count the splits where A (B) is better, Ties those
	// where both are equal; splits where either is undefined are in none.
	WinsA, WinsB, Ties int
}

// MarshalJSON writes NaN as null.
func (p PairedSummary) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"mean_diff": finiteOrNil(p.MeanDiff), "sd": finiteOrNil(p.SD), "bootstrap": p.Bootstrap,
		"wins_a": p.WinsA, "wins_b": p.WinsB, "ties": p.Ties})
}

// UnmarshalJSON reads a PairedSummary written by MarshalJSON.
func (p *PairedSummary) UnmarshalJSON(b []byte) error {
	var j struct {
		MeanDiff *float64 `json:"mean_diff"`
		SD       *float64
		Boot     metrics.Interval `json:"bootstrap"`
		WinsA    int              `json:"wins_a"`
		WinsB    int              `json:"wins_b"`
		Ties     int
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = PairedSummary{MeanDiff: orNaN(j.MeanDiff), SD: orNaN(j.SD), Bootstrap: j.Boot, WinsA: j.WinsA, WinsB: j.WinsB, Ties: j.Ties}
	return nil
}

func finiteOrNil(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// repeatsOf lists the splits' metrics.
func repeatsOf(outs []*splitOutcome) []Repeat {
	rs := make([]Repeat, len(outs))
	for i, o := range outs {
		r := Repeat{Seed: o.seed, TrainCustomers: len(o.train), TestCustomers: len(o.test), Models: map[string]RepeatModel{}}
		for k, m := range o.models {
			r.Models[k] = RepeatModel{FitSeconds: m.FitSeconds, Metrics: m.Metrics}
		}
		rs[i] = r
	}
	return rs
}

// metricValues are the metrics of a report by their JSON names.
func metricValues(r metrics.Report) map[string]float64 {
	return map[string]float64{"normalized_gini": r.NormalizedGini, "spearman": r.Spearman, "decile_mape": r.DecileMAPE,
		"mae": r.MAE, "rmse": r.RMSE, "auc": r.AUC, "precision": r.Precision, "recall": r.Recall, "f1": r.F1,
		"total_predicted": r.TotalPredicted, "total_actual": r.TotalActual}
}

// summarize aggregates the splits.
func summarize(outs []*splitOutcome, o Options) (*Summary, error) {
	s := &Summary{Splits: len(outs), StatInterval: StatInterval, DiffInterval: DiffInterval, Models: map[string]map[string]Stat{}}
	names := (&Result{Models: outs[0].models}).ModelNames()
	for _, out := range outs {
		s.Seeds = append(s.Seeds, out.seed)
	}
	for _, name := range names {
		per := map[string][]float64{}
		for _, out := range outs {
			for k, v := range metricValues(out.models[name].Metrics) {
				per[k] = append(per[k], v)
			}
		}
		s.Models[name] = map[string]Stat{}
		for k, vs := range per {
			s.Models[name][k] = statOf(vs)
		}
	}
	for j := range names {
		for i := range j {
			c, err := compare(outs, names[j], names[i], o.Bootstrap)
			if err != nil {
				return nil, err
			}
			s.Comparisons = append(s.Comparisons, c)
		}
	}
	return s, nil
}

// statOf is the mean, sd and 95% t-interval of the finite values of vs.
func statOf(vs []float64) Stat {
	var ok []float64
	for _, v := range vs {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			ok = append(ok, v)
		}
	}
	s := Stat{N: len(ok), Mean: math.NaN(), SD: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if s.N == 0 {
		return s
	}
	s.Mean, s.SD = meanSD(ok)
	if s.N < 2 {
		return s
	}
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(s.N - 1)}.Quantile(0.975)
	h := t * s.SD / math.Sqrt(float64(s.N))
	s.Lo, s.Hi = s.Mean-h, s.Mean+h
	return s
}

// meanSD is the mean and the sample standard deviation (n−1; NaN for one
// value).
func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	if len(v) < 2 {
		return mean, math.NaN()
	}
	ss := 0.0
	for _, x := range v {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / float64(len(v)-1))
}

// compare pairs model a with model b over the splits.
func compare(outs []*splitOutcome, a, b string, bo metrics.BootstrapOptions) (Comparison, error) {
	c := Comparison{A: a, B: b}
	var err error
	gini := func(r metrics.Report) float64 { return r.NormalizedGini }
	if c.NormalizedGini, err = paired(outs, a, b, gini, +1, metrics.PairedGiniDiff, bo); err != nil {
		return c, err
	}
	mape := func(r metrics.Report) float64 { return r.DecileMAPE }
	c.DecileMAPE, err = paired(outs, a, b, mape, -1, metrics.PairedDecileMAPEDiff, bo)
	return c, err
}

type pairedFunc func(actual, a, b []float64, o metrics.BootstrapOptions) (metrics.Interval, error)

// paired summarises metric(a) − metric(b) over the splits; better is +1
// when higher is better, −1 when lower is.
func paired(outs []*splitOutcome, a, b string, metric func(metrics.Report) float64, better float64,
	boot pairedFunc, bo metrics.BootstrapOptions) (PairedSummary, error) {
	var p PairedSummary
	var diffs []float64
	for _, out := range outs {
		d := metric(out.models[a].Metrics) - metric(out.models[b].Metrics)
		switch {
		case math.IsNaN(d):
			continue
		case d*better > 0:
			p.WinsA++
		case d*better < 0:
			p.WinsB++
		default:
			p.Ties++
		}
		diffs = append(diffs, d)
	}
	p.MeanDiff, p.SD = math.NaN(), math.NaN()
	if len(diffs) > 0 {
		p.MeanDiff, p.SD = meanSD(diffs)
	}
	iv, err := pooledBootstrap(outs, a, b, boot, bo)
	iv.Estimate = p.MeanDiff
	p.Bootstrap = iv
	return p, err
}

// pooledBootstrap averages resample r of every split's paired bootstrap
// (split k seeded bo.Seed+k) into resample r of the mean difference.
func pooledBootstrap(outs []*splitOutcome, a, b string, boot pairedFunc, bo metrics.BootstrapOptions) (metrics.Interval, error) {
	bo, err := bo.WithDefaults()
	if err != nil {
		return metrics.Interval{}, err
	}
	mean := make([]float64, bo.Resamples)
	for k, out := range outs {
		ko := bo
		ko.Seed = bo.Seed + uint64(k)
		iv, err := boot(out.actual, out.preds[a], out.preds[b], ko)
		if errors.Is(err, metrics.ErrUndefined) {
			iv.Samples = nanSlice(bo.Resamples)
		} else if err != nil {
			return metrics.Interval{}, err
		}
		for r, v := range iv.Samples {
			mean[r] += v / float64(len(outs))
		}
	}
	return metrics.IntervalOf(mean, bo), nil
}

func nanSlice(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}
