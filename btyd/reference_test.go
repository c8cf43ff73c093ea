package btyd

import (
	"math"
	"strings"
	"testing"
)

func relDiff(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-300)
}

func checkWithin(t *testing.T, what string, got, want, rel float64) {
	t.Helper()
	if d := relDiff(got, want); !(d <= rel) {
		t.Errorf("%s = %.6g, want %.6g within %.2g%% (off by %.3g%%)", what, got, want, 100*rel, 100*d)
	}
}

// holdoutWeeks is the CDNOW holdout: 1997-10-01..1998-06-30 = 273 days.
const holdoutWeeks = 39.0

// TestFitBGNBDPublishedCDNOW reproduces the published BG/NBD estimates on
// Hardie's 2,357-customer CDNOW sample summary (Fader, Hardie & Lee 2005).
func TestFitBGNBDPublishedCDNOW(t *testing.T) {
	c := readColumns(t, "cdnow_customers_summary.csv", "frequency", "recency", "T")
	m, err := FitBGNBD(c["frequency"], c["recency"], c["T"], FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CDNOW summary: r=%.5f alpha=%.5f a=%.5f b=%.5f LL=%.4f iterations=%d warnings=%v", m.R, m.Alpha, m.A, m.B, m.LogLik, m.Iterations, m.Warnings)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", m.R, 0.2426}, {"alpha", m.Alpha, 4.4136}, {"a", m.A, 0.7929}, {"b", m.B, 2.4259}, {"loglik", m.LogLik, -9582.43},
	} {
		checkWithin(t, c.name, c.got, c.want, 0.01)
	}
	if math.Abs(m.LogLik-(-9582.43)) > 0.01 {
		t.Errorf("loglik = %.4f, want -9582.43 ± 0.01", m.LogLik)
	}
	if !m.Converged || len(m.Warnings) > 0 {
		t.Errorf("interior CDNOW fit: converged=%v warnings=%v, want converged without warnings", m.Converged, m.Warnings)
	}
	// The published parameters must not be better than ours.
	pub := &BGNBD{R: 0.2426, Alpha: 4.4136, A: 0.7929, B: 2.4259}
	llPub, err := pub.LogLikelihood(c["frequency"], c["recency"], c["T"])
	if err != nil {
		t.Fatal(err)
	}
	if llPub > m.LogLik+1e-6 {
		t.Errorf("published parameters give LL %.6f > fitted %.6f: optimiser stopped early", llPub, m.LogLik)
	}
}

// TestFitParetoNBDPublishedCDNOW reproduces the published Pareto/NBD
// estimates on the same CDNOW sample (Fader, Hardie & Lee 2005, "Counting
// your customers the easy way"; lifetimes' tests).
func TestFitParetoNBDPublishedCDNOW(t *testing.T) {
	c := readColumns(t, "cdnow_customers_summary.csv", "frequency", "recency", "T")
	m, err := FitParetoNBD(c["frequency"], c["recency"], c["T"], FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CDNOW summary: r=%.5f alpha=%.5f s=%.5f beta=%.5f LL=%.4f iterations=%d warnings=%v", m.R, m.Alpha, m.S, m.Beta, m.LogLik, m.Iterations, m.Warnings)
	pub := &ParetoNBD{R: 0.553, Alpha: 10.578, S: 0.606, Beta: 11.669}
	checkPublished(t, []float64{m.R, m.Alpha, m.S, m.Beta}, []float64{pub.R, pub.Alpha, pub.S, pub.Beta}, pnbdNames)
	if !m.Converged || len(m.Warnings) > 0 {
		t.Errorf("interior CDNOW fit: converged=%v warnings=%v, want converged without warnings", m.Converged, m.Warnings)
	}
	llPub, err := pub.LogLikelihood(c["frequency"], c["recency"], c["T"])
	if err != nil {
		t.Fatal(err)
	}
	if llPub > m.LogLik+1e-6 {
		t.Errorf("published parameters give LL %.6f > fitted %.6f: optimiser stopped early", llPub, m.LogLik)
	}
}

// TestFitMBGNBDPublishedCDNOW reproduces the published MBG/NBD estimates on
// the CDNOW sample (Batislam, Denizel & Filiztekin 2007; lifetimes' tests).
func TestFitMBGNBDPublishedCDNOW(t *testing.T) {
	c := readColumns(t, "cdnow_customers_summary.csv", "frequency", "recency", "T")
	m, err := FitMBGNBD(c["frequency"], c["recency"], c["T"], FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("CDNOW summary: r=%.5f alpha=%.5f a=%.5f b=%.5f LL=%.4f iterations=%d warnings=%v", m.R, m.Alpha, m.A, m.B, m.LogLik, m.Iterations, m.Warnings)
	pub := &MBGNBD{R: 0.525, Alpha: 6.183, A: 0.891, B: 1.614}
	checkPublished(t, []float64{m.R, m.Alpha, m.A, m.B}, []float64{pub.R, pub.Alpha, pub.A, pub.B}, bgnbdNames)
	if !m.Converged || len(m.Warnings) > 0 {
		t.Errorf("interior CDNOW fit: converged=%v warnings=%v, want converged without warnings", m.Converged, m.Warnings)
	}
	llPub, err := pub.LogLikelihood(c["frequency"], c["recency"], c["T"])
	if err != nil {
		t.Fatal(err)
	}
	if llPub > m.LogLik+1e-6 {
		t.Errorf("published parameters give LL %.6f > fitted %.6f: optimiser stopped early", llPub, m.LogLik)
	}
}

// checkPublished checks every fitted parameter within 1 % of the published one.
func checkPublished(t *testing.T, got, want []float64, names []string) {
	t.Helper()
	for i, name := range names {
		checkWithin(t, name, got[i], want[i], 0.01)
	}
}

// TestFitGammaGammaPublishedCDNOW checks the Gamma-Gamma fit on Hardie's
// summary (zbar) and on the peer reference file (mbar).
func TestFitGammaGammaPublishedCDNOW(t *testing.T) {
	tests := []struct {
		file, xCol, mCol string
		p, q, v, ll      float64
	}{
		{"cdnow_customers_summary_with_transactions.csv", "x", "zbar", 6.2488, 3.7446, 15.4477, math.NaN()},
		{"cdnow_sample_calholdout_lifetimes_ref.csv", "x", "mbar", 6.2496, 3.7442, 15.4435, -4055.9177},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			c := readColumns(t, tc.file, tc.xCol, tc.mCol)
			g, err := FitGammaGamma(c[tc.xCol], c[tc.mCol])
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("p=%.5f q=%.5f v=%.5f LL=%.4f n=%d excluded=%d warnings=%v", g.P, g.Q, g.V, g.LogLik, g.N, g.Excluded, g.Warnings)
			checkWithin(t, "p", g.P, tc.p, 0.01)
			checkWithin(t, "q", g.Q, tc.q, 0.01)
			checkWithin(t, "v", g.V, tc.v, 0.01)
			if !math.IsNaN(tc.ll) && math.Abs(g.LogLik-tc.ll) > 0.01 {
				t.Errorf("loglik = %.4f, want %.4f ± 0.01", g.LogLik, tc.ll)
			}
			if g.N != 946 {
				t.Errorf("fitted customers = %d, want 946 repeaters", g.N)
			}
			if !g.Converged {
				t.Errorf("not converged: %v", g.Warnings)
			}
		})
	}
}

// TestHoldoutSpendMatchesLifetimes is the must-pass check: for every CDNOW
// customer, E[X(39 weeks)] · E[M | x, mbar] from our own fits is within 1% of
// lifetimes' pred_spend_holdout.
func TestHoldoutSpendMatchesLifetimes(t *testing.T) {
	tests := []struct {
		file               string
		r, alpha, a, b, ll float64
		p, q, v            float64
		fitted             int
	}{
		{"cdnow_sample_calholdout_lifetimes_ref.csv", 0.2426, 4.4136, 0.7929, 2.4259, -9582.43, 6.2496, 3.7442, 15.4435, 946},
		{"cdnow_master_calholdout_lifetimes_ref.csv.gz", 0.2516, 4.7889, 0.7234, 2.1611, -95368.44, 6.2754, 3.6245, 14.9837, 9450},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			if testing.Short() && strings.Contains(tc.file, "master") {
				t.Skip("master file skipped in -short mode")
			}
			c := readColumns(t, tc.file, "x", "t_x", "T", "mbar", "pred_txn_bgnbd", "pred_avg_value_gg", "pred_spend_holdout")
			m, err := FitBGNBD(c["x"], c["t_x"], c["T"], FitOptions{})
			if err != nil {
				t.Fatal(err)
			}
			g, err := FitGammaGamma(c["x"], c["mbar"])
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("BG/NBD r=%.5f alpha=%.5f a=%.5f b=%.5f LL=%.3f; GG p=%.5f q=%.5f v=%.5f n=%d", m.R, m.Alpha, m.A, m.B, m.LogLik, g.P, g.Q, g.V, g.N)
			checkWithin(t, "r", m.R, tc.r, 0.01)
			checkWithin(t, "alpha", m.Alpha, tc.alpha, 0.01)
			checkWithin(t, "a", m.A, tc.a, 0.01)
			checkWithin(t, "b", m.B, tc.b, 0.01)
			if math.Abs(m.LogLik-tc.ll) > 0.05 {
				t.Errorf("loglik = %.3f, want %.2f", m.LogLik, tc.ll)
			}
			checkWithin(t, "p", g.P, tc.p, 0.01)
			checkWithin(t, "q", g.Q, tc.q, 0.01)
			checkWithin(t, "v", g.V, tc.v, 0.01)
			if g.N != tc.fitted {
				t.Errorf("Gamma-Gamma fitted %d customers, want %d", g.N, tc.fitted)
			}
			var maxTxn, maxVal, maxSpend float64
			bad := 0
			for i := range c["x"] {
				x, tx, T, mbar := c["x"][i], c["t_x"][i], c["T"][i], c["mbar"][i]
				txn := m.ExpectedPurchases(holdoutWeeks, x, tx, T)
				val := g.ConditionalExpectedValue(x, mbar)
				spend := txn * val
				maxTxn = math.Max(maxTxn, relDiff(txn, c["pred_txn_bgnbd"][i]))
				maxVal = math.Max(maxVal, relDiff(val, c["pred_avg_value_gg"][i]))
				d := relDiff(spend, c["pred_spend_holdout"][i])
				maxSpend = math.Max(maxSpend, d)
				if !(d <= 0.01) {
					bad++
					if bad <= 5 {
						t.Errorf("customer row %d (x=%v t_x=%v T=%v mbar=%v): predicted spend %.6g, lifetimes %.6g (%.3g%% off)", i+2, x, tx, T, mbar, spend, c["pred_spend_holdout"][i], 100*d)
					}
				}
			}
			t.Logf("max relative difference vs lifetimes: pred_txn_bgnbd %.3g, pred_avg_value_gg %.3g, pred_spend_holdout %.3g", maxTxn, maxVal, maxSpend)
			if bad > 0 {
				t.Errorf("%d of %d customers outside 1%%", bad, len(c["x"]))
			}
		})
	}
}

// TestOnlineRetailBoundary: the BG/NBD MLE on Online Retail lies on the
// no-dropout boundary. The fit must succeed with a warning and finite
// parameters, and predictions must equal the reference (a ≈ 0) ones.
func TestOnlineRetailBoundary(t *testing.T) {
	c := readColumns(t, "online_retail_calholdout_lifetimes_ref.csv.gz", "x", "t_x", "T", "mbar", "pred_txn_bgnbd", "pred_spend_holdout")
	m, err := FitBGNBD(c["x"], c["t_x"], c["T"], FitOptions{})
	if err != nil {
		t.Fatalf("boundary data must not fail: %v", err)
	}
	t.Logf("Online Retail: r=%.6g alpha=%.6g a=%.3g b=%.4g LL=%.3f converged=%v iterations=%d warnings=%q", m.R, m.Alpha, m.A, m.B, m.LogLik, m.Converged, m.Iterations, m.Warnings)
	for _, v := range []float64{m.R, m.Alpha, m.A, m.B, m.LogLik} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("non-finite result: %+v", m)
		}
	}
	if !strings.Contains(strings.Join(m.Warnings, " "), "no-dropout boundary") {
		t.Errorf("warnings %q do not mention the no-dropout boundary", m.Warnings)
	}
	checkWithin(t, "r", m.R, 0.7241, 0.01)
	checkWithin(t, "alpha", m.Alpha, 9.3869, 0.01)
	if m.LogLik < -22758.27-0.01 {
		t.Errorf("loglik %.3f below the reference maximum -22758.27", m.LogLik)
	}
	g, err := FitGammaGamma(c["x"], c["mbar"])
	if err != nil {
		t.Fatal(err)
	}
	checkWithin(t, "p", g.P, 2.3258, 0.01)
	checkWithin(t, "q", g.Q, 3.3626, 0.01)
	checkWithin(t, "v", g.V, 417.2564, 0.01)
	const horizon = 92.0 / 7
	var maxTxn, maxSpend float64
	for i := range c["x"] {
		txn := m.ExpectedPurchases(horizon, c["x"][i], c["t_x"][i], c["T"][i])
		maxTxn = math.Max(maxTxn, relDiff(txn, c["pred_txn_bgnbd"][i]))
		maxSpend = math.Max(maxSpend, relDiff(txn*g.ConditionalExpectedValue(c["x"][i], c["mbar"][i]), c["pred_spend_holdout"][i]))
	}
	t.Logf("Online Retail max relative difference: pred_txn_bgnbd %.3g, pred_spend_holdout %.3g", maxTxn, maxSpend)
	if maxTxn > 1e-3 {
		t.Errorf("pred_txn_bgnbd max relative difference %.3g > 1e-3", maxTxn)
	}
	if maxSpend > 0.01 {
		t.Errorf("pred_spend_holdout max relative difference %.3g > 1%%", maxSpend)
	}
}
