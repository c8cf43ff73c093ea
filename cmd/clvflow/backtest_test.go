package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runBacktestCLI runs `clvflow backtest ARGS` in-process.
func runBacktestCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return clvflow(t, append([]string{"backtest"}, args...)...)
}

// backtestDemo is the CDNOW master log shipped in testdata/demo.
func backtestDemo(t *testing.T) string { return demoFile(t) }

func TestBacktestCLIJSON(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	out, _, err := runBacktestCLI(t, "--input", backtestDemo(t), "--format", "cdnow", "--cutoff", "1997-09-30",
		"--horizon-days", "273", "--models", "bgnbd,naive", "--seed", "7", "--test-fraction", "0.25", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Dataset struct {
			Rows, RejectedRows, Customers int64
		}
		Split struct {
			Cutoff         string `json:"cutoff"`
			HorizonDays    int    `json:"horizon_days"`
			TrainCustomers int    `json:"train_customers"`
			TestCustomers  int    `json:"test_customers"`
		}
		Models map[string]struct {
			Params     map[string]any     `json:"params"`
			FitSeconds *float64           `json:"fit_seconds"`
			Metrics    map[string]float64 `json:"metrics"`
		}
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("more than one JSON value on stdout")
	}
	if res.Split.Cutoff != "1997-09-30" || res.Split.HorizonDays != 273 || res.Split.TestCustomers != 5893 || res.Split.TrainCustomers != 23570-5893 {
		t.Errorf("split = %+v, want 1997-09-30, 273 days, 17677/5893", res.Split)
	}
	if len(res.Models) != 2 {
		t.Fatalf("models = %v", res.Models)
	}
	bg := res.Models["bgnbd"]
	for _, k := range []string{"r", "alpha", "a", "b", "p", "q", "v", "loglik"} {
		if _, ok := bg.Params[k].(float64); !ok {
			t.Errorf("bgnbd params lack %s: %v", k, bg.Params)
		}
	}
	if bg.FitSeconds == nil || bg.Metrics["normalized_gini"] <= 0 || bg.Metrics["total_actual"] <= 0 {
		t.Errorf("bgnbd result %+v", bg)
	}
}

// writeOrdersCSV writes a small semicolon-separated order log of 80
// customers over 2023.
func writeOrdersCSV(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orders.csv")
	var b strings.Builder
	b.WriteString("user;ts;qty;price\n")
	for c := 0; c < 80; c++ {
		for k := 0; k <= c%5; k++ {
			fmt.Fprintf(&b, "u%d;2023-%02d-%02d 10:00;%d;%d.50\n", c, 1+(c+3*k)%12, 1+(c*7+k)%28, 1+k, 3+c%7)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestBacktestCLITable(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	path := writeOrdersCSV(t)
	out, _, err := runBacktestCLI(t, "--input", path, "--format", "csv", "--customer-col", "user", "--time-col", "ts",
		"--quantity-col", "qty", "--price-col", "price", "--horizon-days", "120", "--models", "naive,bgnbd")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dataset  orders.csv (csv):", "cutoff 2023-08-28, horizon 120 days" /* last day 2023-12-26 − 120 */, "not scored", "naive", "bgnbd", "gini", "decile MAPE", "metrics on the"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.HasPrefix(strings.TrimSpace(out), "{") {
		t.Errorf("table output looks like JSON:\n%s", out)
	}
}

// TestBacktestCLISnapshots: the networks learn from the configured earlier
// snapshots (default training.snapshots, overridden by --snapshots), and
// the report names them.
func TestBacktestCLISnapshots(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	path := writeOrdersCSV(t)
	args := []string{"--input", path, "--format", "csv", "--customer-col", "user", "--time-col", "ts",
		"--quantity-col", "qty", "--price-col", "price", "--horizon-days", "120", "--models", "bgnbd,ziln", "--max-epochs", "1"}
	out, _, err := runBacktestCLI(t, append(args, "--snapshot-step-days", "14", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Split struct {
			TrainingSnapshots []struct {
				Cutoff         string `json:"cutoff"`
				TrainCustomers int    `json:"train_customers"`
			} `json:"training_snapshots"`
		} `json:"split"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	// Cutoff 2023-08-28 − 120 days = 2023-04-30, then every 14 days back
	// while 28 days after the first order (2023-01-01): 6 of the default 6.
	got := res.Split.TrainingSnapshots
	if len(got) != 6 || got[0].Cutoff != "2023-04-30" || got[1].Cutoff != "2023-04-16" || got[0].TrainCustomers == 0 {
		t.Fatalf("training snapshots %+v", got)
	}
	out, _, err = runBacktestCLI(t, append(args, "--snapshots", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "also learn from 2 earlier snapshots of the training customers: 2023-04-30 (") {
		t.Errorf("table does not name the snapshots:\n%s", out)
	}
	out, _, err = runBacktestCLI(t, append(args, "--snapshots", "0", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "training_snapshots") {
		t.Errorf("--snapshots 0 still used snapshots:\n%s", out)
	}
}

func TestBacktestCLIErrors(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	demo := backtestDemo(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no input", nil, "backtest: --input FILE is required"},
		{"bad cutoff", []string{"--input", demo, "--cutoff", "30/09/1997"}, `--cutoff "30/09/1997" is not a date YYYY-MM-DD`},
		{"bad model", []string{"--input", demo, "--models", "naive,forest"}, `unknown model kind "forest"`},
		{"bad format", []string{"--input", demo, "--format", "xlsx"}, "unknown format"},
		{"bad fraction", []string{"--input", demo, "--test-fraction", "1"}, "--test-fraction 1: want a share in (0,1)"},
		{"bad horizon", []string{"--input", demo, "--horizon-days", "0"}, "--horizon-days 0"},
		{"cols without csv", []string{"--input", demo, "--format", "cdnow", "--amount-col", "x"}, "need --format csv"},
		{"quantity without price", []string{"--input", demo, "--quantity-col", "q"}, "--quantity-col and --price-col go together"},
		{"missing file", []string{"--input", filepath.Join(t.TempDir(), "none.csv")}, "none.csv"},
		{"args", []string{"extra"}, "unknown command"},
		{"negative snapshots", []string{"--input", demo, "--snapshots", "-1"}, "--snapshots -1: want a number in [0, 52]"},
		{"too many snapshots", []string{"--input", demo, "--snapshots", "53"}, "--snapshots 53"},
		{"zero snapshot step", []string{"--input", demo, "--snapshot-step-days", "0"}, "--snapshot-step-days 0: want a number of days ≥ 1"},
		{"zero repeats", []string{"--input", demo, "--repeats", "0"}, "--repeats 0: want a number of splits in [1, 1000]"},
		{"zero resamples", []string{"--input", demo, "--resamples", "0"}, "--resamples 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runBacktestCLI(t, tc.args...)
			if err == nil {
				t.Fatalf("no error; stdout:\n%s", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
			if out != "" {
				t.Errorf("stdout not empty on error: %q", out)
			}
		})
	}
}

// TestBacktestCLIRepeats: --repeats K reports progress on stderr, the JSON
// keeps the single-split fields and adds repeats and summary, and the table
// shows mean ± sd, the interval and the paired comparisons.
func TestBacktestCLIRepeats(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	path := writeOrdersCSV(t)
	args := []string{"--input", path, "--format", "csv", "--customer-col", "user", "--time-col", "ts",
		"--quantity-col", "qty", "--price-col", "price", "--horizon-days", "120", "--models", "naive,bgnbd", "--repeats", "3", "--resamples", "100"}
	out, errOut, err := runBacktestCLI(t, append(args, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"split 1/3 done (seed ", "split 3/3 done"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	var res struct {
		Split   struct{ Seed uint64 }
		Models  map[string]json.RawMessage
		Repeats []struct{ Seed uint64 }
		Summary struct {
			Seeds       []uint64
			Comparisons []struct {
				A, B           string
				NormalizedGini struct {
					WinsA     int `json:"wins_a"`
					WinsB     int `json:"wins_b"`
					Ties      int
					Bootstrap struct{ Resamples int }
				} `json:"normalized_gini"`
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	c := res.Summary.Comparisons
	if res.Split.Seed != 42 || len(res.Models) != 2 || len(res.Repeats) != 3 || res.Repeats[2].Seed != 44 || len(c) != 1 ||
		c[0].A != "bgnbd" || c[0].NormalizedGini.WinsA+c[0].NormalizedGini.WinsB+c[0].NormalizedGini.Ties != 3 || c[0].NormalizedGini.Bootstrap.Resamples != 100 {
		t.Errorf("JSON %+v", res)
	}
	table, _, err := runBacktestCLI(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"3 splits, seeds 42..44", "mean ± sd", "95% t-interval of the mean", "paired comparisons", "bgnbd − naive", "decile MAPE", "metrics on the test customers of 3 splits"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}
