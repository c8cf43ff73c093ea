package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/registry/registrytest"
)

func TestRenderList(t *testing.T) {
	v1, v2 := registrytest.SampleVersion("ziln", 0.612345), registrytest.SampleVersion("seq", 0.55)
	v1.ID, v1.CreatedAt = "v1", registrytest.FixedTime(1)
	v2.ID, v2.CreatedAt, v2.ModelKind = "v2", registrytest.FixedTime(2), "seq"
	v2.Gate = registry.NewGate(registry.NewCheck("gini_vs_baseline", 0.55, registry.OpGE, 0.58))
	v2.Metrics = nil
	rows := []registry.VersionSummary{
		{Version: v1, Status: "approved", Aliases: []string{"candidate", "champion"}},
		{Version: v2, Status: "registered", Aliases: []string{}},
	}
	var buf bytes.Buffer
	if err := renderList(&buf, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("want header + 2 rows, got:\n%s", buf.String())
	}
	tests := []struct {
		line  int
		cells []string
	}{
		{0, []string{"VERSION", "CREATED", "MODEL", "KIND", "GINI", "GATE", "STATUS", "ALIASES", "DATASET"}},
		{1, []string{"v1", "2025-03-04", "10:01:00Z", "ziln", "ziln", "0.6123", "pass", "approved", "candidate,champion", registrytest.SHA('e')[:12]}},
		{2, []string{"v2", "10:02:00Z", "seq", "seq", "-", "FAIL", "registered", "-"}},
	}
	for _, tc := range tests {
		fields := strings.Fields(lines[tc.line])
		for _, c := range tc.cells {
			found := false
			for _, f := range fields {
				found = found || f == c
			}
			if !found {
				t.Errorf("line %d %q lacks cell %q", tc.line, lines[tc.line], c)
			}
		}
	}
	// Columns are aligned: every row's STATUS cell starts where the header's does.
	col := strings.Index(lines[0], "STATUS")
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l[col:], "approved") && !strings.HasPrefix(l[col:], "registered") {
			t.Errorf("STATUS column misaligned in %q", l)
		}
	}

	buf.Reset()
	if err := renderList(&buf, nil); err != nil || !strings.Contains(buf.String(), "no model versions") {
		t.Errorf("empty list rendered as %q (%v)", buf.String(), err)
	}
}

func TestRenderShow(t *testing.T) {
	v := registrytest.SampleVersion("ziln", 0.63)
	v.ID, v.CreatedAt = "v4", registrytest.FixedTime(5)
	d := registry.VersionDetail{Ref: "champion", Version: v, Status: "approved", Aliases: []string{"champion"}, Events: []registry.Event{
		{Seq: 1, Version: "v4", Type: registry.EventApproved, Actor: "alice", Comment: "looks good", Time: registrytest.FixedTime(6)},
		{Seq: 2, Version: "v4", Type: registry.EventPromoted, Actor: "clvflow", Time: registrytest.FixedTime(7)},
	}}
	var buf bytes.Buffer
	if err := renderShow(&buf, d); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, frag := range []string{
		"v4 (alias champion)", "ziln (kind ziln)", "approved", "Seed", "42",
		"s3://clvflow-datasets/clean/" + registrytest.SHA('a') + ".csv.gz?versionId=ds-v1", "1234567 bytes",
		"69659 rows in, 69600 clean, 59 rejected, 23570 customers", "rule negative_amount: 40",
		"s3://clvflow-models/onnx/ziln.onnx?versionId=m-v1 sha256 " + registrytest.SHA('c'),
		"pass at tolerance 0.0001 over 2000 rows", "mu max|Δ| 9.5e-07",
		"train-cdnow-20250101T000000 run run-1", "dataset=cdnow", `"lr":0.0003`, `"sequence_weeks":52`,
		"METRICS", "DECILE_MAPE", "NORMALIZED_GINI", "SPEARMAN",
		"GATE PASS", "gini_vs_baseline", ">=", "0.58", "decile_mape_max",
		"EVENTS", "alice", "looks good", "promoted",
	} {
		if !strings.Contains(out, frag) {
			t.Errorf("show output lacks %q", frag)
		}
	}
	// Metrics table: one row per model, sorted, with the model's values.
	bg := strings.Index(out, "\nbgnbd")
	zl := strings.Index(out, "\nziln ")
	if bg < 0 || zl < 0 || bg > zl {
		t.Errorf("metrics rows missing or unsorted (bgnbd at %d, ziln at %d):\n%s", bg, zl, out)
	}
	if !strings.Contains(out[zl:], "0.63") {
		t.Errorf("ziln row lacks its gini:\n%s", out)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}

	buf.Reset()
	v.Gate = registry.NewGate(registry.NewCheck("gini_vs_baseline", 0.5, registry.OpGE, 0.58))
	v.ONNX = artifacts.Ref{}
	if err := renderShow(&buf, registry.VersionDetail{Ref: "v4", Version: v, Status: "registered"}); err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{"GATE FAIL", "FAIL", "EVENTS\n(none)", "ONNX"} {
		if !strings.Contains(buf.String(), frag) {
			t.Errorf("show output of failed version lacks %q:\n%s", frag, buf.String())
		}
	}
	if strings.Contains(buf.String(), "(alias") {
		t.Errorf("show by id mentions an alias:\n%s", buf.String())
	}
}

func TestRenderHistory(t *testing.T) {
	entries := []registry.AliasEntry{
		{Seq: 1, Alias: "champion", To: "v1", Actor: "alice", Reason: "first", Time: registrytest.FixedTime(1)},
		{Seq: 2, Alias: "champion", From: "v1", To: "v3", Actor: "bob", WorkflowID: "train-x", Time: registrytest.FixedTime(2)},
	}
	var buf bytes.Buffer
	if err := renderHistory(&buf, entries); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	tests := []struct {
		line int
		want []string
	}{
		{0, []string{"ALIAS", "SEQ", "TIME", "FROM", "TO", "ACTOR", "REASON", "WORKFLOW"}},
		{1, []string{"champion", "1", "10:01:00Z", "-", "v1", "alice", "first", "-"}},
		{2, []string{"champion", "2", "10:02:00Z", "v1", "v3", "bob", "-", "train-x"}},
	}
	if len(lines) != len(tests) {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for _, tc := range tests {
		fields := strings.Fields(lines[tc.line])
		// TIME spans two fields (date and clock); drop the date.
		if tc.line > 0 {
			fields = append(fields[:2], fields[3:]...)
		}
		if strings.Join(fields, " ") != strings.Join(tc.want, " ") {
			t.Errorf("line %d = %q, want fields %q", tc.line, lines[tc.line], tc.want)
		}
	}
	buf.Reset()
	if err := renderHistory(&buf, nil); err != nil || !strings.Contains(buf.String(), "no alias moves") {
		t.Errorf("empty history rendered as %q (%v)", buf.String(), err)
	}
}
