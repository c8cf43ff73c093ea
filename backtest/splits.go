package backtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models"
	"github.com/clvflow/clvflow/nn"
)

// splitOutcome is the result of one seeded split.
type splitOutcome struct {
	seed        uint64
	train, test []int
	snapshots   []SnapshotSummary
	models      map[string]ModelResult
	// actual is the holdout spend of the test customers and preds each
	// model's predicted spend for them (same order), for the paired
	// comparisons.
	actual []float64
	preds  map[string][]float64
}

// startShared fits the shared models (fitShared) on their own goroutine,
// so that they overlap with drawing the splits; waitShared waits for them.
func (p *prepared) startShared(ctx context.Context) {
	p.sharedDone = make(chan struct{})
	go func() {
		defer close(p.sharedDone)
		p.sharedErr = p.fitShared(ctx)
	}()
}

// waitShared waits for the shared models and returns the error of their
// fit.
func (p *prepared) waitShared() error {
	<-p.sharedDone
	return p.sharedErr
}

// fitShared fits once the models that do not depend on the split: naive
// (no fit) and the BTYD kinds, which models.Fit fits on every customer of
// the set whatever the training customers. Every split reuses them.
func (p *prepared) fitShared(ctx context.Context) error {
	p.shared = map[string]fitted{}
	var all []int
	for _, kind := range p.o.Models {
		if modelkind.Kind(kind).IsNetwork() {
			continue
		}
		if all == nil {
			all = make([]int, p.set.Len())
			for i := range all {
				all[i] = i
			}
		}
		m, info, err := models.Fit(ctx, modelkind.Kind(kind), p.set, all, models.FitOptions{HorizonDays: p.split.HorizonDays})
		if err != nil {
			return err
		}
		p.shared[kind] = fitted{m: m, seconds: info.Seconds}
	}
	return nil
}

// runSplits runs the o.Repeats splits on up to GOMAXPROCS goroutines and
// returns their outcomes in seed order; the first error cancels the rest.
func (p *prepared) runSplits(ctx context.Context) ([]*splitOutcome, error) {
	k := p.o.Repeats
	outs, errs := make([]*splitOutcome, k), make([]error, k)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int, k)
	for i := range k {
		next <- i
	}
	close(next)
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for range min(k, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				if outs[i], errs[i] = p.runSplit(ctx, p.o.Seed+uint64(i)); errs[i] != nil {
					cancel()
					continue
				}
				mu.Lock()
				done++
				if p.o.SplitDone != nil && k > 1 {
					p.o.SplitDone(done, k, outs[i].seed)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return outs, firstError(errs)
}

// firstError returns the first non-nil error that is not a consequence of
// another split's cancellation, else the first non-nil one.
func firstError(errs []error) error {
	var first error
	for _, err := range errs {
		if err == nil {
			continue
		}
		if first == nil {
			first = err
		}
		if !isCanceled(err) {
			return err
		}
	}
	return first
}

// isCanceled reports whether err comes from a canceled context.
func isCanceled(err error) bool { return errors.Is(err, context.Canceled) }

// runSplit splits the customers with seed, fits the split-dependent
// models on the training customers and scores every model on the test
// customers.
func (p *prepared) runSplit(ctx context.Context, seed uint64) (*splitOutcome, error) {
	train, test := p.set.SplitTrainTest(p.o.TestFraction, seed)
	out := &splitOutcome{seed: seed, train: train, test: test, models: map[string]ModelResult{}, preds: map[string][]float64{}}
	out.actual = make([]float64, len(test))
	for k, i := range test {
		out.actual[k] = p.set.Customers[i].HoldoutSpend
	}
	holdout := metrics.NewHoldout(out.actual) // sorts while the models fit
	if len(p.snaps) > 0 {
		rows := models.SnapshotRows(p.set, train)
		for _, s := range p.snaps {
			idx, _ := rows(s)
			out.snapshots = append(out.snapshots, SnapshotSummary{Cutoff: s.Split.Cutoff.Format(DateLayout), TrainCustomers: len(idx)})
		}
	}
	if err := p.waitShared(); err != nil {
		return nil, err
	}
	for _, kind := range p.o.Models {
		f, err := p.fit(ctx, kind, train, seed)
		if err != nil {
			return nil, err
		}
		pred, prob, rep, err := evaluate(f.m, p, test, holdout)
		if err != nil {
			return nil, err
		}
		r := ModelResult{Params: f.m.Params(), FitSeconds: roundSeconds(f.seconds), Metrics: rep}
		if p.o.KeepPredictions {
			r.Predictions = p.scored(test, pred, prob, out.actual)
		}
		out.models[kind], out.preds[kind] = r, pred
	}
	return out, nil
}

// scored is the per-customer record of one model's test predictions.
func (p *prepared) scored(test []int, pred, prob, actual []float64) *models.Scored {
	ids := make([]string, len(test))
	for k, i := range test {
		ids[k] = p.set.Customers[i].ID
	}
	return &models.Scored{Customers: ids, Predicted: pred, Probability: prob, Actual: actual}
}

// fit returns the shared model of kind or fits it on train with seed.
func (p *prepared) fit(ctx context.Context, kind string, train []int, seed uint64) (fitted, error) {
	if f, ok := p.shared[kind]; ok {
		return f, nil
	}
	o := p.o
	fo := models.FitOptions{Seed: seed, HorizonDays: p.split.HorizonDays, MaxEpochs: o.MaxEpochs, NN: o.NN, Snapshots: p.snaps}
	if o.Progress != nil {
		fo.Progress = func(r nn.EpochReport) { o.Progress(kind, r) }
	}
	m, info, err := models.Fit(ctx, modelkind.Kind(kind), p.set, train, fo)
	if err != nil {
		return fitted{}, err
	}
	return fitted{m: m, seconds: info.Seconds}, nil
}

// evaluate is models.Evaluate, against the test customers' holdout, that
// also returns the predicted spend and purchase probability.
func evaluate(m models.Model, p *prepared, test []int, holdout *metrics.Holdout) (value, prob []float64, rep metrics.Report, err error) {
	if len(test) == 0 {
		return nil, nil, metrics.Report{}, fmt.Errorf("models: evaluate %s: no test customers", m.Kind())
	}
	if value, prob, err = m.Predict(p.set, test); err != nil {
		return nil, nil, metrics.Report{}, err
	}
	if rep, err = holdout.Evaluate(value, prob); err != nil {
		return nil, nil, rep, fmt.Errorf("models: evaluate %s on %d customers: %w", m.Kind(), len(test), err)
	}
	return value, prob, rep, nil
}
