package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/registry"
)

func sha(c byte) string { return strings.Repeat(string(c), 64) }

// sampleVersion is a complete, valid version record as the pipeline would
// register it (the registry tests' fixture).
func sampleVersion(model string, gini float64) registry.Version {
	return registry.Version{
		ModelName:   model,
		ModelKind:   "ziln",
		HyperParams: json.RawMessage(`{"hidden":[64,32],"lr":0.0003,"weight_decay":0.0001,"patience":20}`),
		Seed:        42,
		Dataset: registry.DatasetRef{
			Raw:      artifacts.Ref{Bucket: "clvflow-datasets", Key: "raw/" + sha('e') + ".csv.gz", VersionID: "raw-v1", SHA256: sha('e'), Size: 2345678},
			Clean:    artifacts.Ref{Bucket: "clvflow-datasets", Key: "clean/" + sha('a') + ".csv.gz", VersionID: "ds-v1", SHA256: sha('a'), Size: 1234567},
			Manifest: artifacts.Ref{Bucket: "clvflow-datasets", Key: "manifests/" + sha('a') + ".json", SHA256: sha('b'), Size: 321},
		},
		Cleaning: registry.CleaningRef{
			Report: artifacts.Ref{Bucket: "clvflow-datasets", Key: "reports/" + sha('a') + ".json", Size: 900},
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
		ONNX: artifacts.Ref{Bucket: "clvflow-models", Key: "onnx/" + model + ".onnx", VersionID: "m-v1", SHA256: sha('c'), Size: 40960},
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

// modelsTestRegistry is a registry on a fresh bucket of the test MinIO with
// v1 (approved by alice) and v2, champion moved v1 → v2 and candidate at v2,
// on a clock that advances one second per call.
func modelsTestRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	srv := testenv.MinIO(t)
	st, err := artifacts.New(artifacts.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	var tick atomic.Int64
	clock := func() time.Time { return fixedTime(0).Add(time.Duration(tick.Add(1)) * time.Second) }
	r, err := registry.New(st.Client(), fmt.Sprintf("models-cmd-%d", time.Now().UnixNano()), registry.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := r.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	b := sampleVersion("ziln", 0.64)
	b.RunID = "run-2"
	b.HyperParams = json.RawMessage(`{"hidden":[64,32],"lr":0.001,"weight_decay":0.0001,"patience":20}`)
	for _, v := range []registry.Version{sampleVersion("ziln", 0.61), b} {
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
	return r
}

// The models command end to end against a real registry: every subcommand,
// human and --json, and its errors.
func TestIntegrationModelsCommand(t *testing.T) {
	r := modelsTestRegistry(t)
	run := func(args ...string) (string, error) {
		t.Helper()
		opened := 0
		cmd := newModelsCmd(func(context.Context) (*registry.Registry, error) { opened++; return r, nil })
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(t.Context())
		if err == nil && opened != 1 {
			t.Errorf("%v opened the registry %d times", args, opened)
		}
		return out.String(), err
	}

	tests := []struct {
		args  []string
		want  []string
		check func(t *testing.T, out string)
	}{
		{[]string{"list"}, []string{"VERSION", "v1", "v2", "approved", "registered", "candidate,champion", "0.6100", "0.6400"}, func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[1], "v1 ") || !strings.HasPrefix(lines[2], "v2 ") {
				t.Errorf("list rows:\n%s", out)
			}
		}},
		{[]string{"list", "--json"}, nil, func(t *testing.T, out string) {
			var rows []registry.VersionSummary
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("list --json: %v\n%s", err, out)
			}
			if len(rows) != 2 || rows[0].ID != "v1" || rows[0].Status != "approved" || len(rows[0].Aliases) != 0 ||
				rows[1].ID != "v2" || strings.Join(rows[1].Aliases, ",") != "candidate,champion" || rows[1].Dataset.Raw.SHA256 != sha('e') || rows[1].Dataset.Clean.SHA256 != sha('a') {
				t.Errorf("list --json rows: %+v", rows)
			}
			if !strings.Contains(out, `"aliases": []`) {
				t.Errorf("list --json: v1 without aliases is not []:\n%s", out)
			}
		}},
		{[]string{"show", "champion"}, []string{"v2 (alias champion)", "candidate, champion", "GATE PASS", "gini_vs_baseline", "EVENTS\n(none)", `"lr":0.001`}, nil},
		{[]string{"show", "v1", "--json"}, nil, func(t *testing.T, out string) {
			var d registry.VersionDetail
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("show --json: %v\n%s", err, out)
			}
			if d.Ref != "v1" || d.Version.ID != "v1" || d.Status != "approved" || len(d.Events) != 1 || d.Events[0].Actor != "alice" ||
				d.Version.Metrics["ziln"]["normalized_gini"] != 0.61 || d.Version.ONNX.SHA256 != sha('c') {
				t.Errorf("show --json: %+v", d)
			}
		}},
		{[]string{"history", "champion"}, []string{"ALIAS", "bootstrap", "better gini", "train-cdnow-2"}, func(t *testing.T, out string) {
			if strings.Contains(out, "candidate") {
				t.Errorf("history champion lists candidate:\n%s", out)
			}
		}},
		{[]string{"history", "--json"}, nil, func(t *testing.T, out string) {
			var h []registry.AliasEntry
			if err := json.Unmarshal([]byte(out), &h); err != nil {
				t.Fatalf("history --json: %v\n%s", err, out)
			}
			var got []string
			for _, e := range h {
				got = append(got, e.Alias+":"+e.From+">"+e.To)
			}
			if strings.Join(got, " ") != "champion:>v1 candidate:>v2 champion:v1>v2" {
				t.Errorf("history --json in time order = %v", got)
			}
		}},
		{[]string{"diff", "v1", "champion"}, []string{"v1 → v2", "params:", "lr", "0.0003 → 0.001", "ziln.normalized_gini", "0.61 → 0.64 (+0.03)", "run_id", "run-1 → run-2"}, nil},
		{[]string{"diff", "v1", "v2", "--json"}, nil, func(t *testing.T, out string) {
			var d registry.Diff
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("diff --json: %v\n%s", err, out)
			}
			if d.A != "v1" || d.B != "v2" || len(d.Section(registry.SectionParams)) != 1 || len(d.Section(registry.SectionMetrics)) != 1 {
				t.Errorf("diff --json: %+v", d)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			out, err := run(tc.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tc.args, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v output lacks %q:\n%s", tc.args, w, out)
				}
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}

	errTests := []struct {
		args []string
		want error
		msg  string
	}{
		{[]string{"show", "v9"}, registry.ErrNotFound, "version v9"},
		{[]string{"show", "shadow"}, registry.ErrNotFound, `alias "shadow"`},
		{[]string{"history", "shadow"}, registry.ErrNotFound, `alias "shadow"`},
		{[]string{"diff", "v1", "Bad Name"}, registry.ErrInvalid, "neither a version id"},
		{[]string{"show"}, nil, "accepts 1 arg"},
	}
	for _, tc := range errTests {
		_, err := run(tc.args...)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: got %v, want %v containing %q", tc.args, err, tc.want, tc.msg)
		}
	}
}

// A registry that cannot be opened fails the command with that error.
func TestModelsCommandOpenError(t *testing.T) {
	openErr := errors.New("storage.endpoint unreachable")
	cmd := newModelsCmd(func(context.Context) (*registry.Registry, error) { return nil, openErr })
	cmd.SetArgs([]string{"list"})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.ExecuteContext(t.Context()); !errors.Is(err, openErr) {
		t.Errorf("open failure surfaced as %v", err)
	}
}
