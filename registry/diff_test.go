package registry_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/registry/registrytest"
)

func TestDiffVersions(t *testing.T) {
	type want struct {
		section, path string
		a, b          any // compared through FormatValue
		delta         float64
		hasDelta      bool
	}
	tests := []struct {
		name   string
		mutate func(b *registry.Version)
		want   []want
	}{
		{"identical apart from id and time", func(b *registry.Version) {
			b.ID, b.CreatedAt = "v2", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		}, nil},
		{"hyper-parameter changed", func(b *registry.Version) {
			b.HyperParams = json.RawMessage(`{"hidden":[64,32],"lr":0.001,"weight_decay":0.0001,"patience":20}`)
		}, []want{{registry.SectionParams, "lr", "0.0003", "0.001", 0.0007, true}}},
		{"hyper-parameter added and list changed", func(b *registry.Version) {
			b.HyperParams = json.RawMessage(`{"hidden":[128,32],"lr":0.0003,"weight_decay":0.0001,"patience":20,"dropout":0.1}`)
		}, []want{
			{registry.SectionParams, "dropout", nil, "0.1", 0, false},
			{registry.SectionParams, "hidden[0]", "64", "128", 64, true},
		}},
		{"metric moved", func(b *registry.Version) {
			b.Metrics["ziln"]["normalized_gini"] = 0.65
		}, []want{
			{registry.SectionMetrics, "ziln.normalized_gini", "0.63", "0.65", 0.02, true},
		}},
		{"dataset and seed changed", func(b *registry.Version) {
			b.Dataset.Clean.SHA256 = registrytest.SHA('d')
			b.Seed = 7
		}, []want{
			{registry.SectionLineage, "dataset.clean.sha256", registrytest.SHA('a'), registrytest.SHA('d'), 0, false},
			{registry.SectionLineage, "seed", "42", "7", -35, true},
		}},
		{"gate check removed and verdict flipped", func(b *registry.Version) {
			b.Gate = registry.NewGate(registry.NewCheck("gini_vs_baseline", 0.5, registry.OpGE, 0.58))
		}, []want{
			{registry.SectionGate, "gate.checks.decile_mape_max.op", "<=", nil, 0, false},
			{registry.SectionGate, "gate.checks.decile_mape_max.passed", "true", nil, 0, false},
			{registry.SectionGate, "gate.checks.decile_mape_max.threshold", "0.5", nil, 0, false},
			{registry.SectionGate, "gate.checks.decile_mape_max.value", "0.21", nil, 0, false},
			{registry.SectionGate, "gate.checks.gini_vs_baseline.passed", "true", "false", 0, false},
			{registry.SectionGate, "gate.checks.gini_vs_baseline.value", "0.63", "0.5", -0.13, true},
			{registry.SectionGate, "gate.passed", "true", "false", 0, false},
		}},
		{"label and code revision", func(b *registry.Version) {
			b.Labels = map[string]string{"dataset": "cdnow", "note": "retry"}
			b.CodeRevision = "fedcba9"
		}, []want{
			{registry.SectionLineage, "code_revision", "0123abc", "fedcba9", 0, false},
			{registry.SectionLabels, "note", nil, "retry", 0, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := registrytest.SampleVersion("ziln", 0.63), registrytest.SampleVersion("ziln", 0.63)
			a.ID, b.ID = "v1", "v2"
			// Independent maps so mutating b leaves a alone.
			b.Metrics = map[string]map[string]float64{"ziln": {}, "bgnbd": {}}
			for m, vals := range a.Metrics {
				for k, v := range vals {
					b.Metrics[m][k] = v
				}
			}
			tc.mutate(&b)
			d := registry.DiffVersions(a, b)
			if d.A != "v1" || d.B != "v2" {
				t.Errorf("ids = %s, %s", d.A, d.B)
			}
			if len(d.Changes) != len(tc.want) {
				t.Fatalf("got %d changes, want %d:\n%s", len(d.Changes), len(tc.want), d)
			}
			if d.Equal() != (len(tc.want) == 0) {
				t.Errorf("Equal() = %t", d.Equal())
			}
			for i, w := range tc.want {
				c := d.Changes[i]
				if c.Section != w.section || c.Path != w.path {
					t.Errorf("change %d = %s/%s, want %s/%s", i, c.Section, c.Path, w.section, w.path)
				}
				if got, exp := registry.FormatValue(c.A), registry.FormatValue(w.a); got != exp {
					t.Errorf("change %s: A = %s, want %s", c.Path, got, exp)
				}
				if got, exp := registry.FormatValue(c.B), registry.FormatValue(w.b); got != exp {
					t.Errorf("change %s: B = %s, want %s", c.Path, got, exp)
				}
				if (c.Delta != nil) != w.hasDelta || (c.Delta != nil && math.Abs(*c.Delta-w.delta) > 1e-12) {
					t.Errorf("change %s: delta = %v, want %v (present %t)", c.Path, c.Delta, w.delta, w.hasDelta)
				}
			}
			s := d.String()
			for _, w := range tc.want {
				if !strings.Contains(s, w.path) {
					t.Errorf("human diff lacks %s:\n%s", w.path, s)
				}
			}
			if len(tc.want) == 0 && !strings.Contains(s, "do not differ") {
				t.Errorf("human diff of equal versions: %q", s)
			}
		})
	}
}

func TestDiffStringAndJSON(t *testing.T) {
	a, b := registrytest.SampleVersion("ziln", 0.61), registrytest.SampleVersion("ziln", 0.63)
	a.ID, b.ID = "v1", "v2"
	b.HyperParams = json.RawMessage(`{"hidden":[64,32],"lr":0.001,"weight_decay":0.0001,"patience":20}`)
	d := registry.DiffVersions(a, b)
	s := d.String()
	for _, frag := range []string{"v1 → v2", "params:", "metrics:", "gate:", "lr", "0.0003 → 0.001 (+0.0007)", "ziln.normalized_gini", "0.61 → 0.63 (+0.02)"} {
		if !strings.Contains(s, frag) {
			t.Errorf("human diff lacks %q:\n%s", frag, s)
		}
	}
	if strings.Index(s, "params:") > strings.Index(s, "metrics:") || strings.Index(s, "metrics:") > strings.Index(s, "gate:") {
		t.Errorf("sections out of order:\n%s", s)
	}
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		A, B    string
		Changes []struct {
			Section, Path string
			A, B          any
			Delta         *float64
		}
	}
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.A != "v1" || back.B != "v2" || len(back.Changes) != len(d.Changes) {
		t.Fatalf("JSON diff = %s", raw)
	}
	for _, c := range back.Changes {
		if c.Path == "lr" && (c.A != 0.0003 || c.B != 0.001 || c.Delta == nil) {
			t.Errorf("lr change in JSON = %+v", c)
		}
	}
	if got := len(d.Section(registry.SectionMetrics)); got != 1 {
		t.Errorf("Section(metrics) has %d changes, want 1", got)
	}
}
