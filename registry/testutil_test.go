package registry

import (
	"encoding/json"
	"github.com/clvflow/clvflow/artifacts"
	"strings"
)

func sha(c byte) string { return strings.Repeat(string(c), 64) }

// sampleVersion is a complete, valid version record as the pipeline would
// register it.
func sampleVersion(model string, gini float64) Version {
	return Version{
		ModelName:   model,
		ModelKind:   "ziln",
		HyperParams: json.RawMessage(`{"hidden":[64,32],"lr":0.0003,"weight_decay":0.0001,"patience":20}`),
		Seed:        42,
		Dataset: DatasetRef{
			Raw:      artifacts.Ref{Bucket: "clvflow-datasets", Key: "raw/" + sha('e') + ".csv.gz", VersionID: "raw-v1", SHA256: sha('e'), Size: 2345678},
			Clean:    artifacts.Ref{Bucket: "clvflow-datasets", Key: "clean/" + sha('a') + ".csv.gz", VersionID: "ds-v1", SHA256: sha('a'), Size: 1234567},
			Manifest: artifacts.Ref{Bucket: "clvflow-datasets", Key: "manifests/" + sha('a') + ".json", SHA256: sha('b'), Size: 321},
		},
		Cleaning: CleaningRef{
			Report: artifacts.Ref{Bucket: "clvflow-datasets", Key: "reports/" + sha('a') + ".json", Size: 900},
			RowsIn: 69659, RowsClean: 69600, RowsRejected: 59, Customers: 23570,
			RuleCounts: map[string]int64{"negative_amount": 40, "bad_timestamp": 19},
		},
		FeatureSchema: json.RawMessage(`{"tabular_input":"features","tabular_columns":["x","t_x","T","recency","cal_spend","mbar","first_value"],"sequence_input":"","sequence_channels":["spend","purchase_days"],"sequence_weeks":52,"outputs":["expected_value","purchase_probability","mu","sigma"]}`),
		Metrics: map[string]map[string]float64{
			model:   {"normalized_gini": gini, "decile_mape": 0.21, "spearman": 0.48},
			"bgnbd": {"normalized_gini": 0.58, "decile_mape": 0.35, "spearman": 0.45},
		},
		Gate: NewGate(
			NewCheck("gini_vs_baseline", gini, OpGE, 0.58),
			NewCheck("decile_mape_max", 0.21, OpLE, 0.5),
		),
		ONNX: artifacts.Ref{Bucket: "clvflow-models", Key: "onnx/" + model + ".onnx", VersionID: "m-v1", SHA256: sha('c'), Size: 40960},
		Parity: ParitySummary{
			Passed: true, Tolerance: 1e-4, Rows: 2000,
			MaxAbsDiff: map[string]float64{"mu": 9.5e-7, "sigma": 4e-7, "purchase_probability": 2e-7, "expected_value": 3e-6},
		},
		CodeRevision: "0123abc",
		WorkflowID:   "train-cdnow-20250101T000000",
		RunID:        "run-1",
		Labels:       map[string]string{"dataset": "cdnow"},
	}
}
