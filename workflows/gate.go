package workflows

import (
	"fmt"
	"strings"

	"github.com/clvflow/clvflow/activities"
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
	if base, ok := ev.Metrics[ev.Baseline]; ok {
		checks = append(checks, registry.NewCheck("gini_lift_over_"+ev.Baseline, ch.NormalizedGini-base.NormalizedGini, registry.OpGE, cfg.MinGiniLift))
	} else {
		checks = append(checks, registry.NewCheck("baseline_metrics_present", 0, registry.OpEQ, 1))
	}
	if champ, ok := ev.Metrics[activities.ChampionMetrics]; ok && ev.ChampionVersion != "" {
		checks = append(checks, registry.NewCheck("gini_regression_vs_champion_"+ev.ChampionVersion, champ.NormalizedGini-ch.NormalizedGini, registry.OpLE, cfg.MaxChampionRegression))
	}
	return registry.NewGate(checks...)
}

// failedChecks lists the checks a gate failed, "value op threshold" each.
func failedChecks(g registry.Gate) string {
	var out []string
	for _, c := range g.Checks {
		if !c.Passed {
			out = append(out, fmt.Sprintf("%s %.4g %s %.4g", c.Name, c.Value, c.Op, c.Threshold))
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
