// Package quality holds the real-data quality checks of the neural CLV models
// (it contains tests only). On CDNOW master (cutoff 1997-09-30, 273-day
// horizon) and UCI Online Retail (cutoff 2011-09-08, 92-day horizon) it reads,
// cleans, featurizes, splits and fits exactly as `clvflow backtest` does
// (packages dataset, features, backtest and models) and compares the networks with
// BG/NBD×Gamma-Gamma and the naive run-rate on the test customers. Data comes
// from ../shared/data (or $CLVFLOW_SHARED_DATA); the tests skip without it.
package quality
