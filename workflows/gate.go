package workflows

import (
	"fmt"
	"strings"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/registry"
)

// EvaluateGate applies the declarative thresholds to an evaluation. It is
// pure and deterministic: every compared number ends up in the verdict.
func EvaluateGate(cfg registry.GateThresholds, ev activities.EvaluateResult) registry.Gate {
	ch, ok := ev.Metrics[ev.Challenger]
	if !ok {
		return registry.NewGate(registry.NewCheck("challenger_metrics_present", 0, registry.OpEQ, 1))
	}
	checks := []registry.Check{
		registry.NewCheck("test_customers", float64(ev.TestCustomers), registry.OpGE, float64(cfg.MinTestCustomers)),
		registry.NewCheck("decile_mape", ch.DecileMAPE, registry.OpLE, cfg.MaxDecileMAPE),
	}
	base, ok := ev.Metrics[ev.Baseline]
	switch {
	case !ok:
		checks = append(checks, registry.NewCheck("baseline_metrics_present", 0, registry.OpEQ, 1))
	case ev.Bootstrap != nil:
		checks = append(checks, boundCheck("gini_lift_over_"+ev.Baseline+"_lower_bound", ev.Bootstrap.GiniLift, registry.OpGE, cfg.MinGiniLift))
	default:
		checks = append(checks, registry.NewCheck("gini_lift_over_"+ev.Baseline, ch.NormalizedGini-base.NormalizedGini, registry.OpGE, cfg.MinGiniLift))
	}
	if champ, ok := ev.Metrics[activities.ChampionMetrics]; ok && ev.ChampionVersion != "" {
		name := "gini_regression_vs_champion_" + ev.ChampionVersion
		if b := ev.Bootstrap; b != nil && b.ChampionAdvantage != nil {
			checks = append(checks, boundCheck(name+"_lower_bound", *b.ChampionAdvantage, registry.OpLE, cfg.MaxChampionRegression))
		} else {
			checks = append(checks, registry.NewCheck(name, champ.NormalizedGini-ch.NormalizedGini, registry.OpLE, cfg.MaxChampionRegression))
		}
	}
	return registry.NewGate(checks...)
}

// boundCheck checks the lower bound of a bootstrap interval and records the
// interval with the check.
func boundCheck(name string, iv metrics.Interval, op string, threshold float64) registry.Check {
	c := registry.NewCheck(name, iv.Lo, op, threshold)
	c.Interval = &registry.CheckInterval{Estimate: iv.Estimate, Lo: iv.Lo, Hi: iv.Hi, Confidence: iv.Confidence, Resamples: iv.Resamples, Seed: iv.Seed}
	return c
}

// failedChecks lists the checks a gate failed, "value op threshold" each.
func failedChecks(g registry.Gate) string {
	var out []string
	for _, c := range g.Checks {
		if !c.Passed {
			out = append(out, fmt.Sprintf("%s %.4g %s %.4g%s", c.Name, c.Value, c.Op, c.Threshold, intervalNote(c.Interval)))
		}
	}
	if len(out) == 0 {
		return "no checks"
	}
	return strings.Join(out, "; ")
}

// gateVerdict is the ClvGateVerdict search attribute's value.
func gateVerdict(g registry.Gate) string {
	if g.Passed {
		return "pass"
	}
	return "fail"
}

// intervalNote describes a statistical check's interval ("" for a point
// check).
func intervalNote(iv *registry.CheckInterval) string {
	if iv == nil {
		return ""
	}
	return fmt.Sprintf(" (estimate %.4g, %.0f%% interval [%.4g, %.4g], %d resamples, seed %d)", iv.Estimate, 100*iv.Confidence, iv.Lo, iv.Hi, iv.Resamples, iv.Seed)
}
