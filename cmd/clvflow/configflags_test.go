package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/config"
	"github.com/spf13/cobra"
)

// flagMergeCase is one command line over one configuration and the value
// it makes: a field of the workflow input (train), of the backtest options
// (backtest) or of the effective config's serving section (serve).
type flagMergeCase struct {
	name  string
	cmd   string            // train, backtest or serve
	env   map[string]string // CLVFLOW_* variables
	yaml  string            // clvflow.yaml, when set
	args  []string
	field string // field name in what cmd makes
	want  any
	err   string // the error, instead of want
}

func TestConfigFlagsOverConfig(t *testing.T) {
	tests := []flagMergeCase{
		// flag not given → config value (built-in, environment or file)
		{name: "horizon built-in", cmd: "train", field: "HorizonDays", want: 90},
		{name: "horizon from env", cmd: "train", env: map[string]string{"CLVFLOW_TRAINING_HORIZON_DAYS": "30"}, field: "HorizonDays", want: 30},
		{name: "horizon from file", cmd: "train", yaml: "training:\n  horizon_days: 45\n", field: "HorizonDays", want: 45},
		{name: "snapshots built-in", cmd: "train", field: "Snapshots", want: 6},
		{name: "shard rows built-in", cmd: "train", field: "ShardRows", want: int64(20_000_000)},
		{name: "shard rows from env", cmd: "train", env: map[string]string{"CLVFLOW_FEATURIZE_SHARD_ROWS": "20000"}, field: "ShardRows", want: int64(20000)},
		{name: "max shards from file", cmd: "train", yaml: "featurize:\n  max_shards: 4\n", field: "MaxShards", want: 4},
		{name: "seed built-in", cmd: "backtest", field: "Seed", want: uint64(42)},
		{name: "models from env", cmd: "backtest", env: map[string]string{"CLVFLOW_TRAINING_MODELS": "naive,bgnbd"}, field: "Models", want: []string{"naive", "bgnbd"}},
		{name: "listen from env", cmd: "serve", env: map[string]string{"CLVFLOW_SERVING_LISTEN": "127.0.0.1:9999"}, field: "Listen", want: "127.0.0.1:9999"},
		{name: "drop reversed built-in", cmd: "backtest", field: "DropReversed", want: true},
		// flag given → flag value, over env and file
		{name: "horizon flag", cmd: "train", args: []string{"--horizon-days", "120"}, field: "HorizonDays", want: 120},
		{name: "horizon flag over env", cmd: "train", env: map[string]string{"CLVFLOW_TRAINING_HORIZON_DAYS": "30"}, args: []string{"--horizon-days", "120"}, field: "HorizonDays", want: 120},
		{name: "horizon flag over file", cmd: "backtest", yaml: "training:\n  horizon_days: 45\n", args: []string{"--horizon-days", "273"}, field: "HorizonDays", want: 273},
		{name: "seed flag", cmd: "train", args: []string{"--seed", "7"}, field: "Seed", want: uint64(7)},
		{name: "test fraction flag", cmd: "backtest", args: []string{"--test-fraction", "0.25"}, field: "TestFraction", want: 0.25},
		{name: "models flag over env", cmd: "train", env: map[string]string{"CLVFLOW_TRAINING_MODELS": "naive,bgnbd,seq"}, args: []string{"--models", "bgnbd,ziln"}, field: "Models", want: []string{"bgnbd", "ziln"}},
		{name: "seq weeks flag", cmd: "train", args: []string{"--seq-weeks", "26"}, field: "SeqWeeks", want: 26},
		{name: "snapshot step flag", cmd: "backtest", args: []string{"--snapshot-step-days", "14"}, field: "SnapshotStepDays", want: 14},
		{name: "listen flag over env", cmd: "serve", env: map[string]string{"CLVFLOW_SERVING_LISTEN": "127.0.0.1:9999"}, args: []string{"--listen", "127.0.0.1:7000"}, field: "Listen", want: "127.0.0.1:7000"},
		{name: "keep reversed", cmd: "backtest", args: []string{"--keep-reversed-orders"}, field: "DropReversed", want: false},
		{name: "keep reversed false over env", cmd: "backtest", env: map[string]string{"CLVFLOW_TRAINING_DROP_REVERSED_ORDERS": "false"}, args: []string{"--keep-reversed-orders=false"}, field: "DropReversed", want: true},
		// flag given as 0 → 0, not the config value
		{name: "snapshots 0", cmd: "train", args: []string{"--snapshots", "0"}, field: "Snapshots", want: 0},
		{name: "snapshots 0 over env", cmd: "backtest", env: map[string]string{"CLVFLOW_TRAINING_SNAPSHOTS": "3"}, args: []string{"--snapshots", "0"}, field: "Snapshots", want: 0},
		{name: "snapshots from env", cmd: "backtest", env: map[string]string{"CLVFLOW_TRAINING_SNAPSHOTS": "3"}, field: "Snapshots", want: 3},
		{name: "seq weeks 0", cmd: "backtest", env: map[string]string{"CLVFLOW_TRAINING_SEQ_WEEKS": "26"}, args: []string{"--seq-weeks", "0"}, field: "SeqWeeks", want: 0},
		{name: "max rejected 0 tolerates none", cmd: "backtest", args: []string{"--max-rejected-fraction", "0"}, field: "MaxRejectedFraction", want: -1.0},
		{name: "max rejected built-in", cmd: "backtest", field: "MaxRejectedFraction", want: 0.5},
		// a given value the flag refuses is an error naming the flag, also
		// where 0 or -1 used to mean "not given"
		{name: "horizon 0", cmd: "train", args: []string{"--horizon-days", "0"}, err: "--horizon-days 0: want a number of days > 0"},
		{name: "seed 0", cmd: "train", args: []string{"--seed", "0"}, err: "--seed 0: 0 is reserved for the default seed"},
		{name: "snapshots -1", cmd: "train", args: []string{"--snapshots", "-1"}, err: "--snapshots -1: want a number in [0, 52]"},
		{name: "test fraction 1", cmd: "backtest", args: []string{"--test-fraction", "1"}, err: "--test-fraction 1: want a share in (0,1)"},
		{name: "max rejected 2", cmd: "backtest", args: []string{"--max-rejected-fraction", "2"}, err: "--max-rejected-fraction 2: want a share in [0,1]"},
		{name: "snapshot step 0", cmd: "backtest", args: []string{"--snapshot-step-days", "0"}, err: "--snapshot-step-days 0: want a number of days ≥ 1"},
		{name: "listen empty", cmd: "serve", args: []string{"--listen", ""}, err: `--listen "": want host:port`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := effectiveValue(t, tc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want error %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %#v, want %#v", tc.field, got, tc.want)
			}
		})
	}
}

// effectiveValue parses tc.args with tc.cmd's flags, loads the config of
// tc.env and tc.yaml and returns tc.field of what the command makes of both.
func effectiveValue(t *testing.T, tc flagMergeCase) (any, error) {
	t.Helper()
	file := ""
	if tc.yaml != "" {
		file = filepath.Join(t.TempDir(), "clvflow.yaml")
		if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(config.LoadOptions{File: file, Getenv: func(k string) string { return tc.env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	c := &cobra.Command{Use: tc.cmd}
	var made any
	switch tc.cmd {
	case "train":
		var f trainFlags
		f.register(c)
		parseFlags(t, c, tc.args)
		made, err = f.pipelineInput(c.Flags(), cfg, false)
	case "backtest":
		var f backtestFlags
		f.register(c)
		parseFlags(t, c, append([]string{"--input", "orders.csv"}, tc.args...))
		made, err = f.options(c.Flags(), func() (config.Config, error) { return cfg, nil })
	case "serve":
		var f serveFlags
		f.register(c)
		parseFlags(t, c, tc.args)
		err = f.config.apply(c.Flags(), &cfg)
		made = cfg.Serving
	default:
		t.Fatalf("unknown command %q", tc.cmd)
	}
	if err != nil {
		return nil, err
	}
	v := reflect.ValueOf(made).FieldByName(tc.field)
	if !v.IsValid() {
		t.Fatalf("%T has no field %s", made, tc.field)
	}
	return v.Interface(), nil
}

func parseFlags(t *testing.T, c *cobra.Command, args []string) {
	t.Helper()
	if err := c.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
}

// Every config flag names its key, and every key is a config key.
func TestConfigFlagsNameKnownKeys(t *testing.T) {
	known := map[string]bool{}
	for _, k := range config.Keys() {
		known[k] = true
	}
	var all configFlags
	var tf trainFlags
	tf.register(&cobra.Command{})
	var bf backtestFlags
	bf.register(&cobra.Command{})
	var sf serveFlags
	sf.register(&cobra.Command{})
	all = append(append(append(all, tf.config...), bf.config...), sf.config...)
	for _, f := range rootConfigFlags {
		all = append(all, configFlag{name: f.name, key: f.key})
	}
	for _, f := range all {
		if !known[f.key] {
			t.Errorf("--%s overrides %q, which is no config key", f.name, f.key)
		}
	}
	if len(tf.config) != 6 || len(bf.config) != 9 || len(sf.config) != 1 {
		t.Errorf("config flags: train %d, backtest %d, serve %d; want 6, 9, 1", len(tf.config), len(bf.config), len(sf.config))
	}
}

// The global flags beat environment and file, through config.Load.
func TestRootConfigFlagsOverEnv(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	t.Setenv("CLVFLOW_TEMPORAL_NAMESPACE", "from-env")
	t.Setenv("CLVFLOW_STORAGE_ENDPOINT", "127.0.0.1:9100")
	var out strings.Builder
	root := newRootCmd(&out, &out)
	root.SetArgs([]string{"--temporal-namespace", "from-flag", "config", "show"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"namespace: from-flag", "endpoint: 127.0.0.1:9100", "address: 127.0.0.1:7233"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("config show lacks %q:\n%s", want, out.String())
		}
	}
}
