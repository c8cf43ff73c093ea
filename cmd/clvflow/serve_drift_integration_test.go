package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
	"github.com/clvflow/clvflow/registry"
)

// driftFeaturesCSV is a features CSV of n customers drawn like
// onnxrttest.Rows (one-week sequences: the ziln test model ignores them).
func driftFeaturesCSV(t *testing.T, n int, seed uint64) []byte {
	t.Helper()
	rows, _ := onnxrttest.Rows(n, seed, 0)
	set := &features.Set{Split: features.Split{Cutoff: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), SeqWeeks: 1}}
	for i, r := range rows {
		set.Customers = append(set.Customers, features.Customer{ID: "r" + strconv.Itoa(i), X: int(r[0]), TX: float64(r[1]), T: float64(r[2]),
			Recency: float64(r[3]), CalSpend: float64(r[4]), MBar: float64(r[5]), FirstValue: float64(r[6]), Seq: [2][]float64{{0}, {0}}})
	}
	var buf bytes.Buffer
	if err := set.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// championWithFeatures registers a test model whose training features are
// csv (none when nil) and makes it the champion.
func (o *ownRegistry) championWithFeatures(t *testing.T, seed uint64, csv []byte) registry.Version {
	t.Helper()
	ctx := context.Background()
	m := onnxrttest.MustBuild(onnxrttest.Spec{Seed: seed, Version: fmt.Sprintf("test-%d", seed)})
	ref, err := o.store.PutBytes(ctx, "clvflow-models", "onnx", m.Bytes, artifacts.PutOptions{ContentType: "application/onnx"})
	if err != nil {
		t.Fatal(err)
	}
	v := registry.Version{ModelName: "test-ziln", ModelKind: "ziln", Seed: seed, Dataset: registry.DatasetRef{Raw: ref, Clean: ref},
		Gate: registry.NewGate(registry.NewCheck("test", 1, registry.OpGE, 0)), ONNX: ref}
	if csv != nil {
		fref, err := o.store.PutBytes(ctx, "clvflow-models", "features", csv, artifacts.PutOptions{ContentType: "text/csv"})
		if err != nil {
			t.Fatal(err)
		}
		v.Artifacts = map[string]artifacts.Ref{"features": fref}
	}
	if v, err = o.reg.Register(ctx, v); err != nil {
		t.Fatal(err)
	}
	if _, err := o.reg.MoveAlias(ctx, registry.Move{Alias: "champion", To: v.ID, Actor: "test"}); err != nil {
		t.Fatal(err)
	}
	return v
}

// waitBody polls GET path until cond holds for its body (60s at most).
func (p *serveProc) waitBody(t *testing.T, what, path string, cond func(body string) bool) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, b, err := p.get(path)
		if err == nil && code == http.StatusOK && cond(string(b)) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last %s %d %s %v; log:\n%s", what, path, code, b, err, p.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestIntegrationServeOnlineDrift: serve reads the champion's training
// features from the registry, scores them and reports the PSI of the
// customers it predicts: cal_spend ×4 drifts; a champion without training
// features is served without drift.
func TestIntegrationServeOnlineDrift(t *testing.T) {
	o := newOwnRegistry(t, t.TempDir())
	v1 := o.championWithFeatures(t, 3, driftFeaturesCSV(t, 2000, 31))
	p := startServe(t, append(o.env, "CLVFLOW_SERVING_DRIFT_WINDOW=400"))
	p.waitBody(t, "the drift window of "+v1.ID, "/v1/model", func(b string) bool { return strings.Contains(b, `"window_size":400`) })

	rows, _ := onnxrttest.Rows(400, 32, 0)
	for _, r := range rows {
		r[4] *= 4 // cal_spend
	}
	var req struct {
		Customers []map[string]any `json:"customers"`
	}
	for i, r := range rows {
		feats := map[string]float32{}
		for j, name := range onnxrt.TabularColumns {
			feats[name] = r[j]
		}
		req.Customers = append(req.Customers, map[string]any{"id": "c" + strconv.Itoa(i), "features": feats})
	}
	body, _ := json.Marshal(req)
	resp, err := http.Post(p.base+"/v1/predict", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("predict = %v %v", resp, err)
	}
	resp.Body.Close()
	var m struct {
		Drift *struct {
			WindowCustomers int                `json:"window_customers"`
			PSI             map[string]float64 `json:"psi"`
			Drifted         bool               `json:"drifted"`
		} `json:"drift"`
	}
	_, b, _ := p.get("/v1/model")
	if err := json.Unmarshal(b, &m); err != nil || m.Drift == nil || m.Drift.WindowCustomers != 400 || m.Drift.PSI["cal_spend"] <= 0.25 || m.Drift.PSI["x"] > 0.1 || !m.Drift.Drifted {
		t.Fatalf("/v1/model after 400 customers with cal_spend ×4: %s", b)
	}
	_, metrics, _ := p.get("/metrics")
	if !strings.Contains(string(metrics), "\nclvflow_drift_window_customers 400\n") || !strings.Contains(string(metrics), `clvflow_drift_psi{column="expected_value"} `) {
		t.Fatalf("/metrics lacks the drift gauges:\n%s", metrics)
	}

	v2 := o.championWithFeatures(t, 4, nil)
	p.waitBody(t, "the reference failure of "+v2.ID, "/metrics", func(b string) bool {
		return strings.Contains(b, "\nclvflow_drift_reference_failures_total 1\n")
	})
	if mm := p.model(t); mm.Version != v2.ID {
		t.Fatalf("served %s, want %s", mm.Version, v2.ID)
	}
	if _, b, _ := p.get("/v1/model"); strings.Contains(string(b), `"drift"`) {
		t.Fatalf("/v1/model of a version without training features: %s", b)
	}
	if !strings.Contains(p.logs.String(), "records no training features") {
		t.Fatalf("the log does not say why drift is off:\n%s", p.logs.String())
	}
	p.stop(t, 15*time.Second)
}
