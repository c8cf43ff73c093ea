package serving

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/clvflow/clvflow/nn/nntest"
	"github.com/clvflow/clvflow/onnxexport"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// TestOneRowGoPathServed serves an exported production-architecture ziln
// model: /v1/model reports the Go one-row path, and every one-customer
// request agrees with the same customer scored in a batch (ONNX Runtime)
// within the parity rule.
func TestOneRowGoPathServed(t *testing.T) {
	onnxrttest.RequireORT(t)
	cfg := nn.DefaultConfig(modelkind.ZILN)
	cfg.MaxEpochs = 2
	ds := nntest.Synthetic(1024, cfg.SeqWeeks, 9)
	nm, err := nn.Train(context.Background(), cfg, nn.Data{Tabular: ds.Tabular, Label: ds.Label}, nn.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := onnxexport.Export(nm, onnxexport.Metadata{Name: "prod", Version: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(Config{}, NewFileSource(path), WithLogger(quietLogger(t)))
	defer s.Close()
	if _, err := s.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec := doRequest(s.Handler(), http.MethodGet, "/v1/model", "", nil)
	var mr modelResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &mr); err != nil || mr.Runtime.OneRowPath != "go" {
		t.Fatalf("GET /v1/model = %d %s (%v); want one_row_path go", rec.Code, rec.Body, err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	rows := nn.Float32Rows(ds.Tabular[:64])
	code, batch, err := post(ts.Client(), ts.URL+"/v1/predict", "", predictBody(rows, nil))
	if err != nil || code != http.StatusOK || len(batch.Predictions) != len(rows) {
		t.Fatalf("batch POST = %d, %v", code, err)
	}
	for i := range rows {
		code, one, err := post(ts.Client(), ts.URL+"/v1/predict", "", predictBody(rows[i:i+1], nil))
		if err != nil || code != http.StatusOK || len(one.Predictions) != 1 {
			t.Fatalf("row %d POST = %d, %v", i, code, err)
		}
		g, w := one.Predictions[0], batch.Predictions[i]
		if math.Abs(g.ExpectedValue-w.ExpectedValue) > 1e-4*math.Max(1, math.Abs(w.ExpectedValue)) ||
			math.Abs(g.PurchaseProbability-w.PurchaseProbability) > 1e-4 || math.Abs(g.Mu-w.Mu) > 1e-4 || math.Abs(g.Sigma-w.Sigma) > 1e-4 {
			t.Fatalf("row %d: one-customer %+v, in a batch %+v", i, g, w)
		}
	}
}
