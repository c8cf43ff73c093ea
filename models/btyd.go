package models

import (
	"errors"
	"fmt"

	"github.com/clvflow/clvflow/btyd"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
)

// The BTYD kinds (bgnbd, pnbd, mbgnbd) pair a purchase-count model of
// package btyd with the Gamma-Gamma spend model; everything but the count
// model is shared.

// countModel is the purchase-count half of a BTYD kind.
type countModel interface {
	ExpectedPurchases(t, x, tx, T float64) float64
	ProbPurchase(t, x, tx, T float64) float64
}

// spendPart is the Gamma-Gamma half of a BTYD kind, embedded so that its
// fields sit at the top level of the model's JSON.
type spendPart struct {
	GG *btyd.GammaGamma `json:"gamma_gamma,omitempty"`
	// FallbackValue is the value per purchase used when GG is nil.
	FallbackValue float64 `json:"fallback_value,omitempty"`
	// Notes are warnings of this package (the fallback), on top of the
	// fitters' own warnings.
	Notes []string `json:"notes,omitempty"`
}

// bgnbdModel combines BG/NBD purchase counts with Gamma-Gamma values.
type bgnbdModel struct {
	HorizonDays int         `json:"horizon_days"`
	BG          *btyd.BGNBD `json:"bgnbd"`
	spendPart
}

// pnbdModel combines Pareto/NBD purchase counts with Gamma-Gamma values.
type pnbdModel struct {
	HorizonDays int             `json:"horizon_days"`
	PN          *btyd.ParetoNBD `json:"pnbd"`
	spendPart
}

// mbgnbdModel combines MBG/NBD purchase counts with Gamma-Gamma values.
type mbgnbdModel struct {
	HorizonDays int          `json:"horizon_days"`
	MBG         *btyd.MBGNBD `json:"mbgnbd"`
	spendPart
}

func (m *bgnbdModel) Kind() modelkind.Kind  { return modelkind.BGNBD }
func (m *pnbdModel) Kind() modelkind.Kind   { return modelkind.PNBD }
func (m *mbgnbdModel) Kind() modelkind.Kind { return modelkind.MBGNBD }

func (m *bgnbdModel) Predict(set *features.Set, idx []int) ([]float64, []float64, error) {
	return m.spendPart.predict(m.Kind(), m.BG, m.HorizonDays, set, idx)
}

func (m *pnbdModel) Predict(set *features.Set, idx []int) ([]float64, []float64, error) {
	return m.spendPart.predict(m.Kind(), m.PN, m.HorizonDays, set, idx)
}

func (m *mbgnbdModel) Predict(set *features.Set, idx []int) ([]float64, []float64, error) {
	return m.spendPart.predict(m.Kind(), m.MBG, m.HorizonDays, set, idx)
}

// predict is the Predict of every BTYD kind: value E[X(h)] · E[M],
// probability P(X(h) > 0).
func (sp *spendPart) predict(kind modelkind.Kind, counts countModel, horizonDays int, set *features.Set, idx []int) ([]float64, []float64, error) {
	if err := checkIdx(set, idx); err != nil {
		return nil, nil, err
	}
	h := horizonWeeks(horizonDays)
	value := make([]float64, len(idx))
	prob := make([]float64, len(idx))
	for k, i := range idx {
		c := &set.Customers[i]
		x := float64(c.X)
		n := counts.ExpectedPurchases(h, x, c.TX, c.T)
		mv := sp.FallbackValue
		if sp.GG != nil {
			mv = sp.GG.ConditionalExpectedValue(x, c.MBar)
		}
		value[k] = n * mv
		prob[k] = counts.ProbPurchase(h, x, c.TX, c.T)
		if !finite(value[k]) || !finite(prob[k]) {
			return nil, nil, fmt.Errorf("models: %s: customer %s (x %d, t_x %v, T %v, mbar %v): non-finite prediction: E[X] %v, E[M] %v, P(buy) %v",
				kind, c.ID, c.X, c.TX, c.T, c.MBar, n, mv, prob[k])
		}
	}
	return value, prob, nil
}

// Warnings returns the fitters' warnings and this package's notes.
func (m *bgnbdModel) Warnings() []string { return m.spendPart.warnings("bgnbd", m.BG.Warnings) }

// Warnings returns the fitters' warnings and this package's notes.
func (m *pnbdModel) Warnings() []string { return m.spendPart.warnings("pnbd", m.PN.Warnings) }

// Warnings returns the fitters' warnings and this package's notes.
func (m *mbgnbdModel) Warnings() []string { return m.spendPart.warnings("mbgnbd", m.MBG.Warnings) }

func (sp *spendPart) warnings(counts string, countWarnings []string) []string {
	var w []string
	for _, s := range countWarnings {
		w = append(w, counts+": "+s)
	}
	if sp.GG != nil {
		for _, s := range sp.GG.Warnings {
			w = append(w, "gamma-gamma: "+s)
		}
	}
	return append(w, sp.Notes...)
}

func (m *bgnbdModel) Params() map[string]any {
	p := map[string]any{"r": m.BG.R, "alpha": m.BG.Alpha, "a": m.BG.A, "b": m.BG.B}
	return m.spendPart.params(p, m.HorizonDays, m.BG.LogLik, m.BG.Converged, m.BG.N, m.Warnings())
}

func (m *pnbdModel) Params() map[string]any {
	p := map[string]any{"r": m.PN.R, "alpha": m.PN.Alpha, "s": m.PN.S, "beta": m.PN.Beta}
	return m.spendPart.params(p, m.HorizonDays, m.PN.LogLik, m.PN.Converged, m.PN.N, m.Warnings())
}

func (m *mbgnbdModel) Params() map[string]any {
	p := map[string]any{"r": m.MBG.R, "alpha": m.MBG.Alpha, "a": m.MBG.A, "b": m.MBG.B}
	return m.spendPart.params(p, m.HorizonDays, m.MBG.LogLik, m.MBG.Converged, m.MBG.N, m.Warnings())
}

// params adds to the count model's parameters p what every BTYD kind
// reports.
func (sp *spendPart) params(p map[string]any, horizonDays int, loglik float64, converged bool, customers int, warnings []string) map[string]any {
	p["loglik"], p["converged"], p["customers"] = finiteOrNil(loglik), converged, customers
	p["horizon_days"], p["horizon_weeks"] = horizonDays, horizonWeeks(horizonDays)
	if sp.GG != nil {
		p["p"], p["q"], p["v"] = sp.GG.P, sp.GG.Q, sp.GG.V
		p["gg_loglik"] = finiteOrNil(sp.GG.LogLik)
		p["gg_converged"] = sp.GG.Converged
		p["gg_customers"] = sp.GG.N
	} else {
		p["p"], p["q"], p["v"] = nil, nil, nil
		p["fallback_value"] = sp.FallbackValue
	}
	if len(warnings) > 0 {
		p["warnings"] = warnings
	}
	return p
}

// named is a parameter and its name, for validation.
type named struct {
	name string
	v    float64
}

func (m *bgnbdModel) validate() error {
	if m.BG == nil {
		return m.spendPart.validate(m.Kind(), m.HorizonDays, nil)
	}
	return m.spendPart.validate(m.Kind(), m.HorizonDays, []named{{"r", m.BG.R}, {"alpha", m.BG.Alpha}, {"a", m.BG.A}, {"b", m.BG.B}})
}

func (m *pnbdModel) validate() error {
	if m.PN == nil {
		return m.spendPart.validate(m.Kind(), m.HorizonDays, nil)
	}
	return m.spendPart.validate(m.Kind(), m.HorizonDays, []named{{"r", m.PN.R}, {"alpha", m.PN.Alpha}, {"s", m.PN.S}, {"beta", m.PN.Beta}})
}

func (m *mbgnbdModel) validate() error {
	if m.MBG == nil {
		return m.spendPart.validate(m.Kind(), m.HorizonDays, nil)
	}
	return m.spendPart.validate(m.Kind(), m.HorizonDays, []named{{"r", m.MBG.R}, {"alpha", m.MBG.Alpha}, {"a", m.MBG.A}, {"b", m.MBG.B}})
}

// validate checks a BTYD model read from JSON: the horizon, the count
// parameters (nil: missing) and the spend part.
func (sp *spendPart) validate(kind modelkind.Kind, horizonDays int, counts []named) error {
	if horizonDays <= 0 {
		return fmt.Errorf("models: %s model: horizon_days = %d, want > 0", kind, horizonDays)
	}
	if counts == nil {
		return fmt.Errorf("models: %s model: missing %s parameters", kind, kind)
	}
	if err := positive(kind, "", counts); err != nil {
		return err
	}
	if sp.GG == nil {
		if !(sp.FallbackValue >= 0) || !finite(sp.FallbackValue) {
			return fmt.Errorf("models: %s model: fallback_value = %v, want a finite value >= 0", kind, sp.FallbackValue)
		}
		return nil
	}
	return positive(kind, "gamma-gamma ", []named{{"p", sp.GG.P}, {"q", sp.GG.Q}, {"v", sp.GG.V}})
}

// positive checks that every parameter is finite and > 0.
func positive(kind modelkind.Kind, part string, ps []named) error {
	for _, v := range ps {
		if !(v.v > 0) || !finite(v.v) {
			return fmt.Errorf("models: %s model: %s%s = %v, want a finite value > 0", kind, part, v.name, v.v)
		}
	}
	return nil
}

// fitBTYD fits a BTYD kind on the customers set.Customers[i], i in train.
func fitBTYD(kind modelkind.Kind, set *features.Set, train []int, horizon int) (Model, error) {
	n := len(train)
	x, tx, T, mbar := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for k, i := range train {
		c := &set.Customers[i]
		x[k], tx[k], T[k], mbar[k] = float64(c.X), c.TX, c.T, c.MBar
	}
	var m interface {
		Model
		spend() *spendPart
	}
	var err error
	switch kind {
	case modelkind.BGNBD:
		var bg *btyd.BGNBD
		bg, err = btyd.FitBGNBD(x, tx, T, btyd.FitOptions{})
		m = &bgnbdModel{HorizonDays: horizon, BG: bg}
	case modelkind.PNBD:
		var pn *btyd.ParetoNBD
		pn, err = btyd.FitParetoNBD(x, tx, T, btyd.FitOptions{})
		m = &pnbdModel{HorizonDays: horizon, PN: pn}
	case modelkind.MBGNBD:
		var mbg *btyd.MBGNBD
		mbg, err = btyd.FitMBGNBD(x, tx, T, btyd.FitOptions{})
		m = &mbgnbdModel{HorizonDays: horizon, MBG: mbg}
	default:
		return nil, errors.New("models: " + string(kind) + " is not a BTYD kind")
	}
	if err != nil {
		return nil, fmt.Errorf("models: fit %s on %d customers: %w", kind, n, err)
	}
	if err := m.spend().fit(set, train, x, mbar); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *bgnbdModel) spend() *spendPart  { return &m.spendPart }
func (m *pnbdModel) spend() *spendPart   { return &m.spendPart }
func (m *mbgnbdModel) spend() *spendPart { return &m.spendPart }

// fit fits Gamma-Gamma on the repeat customers, or, when there is none
// with a positive mean value, sets the fallback value per purchase (the
// mean spend per purchase day) and a note.
func (sp *spendPart) fit(set *features.Set, train []int, x, mbar []float64) error {
	var spend, days float64
	repeaters := 0
	for _, i := range train {
		c := &set.Customers[i]
		spend += c.CalSpend
		days += float64(c.X + 1)
		if c.X > 0 && c.MBar > 0 {
			repeaters++
		}
	}
	if repeaters == 0 {
		sp.FallbackValue = spend / days
		sp.Notes = append(sp.Notes, fmt.Sprintf("gamma-gamma: no training customer has a repeat purchase with a positive mean value, so the model cannot be fitted; the value per purchase is the mean spend per purchase day of the %d training customers (%.4g)", len(train), sp.FallbackValue))
		return nil
	}
	gg, err := btyd.FitGammaGamma(x, mbar)
	if err != nil {
		return fmt.Errorf("models: fit gamma-gamma on %d repeat customers: %w", repeaters, err)
	}
	sp.GG = gg
	return nil
}
