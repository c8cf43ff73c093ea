package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBacktestCLIReport: --report DIR writes a self-contained report of the
// run (one gain plot, one decile plot per model, the network's loss) and
// leaves the JSON on stdout unchanged in shape.
func TestBacktestCLIReport(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	dir := filepath.Join(t.TempDir(), "out")
	out, stderr, err := runBacktestCLI(t, "--input", writeOrdersCSV(t), "--format", "csv", "--customer-col", "user", "--time-col", "ts",
		"--quantity-col", "qty", "--price-col", "price", "--horizon-days", "120", "--models", "naive,ziln", "--max-epochs", "2",
		"--snapshots", "0", "--json", "--report", dir)
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("stdout is no JSON object: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "report.html")
	if !strings.Contains(stderr, "report written to "+path) {
		t.Errorf("stderr does not name the report: %q", stderr)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// gain + 2 decile plots + ziln's loss
	if n := bytes.Count(page, []byte(`<img src="data:image/png;base64,`)); n != 4 {
		t.Errorf("%d embedded images, want 4", n)
	}
	for _, want := range []string{"clvflow backtest: orders.csv", "2023-08-28", "120 days", `id="loss"`, "ziln", "naive", "fit_seconds"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestBacktestCLIReportBadDir(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runBacktestCLI(t, "--input", writeOrdersCSV(t), "--format", "csv", "--customer-col", "user", "--time-col", "ts",
		"--quantity-col", "qty", "--price-col", "price", "--models", "naive", "--report", filepath.Join(file, "sub"))
	if err == nil || !strings.Contains(err.Error(), "--report") {
		t.Fatalf("err %v, want a --report error", err)
	}
}
