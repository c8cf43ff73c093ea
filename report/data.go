package report

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/clvflow/clvflow/metrics"
)

// Data is everything one report shows. Only Models is required; empty
// optional parts are left out of the page.
type Data struct {
	// Title heads the page (default "clvflow evaluation report").
	Title string
	// Cutoff is the last calibration day (YYYY-MM-DD) and HorizonDays the
	// holdout length.
	Cutoff      string
	HorizonDays int
	// Customers and Rows describe the cleaned input.
	Customers int
	Rows      int64
	// RuleCounts are the rows each cleaning rule rejected (optional).
	RuleCounts map[string]int64
	// Models are shown in this order. They must be scored on the same
	// customers: every model's Actual must be equal.
	Models []ModelResult
	// GiniLiftSamples is an optional bootstrap distribution of a Gini lift
	// (e.g. challenger minus champion); GiniLiftLabel names it.
	GiniLiftSamples []float64
	GiniLiftLabel   string
	// Notes are optional remarks (e.g. warnings about the data).
	Notes []string
}

// ModelResult is one model scored on the holdout customers.
type ModelResult struct {
	Name string
	// Predicted and Actual are the predicted and actual holdout spend of
	// the same customers in the same order.
	Predicted, Actual []float64
	// Metrics are shown in the metrics table (see MetricsOf); NaN is shown
	// as undefined.
	Metrics map[string]float64
	// Loss holds the per-epoch losses of a network, one curve per ensemble
	// member (optional).
	Loss []LossCurve
}

// LossCurve is the training and validation loss of one training run, one
// value per epoch. Validation may be empty or hold NaN (no validation rows).
type LossCurve struct {
	Label      string
	Train      []float64
	Validation []float64
}

// metricOrder is the column order of the metrics of metrics.Report; other
// keys follow in alphabetical order.
var metricOrder = []string{"n", "normalized_gini", "spearman", "decile_mape", "mae", "rmse",
	"auc", "precision", "recall", "f1", "total_predicted", "total_actual"}

// MetricsOf returns the metrics of r keyed by their JSON names
// ("normalized_gini", …), the keys the metrics table orders first.
func MetricsOf(r metrics.Report) map[string]float64 {
	out := map[string]float64{}
	v := reflect.ValueOf(r)
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		switch f := v.Field(i); f.Kind() {
		case reflect.Float64:
			out[name] = f.Float()
		case reflect.Int:
			out[name] = float64(f.Int())
		}
	}
	return out
}

// validate checks what the plots need.
func (d *Data) validate() error {
	if len(d.Models) == 0 {
		return errors.New("report: no models")
	}
	for i, m := range d.Models {
		if m.Name == "" {
			return fmt.Errorf("report: model %d has no name", i)
		}
		if len(m.Predicted) != len(m.Actual) || len(m.Predicted) == 0 {
			return fmt.Errorf("report: model %s: %d predictions for %d actuals", m.Name, len(m.Predicted), len(m.Actual))
		}
		if !slices.Equal(m.Actual, d.Models[0].Actual) {
			return fmt.Errorf("report: model %s is scored on other customers than %s (actuals differ)", m.Name, d.Models[0].Name)
		}
	}
	for _, v := range d.GiniLiftSamples {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("report: Gini lift sample %v is not finite", v)
		}
	}
	return nil
}
