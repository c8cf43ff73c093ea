package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/workflows"
)

// The text result names the raw and the clean dataset and the ONNX file by
// sha256, next to the metrics and the gate.
func TestPrintPipelineResult(t *testing.T) {
	raw, clean, onnx := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)
	res := &workflows.PipelineResult{
		Outcome: workflows.OutcomePromoted, Version: "v3", Challenger: "seq", ChampionBefore: "v2", ChampionAfter: "v3",
		RawDataset: artifacts.Ref{SHA256: raw}, CleanDataset: artifacts.Ref{SHA256: clean},
		Cutoff: "1997-09-30", HorizonDays: 273, TestCustomers: 4714,
		Metrics: map[string]metrics.Report{"seq": {NormalizedGini: 0.7481}, "bgnbd": {NormalizedGini: 0.7128}},
		Gate:    registry.NewGate(registry.NewCheck("gini_lift_over_bgnbd", 0.0353, registry.OpGE, 0)),
		Parity:  &registry.ParitySummary{Passed: true, Rows: 520, Tolerance: 1e-4},
		ONNX:    &artifacts.Ref{SHA256: onnx},
	}
	var buf bytes.Buffer
	printPipelineResult(&buf, res)
	out := buf.String()
	for _, want := range []string{
		"outcome: promoted", "version: v3", "champion: v2 → v3",
		"data: raw sha256 " + raw + ", clean sha256 " + clean,
		"cutoff 1997-09-30, horizon 273 days, 4714 test customers",
		"seq *", "0.7481", "gate: pass", "gini_lift_over_bgnbd",
		"onnx parity: passed=true on 520 rows", "onnx: sha256 " + onnx,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("result lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	printPipelineResult(&buf, &workflows.PipelineResult{Outcome: workflows.OutcomeRejected})
	if strings.Contains(buf.String(), "data:") || strings.Contains(buf.String(), "onnx:") {
		t.Errorf("a result without datasets or ONNX file prints them:\n%s", buf.String())
	}
}
