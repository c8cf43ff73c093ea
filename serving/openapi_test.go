package serving

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOpenAPIListsEveryRoute parses the embedded document and checks that it
// documents exactly the routes the router serves.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q, want 3.x", doc.OpenAPI)
	}
	s := New(Config{}, NewDirSource(t.TempDir(), ""), WithLogger(quietLogger(t)))
	var served []string
	for _, r := range s.routes {
		op := strings.ToLower(r.method)
		served = append(served, op+" "+r.path)
		if _, ok := doc.Paths[r.path][op]; !ok {
			t.Errorf("route %s %s is not documented in openapi.yaml", r.method, r.path)
		}
	}
	for path, ops := range doc.Paths {
		for op := range ops {
			if !slices.Contains(served, op+" "+path) {
				t.Errorf("openapi.yaml documents %s %s, which the router does not serve", op, path)
			}
		}
	}
	rec := doRequest(s.Handler(), http.MethodGet, "/openapi.yaml", "", nil)
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), OpenAPI()) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/yaml") {
		t.Fatalf("GET /openapi.yaml = %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}
