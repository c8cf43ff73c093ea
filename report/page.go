package report

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/plot/plotter"
)

// DefaultTitle is the title of a report whose Data has none.
const DefaultTitle = "clvflow evaluation report"

// page is what the HTML template shows.
type page struct {
	Title   string
	Summary []field
	Rules   []field
	Notes   []string
	Columns []string
	Rows    []row
	Gain    figure
	Deciles []figure
	Lift    *figure
	Loss    []figure
}

type field struct{ Name, Value string }

type row struct {
	Name   string
	Values []string
}

// figure is one plot; Note replaces it when it cannot be drawn.
type figure struct {
	Caption, Note string
	Src           template.URL
}

// dataURI embeds a PNG image.
func dataURI(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

// buildPage computes every curve and draws every plot of d.
func buildPage(d Data) (*page, error) {
	pg := &page{Title: d.Title, Notes: d.Notes}
	if pg.Title == "" {
		pg.Title = DefaultTitle
	}
	pg.Summary, pg.Rules = summary(d), rules(d.RuleCounts)
	pg.Columns, pg.Rows = metricsTable(d.Models)
	var err error
	if pg.Gain, err = gainFigure(d.Models); err != nil {
		return nil, err
	}
	for _, m := range d.Models {
		f, err := decileFigure(m)
		if err != nil {
			return nil, err
		}
		pg.Deciles = append(pg.Deciles, f)
	}
	if pg.Lift, err = liftFigure(d.GiniLiftSamples, d.GiniLiftLabel); err != nil {
		return nil, err
	}
	if pg.Loss, err = lossFigures(d.Models); err != nil {
		return nil, err
	}
	return pg, nil
}

// lossFigures draws the loss curves of the models that have them.
func lossFigures(ms []ModelResult) ([]figure, error) {
	var out []figure
	for _, m := range ms {
		if len(m.Loss) == 0 {
			continue
		}
		png, err := lossPlot(m.Name, m.Loss)
		if err != nil {
			return nil, fmt.Errorf("report: loss of %s: %w", m.Name, err)
		}
		out = append(out, figure{Caption: m.Name + ": training (solid) and validation (dashed) loss per epoch, one colour per run.", Src: dataURI(png)})
	}
	return out, nil
}

// summary lists the data summary fields that are set.
func summary(d Data) []field {
	var out []field
	add := func(name, value string, ok bool) {
		if ok {
			out = append(out, field{name, value})
		}
	}
	add("customers", fmt.Sprint(d.Customers), d.Customers > 0)
	add("rows", fmt.Sprint(d.Rows), d.Rows > 0)
	add("cutoff", d.Cutoff, d.Cutoff != "")
	add("horizon", fmt.Sprintf("%d days", d.HorizonDays), d.HorizonDays > 0)
	add("holdout customers scored", fmt.Sprint(len(d.Models[0].Actual)), true)
	return out
}

// rules lists the cleaning counts by rule name.
func rules(counts map[string]int64) []field {
	var out []field
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, field{k, fmt.Sprint(counts[k])})
	}
	return out
}

// metricsTable returns the metric columns (metricOrder first, then the
// other keys alphabetically) and one row per model.
func metricsTable(ms []ModelResult) ([]string, []row) {
	seen := map[string]bool{}
	for _, m := range ms {
		for k := range m.Metrics {
			seen[k] = true
		}
	}
	var cols []string
	for _, k := range metricOrder {
		if seen[k] {
			cols = append(cols, k)
			delete(seen, k)
		}
	}
	cols = append(cols, slices.Sorted(maps.Keys(seen))...)
	rows := make([]row, len(ms))
	for i, m := range ms {
		rows[i].Name = m.Name
		for _, c := range cols {
			v, ok := m.Metrics[c]
			rows[i].Values = append(rows[i].Values, formatMetric(v, ok))
		}
	}
	return cols, rows
}

// formatMetric shows 4 decimals below 1000 and none above; "–" when
// undefined or missing.
func formatMetric(v float64, ok bool) string {
	switch {
	case !ok || math.IsNaN(v) || math.IsInf(v, 0):
		return "–"
	case math.Abs(v) >= 1000 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}

// gainFigure draws the gain curves of all models.
func gainFigure(ms []ModelResult) (figure, error) {
	f := figure{Caption: "Customers sorted by prediction (highest first) against the share of the actual holdout spend they hold. " +
		"The diagonal is a random order, the dashed black curve the perfect one; the normalized Gini is the area between a model's curve and the diagonal over that of the perfect curve."}
	actual := ms[0].Actual
	perfect, ok, err := gainXY(actual, actual)
	if err != nil || !ok {
		f.Note = "No customer spent anything in the holdout: the gain curves are undefined."
		return f, err
	}
	names, curves := make([]string, len(ms)), make([]plotter.XYs, len(ms))
	for i, m := range ms {
		names[i] = m.Name
		if curves[i], _, err = gainXY(m.Predicted, actual); err != nil {
			return f, fmt.Errorf("report: gain curve of %s: %w", m.Name, err)
		}
	}
	png, err := gainPlot(names, curves, perfect)
	if err != nil {
		return f, fmt.Errorf("report: gain plot: %w", err)
	}
	f.Src = dataURI(png)
	return f, nil
}

// decileFigure draws the calibration bars of one model.
func decileFigure(m ModelResult) (figure, error) {
	d, err := deciles(m.Predicted, m.Actual)
	if err != nil {
		return figure{}, fmt.Errorf("report: deciles of %s: %w", m.Name, err)
	}
	png, err := decilePlot(m.Name, d)
	if err != nil {
		return figure{}, fmt.Errorf("report: decile plot of %s: %w", m.Name, err)
	}
	caption := fmt.Sprintf("%s: customers in %d equal-count buckets by prediction; mean predicted and actual holdout spend per bucket.", m.Name, len(d.Actual))
	if v, ok := m.Metrics["decile_mape"]; ok {
		caption += " Decile MAPE " + formatMetric(v, true) + "."
	}
	return figure{Caption: caption, Src: dataURI(png)}, nil
}

// liftFigure draws the bootstrap Gini lift histogram (nil without samples).
func liftFigure(samples []float64, label string) (*figure, error) {
	if len(samples) == 0 {
		return nil, nil
	}
	if label == "" {
		label = "Gini lift"
	}
	png, err := liftPlot(samples, label)
	if err != nil {
		return nil, fmt.Errorf("report: Gini lift plot: %w", err)
	}
	s := slices.Sorted(slices.Values(samples))
	below := 0
	for _, v := range s {
		if v <= 0 {
			below++
		}
	}
	caption := fmt.Sprintf("%s over %d bootstrap samples: mean %.4f, 95%% interval [%.4f, %.4f]; %.1f%% of the samples show no lift (≤ 0).",
		label, len(s), stat.Mean(s, nil), stat.Quantile(0.025, stat.Empirical, s, nil), stat.Quantile(0.975, stat.Empirical, s, nil),
		100*float64(below)/float64(len(s)))
	return &figure{Caption: caption, Src: dataURI(png)}, nil
}
