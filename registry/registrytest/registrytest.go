// Package registrytest provides fixtures for tests of the registry and of its
// users: a complete version record, the hashes and times it is built from, a
// deterministic clock and a small populated registry.
package registrytest

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/registry"
)

// SHA returns a well-formed SHA-256 hex digest: 64 times c.
func SHA(c byte) string { return strings.Repeat(string(c), 64) }

// FixedTime is 2025-03-04 10:min:00 UTC.
func FixedTime(min int) time.Time { return time.Date(2025, 3, 4, 10, min, 0, 0, time.UTC) }

// StepClock returns a deterministic clock for [registry.Options.Now]: each
// call answers one second later than the previous one, starting at
// FixedTime(0) plus one second.
func StepClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return FixedTime(0).Add(time.Duration(n.Add(1)) * time.Second) }
}

// SampleVersion is a complete, valid version record as the pipeline would
// register it: model's metrics carry gini as normalized_gini next to a bgnbd
// baseline of 0.58, and the gate passes when gini >= 0.58. The raw dataset's
// hash is SHA('e'), the clean dataset's SHA('a'), the manifest's SHA('b') and
// the ONNX artifact's SHA('c'). Each call returns fresh maps.
func SampleVersion(model string, gini float64) registry.Version {
	return registry.Version{
		ModelName:   model,
		ModelKind:   "ziln",
		HyperParams: json.RawMessage(`{"hidden":[64,32],"lr":0.0003,"weight_decay":0.0001,"patience":20}`),
		Seed:        42,
		Dataset: registry.DatasetRef{
			Raw:      artifacts.Ref{Bucket: "clvflow-datasets", Key: "raw/" + SHA('e') + ".csv.gz", VersionID: "raw-v1", SHA256: SHA('e'), Size: 2345678},
			Clean:    artifacts.Ref{Bucket: "clvflow-datasets", Key: "clean/" + SHA('a') + ".csv.gz", VersionID: "ds-v1", SHA256: SHA('a'), Size: 1234567},
			Manifest: artifacts.Ref{Bucket: "clvflow-datasets", Key: "manifests/" + SHA('a') + ".json", SHA256: SHA('b'), Size: 321},
		},
		Cleaning: registry.CleaningRef{
			Report: artifacts.Ref{Bucket: "clvflow-datasets", Key: "reports/" + SHA('a') + ".json", Size: 900},
			RowsIn: 69659, RowsClean: 69600, RowsRejected: 59, Customers: 23570,
			RuleCounts: map[string]int64{"negative_amount": 40, "bad_timestamp": 19},
		},
		FeatureSchema: json.RawMessage(`{"tabular_input":"features","tabular_columns":["x","t_x","T","recency","cal_spend","mbar","first_value"],"sequence_input":"","sequence_channels":["spend","purchase_days"],"sequence_weeks":52,"outputs":["expected_value","purchase_probability","mu","sigma"]}`),
		Metrics: map[string]map[string]float64{
			model:   {"normalized_gini": gini, "decile_mape": 0.21, "spearman": 0.48},
			"bgnbd": {"normalized_gini": 0.58, "decile_mape": 0.35, "spearman": 0.45},
		},
		Gate: registry.NewGate(
			registry.NewCheck("gini_vs_baseline", gini, registry.OpGE, 0.58),
			registry.NewCheck("decile_mape_max", 0.21, registry.OpLE, 0.5),
		),
		ONNX: artifacts.Ref{Bucket: "clvflow-models", Key: "onnx/" + model + ".onnx", VersionID: "m-v1", SHA256: SHA('c'), Size: 40960},
		Parity: registry.ParitySummary{
			Passed: true, Tolerance: 1e-4, Rows: 2000,
			MaxAbsDiff: map[string]float64{"mu": 9.5e-7, "sigma": 4e-7, "purchase_probability": 2e-7, "expected_value": 3e-6},
		},
		CodeRevision: "0123abc",
		WorkflowID:   "train-cdnow-20250101T000000",
		RunID:        "run-1",
		Labels:       map[string]string{"dataset": "cdnow"},
	}
}

// Populate fills the empty registry r with two versions of model "ziln":
// v1 (SampleVersion("ziln", 0.61), approved by alice) and v2 (gini 0.64, run
// run-2, lr 0.001); it then moves champion to v1, candidate to v2 and
// champion on to v2, in that order. It fails t on the first error.
func Populate(t testing.TB, r *registry.Registry) {
	t.Helper()
	ctx := t.Context()
	b := SampleVersion("ziln", 0.64)
	b.RunID = "run-2"
	b.HyperParams = json.RawMessage(`{"hidden":[64,32],"lr":0.001,"weight_decay":0.0001,"patience":20}`)
	for _, v := range []registry.Version{SampleVersion("ziln", 0.61), b} {
		if _, err := r.Register(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.AddEvent(ctx, registry.Event{Version: "v1", Type: registry.EventApproved, Actor: "alice", Comment: "first model"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []registry.Move{
		{Alias: "champion", To: "v1", Actor: "alice", Reason: "bootstrap"},
		{Alias: "candidate", To: "v2", Actor: "clvflow"},
		{Alias: "champion", To: "v2", Actor: "bob", Reason: "better gini", WorkflowID: "train-cdnow-2"},
	} {
		if _, err := r.MoveAlias(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
}
