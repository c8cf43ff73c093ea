package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/clvflow/clvflow/backtest"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/report"
)

// backtestReport writes the HTML report of `clvflow backtest --report DIR`:
// it asks Run for the per-customer predictions and records the networks'
// loss per epoch on the way. A nil *backtestReport does nothing.
type backtestReport struct {
	dir   string
	input string
	// loss[model][member] is the loss history of one ensemble member.
	loss map[string][]report.LossCurve
}

// startBacktestReport prepares dir (nil when dir is empty) and hooks into o:
// it sets o.KeepPredictions and wraps o.Progress.
func startBacktestReport(dir string, o *backtest.Options) (*backtestReport, error) {
	if dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	br := &backtestReport{dir: dir, input: o.Input, loss: map[string][]report.LossCurve{}}
	o.KeepPredictions = true
	if o.Repeats > 1 {
		return br, nil // the report shows the first split (seed --seed); loss curves of parallel splits would mix
	}
	next := o.Progress
	o.Progress = func(model string, r nn.EpochReport) {
		br.record(model, r)
		if next != nil {
			next(model, r)
		}
	}
	return br, nil
}

// record appends one epoch to the member's loss curve.
func (br *backtestReport) record(model string, r nn.EpochReport) {
	curves := br.loss[model]
	for len(curves) <= r.Member {
		curves = append(curves, report.LossCurve{Label: fmt.Sprintf("member %d", len(curves)+1)})
	}
	c := &curves[r.Member]
	c.Train, c.Validation = append(c.Train, r.TrainLoss), append(c.Validation, r.ValLoss)
	br.loss[model] = curves
}

// write renders the report of res into the directory and names the file on
// w.
func (br *backtestReport) write(w io.Writer, res *backtest.Result) error {
	if br == nil {
		return nil
	}
	path, err := report.WriteDir(br.dir, br.data(res))
	if err != nil {
		return fmt.Errorf("backtest: %w", err)
	}
	fmt.Fprintf(w, "backtest: report written to %s\n", path)
	return nil
}

// data is the report.Data of a backtest result.
func (br *backtestReport) data(res *backtest.Result) report.Data {
	d, s := res.Dataset, res.Split
	out := report.Data{Title: "clvflow backtest: " + filepath.Base(br.input), Cutoff: s.Cutoff, HorizonDays: s.HorizonDays,
		Customers: d.Customers, Rows: d.Rows, RuleCounts: map[string]int64{},
		Notes: append([]string{fmt.Sprintf("Metrics and plots on the %d test customers (%d train; seed %d, test fraction %g); data %s .. %s, %d rows rejected.",
			s.TestCustomers, s.TrainCustomers, s.Seed, s.TestFraction, d.FirstDay, d.LastDay, d.RejectedRows)}, res.Warnings...)}
	for rule, n := range d.RejectedByRule {
		out.RuleCounts[string(rule)] = n
	}
	for _, name := range res.ModelNames() {
		mr := res.Models[name]
		m := report.ModelResult{Name: name, Metrics: report.MetricsOf(mr.Metrics), Loss: br.loss[name]}
		m.Metrics["fit_seconds"] = mr.FitSeconds
		out.Notes = append(out.Notes, modelWarnings(name, mr.Params)...)
		if p := mr.Predictions; p != nil {
			m.Predicted, m.Actual = p.Predicted, p.Actual
		}
		out.Models = append(out.Models, m)
	}
	return out
}

// modelWarnings are a model's warnings, each prefixed with its name.
func modelWarnings(name string, params map[string]any) []string {
	ws, _ := params["warnings"].([]string)
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		if !strings.HasPrefix(w, name+": ") {
			w = name + ": " + w
		}
		out = append(out, w)
	}
	return out
}
