package report

import (
	"bytes"
	"encoding/base64"
	"html"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/metrics"
)

// sampleData is a report of three models on 500 customers with every
// optional part set; one model name needs HTML escaping.
func sampleData(t testing.TB) Data {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 11))
	const n = 500
	actual := make([]float64, n)
	for i := range actual {
		if r.Float64() < 0.4 {
			actual[i] = math.Round(r.ExpFloat64()*80*100) / 100
		}
	}
	d := Data{Title: "Backtest <cdnow>", Cutoff: "1997-09-30", HorizonDays: 273, Customers: 2357, Rows: 6919,
		RuleCounts: map[string]int64{"negative_amount": 3, "bad_date": 1}, Notes: []string{"holdout shorter than the horizon"},
		GiniLiftLabel: "ziln − bgnbd", GiniLiftSamples: make([]float64, 200)}
	for i := range d.GiniLiftSamples {
		d.GiniLiftSamples[i] = 0.03 + 0.02*r.NormFloat64()
	}
	for k, name := range []string{"naive", "bgnbd", `<b>ziln & "co"</b>`} {
		pred := make([]float64, n)
		for i := range pred {
			pred[i] = math.Max(0, actual[i]*float64(k)/2+20+10*r.NormFloat64())
		}
		rep, err := metrics.Evaluate(pred, nil, actual)
		if err != nil {
			t.Fatal(err)
		}
		d.Models = append(d.Models, ModelResult{Name: name, Predicted: pred, Actual: actual, Metrics: MetricsOf(rep)})
	}
	d.Models[2].Loss = []LossCurve{
		{Label: "member 1", Train: []float64{3, 2.5, 2.2, 2.1}, Validation: []float64{3.1, 2.7, 2.6, 2.65}},
		{Label: "member 2", Train: []float64{3.2, 2.4, 2.3}, Validation: []float64{math.NaN(), math.NaN(), math.NaN()}},
	}
	return d
}

func render(t testing.TB, d Data) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// imgRE matches an embedded PNG; html/template writes '+' as &#43; in
// attributes, which the browser (and html.UnescapeString) decodes.
var imgRE = regexp.MustCompile(`<img src="data:image/png;base64,([^"]+)"`)

// images decodes every embedded image of page as PNG.
func images(t *testing.T, page []byte) int {
	t.Helper()
	all := imgRE.FindAllSubmatch(page, -1)
	if n := bytes.Count(page, []byte("<img ")); n != len(all) {
		t.Fatalf("%d <img> tags, %d with a base64 PNG data: URI", n, len(all))
	}
	for i, m := range all {
		raw, err := base64.StdEncoding.DecodeString(html.UnescapeString(string(m[1])))
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("image %d is no PNG: %v", i, err)
		}
		if b := img.Bounds(); b.Dx() != 576 || b.Dy() != 384 {
			t.Fatalf("image %d is %v, want 576×384", i, b)
		}
	}
	return len(all)
}

func TestRenderIsDeterministic(t *testing.T) {
	d := sampleData(t)
	if a, b := render(t, d), render(t, d); !bytes.Equal(a, b) {
		t.Fatal("two renderings of the same data differ")
	}
}

func TestRenderEmbedsOnePNGPerPlot(t *testing.T) {
	page := render(t, sampleData(t))
	// gain + 3 decile plots + Gini lift + one loss plot
	if n := images(t, page); n != 6 {
		t.Fatalf("%d images, want 6", n)
	}
	for _, id := range []string{`id="summary"`, `id="metrics"`, `id="gain"`, `id="deciles"`, `id="gini-lift"`, `id="loss"`,
		"negative_amount", "1997-09-30", "273 days", "normalized_gini", "holdout shorter than the horizon"} {
		if !bytes.Contains(page, []byte(id)) {
			t.Errorf("page lacks %s", id)
		}
	}
}

func TestRenderIsSelfContained(t *testing.T) {
	page := string(render(t, sampleData(t)))
	for _, bad := range []string{"http://", "https://", "<script", "<link", "url(", "@import", "<iframe"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	if n, m := strings.Count(page, ` src="`), strings.Count(page, ` src="data:image/png;base64,`); n != m {
		t.Errorf("%d src attributes, only %d data: URIs", n, m)
	}
}

func TestRenderEscapesNames(t *testing.T) {
	page := string(render(t, sampleData(t)))
	for _, raw := range []string{`<b>ziln`, `<cdnow>`} {
		if strings.Contains(page, raw) {
			t.Errorf("page contains unescaped %q", raw)
		}
	}
	for _, esc := range []string{`&lt;b&gt;ziln &amp; &#34;co&#34;&lt;/b&gt;`, `Backtest &lt;cdnow&gt;`} {
		if !strings.Contains(page, esc) {
			t.Errorf("page lacks escaped %q", esc)
		}
	}
}

func TestRenderLeavesOutOptionalParts(t *testing.T) {
	d := sampleData(t)
	d.RuleCounts, d.GiniLiftSamples, d.Notes, d.Title = nil, nil, nil, ""
	for i := range d.Models {
		d.Models[i].Loss = nil
	}
	page := render(t, d)
	if n := images(t, page); n != 4 {
		t.Fatalf("%d images, want 4 (gain and 3 decile plots)", n)
	}
	for _, s := range []string{`id="gini-lift"`, `id="loss"`, "cleaning rule", `class="note"`} {
		if bytes.Contains(page, []byte(s)) {
			t.Errorf("page has %s without data for it", s)
		}
	}
	if !bytes.Contains(page, []byte("<title>"+DefaultTitle+"</title>")) {
		t.Error("default title missing")
	}
}

func TestRenderWithoutHoldoutSpend(t *testing.T) {
	zero := make([]float64, 20)
	d := Data{Models: []ModelResult{{Name: "m", Predicted: make([]float64, 20), Actual: zero}}}
	page := render(t, d)
	if !bytes.Contains(page, []byte("gain curves are undefined")) {
		t.Error("no note for undefined gain curves")
	}
	if n := images(t, page); n != 1 {
		t.Fatalf("%d images, want the decile plot only", n)
	}
}

func TestRenderRejectsBadData(t *testing.T) {
	good := sampleData(t)
	for name, mutate := range map[string]func(d *Data){
		"no models":       func(d *Data) { d.Models = nil },
		"no name":         func(d *Data) { d.Models[0].Name = "" },
		"length mismatch": func(d *Data) { d.Models[1].Predicted = d.Models[1].Predicted[1:] },
		"other customers": func(d *Data) { d.Models[1].Actual = append([]float64{1}, d.Models[1].Actual[1:]...) },
		"NaN prediction":  func(d *Data) { d.Models[0].Predicted = append([]float64{math.NaN()}, d.Models[0].Predicted[1:]...) },
		"NaN lift":        func(d *Data) { d.GiniLiftSamples = []float64{0.1, math.NaN()} },
	} {
		d := good
		d.Models = append([]ModelResult(nil), good.Models...)
		mutate(&d)
		var buf bytes.Buffer
		if err := Render(&buf, d); err == nil {
			t.Errorf("%s: no error", name)
		} else if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written with error %v", name, buf.Len(), err)
		}
	}
}

func TestWriteDir(t *testing.T) {
	d := sampleData(t)
	dir := filepath.Join(t.TempDir(), "out")
	path, err := WriteDir(dir, d)
	if err != nil {
		t.Fatal(err)
	}
	if path != filepath.Join(dir, FileName) {
		t.Fatalf("path %s", path)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, render(t, d)) {
		t.Fatal("file differs from Render")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("dir holds %d entries, want report.html only", len(entries))
	}
}

func TestMetricsOf(t *testing.T) {
	m := MetricsOf(metrics.Report{N: 3, NormalizedGini: 0.5, TotalActual: 7})
	if len(m) != len(metricOrder) {
		t.Fatalf("%d metrics, want %d: %v", len(m), len(metricOrder), m)
	}
	for _, k := range metricOrder {
		if _, ok := m[k]; !ok {
			t.Errorf("missing %s", k)
		}
	}
	if m["n"] != 3 || m["normalized_gini"] != 0.5 || m["total_actual"] != 7 {
		t.Fatalf("values %v", m)
	}
}
