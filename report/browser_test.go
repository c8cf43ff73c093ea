package report

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromium returns the first headless-capable Chromium on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH (looked for chromium, chromium-browser, google-chrome, google-chrome-stable); " +
		"install one (Debian: apt-get install chromium) to run the headless browser test")
	return ""
}

// probe is appended to the page under test: after the load event it writes
// every image's state into the DOM, which --dump-dom then prints. The
// page's Content-Security-Policy is widened only by script-src for it.
const probe = `<script>window.addEventListener("load", function () {
  var p = document.createElement("pre"); p.id = "img-check";
  p.textContent = Array.from(document.images).map(function (i) {
    return (i.complete ? "ok" : "pending") + ":" + i.naturalWidth + "x" + i.naturalHeight; }).join(" ");
  document.body.appendChild(p); });</script></body>`

// dumpDOM loads file in headless Chromium and returns the DOM after the
// load event, and Chromium's stderr.
func dumpDOM(t *testing.T, bin, dir, file string) (dom []byte, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--dump-dom", "file://"+file)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", bin, err, errBuf.String())
	}
	return dom, errBuf.String()
}

var checkRE = regexp.MustCompile(`<pre id="img-check">([^<]*)</pre>`)

func TestBrowserLoadsEveryImage(t *testing.T) {
	bin := chromium(t)
	page := string(render(t, sampleData(t)))
	const csp = `default-src 'none';`
	if !strings.Contains(page, csp) || !strings.Contains(page, "</body>") {
		t.Fatal("page has no CSP or no </body>")
	}
	page = strings.Replace(page, csp, csp+` script-src 'unsafe-inline';`, 1)
	page = strings.Replace(page, "</body>", probe, 1)
	dir := t.TempDir()
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, stderr := dumpDOM(t, bin, dir, file)
	m := checkRE.FindSubmatch(dom)
	if m == nil {
		t.Fatalf("the probe did not run; DOM starts %.300q; stderr %s", dom, stderr)
	}
	states := strings.Fields(string(m[1]))
	if len(states) != 6 {
		t.Fatalf("browser saw %d images, want 6: %s", len(states), m[1])
	}
	for i, s := range states {
		st, size, _ := strings.Cut(s, ":")
		w, _, _ := strings.Cut(size, "x")
		if n, _ := strconv.Atoi(w); st != "ok" || n <= 0 {
			t.Errorf("image %d did not load: %s", i, s)
		}
	}
	if !bytes.Contains(dom, []byte("<h1>Backtest &lt;cdnow&gt;</h1>")) {
		t.Error("the browser shows no escaped title")
	}
}
