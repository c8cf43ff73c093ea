package serving

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/onnxrt/onnxrttest"
)

// quietLogger discards logs unless -v.
func quietLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// modelDir is a DirSource directory with test models, counting fetches.
type modelDir struct {
	tb     testing.TB
	src    *DirSource
	models map[string]*onnxrttest.Model

	mu      sync.Mutex
	fetches map[string]int
}

func newModelDir(tb testing.TB) *modelDir {
	return &modelDir{tb: tb, src: NewDirSource(tb.TempDir(), ""), models: map[string]*onnxrttest.Model{}, fetches: map[string]int{}}
}

// add builds a model for version and writes <version>.onnx.
func (d *modelDir) add(version string, spec onnxrttest.Spec) *onnxrttest.Model {
	d.tb.Helper()
	spec.Version = version
	m, err := onnxrttest.Build(spec)
	if err != nil {
		d.tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.src.Dir, version+".onnx"), m.Bytes, 0o644); err != nil {
		d.tb.Fatal(err)
	}
	d.models[version] = m
	return m
}

// point moves the alias to version atomically (write + rename).
func (d *modelDir) point(version string) {
	d.tb.Helper()
	tmp := filepath.Join(d.src.Dir, ".alias.tmp")
	if err := os.WriteFile(tmp, []byte(version+"\n"), 0o644); err != nil {
		d.tb.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.src.Dir, d.src.Alias)); err != nil {
		d.tb.Fatal(err)
	}
}

func (d *modelDir) Current(ctx context.Context) (ModelRef, error) { return d.src.Current(ctx) }

func (d *modelDir) Fetch(ctx context.Context, ref ModelRef) ([]byte, error) {
	d.mu.Lock()
	d.fetches[ref.Version]++
	d.mu.Unlock()
	return d.src.Fetch(ctx, ref)
}

func (d *modelDir) fetchCount(version string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fetches[version]
}

// predictBody encodes rows as a /v1/predict request with ids c0, c1, ...
func predictBody(features, seq [][]float32) []byte {
	type sequence struct {
		Spend        []float32 `json:"spend"`
		PurchaseDays []float32 `json:"purchase_days"`
	}
	type cust struct {
		ID       string             `json:"id"`
		Features map[string]float32 `json:"features"`
		Sequence *sequence          `json:"sequence,omitempty"`
	}
	var req struct {
		Customers []cust `json:"customers"`
	}
	for i, row := range features {
		c := cust{ID: "c" + strconv.Itoa(i), Features: map[string]float32{}}
		for j, name := range onnxrt.TabularColumns {
			c.Features[name] = row[j]
		}
		if seq != nil {
			w := len(seq[i]) / 2
			c.Sequence = &sequence{Spend: seq[i][:w], PurchaseDays: seq[i][w:]}
		}
		req.Customers = append(req.Customers, c)
	}
	b, err := json.Marshal(req)
	if err != nil {
		panic(err)
	}
	return b
}

type apiPrediction struct {
	ID                  string  `json:"id"`
	ExpectedValue       float64 `json:"expected_value"`
	PurchaseProbability float64 `json:"purchase_probability"`
	Mu                  float64 `json:"mu"`
	Sigma               float64 `json:"sigma"`
}

type apiResponse struct {
	ModelVersion string          `json:"model_version"`
	Predictions  []apiPrediction `json:"predictions"`
	Error        *errorDetail    `json:"error"`
}

// post sends body to url with an optional bearer token.
func post(client *http.Client, url, token string, body []byte) (int, apiResponse, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, apiResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, apiResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, apiResponse{}, err
	}
	var out apiResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, out, fmt.Errorf("decode %q: %w", raw, err)
	}
	return resp.StatusCode, out, nil
}

// checkAgainst compares predictions with the reference of model m.
func checkAgainst(m *onnxrttest.Model, features, seq [][]float32, got []apiPrediction) error {
	want, err := m.Reference(features, seq)
	if err != nil {
		return err
	}
	if len(got) != len(features) {
		return fmt.Errorf("%d predictions for %d customers", len(got), len(features))
	}
	for i, p := range got {
		if p.ID != "c"+strconv.Itoa(i) {
			return fmt.Errorf("prediction %d has id %q", i, p.ID)
		}
		diffs := []float64{
			(p.ExpectedValue - float64(want.Expected[i])) / max(1, float64(want.Expected[i])),
			p.PurchaseProbability - float64(want.Prob[i]),
			p.Mu - float64(want.Mu[i]),
			p.Sigma - float64(want.Sigma[i]),
		}
		for k, d := range diffs {
			if d > 1e-4 || d < -1e-4 {
				return fmt.Errorf("row %d output %s: got %+v, reference of %s differs by %g", i, onnxrt.OutputNames[k], p, m.Spec.Version, d)
			}
		}
	}
	return nil
}

// scrape returns the /metrics text.
func scrape(tb testing.TB, h http.Handler) string {
	tb.Helper()
	rec := doRequest(h, http.MethodGet, "/metrics", "", nil)
	if rec.Code != http.StatusOK {
		tb.Fatalf("/metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

// metricLine reports whether the exposition has exactly this sample line.
func metricLine(text, line string) bool {
	for _, l := range strings.Split(text, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

func writeFile(dir, name, content string) error {
	return os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
