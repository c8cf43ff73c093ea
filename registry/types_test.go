package registry

import (
	"encoding/json"
	"errors"
	"github.com/clvflow/clvflow/artifacts"
	"math"
	"strings"
	"testing"
)

func TestValidateVersion(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(v *Version)
		wantErr string // empty: valid
	}{
		{"complete record", func(*Version) {}, ""},
		{"explicit id", func(v *Version) { v.ID = "v12" }, ""},
		{"no onnx (gate failed before export)", func(v *Version) { v.ONNX = artifacts.Ref{} }, ""},
		{"malformed id", func(v *Version) { v.ID = "v0" }, `version id "v0" is malformed`},
		{"id without v", func(v *Version) { v.ID = "12" }, `version id "12" is malformed`},
		{"missing model name", func(v *Version) { v.ModelName = " " }, "model_name is required"},
		{"bad kind", func(v *Version) { v.ModelKind = "ZILN" }, `model_kind "ZILN" is malformed`},
		{"bad hyper params", func(v *Version) { v.HyperParams = json.RawMessage(`{"lr":`) }, "hyper_params is not valid JSON"},
		{"bad feature schema", func(v *Version) { v.FeatureSchema = json.RawMessage(`[1,`) }, "feature_schema is not valid JSON"},
		{"clean dataset without sha", func(v *Version) { v.Dataset.Clean.SHA256 = "" }, `dataset.clean: sha256 "" is not 64`},
		{"clean dataset upper-case sha", func(v *Version) { v.Dataset.Clean.SHA256 = strings.Repeat("A", 64) }, "dataset.clean: sha256"},
		{"clean dataset without key", func(v *Version) { v.Dataset.Clean.Key = "" }, "dataset.clean: bucket and key are required"},
		{"raw dataset without sha", func(v *Version) { v.Dataset.Raw.SHA256 = "" }, `dataset.raw: sha256 "" is not 64`},
		{"no raw dataset", func(v *Version) { v.Dataset.Raw = artifacts.Ref{} }, "dataset.raw: bucket and key are required"},
		{"onnx without sha", func(v *Version) { v.ONNX.SHA256 = "" }, "onnx: sha256"},
		{"negative size", func(v *Version) { v.ONNX.Size = -1 }, "onnx: negative size"},
		{"manifest without bucket", func(v *Version) { v.Dataset.Manifest.Bucket = "" }, "dataset.manifest: bucket and key"},
		{"artifact without key", func(v *Version) { v.Artifacts = map[string]artifacts.Ref{"checkpoint": {Bucket: "b"}} }, "artifacts[checkpoint]"},
		{"NaN metric", func(v *Version) { v.Metrics["bgnbd"]["spearman"] = math.NaN() }, "metrics[bgnbd][spearman] = NaN is not finite"},
		{"Inf parity", func(v *Version) { v.Parity.MaxAbsDiff["mu"] = math.Inf(1) }, "parity.max_abs_diff[mu]"},
		{"negative tolerance", func(v *Version) { v.Parity.Tolerance = -1 }, "parity.tolerance"},
		{"unknown op", func(v *Version) { v.Gate.Checks[0].Op = "≥" }, `op "≥" is not one of`},
		{"check verdict lies", func(v *Version) { v.Gate.Checks[1].Passed = false }, `gate check "decile_mape_max": passed=false but 0.21 <= 0.5 is true`},
		{"gate passed with failing check", func(v *Version) {
			v.Gate.Checks[0] = NewCheck("gini_vs_baseline", 0.5, OpGE, 0.58)
		}, "gate.passed is true but not every check passed"},
		{"gate failed with all checks passing", func(v *Version) { v.Gate.Passed = false }, "gate.passed is false but every check passed"},
		{"gate passed without checks", func(v *Version) { v.Gate = Gate{Passed: true} }, "gate.passed is true"},
		{"check without name", func(v *Version) { v.Gate.Checks[0].Name = "" }, "gate.checks[0]: name is required"},
		{"empty label key", func(v *Version) { v.Labels[""] = "x" }, "label with empty key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := sampleVersion("ziln", 0.63)
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
			if !errors.Is(err, ErrInvalid) {
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
		{0.6, 0.5, OpGE, true, true},
		{0.5, 0.5, OpGE, true, true},
		{0.4, 0.5, OpGE, false, true},
		{0.5, 0.5, OpGT, false, true},
		{0.5, 0.5, OpLE, true, true},
		{0.6, 0.5, OpLE, false, true},
		{0.5, 0.5, OpLT, false, true},
		{0.5, 0.5, OpEQ, true, true},
		{0.5, 0.5, "=>", false, false},
		{math.NaN(), 0.5, OpGE, false, false},
		{0.5, math.Inf(-1), OpGE, false, false},
	}
	for _, tc := range tests {
		c := Check{Name: "c", Value: tc.value, Threshold: tc.threshold, Op: tc.op}
		got, ok := c.Evaluate()
		if got != tc.want || ok != tc.ok {
			t.Errorf("%v %s %v: got (%t,%t), want (%t,%t)", tc.value, tc.op, tc.threshold, got, ok, tc.want, tc.ok)
		}
		if nc := NewCheck("c", tc.value, tc.op, tc.threshold); nc.Passed != tc.want {
			t.Errorf("NewCheck(%v %s %v).Passed = %t, want %t", tc.value, tc.op, tc.threshold, nc.Passed, tc.want)
		}
	}
}

func TestNewGate(t *testing.T) {
	pass, fail := NewCheck("a", 1, OpGE, 0), NewCheck("b", 0, OpGE, 1)
	tests := []struct {
		name   string
		checks []Check
		want   bool
	}{
		{"none", nil, false},
		{"all pass", []Check{pass, pass}, true},
		{"one fails", []Check{pass, fail}, false},
	}
	for _, tc := range tests {
		if got := NewGate(tc.checks...).Passed; got != tc.want {
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
		err := ValidateAlias(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateAlias(%q) = %v, want ok=%t", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
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
		n, ok := versionNumber(tc.id)
		if n != tc.n || ok != tc.ok || IsVersionID(tc.id) != tc.ok {
			t.Errorf("versionNumber(%q) = (%d,%t), want (%d,%t)", tc.id, n, ok, tc.n, tc.ok)
		}
	}
}

func TestSeqLogKeys(t *testing.T) {
	versions := seqLog{prefix: "p/versions/", stem: "v"}
	history := seqLog{prefix: "aliases/champion/", pad: 12}
	tests := []struct {
		log  seqLog
		n    int64
		key  string
		bad  []string
		what string
	}{
		{versions, 7, "p/versions/v7.json", []string{"p/versions/v07.json", "p/versions/v0.json", "p/versions/7.json", "p/versions/v7.json.tmp", "versions/v7.json"}, "versions"},
		{history, 3, "aliases/champion/000000000003.json", []string{"aliases/champion/3.json", "aliases/champion/00000000003.json", "aliases/champions/000000000003.json"}, "history"},
	}
	for _, tc := range tests {
		if got := tc.log.key(tc.n); got != tc.key {
			t.Errorf("%s: key(%d) = %q, want %q", tc.what, tc.n, got, tc.key)
		}
		if n, ok := tc.log.parse(tc.key); !ok || n != tc.n {
			t.Errorf("%s: parse(%q) = (%d,%t), want (%d,true)", tc.what, tc.key, n, ok, tc.n)
		}
		for _, b := range tc.bad {
			if n, ok := tc.log.parse(b); ok {
				t.Errorf("%s: parse(%q) accepted as %d", tc.what, b, n)
			}
		}
	}
}

func TestStatusOf(t *testing.T) {
	ev := func(types ...EventType) []Event {
		var out []Event
		for i, ty := range types {
			out = append(out, Event{Seq: int64(i + 1), Type: ty})
		}
		return out
	}
	tests := []struct {
		events []Event
		want   string
	}{
		{nil, "registered"},
		{ev(EventNote), "registered"},
		{ev(EventApproved), "approved"},
		{ev(EventApproved, EventPromoted, EventNote), "approved"},
		{ev(EventApproved, EventRejected), "rejected"},
		{ev(EventOrphaned), "orphaned"},
	}
	for _, tc := range tests {
		if got := StatusOf(tc.events); got != tc.want {
			t.Errorf("StatusOf(%v) = %q, want %q", tc.events, got, tc.want)
		}
	}
}

func TestVersionJSONRoundTrip(t *testing.T) {
	v := sampleVersion("ziln", 0.63)
	v.ID = "v3"
	b, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeVersion("k", b)
	if err != nil {
		t.Fatal(err)
	}
	if d := DiffVersions(v, got); !d.Equal() {
		t.Fatalf("round trip changed the version:\n%s", d)
	}
	for _, field := range []string{`"hyper_params"`, `"dataset"`, `"manifest"`, `"version_id"`, `"sha256"`, `"rule_counts"`, `"feature_schema"`, `"gate"`, `"checks"`, `"threshold"`, `"onnx"`, `"parity"`, `"code_revision"`, `"workflow_id"`, `"run_id"`, `"labels"`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("encoded version lacks %s:\n%s", field, b)
		}
	}
	// Unset optional refs are omitted rather than written as empty objects.
	v.ONNX, v.Dataset.Manifest = artifacts.Ref{}, artifacts.Ref{}
	b, _ = encode(v)
	if strings.Contains(string(b), `"onnx"`) || strings.Contains(string(b), `"manifest"`) {
		t.Errorf("zero refs were encoded:\n%s", b)
	}
}

// TestVersionReadsLegacyDatasetFields reads an entry written before the raw
// dataset had its own field: the clean dataset sat directly in "dataset" and
// the raw one in artifacts["raw_dataset"].
func TestVersionReadsLegacyDatasetFields(t *testing.T) {
	legacy := `{"id":"v1","model_name":"clv-ziln","model_kind":"ziln","seed":42,
		"dataset":{"bucket":"d","key":"clean/` + sha('a') + `.csv.gz","sha256":"` + sha('a') + `","size":10,
			"manifest":{"bucket":"d","key":"manifests/m.json","size":3}},
		"artifacts":{"raw_dataset":{"bucket":"d","key":"raw/` + sha('e') + `","sha256":"` + sha('e') + `","size":20},
			"features":{"bucket":"d","key":"features/f","size":5}},
		"gate":{"passed":true,"checks":[]},"parity":{"passed":true}}`
	got, err := decodeVersion("k", []byte(legacy))
	if err != nil {
		t.Fatal(err)
	}
	if got.Dataset.Clean.SHA256 != sha('a') || got.Dataset.Clean.Size != 10 {
		t.Errorf("clean dataset = %+v, want the legacy flat dataset reference", got.Dataset.Clean)
	}
	if got.Dataset.Raw.SHA256 != sha('e') || got.Dataset.Raw.Key != "raw/"+sha('e') {
		t.Errorf("raw dataset = %+v, want the legacy artifacts[raw_dataset]", got.Dataset.Raw)
	}
	if got.Dataset.Manifest.Key != "manifests/m.json" {
		t.Errorf("manifest = %+v", got.Dataset.Manifest)
	}
	if _, ok := got.Artifacts["raw_dataset"]; ok || got.Artifacts["features"].Key != "features/f" {
		t.Errorf("artifacts = %+v, want raw_dataset moved out and features kept", got.Artifacts)
	}
}
