// Package report owns the evaluation report of clvflow: one self-contained
// HTML file (inline CSS, PNG plots embedded as base64 data: URIs, no
// external resources) that shows, for a set of models scored on the same
// holdout customers, the data summary, a metrics table, the cumulative gain
// (Lorenz) curves, the predicted vs actual spend per decile, and optionally
// the bootstrap distribution of a Gini lift and the networks' training and
// validation loss per epoch.
//
// The input is the plain struct [Data]: callers give per-customer
// predictions and actuals, and the report derives the curves itself with
// package metrics (GainCurve, DecileTotals), so the plots use the same tie
// order as the metrics they illustrate. [Render] writes the page; the same
// Data always yields the same bytes. [WriteDir] writes it as report.html.
package report
