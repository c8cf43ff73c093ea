package policy

import (
	"fmt"
	"time"

	"github.com/clvflow/clvflow/registry"
)

// GateRequest is what a run's input may ask of the gate: each threshold it
// sets applies only where it is stricter than the policy's.
type GateRequest struct {
	MinGiniLift           *float64 `json:"min_gini_lift,omitempty"`
	MaxChampionRegression *float64 `json:"max_champion_regression,omitempty"`
	MaxDecileMAPE         *float64 `json:"max_decile_mape,omitempty"`
	ParityTolerance       *float64 `json:"parity_tolerance,omitempty"`
	MinTestCustomers      *int     `json:"min_test_customers,omitempty"`
	// The statistical gate (confidence) is the policy's alone: a higher
	// confidence tightens the lift check but loosens the champion check.
}

// Thresholds returns the request as thresholds, zero where unset (for runs
// recorded before the policy existed, whose input carried every threshold).
func (r *GateRequest) Thresholds() registry.GateThresholds {
	var g registry.GateThresholds
	if r == nil {
		return g
	}
	g.MinGiniLift = deref(r.MinGiniLift)
	g.MaxChampionRegression = deref(r.MaxChampionRegression)
	g.MaxDecileMAPE = deref(r.MaxDecileMAPE)
	g.ParityTolerance = deref(r.ParityTolerance)
	if r.MinTestCustomers != nil {
		g.MinTestCustomers = *r.MinTestCustomers
	}
	return g
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// Tighten returns the thresholds the run applies: the policy's, replaced by
// the request's where the request is stricter. ignored lists every request
// that would have loosened the policy (it is not applied).
func (p Policy) Tighten(r *GateRequest) (applied registry.GateThresholds, ignored []string) {
	applied = p.Gate
	if r == nil {
		return applied, nil
	}
	note := func(name string, asked, policy any) {
		ignored = append(ignored, fmt.Sprintf("gate.%s %v is looser than the worker's policy (%v)", name, asked, policy))
	}
	atLeast(&applied.MinGiniLift, r.MinGiniLift, func(v float64) { note("min_gini_lift", v, p.Gate.MinGiniLift) })
	atMost(&applied.MaxChampionRegression, r.MaxChampionRegression, false, func(v float64) { note("max_champion_regression", v, p.Gate.MaxChampionRegression) })
	atMost(&applied.MaxDecileMAPE, r.MaxDecileMAPE, true, func(v float64) { note("max_decile_mape", v, p.Gate.MaxDecileMAPE) })
	atMost(&applied.ParityTolerance, r.ParityTolerance, true, func(v float64) { note("parity_tolerance", v, p.Gate.ParityTolerance) })

	if r.MinTestCustomers != nil {
		if *r.MinTestCustomers >= applied.MinTestCustomers {
			applied.MinTestCustomers = *r.MinTestCustomers
		} else {
			note("min_test_customers", *r.MinTestCustomers, p.Gate.MinTestCustomers)
		}
	}
	return applied, ignored
}

func atLeast(dst *float64, asked *float64, loosen func(float64)) {
	switch {
	case asked == nil:
	case *asked >= *dst:
		*dst = *asked
	default:
		loosen(*asked)
	}
}

// atMost applies an upper bound; positive bounds must stay > 0 (a zero
// parity tolerance would refuse every model, which is not a tightening but a
// mistake) and are then reported as not applied.
func atMost(dst *float64, asked *float64, positive bool, loosen func(float64)) {
	switch {
	case asked == nil:
	case *asked <= *dst && *asked >= 0 && (*asked > 0 || !positive):
		*dst = *asked
	default:
		loosen(*asked)
	}
}

// Deadline is how long a run waits for a decision: the policy's deadline, or
// the requested one when shorter (0: the policy's).
func (p Policy) Deadline(requested time.Duration) time.Duration {
	if requested > 0 && requested < p.ApprovalDeadline {
		return requested
	}
	return p.ApprovalDeadline
}
