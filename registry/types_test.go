package registry_test

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/registry/registrytest"
)

func TestValidateVersion(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(v *registry.Version)
		wantErr string // empty: valid
	}{
		{"complete record", func(*registry.Version) {}, ""},
		{"explicit id", func(v *registry.Version) { v.ID = "v12" }, ""},
		{"no onnx (gate failed before export)", func(v *registry.Version) { v.ONNX = artifacts.Ref{} }, ""},
		{"malformed id", func(v *registry.Version) { v.ID = "v0" }, `version id "v0" is malformed`},
		{"id without v", func(v *registry.Version) { v.ID = "12" }, `version id "12" is malformed`},
		{"missing model name", func(v *registry.Version) { v.ModelName = " " }, "model_name is required"},
		{"bad kind", func(v *registry.Version) { v.ModelKind = "ZILN" }, `model_kind "ZILN" is malformed`},
		{"bad hyper params", func(v *registry.Version) { v.HyperParams = json.RawMessage(`{"lr":`) }, "hyper_params is not valid JSON"},
		{"bad feature schema", func(v *registry.Version) { v.FeatureSchema = json.RawMessage(`[1,`) }, "feature_schema is not valid JSON"},
		{"clean dataset without sha", func(v *registry.Version) { v.Dataset.Clean.SHA256 = "" }, `dataset.clean: sha256 "" is not 64`},
		{"clean dataset upper-case sha", func(v *registry.Version) { v.Dataset.Clean.SHA256 = strings.Repeat("A", 64) }, "dataset.clean: sha256"},
		{"clean dataset without key", func(v *registry.Version) { v.Dataset.Clean.Key = "" }, "dataset.clean: bucket and key are required"},
		{"raw dataset without sha", func(v *registry.Version) { v.Dataset.Raw.SHA256 = "" }, `dataset.raw: sha256 "" is not 64`},
		{"no raw dataset", func(v *registry.Version) { v.Dataset.Raw = artifacts.Ref{} }, "dataset.raw: bucket and key are required"},
		{"onnx without sha", func(v *registry.Version) { v.ONNX.SHA256 = "" }, "onnx: sha256"},
		{"negative size", func(v *registry.Version) { v.ONNX.Size = -1 }, "onnx: negative size"},
		{"manifest without bucket", func(v *registry.Version) { v.Dataset.Manifest.Bucket = "" }, "dataset.manifest: bucket and key"},
		{"artifact without key", func(v *registry.Version) { v.Artifacts = map[string]artifacts.Ref{"checkpoint": {Bucket: "b"}} }, "artifacts[checkpoint]"},
		{"NaN metric", func(v *registry.Version) { v.Metrics["bgnbd"]["spearman"] = math.NaN() }, "metrics[bgnbd][spearman] = NaN is not finite"},
		{"Inf parity", func(v *registry.Version) { v.Parity.MaxAbsDiff["mu"] = math.Inf(1) }, "parity.max_abs_diff[mu]"},
		{"negative tolerance", func(v *registry.Version) { v.Parity.Tolerance = -1 }, "parity.tolerance"},
		{"unknown op", func(v *registry.Version) { v.Gate.Checks[0].Op = "≥" }, `op "≥" is not one of`},
		{"check verdict lies", func(v *registry.Version) { v.Gate.Checks[1].Passed = false }, `gate check "decile_mape_max": passed=false but 0.21 <= 0.5 is true`},
		{"gate passed with failing check", func(v *registry.Version) {
			v.Gate.Checks[0] = registry.NewCheck("gini_vs_baseline", 0.5, registry.OpGE, 0.58)
		}, "gate.passed is true but not every check passed"},
		{"gate failed with all checks passing", func(v *registry.Version) { v.Gate.Passed = false }, "gate.passed is false but every check passed"},
		{"gate passed without checks", func(v *registry.Version) { v.Gate = registry.Gate{Passed: true} }, "gate.passed is true"},
		{"check without name", func(v *registry.Version) { v.Gate.Checks[0].Name = "" }, "gate.checks[0]: name is required"},
		{"empty label key", func(v *registry.Version) { v.Labels[""] = "x" }, "label with empty key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := registrytest.SampleVersion("ziln", 0.63)
			tc.mutate(&v)
			err := v.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: unexpected error %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: want error containing %q, got nil", tc.wantErr)
			}
			if !errors.Is(err, registry.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestCheckEvaluate(t *testing.T) {
	tests := []struct {
		value, threshold float64
		op               string
		want, ok         bool
	}{
		{0.6, 0.5, registry.OpGE, true, true},
		{0.5, 0.5, registry.OpGE, true, true},
		{0.4, 0.5, registry.OpGE, false, true},
		{0.5, 0.5, registry.OpGT, false, true},
		{0.5, 0.5, registry.OpLE, true, true},
		{0.6, 0.5, registry.OpLE, false, true},
		{0.5, 0.5, registry.OpLT, false, true},
		{0.5, 0.5, registry.OpEQ, true, true},
		{0.5, 0.5, "=>", false, false},
		{math.NaN(), 0.5, registry.OpGE, false, false},
		{0.5, math.Inf(-1), registry.OpGE, false, false},
	}
	for _, tc := range tests {
		c := registry.Check{Name: "c", Value: tc.value, Threshold: tc.threshold, Op: tc.op}
		got, ok := c.Evaluate()
		if got != tc.want || ok != tc.ok {
			t.Errorf("%v %s %v: got (%t,%t), want (%t,%t)", tc.value, tc.op, tc.threshold, got, ok, tc.want, tc.ok)
		}
		if nc := registry.NewCheck("c", tc.value, tc.op, tc.threshold); nc.Passed != tc.want {
			t.Errorf("NewCheck(%v %s %v).Passed = %t, want %t", tc.value, tc.op, tc.threshold, nc.Passed, tc.want)
		}
	}
}

func TestNewGate(t *testing.T) {
	pass, fail := registry.NewCheck("a", 1, registry.OpGE, 0), registry.NewCheck("b", 0, registry.OpGE, 1)
	tests := []struct {
		name   string
		checks []registry.Check
		want   bool
	}{
		{"none", nil, false},
		{"all pass", []registry.Check{pass, pass}, true},
		{"one fails", []registry.Check{pass, fail}, false},
	}
	for _, tc := range tests {
		if got := registry.NewGate(tc.checks...).Passed; got != tc.want {
			t.Errorf("%s: Passed = %t, want %t", tc.name, got, tc.want)
		}
	}
}

func TestValidateAlias(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"champion", true},
		{"candidate", true},
		{"a", true},
		{"shadow-2", true},
		{"a" + strings.Repeat("b", 62), true},
		{"a" + strings.Repeat("b", 63), false},
		{"", false},
		{"Champion", false},
		{"2nd", false},
		{"-x", false},
		{"with_underscore", false},
		{"a/b", false},
		{"v3", false},   // looks like a version id
		{"v3a", true},   // does not
		{"vv", true},    // does not
		{"v01", false},  // version-like
		{"v", true},     // does not
		{"x y", false},  // space
		{"über", false}, // non-ASCII
	}
	for _, tc := range tests {
		err := registry.ValidateAlias(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateAlias(%q) = %v, want ok=%t", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("ValidateAlias(%q) error %v does not wrap ErrInvalid", tc.name, err)
		}
	}
}

func TestVersionIDs(t *testing.T) {
	tests := []struct {
		id string
		n  int64
		ok bool
	}{
		{"v1", 1, true}, {"v10", 10, true}, {"v999", 999, true},
		{"v0", 0, false}, {"v01", 0, false}, {"V1", 0, false}, {"1", 0, false}, {"v", 0, false}, {"v1.json", 0, false},
	}
	for _, tc := range tests {
		n, ok := registry.VersionNumber(tc.id)
		if n != tc.n || ok != tc.ok || registry.IsVersionID(tc.id) != tc.ok {
			t.Errorf("versionNumber(%q) = (%d,%t), want (%d,%t)", tc.id, n, ok, tc.n, tc.ok)
		}
	}
}

func TestStatusOf(t *testing.T) {
	ev := func(types ...registry.EventType) []registry.Event {
		var out []registry.Event
		for i, ty := range types {
			out = append(out, registry.Event{Seq: int64(i + 1), Type: ty})
		}
		return out
	}
	tests := []struct {
		events []registry.Event
		want   string
	}{
		{nil, "registered"},
		{ev(registry.EventNote), "registered"},
		{ev(registry.EventApproved), "approved"},
		{ev(registry.EventApproved, registry.EventPromoted, registry.EventNote), "approved"},
		{ev(registry.EventApproved, registry.EventRejected), "rejected"},
		{ev(registry.EventOrphaned), "orphaned"},
	}
	for _, tc := range tests {
		if got := registry.StatusOf(tc.events); got != tc.want {
			t.Errorf("StatusOf(%v) = %q, want %q", tc.events, got, tc.want)
		}
	}
}

func TestVersionJSONRoundTrip(t *testing.T) {
	v := registrytest.SampleVersion("ziln", 0.63)
	v.ID = "v3"
	b, err := registry.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := registry.DecodeVersion("k", b)
	if err != nil {
		t.Fatal(err)
	}
	if d := registry.DiffVersions(v, got); !d.Equal() {
		t.Fatalf("round trip changed the version:\n%s", d)
	}
	for _, field := range []string{`"hyper_params"`, `"dataset"`, `"manifest"`, `"version_id"`, `"sha256"`, `"rule_counts"`, `"feature_schema"`, `"gate"`, `"checks"`, `"threshold"`, `"onnx"`, `"parity"`, `"code_revision"`, `"workflow_id"`, `"run_id"`, `"labels"`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("encoded version lacks %s:\n%s", field, b)
		}
	}
	// Unset optional refs are omitted rather than written as empty objects.
	v.ONNX, v.Dataset.Manifest = artifacts.Ref{}, artifacts.Ref{}
	b, _ = registry.Encode(v)
	if strings.Contains(string(b), `"onnx"`) || strings.Contains(string(b), `"manifest"`) {
		t.Errorf("zero refs were encoded:\n%s", b)
	}
}

// TestVersionReadsLegacyDatasetFields reads an entry written before the raw
// dataset had its own field: the clean dataset sat directly in "dataset" and
// the raw one in artifacts["raw_dataset"].
func TestVersionReadsLegacyDatasetFields(t *testing.T) {
	legacy := `{"id":"v1","model_name":"clv-ziln","model_kind":"ziln","seed":42,
		"dataset":{"bucket":"d","key":"clean/` + registrytest.SHA('a') + `.csv.gz","sha256":"` + registrytest.SHA('a') + `","size":10,
			"manifest":{"bucket":"d","key":"manifests/m.json","size":3}},
		"artifacts":{"raw_dataset":{"bucket":"d","key":"raw/` + registrytest.SHA('e') + `","sha256":"` + registrytest.SHA('e') + `","size":20},
			"features":{"bucket":"d","key":"features/f","size":5}},
		"gate":{"passed":true,"checks":[]},"parity":{"passed":true}}`
	got, err := registry.DecodeVersion("k", []byte(legacy))
	if err != nil {
		t.Fatal(err)
	}
	if got.Dataset.Clean.SHA256 != registrytest.SHA('a') || got.Dataset.Clean.Size != 10 {
		t.Errorf("clean dataset = %+v, want the legacy flat dataset reference", got.Dataset.Clean)
	}
	if got.Dataset.Raw.SHA256 != registrytest.SHA('e') || got.Dataset.Raw.Key != "raw/"+registrytest.SHA('e') {
		t.Errorf("raw dataset = %+v, want the legacy artifacts[raw_dataset]", got.Dataset.Raw)
	}
	if got.Dataset.Manifest.Key != "manifests/m.json" {
		t.Errorf("manifest = %+v", got.Dataset.Manifest)
	}
	if _, ok := got.Artifacts["raw_dataset"]; ok || got.Artifacts["features"].Key != "features/f" {
		t.Errorf("artifacts = %+v, want raw_dataset moved out and features kept", got.Artifacts)
	}
}

// TestGateProblems: valid thresholds have none; every invalid one is named
// by its key.
func TestGateProblems(t *testing.T) {
	good := registry.GateThresholds{MaxChampionRegression: 0.02, MaxDecileMAPE: 1, ParityTolerance: 1e-4, MinTestCustomers: 100, Confidence: 0.9, Baseline: "pnbd"}
	if p := good.Problems(); len(p) != 0 {
		t.Fatalf("valid thresholds: %v", p)
	}
	bad := registry.GateThresholds{MaxChampionRegression: -1, Confidence: 1, BootstrapResamples: -1, Baseline: "seq"}
	var keys []string
	for _, p := range bad.Problems() {
		keys = append(keys, p.Key)
	}
	want := []string{"parity_tolerance", "max_decile_mape", "max_champion_regression", "min_test_customers", "confidence", "bootstrap_resamples", "baseline"}
	if !slices.Equal(keys, want) {
		t.Fatalf("problems %v, want %v", keys, want)
	}
}
