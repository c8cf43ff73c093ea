// Package quality holds the real-data quality checks of the neural CLV models
// (it contains tests only). On CDNOW master (cutoff 1997-09-30, 273-day
// horizon) and UCI Online Retail (cutoff 2011-09-08, 92-day horizon) it
// trains on the training customers of `clvflow backtest`'s split and compares
// nn with BG/NBD×Gamma-Gamma (package btyd, fitted on the same training
// customers) and the naive run-rate on the test customers, with the metrics
// of package metrics. Data comes from ../shared/data (or
// $CLVFLOW_SHARED_DATA); the tests skip without it.
package quality
