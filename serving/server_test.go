package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

func doRequest(h http.Handler, method, path, token string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// newLoadedServer serves version v1 of spec from a model directory.
func newLoadedServer(t *testing.T, cfg Config, spec onnxrttest.Spec, opts ...Option) (*Server, *modelDir) {
	t.Helper()
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	d.add("v1", spec)
	d.point("v1")
	s := New(cfg, d, append([]Option{WithLogger(quietLogger(t))}, opts...)...)
	t.Cleanup(func() { s.Close() })
	if swapped, err := s.Reload(context.Background()); err != nil || !swapped {
		t.Fatalf("initial Reload = %v, %v", swapped, err)
	}
	return s, d
}

func TestPredictValidation(t *testing.T) {
	const weeks = 4
	ziln, _ := newLoadedServer(t, Config{MaxBatch: 5}, onnxrttest.Spec{Seed: 1})
	seq, _ := newLoadedServer(t, Config{}, onnxrttest.Spec{Kind: modelkind.Seq, Weeks: weeks, Seed: 2})
	feats := `{"x":1,"t_x":2,"T":3,"recency":1,"cal_spend":50,"mbar":20,"first_value":30}`
	cust := func(features string) string { return `{"customers":[{"id":"a","features":` + features + `}]}` }
	seqCust := func(sequence string) string {
		return `{"customers":[{"id":"a","features":` + feats + `,"sequence":` + sequence + `}]}`
	}
	six := strings.Repeat(`{"id":"a","features":`+feats+`},`, 6)
	tests := []struct {
		name      string
		s         *Server
		body      string
		wantField string
		wantMsg   string
	}{
		{name: "not JSON", s: ziln, body: `{"customers":`, wantMsg: "not a JSON object"},
		{name: "top-level unknown field", s: ziln, body: `{"customers":[],"debug":true}`, wantField: "debug", wantMsg: "unknown field"},
		{name: "customers missing", s: ziln, body: `{}`, wantField: "customers", wantMsg: "missing"},
		{name: "customers not an array", s: ziln, body: `{"customers":{"id":"a"}}`, wantField: "customers", wantMsg: "array"},
		{name: "empty batch", s: ziln, body: `{"customers":[]}`, wantField: "customers", wantMsg: "empty batch"},
		{name: "batch too large", s: ziln, body: `{"customers":[` + strings.TrimSuffix(six, ",") + `]}`, wantField: "customers", wantMsg: "exceeds the limit of 5"},
		{name: "id missing", s: ziln, body: `{"customers":[{"features":` + feats + `}]}`, wantField: "customers[0].id", wantMsg: "missing"},
		{name: "id not a string", s: ziln, body: `{"customers":[{"id":7,"features":` + feats + `}]}`, wantField: "customers[0].id", wantMsg: "string"},
		{name: "customer unknown field", s: ziln, body: `{"customers":[{"id":"a","segment":"b","features":` + feats + `}]}`, wantField: "customers[0].segment", wantMsg: "unknown field"},
		{name: "features missing", s: ziln, body: `{"customers":[{"id":"a"}]}`, wantField: "customers[0].features", wantMsg: "missing"},
		{name: "features not an object", s: ziln, body: cust(`[1,2,3]`), wantField: "customers[0].features", wantMsg: "object"},
		{name: "feature missing", s: ziln, body: cust(strings.Replace(feats, `"x":1,`, ``, 1)), wantField: "customers[0].features.x", wantMsg: "missing"},
		{name: "feature null", s: ziln, body: cust(strings.Replace(feats, `"x":1`, `"x":null`, 1)), wantField: "customers[0].features.x", wantMsg: "missing"},
		{name: "unknown feature", s: ziln, body: cust(strings.Replace(feats, `}`, `,"age":40}`, 1)), wantField: "customers[0].features.age", wantMsg: "unknown field"},
		{name: "NaN", s: ziln, body: cust(strings.Replace(feats, `"mbar":20`, `"mbar":"NaN"`, 1)), wantField: "customers[0].features.mbar", wantMsg: "NaN is not allowed"},
		{name: "Infinity string", s: ziln, body: cust(strings.Replace(feats, `"T":3`, `"T":"-Infinity"`, 1)), wantField: "customers[0].features.T", wantMsg: "Inf is not allowed"},
		{name: "float64 overflow", s: ziln, body: cust(strings.Replace(feats, `"cal_spend":50`, `"cal_spend":1e999`, 1)), wantField: "customers[0].features.cal_spend", wantMsg: "Inf is not allowed"},
		{name: "float32 overflow", s: ziln, body: cust(strings.Replace(feats, `"cal_spend":50`, `"cal_spend":1e39`, 1)), wantField: "customers[0].features.cal_spend", wantMsg: "overflows float32"},
		{name: "negative", s: ziln, body: cust(strings.Replace(feats, `"recency":1`, `"recency":-1`, 1)), wantField: "customers[0].features.recency", wantMsg: "≥ 0"},
		{name: "string number", s: ziln, body: cust(strings.Replace(feats, `"x":1`, `"x":"1"`, 1)), wantField: "customers[0].features.x", wantMsg: "must be a number"},
		{name: "sequence for ziln model", s: ziln, body: seqCust(`{"spend":[1,2,3,4],"purchase_days":[1,1,1,1]}`), wantField: "customers[0].sequence", wantMsg: "takes no sequence"},
		{name: "sequence missing for seq model", s: seq, body: cust(feats), wantField: "customers[0].sequence", wantMsg: "needs 4 weeks"},
		{name: "sequence too short", s: seq, body: seqCust(`{"spend":[1,2,3],"purchase_days":[1,1,1,1]}`), wantField: "customers[0].sequence.spend", wantMsg: "has 3 weeks, the served model needs 4"},
		{name: "sequence channel missing", s: seq, body: seqCust(`{"spend":[1,2,3,4]}`), wantField: "customers[0].sequence.purchase_days", wantMsg: "missing"},
		{name: "sequence unknown channel", s: seq, body: seqCust(`{"spend":[1,2,3,4],"purchase_days":[1,1,1,1],"returns":[0,0,0,0]}`), wantField: "customers[0].sequence.returns", wantMsg: "unknown field"},
		{name: "sequence NaN", s: seq, body: seqCust(`{"spend":[1,2,3,4],"purchase_days":[1,1,"nan",1]}`), wantField: "customers[0].sequence.purchase_days[2]", wantMsg: "NaN is not allowed"},
		{name: "second customer bad", s: seq, body: `{"customers":[{"id":"a","features":` + feats + `,"sequence":{"spend":[1,2,3,4],"purchase_days":[1,1,1,1]}},{"id":"b","features":` + strings.Replace(feats, `"x":1`, `"x":-2`, 1) + `}]}`, wantField: "customers[1].features.x", wantMsg: "≥ 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := doRequest(tt.s.Handler(), http.MethodPost, "/v1/predict", "", []byte(tt.body))
			var got errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatalf("status %d, body %q: %v", rec.Code, rec.Body, err)
			}
			if rec.Code != http.StatusBadRequest || got.Error.Code != "invalid_request" || got.Error.Field != tt.wantField || !strings.Contains(got.Error.Message, tt.wantMsg) {
				t.Fatalf("got %d %+v; want 400 field %q message containing %q", rec.Code, got.Error, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestPredictMatchesReference(t *testing.T) {
	tests := []struct {
		name string
		spec onnxrttest.Spec
		rows int
	}{
		{name: "ziln one row", spec: onnxrttest.Spec{Seed: 3}, rows: 1},
		{name: "ziln 300 rows", spec: onnxrttest.Spec{Seed: 4}, rows: 300},
		{name: "seq 20 rows", spec: onnxrttest.Spec{Kind: modelkind.Seq, Weeks: 52, Seed: 5}, rows: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, d := newLoadedServer(t, Config{}, tt.spec)
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			weeks := 0
			if tt.spec.Kind == modelkind.Seq {
				weeks = 52
			}
			f, sq := onnxrttest.Rows(tt.rows, tt.spec.Seed, weeks)
			code, resp, err := post(ts.Client(), ts.URL+"/v1/predict", "", predictBody(f, sq))
			if err != nil || code != http.StatusOK {
				t.Fatalf("POST = %d %+v, %v", code, resp, err)
			}
			if resp.ModelVersion != "v1" {
				t.Fatalf("model_version %q", resp.ModelVersion)
			}
			if err := checkAgainst(d.models["v1"], f, sq, resp.Predictions); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	s, _ := newLoadedServer(t, Config{AuthToken: "s3cret"}, onnxrttest.Spec{Seed: 6})
	f, _ := onnxrttest.Rows(2, 6, 0)
	body := predictBody(f, nil)
	tests := []struct {
		name   string
		method string
		path   string
		header string
		want   int
	}{
		{name: "predict without token", method: http.MethodPost, path: "/v1/predict", want: http.StatusUnauthorized},
		{name: "predict wrong token", method: http.MethodPost, path: "/v1/predict", header: "Bearer s3cre", want: http.StatusUnauthorized},
		{name: "predict wrong scheme", method: http.MethodPost, path: "/v1/predict", header: "Basic s3cret", want: http.StatusUnauthorized},
		{name: "predict right token", method: http.MethodPost, path: "/v1/predict", header: "Bearer s3cret", want: http.StatusOK},
		{name: "model without token", method: http.MethodGet, path: "/v1/model", want: http.StatusUnauthorized},
		{name: "model right token", method: http.MethodGet, path: "/v1/model", header: "Bearer s3cret", want: http.StatusOK},
		{name: "healthz is open", method: http.MethodGet, path: "/healthz", want: http.StatusOK},
		{name: "readyz is open", method: http.MethodGet, path: "/readyz", want: http.StatusOK},
		{name: "metrics is open", method: http.MethodGet, path: "/metrics", want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, bytes.NewReader(body))
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tt.want, rec.Body)
			}
			if tt.want == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without WWW-Authenticate: %v", rec.Header())
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	s, _ := newLoadedServer(t, Config{MaxBodyBytes: 512}, onnxrttest.Spec{Seed: 7})
	small, _ := onnxrttest.Rows(1, 7, 0)
	big, _ := onnxrttest.Rows(20, 7, 0)
	tests := []struct {
		name string
		body []byte
		want int
	}{
		{name: "under the limit", body: predictBody(small, nil), want: http.StatusOK},
		{name: "over the limit", body: predictBody(big, nil), want: http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := doRequest(s.Handler(), http.MethodPost, "/v1/predict", "", tt.body)
			if rec.Code != tt.want {
				t.Fatalf("%d-byte body: status %d, want %d (%s)", len(tt.body), rec.Code, tt.want, rec.Body)
			}
			if tt.want == http.StatusRequestEntityTooLarge && !strings.Contains(rec.Body.String(), `"body_too_large"`) {
				t.Fatalf("413 body %s", rec.Body)
			}
		})
	}
}

func TestReadinessAndModel(t *testing.T) {
	onnxrttest.RequireORT(t)
	d := newModelDir(t)
	m := d.add("v1", onnxrttest.Spec{Kind: modelkind.Seq, Weeks: 13, Seed: 8, Name: "seq-test"})
	reg := prometheus.NewRegistry()
	s := New(Config{ModelAlias: "champion"}, d, WithLogger(quietLogger(t)), WithRegistry(reg))
	defer s.Close()
	h := s.Handler()

	if rec := doRequest(h, http.MethodGet, "/healthz", "", nil); rec.Code != http.StatusOK {
		t.Fatalf("healthz before load = %d", rec.Code)
	}
	// No alias yet: the reload fails and readiness says why.
	if _, err := s.Reload(context.Background()); err == nil {
		t.Fatal("Reload without alias succeeded")
	}
	rec := doRequest(h, http.MethodGet, "/readyz", "", nil)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "alias champion") {
		t.Fatalf("readyz before load = %d %s", rec.Code, rec.Body)
	}
	if rec := doRequest(h, http.MethodPost, "/v1/predict", "", []byte(`{"customers":[{"id":"a","features":{"x":0,"t_x":0,"T":0,"recency":0,"cal_spend":0,"mbar":0,"first_value":0}}]}`)); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("predict before load = %d", rec.Code)
	}
	if rec := doRequest(h, http.MethodGet, "/v1/model", "", nil); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("model before load = %d", rec.Code)
	}

	d.point("v1")
	if _, err := s.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if swapped, err := s.Reload(context.Background()); swapped || err != nil {
		t.Fatalf("Reload with an unchanged alias = %v, %v; want no swap", swapped, err)
	}
	rec = doRequest(h, http.MethodGet, "/readyz", "", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"model_version":"v1"`) {
		t.Fatalf("readyz after load = %d %s", rec.Code, rec.Body)
	}
	rec = doRequest(h, http.MethodGet, "/v1/model", "", nil)
	var mr modelResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &mr); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/model = %d %s (%v)", rec.Code, rec.Body, err)
	}
	if mr.Version != "v1" || mr.SHA256 != m.SHA256 || mr.Kind != string(modelkind.Seq) || mr.Name != "seq-test" || mr.Alias != "champion" ||
		mr.FeatureSchema.SequenceWeeks != 13 || mr.ValueCap != 5000 || mr.Runtime.IntraOpThreads != 1 || mr.Runtime.ONNXRuntimeVersion == "" ||
		mr.Runtime.OneRowPath != "onnxruntime" || mr.Runtime.OneRowFallback == "" {
		t.Fatalf("GET /v1/model = %+v", mr)
	}

	for _, tt := range []struct{ method, path string }{{http.MethodGet, "/v1/predict"}, {http.MethodGet, "/nope"}} {
		if rec := doRequest(h, tt.method, tt.path, "", nil); rec.Code != http.StatusMethodNotAllowed && rec.Code != http.StatusNotFound {
			t.Fatalf("%s %s = %d, want 404/405", tt.method, tt.path, rec.Code)
		}
	}
	if rec := doRequest(h, http.MethodGet, "/nope", "", nil); !strings.Contains(rec.Body.String(), `"not_found"`) {
		t.Fatalf("unknown route body %s", rec.Body)
	}
}

func TestMetrics(t *testing.T) {
	s, d := newLoadedServer(t, Config{}, onnxrttest.Spec{Seed: 9, Name: "m"})
	h := s.Handler()
	f, _ := onnxrttest.Rows(3, 9, 0)
	if rec := doRequest(h, http.MethodPost, "/v1/predict", "", predictBody(f, nil)); rec.Code != http.StatusOK {
		t.Fatal(rec.Body)
	}
	if rec := doRequest(h, http.MethodPost, "/v1/predict", "", []byte(`{}`)); rec.Code != http.StatusBadRequest {
		t.Fatal(rec.Body)
	}
	d.point("missing-version")
	if _, err := s.Reload(context.Background()); err == nil {
		t.Fatal("Reload to a missing version succeeded")
	}
	text := scrape(t, h)
	for _, line := range []string{
		`clvflow_serving_predictions_total 3`,
		`clvflow_serving_model_reloads_total 1`,
		`clvflow_serving_model_reload_failures_total 1`,
		`clvflow_serving_model_info{kind="ziln",name="m",sha256="` + d.models["v1"].SHA256 + `",version="v1"} 1`,
		`clvflow_serving_request_duration_seconds_count{code="200",route="/v1/predict"} 1`,
		`clvflow_serving_request_duration_seconds_count{code="400",route="/v1/predict"} 1`,
	} {
		if !metricLine(text, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if !strings.Contains(text, "go_goroutines") {
		t.Error("/metrics lacks the Go collector")
	}
	// The failed reload kept the old model serving.
	if ref, ok := s.Current(); !ok || ref.Version != "v1" {
		t.Fatalf("Current after failed reload = %+v, %v", ref, ok)
	}
}

func TestReloadIntegrityFailureKeepsServing(t *testing.T) {
	s, d := newLoadedServer(t, Config{}, onnxrttest.Spec{Seed: 10})
	m2 := d.add("v2", onnxrttest.Spec{Seed: 11})
	// The registry's recorded sha256 does not match the bytes.
	if err := writeFile(d.src.Dir, "v2.onnx.sha256", onnxrt.SHA256Hex([]byte("other"))+"  v2.onnx\n"); err != nil {
		t.Fatal(err)
	}
	d.point("v2")
	_, err := s.Reload(context.Background())
	var ie *onnxrt.IntegrityError
	if !errors.As(err, &ie) || ie.Version != "v2" || ie.Actual != m2.SHA256 {
		t.Fatalf("Reload = %v; want *IntegrityError for v2", err)
	}
	f, _ := onnxrttest.Rows(2, 10, 0)
	rec := doRequest(s.Handler(), http.MethodPost, "/v1/predict", "", predictBody(f, nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"model_version":"v1"`) {
		t.Fatalf("after failed reload: %d %s", rec.Code, rec.Body)
	}
	// Fixing the sidecar lets the next poll swap.
	if err := writeFile(d.src.Dir, "v2.onnx.sha256", m2.SHA256+"  v2.onnx\n"); err != nil {
		t.Fatal(err)
	}
	if swapped, err := s.Reload(context.Background()); !swapped || err != nil {
		t.Fatalf("Reload after fix = %v, %v", swapped, err)
	}
}
