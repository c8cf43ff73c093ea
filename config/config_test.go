package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsValidate(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults must validate: %v", err)
	}
}

func TestPrecedenceFileEnvFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clvflow.yaml")
	if err := os.WriteFile(file, []byte("temporal:\n  namespace: fromfile\n  tls:\n    server_name: tfile\nstorage:\n  endpoint: minio.example:9000\napprovals:\n  allowed_signers: /etc/clvflow/allowed_signers\n  timeout: 2h\ningest:\n  allowed_dirs: [/data/a, /data/b]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("temporal-address", "", "")
	if err := fs.Parse([]string{"--temporal-address", "flaghost:7000"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(LoadOptions{File: file, Flags: fs, FlagKeys: map[string]string{"temporal-address": "temporal.address"},
		Getenv: envMap(map[string]string{"CLVFLOW_STORAGE_ENDPOINT": "envhost:9001", "CLVFLOW_TEMPORAL_ADDRESS": "envhost:7233", "CLVFLOW_GATE_MAX_DECILE_MAPE": "0.3"})})
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"file", cfg.Temporal.Namespace, "fromfile"},
		{"nested file", cfg.Temporal.TLS.ServerName, "tfile"},
		{"env beats file", cfg.Storage.Endpoint, "envhost:9001"},
		{"flag beats env", cfg.Temporal.Address, "flaghost:7000"},
		{"default kept", cfg.Temporal.TaskQueue, "clvflow-cpu"},
		{"list", strings.Join(cfg.Ingest.AllowedDirs, ","), "/data/a,/data/b"},
		{"path", cfg.Approvals.AllowedSigners, "/etc/clvflow/allowed_signers"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q want %q", c.name, c.got, c.want)
		}
	}
	if cfg.Approvals.Timeout != 2*time.Hour {
		t.Errorf("timeout %s", cfg.Approvals.Timeout)
	}
	if cfg.Gate.MaxDecileMAPE != 0.3 {
		t.Errorf("env float: %g", cfg.Gate.MaxDecileMAPE)
	}
}

func TestEnvList(t *testing.T) {
	cfg, err := Load(LoadOptions{Getenv: envMap(map[string]string{"CLVFLOW_INGEST_ALLOWED_DIRS": "/ann, /ben", "CLVFLOW_CONFIG": ""})})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Ingest.AllowedDirs, "|") != "/ann|/ben" {
		t.Fatalf("allowed dirs %q", cfg.Ingest.AllowedDirs)
	}
}

func TestErrorsNameKeyAndEnv(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"CLVFLOW_TEMPORAL_ADDRESS": "nocolon"}, "temporal.address (env CLVFLOW_TEMPORAL_ADDRESS)"},
		{map[string]string{"CLVFLOW_STORAGE_DATASETS_BUCKET": "Bad_Bucket"}, "storage.datasets_bucket"},
		{map[string]string{"CLVFLOW_TRAINING_TEST_FRACTION": "1.5"}, "training.test_fraction"},
		{map[string]string{"CLVFLOW_TRAINING_MODELS": "naive,xgboost"}, `unknown model "xgboost"`},
		{map[string]string{"CLVFLOW_APPROVALS_TIMEOUT": "-1h"}, "approvals.timeout"},
		{map[string]string{"CLVFLOW_TEMPORAL_ACTIVITY_RETRY_BUDGET": "0s"}, "temporal.activity_retry_budget"},
		{map[string]string{"CLVFLOW_SERVING_RELOAD_TIMEOUT": "-1s"}, "serving.reload_timeout (env CLVFLOW_SERVING_RELOAD_TIMEOUT)"},
		{map[string]string{"CLVFLOW_STORAGE_TEMP_MAX_AGE": "0s"}, "storage.temp_max_age (env CLVFLOW_STORAGE_TEMP_MAX_AGE)"},
	}
	for _, c := range cases {
		_, err := Load(LoadOptions{Getenv: envMap(c.env)})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("env %v: error %v, want it to mention %q", c.env, err, c.want)
		}
		if err != nil && strings.Contains(c.want, "(env") && !errors.Is(err, ErrInvalid) {
			t.Errorf("want ErrInvalid, got %v", err)
		}
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("temporal:\n  adress: x:1\n"), 0o600)
	badYAML := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badYAML, []byte("temporal: [\n"), 0o600)
	for file, want := range map[string]string{
		typo:                            "unknown key(s) temporal.adress",
		badYAML:                         "not valid YAML",
		filepath.Join(dir, "none.yaml"): "does not exist",
	} {
		_, err := Load(LoadOptions{File: file, Getenv: envMap(nil)})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v want %q", file, err, want)
		}
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Storage.SecretKey = "supersecretvalue"
	c.Serving.AuthToken = "tok3n"
	out, err := c.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "supersecretvalue") || strings.Contains(s, "tok3n") {
		t.Fatalf("secret leaked:\n%s", s)
	}
	if !strings.Contains(s, "<redacted>") || !strings.Contains(s, "access_key: <unset>") {
		t.Fatalf("markers missing:\n%s", s)
	}
	if c.Storage.SecretKey != "supersecretvalue" {
		t.Fatal("Redacted must not modify the receiver")
	}
}

func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "cred")
	os.WriteFile(f, []byte("ACCESS_KEY=ak\nSECRET_KEY=sk=with=eq\n"), 0o600)
	c := Default()
	c.Storage.CredentialsFile = f
	if err := c.LoadCredentials(); err != nil {
		t.Fatal(err)
	}
	if c.Storage.AccessKey != "ak" || c.Storage.SecretKey != "sk=with=eq" {
		t.Fatalf("got %q %q", c.Storage.AccessKey, c.Storage.SecretKey)
	}
	c2 := Default()
	c2.Storage.CredentialsFile = filepath.Join(dir, "missing")
	if err := c2.LoadCredentials(); err == nil || !strings.Contains(err.Error(), "clvflow dev up") {
		t.Fatalf("want actionable error, got %v", err)
	}
}

func TestKeysAndEnvNames(t *testing.T) {
	keys := strings.Join(Keys(), " ")
	for _, k := range []string{"temporal.tls.ca_file", "storage.secret_key", "onnx.library_path", "approvals.allowed_signers", "policy.file", "serving.listen"} {
		if !strings.Contains(keys, k) {
			t.Errorf("missing key %s", k)
		}
	}
	if EnvName("temporal.tls.ca_file") != "CLVFLOW_TEMPORAL_TLS_CA_FILE" {
		t.Fatal(EnvName("temporal.tls.ca_file"))
	}
}

func TestIngestMaxUncompressedBytes(t *testing.T) {
	const key, env = "ingest.max_uncompressed_bytes", "CLVFLOW_INGEST_MAX_UNCOMPRESSED_BYTES"
	if !slices.Contains(Keys(), key) {
		t.Fatalf("Keys() (what `clvflow config keys` lists) lacks %s", key)
	}
	if EnvName(key) != env {
		t.Fatalf("EnvName(%s) = %s", key, EnvName(key))
	}
	cfg, err := Load(LoadOptions{Getenv: envMap(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.MaxUncompressedBytes != 16<<30 {
		t.Errorf("default %d, want 16 GiB", cfg.Ingest.MaxUncompressedBytes)
	}
	cfg, err = Load(LoadOptions{Getenv: envMap(map[string]string{env: "1048576"})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.MaxUncompressedBytes != 1<<20 {
		t.Errorf("%s=1048576 gave %d", env, cfg.Ingest.MaxUncompressedBytes)
	}
	file := filepath.Join(t.TempDir(), "clvflow.yaml")
	if err := os.WriteFile(file, []byte("ingest:\n  max_uncompressed_bytes: 68719476736\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(LoadOptions{File: file, Getenv: envMap(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.MaxUncompressedBytes != 64<<30 {
		t.Errorf("file value 64 GiB gave %d", cfg.Ingest.MaxUncompressedBytes)
	}
	for _, v := range []string{"0", "-1"} {
		_, err := Load(LoadOptions{Getenv: envMap(map[string]string{env: v})})
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), key+" (env "+env+"): must be a positive number of bytes") {
			t.Errorf("%s=%s: error %v, want ErrInvalid naming %s and its env variable", env, v, err, key)
		}
	}
	if _, err := Load(LoadOptions{Getenv: envMap(map[string]string{env: "16GiB"})}); err == nil || !strings.Contains(err.Error(), "max_uncompressed_bytes") {
		t.Errorf("%s=16GiB: error %v, want one naming the key", env, err)
	}
}

// TestServeConfigKeys: the serving outage keys have their documented
// defaults, load from the environment, and a zero reload timeout is refused.
func TestServeConfigKeys(t *testing.T) {
	d := Default()
	if d.Serving.ReloadTimeout != 30*time.Second || d.Serving.CacheDir != "" {
		t.Fatalf("defaults: reload_timeout %v, cache_dir %q; want 30s and empty (<dev.state_dir>/serve-cache)", d.Serving.ReloadTimeout, d.Serving.CacheDir)
	}
	cfg, err := Load(LoadOptions{Getenv: envMap(map[string]string{"CLVFLOW_SERVING_RELOAD_TIMEOUT": "2s", "CLVFLOW_SERVING_CACHE_DIR": "/var/cache/clvflow"})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Serving.ReloadTimeout != 2*time.Second || cfg.Serving.CacheDir != "/var/cache/clvflow" {
		t.Fatalf("from env: reload_timeout %v, cache_dir %q", cfg.Serving.ReloadTimeout, cfg.Serving.CacheDir)
	}
	c := Default()
	c.Serving.ReloadTimeout = 0
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "serving.reload_timeout") {
		t.Fatalf("Validate with reload_timeout 0 = %v", err)
	}
}

// TestServeHardeningConfigKeys: the serving timeouts, in-flight limit, TLS
// and insecure keys have their defaults, load from the environment, and bad
// values are refused naming the key.
func TestServeHardeningConfigKeys(t *testing.T) {
	d := Default().Serving
	if d.ReadHeaderTimeout != 5*time.Second || d.ReadTimeout != 30*time.Second || d.WriteTimeout != 30*time.Second || d.IdleTimeout != 2*time.Minute ||
		d.MaxInFlight != 64 || d.Insecure || d.TLSCertFile != "" || d.TLSKeyFile != "" {
		t.Fatalf("serving defaults %+v", d)
	}
	cfg, err := Load(LoadOptions{Getenv: envMap(map[string]string{
		"CLVFLOW_SERVING_READ_HEADER_TIMEOUT": "1s", "CLVFLOW_SERVING_READ_TIMEOUT": "2s", "CLVFLOW_SERVING_WRITE_TIMEOUT": "3s",
		"CLVFLOW_SERVING_IDLE_TIMEOUT": "4s", "CLVFLOW_SERVING_MAX_IN_FLIGHT": "7", "CLVFLOW_SERVING_INSECURE": "true",
		"CLVFLOW_SERVING_TLS_CERT_FILE": "/etc/tls/tls.crt", "CLVFLOW_SERVING_TLS_KEY_FILE": "/etc/tls/tls.key",
	})})
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Serving
	if s.ReadHeaderTimeout != time.Second || s.ReadTimeout != 2*time.Second || s.WriteTimeout != 3*time.Second || s.IdleTimeout != 4*time.Second ||
		s.MaxInFlight != 7 || !s.Insecure || s.TLSCertFile != "/etc/tls/tls.crt" || s.TLSKeyFile != "/etc/tls/tls.key" {
		t.Fatalf("from env: %+v", s)
	}
	for key, mutate := range map[string]func(*Serving){
		"serving.read_header_timeout": func(s *Serving) { s.ReadHeaderTimeout = 0 },
		"serving.read_timeout":        func(s *Serving) { s.ReadTimeout = -time.Second },
		"serving.write_timeout":       func(s *Serving) { s.WriteTimeout = 0 },
		"serving.idle_timeout":        func(s *Serving) { s.IdleTimeout = 0 },
		"serving.max_in_flight":       func(s *Serving) { s.MaxInFlight = 0 },
		"serving.tls_cert_file":       func(s *Serving) { s.TLSCertFile = "/etc/tls/tls.crt" },
	} {
		c := Default()
		mutate(&c.Serving)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate with a bad %s = %v", key, err)
		}
	}
}

// TestServingDriftWindow: serving.drift_window defaults to 10000, loads
// from the environment (0 turns drift monitoring off) and refuses < 0.
func TestServingDriftWindow(t *testing.T) {
	if d := Default().Serving.DriftWindow; d != 10000 {
		t.Fatalf("default serving.drift_window %d, want 10000", d)
	}
	for env, want := range map[string]int{"500": 500, "0": 0} {
		cfg, err := Load(LoadOptions{Getenv: envMap(map[string]string{"CLVFLOW_SERVING_DRIFT_WINDOW": env})})
		if err != nil || cfg.Serving.DriftWindow != want {
			t.Fatalf("CLVFLOW_SERVING_DRIFT_WINDOW=%s: %d, %v; want %d", env, cfg.Serving.DriftWindow, err, want)
		}
	}
	c := Default()
	c.Serving.DriftWindow = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "serving.drift_window") {
		t.Fatalf("Validate with serving.drift_window -1 = %v", err)
	}
}

func TestStorageTempMaxAge(t *testing.T) {
	if d := Default().Storage.TempMaxAge; d != time.Hour {
		t.Fatalf("default storage.temp_max_age %v, want 1h", d)
	}
	if !slices.Contains(Keys(), "storage.temp_max_age") {
		t.Fatal("storage.temp_max_age is not a config key")
	}
	cfg, err := Load(LoadOptions{Getenv: envMap(map[string]string{"CLVFLOW_STORAGE_TEMP_MAX_AGE": "90m"})})
	if err != nil || cfg.Storage.TempMaxAge != 90*time.Minute {
		t.Fatalf("from env: %v, %v; want 1h30m", cfg.Storage.TempMaxAge, err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "clvflow.yaml")
	if err := os.WriteFile(file, []byte("storage:\n  temp_max_age: 3h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(LoadOptions{File: file, Getenv: envMap(nil)})
	if err != nil || cfg.Storage.TempMaxAge != 3*time.Hour {
		t.Fatalf("from file: %v, %v; want 3h", cfg.Storage.TempMaxAge, err)
	}
	for _, bad := range []time.Duration{0, -time.Minute} {
		c := Default()
		c.Storage.TempMaxAge = bad
		if err := c.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "storage.temp_max_age") {
			t.Errorf("Validate with temp_max_age %v = %v", bad, err)
		}
	}
}

func TestPayloadEncryptionKeys(t *testing.T) {
	for key, env := range map[string]string{
		"temporal.payload_key_file": "CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE",
		"codec.listen":              "CLVFLOW_CODEC_LISTEN",
		"codec.origin":              "CLVFLOW_CODEC_ORIGIN",
		"codec.auth_token":          "CLVFLOW_CODEC_AUTH_TOKEN",
	} {
		if !slices.Contains(Keys(), key) {
			t.Errorf("Keys() lacks %s", key)
		}
		if EnvName(key) != env {
			t.Errorf("EnvName(%s) = %s", key, EnvName(key))
		}
	}
	def := Default()
	if def.Temporal.PayloadKeyFile != "" || def.Codec.Listen != "127.0.0.1:8081" {
		t.Fatalf("defaults: payload_key_file %q (want empty: no encryption), codec.listen %q", def.Temporal.PayloadKeyFile, def.Codec.Listen)
	}
	cfg, err := Load(LoadOptions{Getenv: envMap(map[string]string{
		"CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE": "/etc/clvflow/payload-keys",
		"CLVFLOW_CODEC_AUTH_TOKEN":          "codec-tok3n",
	})})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Temporal.PayloadKeyFile != "/etc/clvflow/payload-keys" || cfg.Codec.AuthToken != "codec-tok3n" {
		t.Fatalf("from env: %+v %+v", cfg.Temporal, cfg.Codec)
	}
	b, err := cfg.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "codec-tok3n") {
		t.Fatal("codec.auth_token is not redacted")
	}
	cfg.Codec.Listen = "nope"
	if err := cfg.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "codec.listen") {
		t.Fatalf("Validate with codec.listen %q = %v", cfg.Codec.Listen, err)
	}
}

// TestIngestAllowedDirs: by default a worker reads no local paths; the
// list loads from the environment (comma-separated) and from a file, and
// a relative directory is refused.
func TestIngestAllowedDirs(t *testing.T) {
	const key, env = "ingest.allowed_dirs", "CLVFLOW_INGEST_ALLOWED_DIRS"
	if !slices.Contains(Keys(), key) || EnvName(key) != env {
		t.Fatalf("Keys() lacks %s or EnvName is %s", key, EnvName(key))
	}
	cfg, err := Load(LoadOptions{Getenv: envMap(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Ingest.AllowedDirs) != 0 {
		t.Errorf("default %v, want none", cfg.Ingest.AllowedDirs)
	}
	cfg, err = Load(LoadOptions{Getenv: envMap(map[string]string{env: "/data/in, /srv/logs"})})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Ingest.AllowedDirs, []string{"/data/in", "/srv/logs"}) {
		t.Errorf("%s gave %v", env, cfg.Ingest.AllowedDirs)
	}
	file := filepath.Join(t.TempDir(), "clvflow.yaml")
	if err := os.WriteFile(file, []byte("ingest:\n  allowed_dirs: [/data/in]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(LoadOptions{File: file, Getenv: envMap(nil)})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Ingest.AllowedDirs, []string{"/data/in"}) {
		t.Errorf("file gave %v", cfg.Ingest.AllowedDirs)
	}
	_, err = Load(LoadOptions{Getenv: envMap(map[string]string{env: "data"})})
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "absolute") {
		t.Errorf("relative dir: error %v, want ErrInvalid naming %s", err, key)
	}
}

func TestWorkerKeys(t *testing.T) {
	d := Default().Worker
	if d.MaxHeavyActivities != 2 || d.FeatureCacheBytes != 256<<20 {
		t.Fatalf("defaults worker.max_heavy_activities %d, worker.feature_cache_bytes %d; want 2, 256 MiB", d.MaxHeavyActivities, d.FeatureCacheBytes)
	}
	for _, k := range []string{"worker.max_heavy_activities", "worker.feature_cache_bytes"} {
		if !slices.Contains(Keys(), k) {
			t.Errorf("Keys() lacks %s", k)
		}
	}
	cfg, err := Load(LoadOptions{Getenv: envMap(map[string]string{"CLVFLOW_WORKER_MAX_HEAVY_ACTIVITIES": "0", "CLVFLOW_WORKER_FEATURE_CACHE_BYTES": "1048576"})})
	if err != nil || cfg.Worker.MaxHeavyActivities != 0 || cfg.Worker.FeatureCacheBytes != 1<<20 {
		t.Fatalf("from env: %+v, %v; want 0 (no bound) and 1 MiB", cfg.Worker, err)
	}
	file := filepath.Join(t.TempDir(), "clvflow.yaml")
	if err := os.WriteFile(file, []byte("worker:\n  max_heavy_activities: 5\n  feature_cache_bytes: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(LoadOptions{File: file, Getenv: envMap(nil)})
	if err != nil || cfg.Worker.MaxHeavyActivities != 5 || cfg.Worker.FeatureCacheBytes != 0 {
		t.Fatalf("from file: %+v, %v; want 5 and 0", cfg.Worker, err)
	}
	for key, env := range map[string]string{"worker.max_heavy_activities": "CLVFLOW_WORKER_MAX_HEAVY_ACTIVITIES", "worker.feature_cache_bytes": "CLVFLOW_WORKER_FEATURE_CACHE_BYTES"} {
		_, err := Load(LoadOptions{Getenv: envMap(map[string]string{env: "-1"})})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), key+" (env "+env+"): must be ≥ 0") {
			t.Errorf("%s=-1: %v, want ErrInvalid naming %s", env, err, key)
		}
	}
}

func TestFeaturizeShardKeys(t *testing.T) {
	if f := Default().Featurize; f.ShardRows != 20_000_000 || f.MaxShards != 16 {
		t.Fatalf("default featurize %+v, want shard_rows 20000000, max_shards 16", f)
	}
	cfg, err := Load(LoadOptions{Getenv: envMap(map[string]string{"CLVFLOW_FEATURIZE_SHARD_ROWS": "5000", "CLVFLOW_FEATURIZE_MAX_SHARDS": "4"})})
	if err != nil || cfg.Featurize.ShardRows != 5000 || cfg.Featurize.MaxShards != 4 {
		t.Fatalf("from env: %+v, %v", cfg.Featurize, err)
	}
	for _, c := range []struct {
		rows int64
		max  int
		want string
	}{
		{-1, 16, "featurize.shard_rows (env CLVFLOW_FEATURIZE_SHARD_ROWS): must be ≥ 0"},
		{0, 0, "featurize.max_shards (env CLVFLOW_FEATURIZE_MAX_SHARDS): must be in [1,256]"},
		{0, 257, "got 257"},
	} {
		cfg := Default()
		cfg.Featurize.ShardRows, cfg.Featurize.MaxShards = c.rows, c.max
		if err := cfg.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Validate with %+v = %v, want %q", cfg.Featurize, err, c.want)
		}
	}
	cfg = Default()
	cfg.Featurize.ShardRows = 0
	if err := cfg.Validate(); err != nil {
		t.Fatalf("shard_rows 0 (never shard): %v", err)
	}
}
