package report

import (
	"bytes"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Size of every plot (6×4 in at the PNG canvas' 96 dpi: 576×384 pixels).
const (
	plotWidth  = 6 * vg.Inch
	plotHeight = 4 * vg.Inch
)

var (
	gray  = color.Gray{Y: 150}
	black = color.Gray{Y: 0}
)

// pngOf draws p as a PNG image.
func pngOf(p *plot.Plot) ([]byte, error) {
	wt, err := p.WriterTo(plotWidth, plotHeight, "png")
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newPlot returns a plot with a title and axis labels.
func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Add(plotter.NewGrid())
	return p
}

// addLine adds a line through xy with the given style and legend entry
// (none when name is empty).
func addLine(p *plot.Plot, xy plotter.XYs, name string, c color.Color, dashes []vg.Length) error {
	l, err := plotter.NewLine(xy)
	if err != nil {
		return err
	}
	l.LineStyle = draw.LineStyle{Color: c, Width: vg.Points(1.5), Dashes: dashes}
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

// gainPlot draws the gain curves of the models (nil curves are left out)
// with the diagonal of a random order and the perfect curve.
func gainPlot(names []string, curves []plotter.XYs, perfect plotter.XYs) ([]byte, error) {
	p := newPlot("Cumulative gain (Lorenz) on the holdout", "share of customers, highest prediction first", "share of actual holdout spend")
	dash := []vg.Length{vg.Points(4), vg.Points(3)}
	if err := addLine(p, plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}, "random", gray, dash); err != nil {
		return nil, err
	}
	if err := addLine(p, perfect, "perfect", black, dash); err != nil {
		return nil, err
	}
	for i, xy := range curves {
		if err := addLine(p, xy, names[i], plotutil.Color(i), nil); err != nil {
			return nil, err
		}
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	return pngOf(p)
}

// decilePlot draws the mean predicted and actual spend per decile as
// grouped bars.
func decilePlot(name string, d decileMeans) ([]byte, error) {
	p := newPlot(name+": predicted vs actual spend per decile", "decile of prediction (1 = highest)", "mean holdout spend per customer")
	w := vg.Points(12)
	for _, v := range []struct {
		label  string
		values []float64
		c      color.Color
		offset vg.Length
	}{{"predicted", d.Predicted, plotutil.Color(0), -w / 2}, {"actual", d.Actual, plotutil.Color(1), w / 2}} {
		b, err := plotter.NewBarChart(plotter.Values(v.values), w)
		if err != nil {
			return nil, fmt.Errorf("%s bars: %w", v.label, err)
		}
		b.Color, b.Offset, b.LineStyle.Width = v.c, v.offset, 0
		p.Add(b)
		p.Legend.Add(v.label, b)
	}
	labels := make([]string, len(d.Actual))
	for i := range labels {
		labels[i] = fmt.Sprint(i + 1)
	}
	p.NominalX(labels...)
	p.Legend.Top = true
	return pngOf(p)
}

// liftBins is the number of bins of the Gini lift histogram.
const liftBins = 30

// liftPlot draws the histogram of the bootstrap Gini lift samples with a
// vertical line at zero lift.
func liftPlot(samples []float64, label string) ([]byte, error) {
	p := newPlot("Bootstrap distribution of the Gini lift", label, "bootstrap samples")
	h, err := plotter.NewHist(plotter.Values(samples), liftBins)
	if err != nil {
		return nil, err
	}
	h.FillColor, h.LineStyle.Color = plotutil.Color(2), color.White
	p.Add(h)
	top := 0.0
	for _, b := range h.Bins {
		top = max(top, b.Weight)
	}
	if err := addLine(p, plotter.XYs{{X: 0, Y: 0}, {X: 0, Y: top}}, "no lift", black, []vg.Length{vg.Points(4), vg.Points(3)}); err != nil {
		return nil, err
	}
	p.Legend.Top = true
	return pngOf(p)
}

// lossPlot draws the training (solid) and validation (dashed) loss per
// epoch of each curve, one colour (and legend entry) per curve.
func lossPlot(name string, curves []LossCurve) ([]byte, error) {
	p := newPlot(name+": loss per epoch", "epoch", "loss")
	for i, c := range curves {
		label := c.Label
		if label == "" {
			label = fmt.Sprintf("run %d", i+1)
		}
		if xy := finiteXY(c.Train); len(xy) > 0 {
			if err := addLine(p, xy, label, plotutil.Color(i), nil); err != nil {
				return nil, err
			}
		}
		if xy := finiteXY(c.Validation); len(xy) > 0 {
			if err := addLine(p, xy, "", plotutil.Color(i), []vg.Length{vg.Points(4), vg.Points(3)}); err != nil {
				return nil, err
			}
		}
	}
	p.Legend.Top = true
	return pngOf(p)
}
