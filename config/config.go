// Package config holds clvflow's configuration: built-in defaults, then a
// YAML file (clvflow.yaml, path by --config or CLVFLOW_CONFIG), then
// CLVFLOW_* environment variables, then command-line flags. The merged result
// is validated once at start-up; every error names the key and the fix.
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/registry"
	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/clvflow/clvflow/modelkind"
)

// EnvPrefix is the prefix of environment variables that set config keys:
// storage.secret_key is CLVFLOW_STORAGE_SECRET_KEY.
const EnvPrefix = "CLVFLOW"

// Config is the whole effective configuration.
type Config struct {
	Temporal   Temporal   `mapstructure:"temporal" yaml:"temporal" json:"temporal"`
	Storage    Storage    `mapstructure:"storage" yaml:"storage" json:"storage"`
	ONNX       ONNX       `mapstructure:"onnx" yaml:"onnx" json:"onnx"`
	Approvals  Approvals  `mapstructure:"approvals" yaml:"approvals" json:"approvals"`
	Gate       Gate       `mapstructure:"gate" yaml:"gate" json:"gate"`
	Ingest     Ingest     `mapstructure:"ingest" yaml:"ingest" json:"ingest"`
	Training   Training   `mapstructure:"training" yaml:"training" json:"training"`
	Featurize  Featurize  `mapstructure:"featurize" yaml:"featurize" json:"featurize"`
	Serving    Serving    `mapstructure:"serving" yaml:"serving" json:"serving"`
	Dev        Dev        `mapstructure:"dev" yaml:"dev" json:"dev"`
	Codec      Codec      `mapstructure:"codec" yaml:"codec" json:"codec"`
	Policy     Policy     `mapstructure:"policy" yaml:"policy" json:"policy"`
	Provenance Provenance `mapstructure:"provenance" yaml:"provenance" json:"provenance"`
	Scoring    Scoring    `mapstructure:"scoring" yaml:"scoring" json:"scoring"`
	Drift      Drift      `mapstructure:"drift" yaml:"drift" json:"drift"`
	Worker     Worker     `mapstructure:"worker" yaml:"worker" json:"worker"`
}

// Worker configures how much one worker process does at once, so that its
// memory follows the data, not the number of activities it is handed.
type Worker struct {
	// MaxHeavyActivities bounds the heavy activities (Featurize,
	// FeaturizeShard, TrainModel, Evaluate, ExportONNX, ScoreShard) running
	// at once in one worker process: the slots of its heavy task queue
	// (others wait in Temporal for any worker) and of an in-process limiter
	// (for those on the main queue). 0: no bound.
	MaxHeavyActivities int `mapstructure:"max_heavy_activities" yaml:"max_heavy_activities" json:"max_heavy_activities"`
	// FeatureCacheBytes is how much memory (estimated) of loaded feature
	// sets that no running activity uses a worker keeps for the next one
	// (a run's Evaluate and ExportONNX after its training); 0: a set is
	// dropped when its last user is done. Sets in use are always shared.
	FeatureCacheBytes int64 `mapstructure:"feature_cache_bytes" yaml:"feature_cache_bytes" json:"feature_cache_bytes"`
}

// Scoring configures `clvflow predict` and the BatchScore workflow.
type Scoring struct {
	// Segments are the value tiers: NAME:LASTDECILE,… ending at decile 10.
	Segments string `mapstructure:"segments" yaml:"segments" json:"segments"`
	// DormantBelow: customers whose purchase probability is below it are
	// segment "dormant" (0: no dormant segment).
	DormantBelow float64 `mapstructure:"dormant_below" yaml:"dormant_below" json:"dormant_below"`
	// Shards is how many parallel activities a BatchScore run uses.
	Shards int `mapstructure:"shards" yaml:"shards" json:"shards"`
}

// Drift configures what a BatchScore run does when the scored data moved
// away from the champion's training data.
type Drift struct {
	// PSIThreshold: a model input or the score with a population stability
	// index above it is drift.
	PSIThreshold float64 `mapstructure:"psi_threshold" yaml:"psi_threshold" json:"psi_threshold"`
	// Action is "retrain" (start one TrainingPipeline on the scored data; it
	// still needs the gate and a signed approval) or "alert" (record it).
	Action string `mapstructure:"action" yaml:"action" json:"action"`
}

// Provenance configures signed provenance (package provenance): the worker
// signs with SigningKey; `models verify` and `serve` trust TrustedKeys.
type Provenance struct {
	// SigningKey is the worker's unencrypted OpenSSH ed25519 private key.
	SigningKey string `mapstructure:"signing_key" yaml:"signing_key" json:"signing_key"`
	// TrustedKeys is a file of ed25519 public keys (authorized_keys lines)
	// whose signatures verifiers accept.
	TrustedKeys string `mapstructure:"trusted_keys" yaml:"trusted_keys" json:"trusted_keys"`
}

// Policy points the worker at its promotion policy file (package policy):
// gate thresholds, allowed signers, approval deadline, auto-approval. Empty
// means the worker's own gate and approvals sections are its policy.
type Policy struct {
	File string `mapstructure:"file" yaml:"file" json:"file"`
}

// Temporal says where the Temporal cluster is and which task queues to use.
type Temporal struct {
	Address      string `mapstructure:"address" yaml:"address" json:"address"`
	Namespace    string `mapstructure:"namespace" yaml:"namespace" json:"namespace"`
	TaskQueue    string `mapstructure:"task_queue" yaml:"task_queue" json:"task_queue"`
	GPUTaskQueue string `mapstructure:"gpu_task_queue" yaml:"gpu_task_queue" json:"gpu_task_queue"`
	// TrainOnGPUQueue sends training activities to GPUTaskQueue. Off by
	// default: training then runs on TaskQueue (the CPU path is complete).
	TrainOnGPUQueue bool   `mapstructure:"train_on_gpu_queue" yaml:"train_on_gpu_queue" json:"train_on_gpu_queue"`
	UIURL           string `mapstructure:"ui_url" yaml:"ui_url" json:"ui_url"`
	// ActivityRetryBudget is how long each activity of a run is retried
	// after its first attempt's time: a run waits through infrastructure
	// outages that end within it.
	ActivityRetryBudget time.Duration `mapstructure:"activity_retry_budget" yaml:"activity_retry_budget" json:"activity_retry_budget"`
	TLS                 TLS           `mapstructure:"tls" yaml:"tls" json:"tls"`
	APIKey              string        `mapstructure:"api_key" yaml:"api_key" json:"api_key" secret:"true"`
	// PayloadKeyFile is a key file (lines "KEYID BASE64KEY", the first
	// encrypts, chmod 600; see internal/codec) with which every client and
	// worker encrypts workflow payloads (AES-256-GCM). Empty: no encryption.
	PayloadKeyFile string `mapstructure:"payload_key_file" yaml:"payload_key_file" json:"payload_key_file"`
}

// TLS configures a TLS client connection.
type TLS struct {
	Enabled    bool   `mapstructure:"enabled" yaml:"enabled" json:"enabled"`
	CAFile     string `mapstructure:"ca_file" yaml:"ca_file" json:"ca_file"`
	CertFile   string `mapstructure:"cert_file" yaml:"cert_file" json:"cert_file"`
	KeyFile    string `mapstructure:"key_file" yaml:"key_file" json:"key_file"`
	ServerName string `mapstructure:"server_name" yaml:"server_name" json:"server_name"`
}

// Storage says where the S3-compatible object store (MinIO) is.
type Storage struct {
	Endpoint       string `mapstructure:"endpoint" yaml:"endpoint" json:"endpoint"`
	AccessKey      string `mapstructure:"access_key" yaml:"access_key" json:"access_key" secret:"true"`
	SecretKey      string `mapstructure:"secret_key" yaml:"secret_key" json:"secret_key" secret:"true"`
	Region         string `mapstructure:"region" yaml:"region" json:"region"`
	UseTLS         bool   `mapstructure:"use_tls" yaml:"use_tls" json:"use_tls"`
	CAFile         string `mapstructure:"ca_file" yaml:"ca_file" json:"ca_file"`
	DatasetsBucket string `mapstructure:"datasets_bucket" yaml:"datasets_bucket" json:"datasets_bucket"`
	ModelsBucket   string `mapstructure:"models_bucket" yaml:"models_bucket" json:"models_bucket"`
	RegistryBucket string `mapstructure:"registry_bucket" yaml:"registry_bucket" json:"registry_bucket"`
	// CredentialsFile is a file with ACCESS_KEY/SECRET_KEY lines (written by
	// `clvflow dev up`); used when access_key/secret_key are empty.
	CredentialsFile string `mapstructure:"credentials_file" yaml:"credentials_file" json:"credentials_file"`
	// TempMaxAge is the age after which a temporary upload object (under
	// .clvflow-tmp/) counts as abandoned by a crash: workers remove older
	// ones every TempMaxAge/2 (at least every minute, at most every hour).
	// It must exceed the longest upload.
	TempMaxAge time.Duration `mapstructure:"temp_max_age" yaml:"temp_max_age" json:"temp_max_age"`
}

// ONNX configures the ONNX Runtime library.
type ONNX struct {
	LibraryPath    string `mapstructure:"library_path" yaml:"library_path" json:"library_path"`
	IntraOpThreads int    `mapstructure:"intra_op_threads" yaml:"intra_op_threads" json:"intra_op_threads"`
}

// Approvals configures signed decisions. On a worker without policy.file,
// AllowedSigners, Timeout and AllowAutoApproval are its policy; the CLI
// signs with SigningKey as Approver.
type Approvals struct {
	// AllowedSigners is an OpenSSH allowed-signers file: whose signed
	// decisions the worker accepts (none when empty).
	AllowedSigners    string        `mapstructure:"allowed_signers" yaml:"allowed_signers" json:"allowed_signers"`
	Timeout           time.Duration `mapstructure:"timeout" yaml:"timeout" json:"timeout"`
	AllowAutoApproval bool          `mapstructure:"allow_auto_approval" yaml:"allow_auto_approval" json:"allow_auto_approval"`
	// Approver is the identity `clvflow approve|reject|rollback` signs as
	// (a principal of the allowed-signers file), SigningKey the SSH key it
	// signs with (a private key, or a public key whose private half is in
	// ssh-agent).
	Approver   string `mapstructure:"approver" yaml:"approver" json:"approver"`
	SigningKey string `mapstructure:"signing_key" yaml:"signing_key" json:"signing_key"`
}

// Gate holds the declarative thresholds a challenger must pass; the
// pipeline takes them as they are.
type Gate = registry.GateThresholds

// Ingest is the workers' policy for incoming transaction logs.
type Ingest struct {
	// MaxUncompressedBytes caps a log's size after decompression (its size
	// when plain): a larger file, or a gzip bomb, is refused as bad input
	// and nothing of it is kept.
	MaxUncompressedBytes int64 `mapstructure:"max_uncompressed_bytes" yaml:"max_uncompressed_bytes" json:"max_uncompressed_bytes"`
	// AllowedDirs are the only directories of the worker's file system an
	// ingest may read a path from (absolute; symbolic links are resolved
	// before the check). Empty, the default, means none: workers ingest
	// only objects already in the store, which `clvflow train --input` and
	// `clvflow ingest --input` upload first. List a directory here for a
	// schedule that must re-read a file refreshed in place at each run
	// (`clvflow schedule create --worker-path`).
	AllowedDirs []string `mapstructure:"allowed_dirs" yaml:"allowed_dirs" json:"allowed_dirs"`
}

// Training holds defaults for training runs.
type Training struct {
	Seed         uint64   `mapstructure:"seed" yaml:"seed" json:"seed"`
	HorizonDays  int      `mapstructure:"horizon_days" yaml:"horizon_days" json:"horizon_days"`
	TestFraction float64  `mapstructure:"test_fraction" yaml:"test_fraction" json:"test_fraction"`
	Models       []string `mapstructure:"models" yaml:"models" json:"models"`
	SeqWeeks     int      `mapstructure:"seq_weeks" yaml:"seq_weeks" json:"seq_weeks"`
	// MaxRejectedFraction is the share of input rows validation may reject
	// before the dataset is refused.
	MaxRejectedFraction float64 `mapstructure:"max_rejected_fraction" yaml:"max_rejected_fraction" json:"max_rejected_fraction"`
	// DropReversedOrders removes purchases that a cancellation in the same
	// file reverses exactly (returned orders are not spend; Online Retail).
	DropReversedOrders bool `mapstructure:"drop_reversed_orders" yaml:"drop_reversed_orders" json:"drop_reversed_orders"`
	// Snapshots is the number of earlier training snapshots (cutoffs one
	// horizon and then SnapshotStepDays apart before the cutoff, labels that
	// end by the cutoff) the neural models also learn from; 0 disables them.
	Snapshots        int `mapstructure:"snapshots" yaml:"snapshots" json:"snapshots"`
	SnapshotStepDays int `mapstructure:"snapshot_step_days" yaml:"snapshot_step_days" json:"snapshot_step_days"`
}

// Featurize configures how a training run builds its features.
type Featurize struct {
	// ShardRows: a log with more accepted rows is split by customer into
	// ceil(rows/ShardRows) shards (at most MaxShards) featurized in parallel
	// by any worker and merged; the features are the same bytes as
	// unsharded. 0 never shards.
	ShardRows int64 `mapstructure:"shard_rows" yaml:"shard_rows" json:"shard_rows"`
	MaxShards int   `mapstructure:"max_shards" yaml:"max_shards" json:"max_shards"`
}

// Serving configures `clvflow serve`.
type Serving struct {
	Listen         string        `mapstructure:"listen" yaml:"listen" json:"listen"`
	AuthToken      string        `mapstructure:"auth_token" yaml:"auth_token" json:"auth_token" secret:"true"`
	ModelAlias     string        `mapstructure:"model_alias" yaml:"model_alias" json:"model_alias"`
	ReloadInterval time.Duration `mapstructure:"reload_interval" yaml:"reload_interval" json:"reload_interval"`
	MaxBodyBytes   int64         `mapstructure:"max_body_bytes" yaml:"max_body_bytes" json:"max_body_bytes"`
	// ReloadTimeout bounds one reload of the served model (resolve the
	// alias, fetch, load, warm), so a hung MinIO cannot stall serving.
	ReloadTimeout time.Duration `mapstructure:"reload_timeout" yaml:"reload_timeout" json:"reload_timeout"`
	// CacheDir keeps a verified copy of the last model loaded from the
	// registry, served when MinIO is unreachable at start; empty means
	// <dev.state_dir>/serve-cache.
	CacheDir string `mapstructure:"cache_dir" yaml:"cache_dir" json:"cache_dir"`
	// Insecure lets serve listen on a non-loopback address without an
	// auth_token (it warns); otherwise serve refuses to start.
	Insecure bool `mapstructure:"insecure" yaml:"insecure" json:"insecure"`
	// TLSCertFile and TLSKeyFile (PEM), set together, make serve speak HTTPS.
	TLSCertFile string `mapstructure:"tls_cert_file" yaml:"tls_cert_file" json:"tls_cert_file"`
	TLSKeyFile  string `mapstructure:"tls_key_file" yaml:"tls_key_file" json:"tls_key_file"`
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout bound
	// each connection (slow clients cannot hold the server).
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout" yaml:"read_header_timeout" json:"read_header_timeout"`
	ReadTimeout       time.Duration `mapstructure:"read_timeout" yaml:"read_timeout" json:"read_timeout"`
	WriteTimeout      time.Duration `mapstructure:"write_timeout" yaml:"write_timeout" json:"write_timeout"`
	IdleTimeout       time.Duration `mapstructure:"idle_timeout" yaml:"idle_timeout" json:"idle_timeout"`
	// MaxInFlight is the most /v1/ requests handled at once; more get 503
	// with Retry-After.
	MaxInFlight int `mapstructure:"max_in_flight" yaml:"max_in_flight" json:"max_in_flight"`
	// RequireSigned makes serve load only a champion whose provenance chain
	// verifies against provenance.trusted_keys; a model that does not is
	// refused and the last good one kept.
	RequireSigned bool `mapstructure:"require_signed" yaml:"require_signed" json:"require_signed"`
	// DriftWindow is how many of the latest customers predicted online the
	// drift gauges (PSI against the served version's training data) cover;
	// 0 turns drift monitoring off.
	DriftWindow int `mapstructure:"drift_window" yaml:"drift_window" json:"drift_window"`
}

// Dev configures the local development stack (`clvflow dev up`).
type Dev struct {
	StateDir       string `mapstructure:"state_dir" yaml:"state_dir" json:"state_dir"`
	TemporalPort   int    `mapstructure:"temporal_port" yaml:"temporal_port" json:"temporal_port"`
	TemporalUIPort int    `mapstructure:"temporal_ui_port" yaml:"temporal_ui_port" json:"temporal_ui_port"`
	MinIOPort      int    `mapstructure:"minio_port" yaml:"minio_port" json:"minio_port"`
	ToolsDir       string `mapstructure:"tools_dir" yaml:"tools_dir" json:"tools_dir"`
}

// Codec configures `clvflow codec-server`, the Temporal Web UI's remote
// codec endpoint that decrypts payloads encrypted with
// temporal.payload_key_file.
type Codec struct {
	Listen string `mapstructure:"listen" yaml:"listen" json:"listen"`
	// Origin is the Web UI's origin (scheme://host:port) that may call the
	// endpoint from a browser; empty means temporal.ui_url's.
	Origin string `mapstructure:"origin" yaml:"origin" json:"origin"`
	// AuthToken, when set, is required as "Authorization: Bearer <token>";
	// it must be set to listen on a non-loopback address.
	AuthToken string `mapstructure:"auth_token" yaml:"auth_token" json:"auth_token" secret:"true"`
}

// Default returns the built-in defaults: a local dev stack on 127.0.0.1.
func Default() Config {
	return Config{
		Temporal: Temporal{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "clvflow-cpu", GPUTaskQueue: "clvflow-gpu", UIURL: "http://127.0.0.1:8233", ActivityRetryBudget: time.Hour},
		Storage: Storage{Endpoint: "127.0.0.1:9000", Region: "us-east-1", DatasetsBucket: "clvflow-datasets", ModelsBucket: "clvflow-models",
			RegistryBucket: "clvflow-registry", CredentialsFile: ".clvflow/minio/credentials", TempMaxAge: time.Hour},
		ONNX:      ONNX{IntraOpThreads: 1},
		Approvals: Approvals{Timeout: 72 * time.Hour},
		Ingest:    Ingest{MaxUncompressedBytes: dataset.DefaultMaxUncompressedBytes},
		Gate:      Gate{MinGiniLift: 0.0, MaxChampionRegression: 0.02, MaxDecileMAPE: 1.0, ParityTolerance: 1e-4, MinTestCustomers: 100},
		Training: Training{Seed: 42, HorizonDays: 90, TestFraction: 0.2, Models: modelkind.DefaultNames(), SeqWeeks: 52, MaxRejectedFraction: 0.5, DropReversedOrders: true,
			Snapshots: 6, SnapshotStepDays: 28},
		Featurize: Featurize{ShardRows: 20_000_000, MaxShards: 16},
		Serving: Serving{Listen: "127.0.0.1:8080", ModelAlias: "champion", ReloadInterval: 10 * time.Second, MaxBodyBytes: 4 << 20, ReloadTimeout: 30 * time.Second,
			ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxInFlight: 64,
			DriftWindow: 10000},
		Codec:   Codec{Listen: "127.0.0.1:8081"},
		Scoring: Scoring{Segments: "top:1,high:3,mid:6,low:10", DormantBelow: 0.05, Shards: 4},
		Drift:   Drift{PSIThreshold: 0.1, Action: "retrain"},
		Worker:  Worker{MaxHeavyActivities: 2, FeatureCacheBytes: 256 << 20},
		Dev:     Dev{StateDir: ".clvflow", TemporalPort: 7233, TemporalUIPort: 8233, MinIOPort: 9000, ToolsDir: ".tools"},
	}
}

// Keys returns every config key (section.key) in sorted order.
func Keys() []string {
	var keys []string
	walk(reflect.TypeOf(Config{}), "", func(key string, _ reflect.StructField) { keys = append(keys, key) })
	sort.Strings(keys)
	return keys
}

func walk(t reflect.Type, prefix string, fn func(key string, f reflect.StructField)) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
			walk(f.Type, key, fn)
			continue
		}
		fn(key, f)
	}
}

// EnvName returns the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// LoadOptions say where to read configuration from.
type LoadOptions struct {
	// File is an explicit config file path; empty means $CLVFLOW_CONFIG, then
	// ./clvflow.yaml if it exists.
	File string
	// Flags are command-line flags bound to keys (flag name → key).
	Flags    *pflag.FlagSet
	FlagKeys map[string]string
	// Getenv replaces os.Getenv (tests).
	Getenv func(string) string
}

// Load merges defaults, file, environment and flags, then validates.
func Load(opts LoadOptions) (Config, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	v := viper.New()
	var defMap map[string]any
	if err := mapstructure.Decode(Default(), &defMap); err != nil {
		return Config{}, err
	}
	setDefaults(v, "", defMap)
	if err := mergeConfigFile(v, opts.File, getenv); err != nil {
		return Config{}, err
	}
	for _, key := range Keys() {
		if val, ok := lookupEnv(getenv, EnvName(key)); ok {
			v.Set(key, val)
		}
	}
	if opts.Flags != nil {
		for flag, key := range opts.FlagKeys {
			if f := opts.Flags.Lookup(flag); f != nil && f.Changed {
				v.Set(key, f.Value.String())
			}
		}
	}
	cfg, err := decode(v)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// mergeConfigFile merges the configuration file into v: file, else
// $CLVFLOW_CONFIG (both must exist), else ./clvflow.yaml when there is one.
func mergeConfigFile(v *viper.Viper, file string, getenv func(string) string) error {
	if file == "" {
		file = getenv("CLVFLOW_CONFIG")
	}
	explicit := file != ""
	if !explicit {
		file = "clvflow.yaml"
	}
	err := mergeFile(v, file)
	if !explicit && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// decode decodes v's settings into a Config (durations and lists from
// strings too).
func decode(v *viper.Viper) (Config, error) {
	var cfg Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result:           &cfg,
		WeaklyTypedInput: true,
		ErrorUnused:      false,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			stringToSliceHook(),
		),
	})
	if err != nil {
		return Config{}, err
	}
	if err := dec.Decode(v.AllSettings()); err != nil {
		return Config{}, fmt.Errorf("config: %v", err)
	}
	return cfg, nil
}

func lookupEnv(getenv func(string) string, name string) (string, bool) {
	val := getenv(name)
	return val, val != ""
}

func setDefaults(v *viper.Viper, prefix string, m map[string]any) {
	for k, val := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := val.(map[string]any); ok {
			setDefaults(v, key, sub)
			continue
		}
		v.SetDefault(key, val)
	}
}

// mergeFile reads a YAML config file, rejecting unknown keys so that a typo
// does not silently fall back to a default.
func mergeFile(v *viper.Viper, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("config file %s does not exist (set by --config or CLVFLOW_CONFIG): %w", path, err)
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("config file %s: not valid YAML: %v", path, err)
	}
	known := map[string]bool{}
	for _, k := range Keys() {
		known[k] = true
		for i := range k {
			if k[i] == '.' {
				known[k[:i]] = true
			}
		}
	}
	var unknown []string
	var check func(prefix string, m map[string]any)
	check = func(prefix string, m map[string]any) {
		for k, val := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if !known[key] {
				unknown = append(unknown, key)
				continue
			}
			if sub, ok := val.(map[string]any); ok {
				check(key, sub)
			}
		}
	}
	check("", raw)
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config file %s: unknown key(s) %s; `clvflow config keys` lists the valid ones", path, strings.Join(unknown, ", "))
	}
	v.SetConfigType("yaml")
	return v.MergeConfigMap(raw)
}

func stringToSliceHook() mapstructure.DecodeHookFuncType {
	return func(from, to reflect.Type, data any) (any, error) {
		if from.Kind() != reflect.String || to.Kind() != reflect.Slice {
			return data, nil
		}
		s := strings.TrimSpace(data.(string))
		s = strings.TrimPrefix(strings.TrimSuffix(s, "]"), "[")
		if s == "" {
			return []string{}, nil
		}
		parts := strings.Split(s, ",")
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		return parts, nil
	}
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

var bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate checks the configuration once; each problem names the key, its
// environment variable and what to do.
func (c Config) Validate() error {
	v := &validator{}
	c.checkConnections(v)
	c.checkPipeline(v)
	c.checkServing(v)
	errs := v.errs
	if len(errs) == 0 {
		return nil
	}
	sort.Strings(errs)
	return fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(errs, "\n  "))
}

// validator collects the problems of a config, each naming its key and
// environment variable.
type validator struct{ errs []string }

func (v *validator) bad(key, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf("%s (env %s): %s", key, EnvName(key), fmt.Sprintf(format, args...)))
}

func (v *validator) hostPort(key, val string) {
	if _, port, err := net.SplitHostPort(val); err != nil || port == "" {
		v.bad(key, "%q is not host:port, e.g. 127.0.0.1:7233", val)
	} else if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		v.bad(key, "port %q is not in 1..65535", port)
	}
}

// checkConnections: Temporal, MinIO, ONNX Runtime and the dev stack's ports.
func (c Config) checkConnections(v *validator) {
	v.hostPort("temporal.address", c.Temporal.Address)
	if c.Temporal.Namespace == "" {
		v.bad("temporal.namespace", "must not be empty (the dev server uses \"default\")")
	}
	if c.Temporal.TaskQueue == "" {
		v.bad("temporal.task_queue", "must not be empty (default clvflow-cpu)")
	}
	if c.Temporal.TrainOnGPUQueue && c.Temporal.GPUTaskQueue == "" {
		v.bad("temporal.gpu_task_queue", "must be set when temporal.train_on_gpu_queue is true")
	}
	if c.Temporal.TLS.CertFile != "" && c.Temporal.TLS.KeyFile == "" || c.Temporal.TLS.CertFile == "" && c.Temporal.TLS.KeyFile != "" {
		v.bad("temporal.tls.cert_file", "cert_file and key_file must be set together")
	}
	v.hostPort("storage.endpoint", c.Storage.Endpoint)
	for key, b := range map[string]string{"storage.datasets_bucket": c.Storage.DatasetsBucket, "storage.models_bucket": c.Storage.ModelsBucket, "storage.registry_bucket": c.Storage.RegistryBucket} {
		if !bucketRe.MatchString(b) {
			v.bad(key, "%q is not a valid bucket name (3-63 chars: lower-case letters, digits, '.', '-')", b)
		}
	}
	if c.Storage.TempMaxAge <= 0 {
		v.bad("storage.temp_max_age", "must be a positive duration like 1h (longer than any upload), got %s", c.Storage.TempMaxAge)
	}
	if c.Temporal.ActivityRetryBudget <= 0 {
		v.bad("temporal.activity_retry_budget", "must be a positive duration like 1h, got %s", c.Temporal.ActivityRetryBudget)
	}
	if c.ONNX.IntraOpThreads < 1 {
		v.bad("onnx.intra_op_threads", "must be ≥ 1, got %d", c.ONNX.IntraOpThreads)
	}
	for key, p := range map[string]int{"dev.temporal_port": c.Dev.TemporalPort, "dev.temporal_ui_port": c.Dev.TemporalUIPort, "dev.minio_port": c.Dev.MinIOPort} {
		if p <= 0 || p > 65535 {
			v.bad(key, "port %d is not in 1..65535", p)
		}
	}
}

// checkPipeline: approvals, gate, ingest, training, scoring and drift.
func (c Config) checkPipeline(v *validator) {
	if c.Approvals.Timeout <= 0 {
		v.bad("approvals.timeout", "must be a positive duration like 72h, got %s", c.Approvals.Timeout)
	}
	for _, pr := range c.Gate.Problems() {
		v.bad("gate."+pr.Key, "%s", pr.Msg)
	}
	if c.Ingest.MaxUncompressedBytes <= 0 {
		v.bad("ingest.max_uncompressed_bytes", "must be a positive number of bytes (default %d = 16 GiB), got %d", dataset.DefaultMaxUncompressedBytes, c.Ingest.MaxUncompressedBytes)
	}
	for _, d := range c.Ingest.AllowedDirs {
		if !filepath.IsAbs(d) {
			v.bad("ingest.allowed_dirs", "must list absolute directories, got %q", d)
		}
	}
	c.checkTraining(v)
	c.checkWorkers(v)
}

// checkTraining checks the training.* keys.
func (c Config) checkTraining(v *validator) {
	if c.Training.TestFraction <= 0 || c.Training.TestFraction >= 1 {
		v.bad("training.test_fraction", "must be in (0,1), got %g", c.Training.TestFraction)
	}
	if c.Training.HorizonDays < 1 {
		v.bad("training.horizon_days", "must be ≥ 1 day, got %d", c.Training.HorizonDays)
	}
	if c.Training.SeqWeeks < 4 {
		v.bad("training.seq_weeks", "must be ≥ 4, got %d", c.Training.SeqWeeks)
	}
	if c.Training.MaxRejectedFraction < 0 || c.Training.MaxRejectedFraction > 1 {
		v.bad("training.max_rejected_fraction", "must be in [0,1], got %g", c.Training.MaxRejectedFraction)
	}
	if c.Training.Snapshots < 0 || c.Training.Snapshots > 52 {
		v.bad("training.snapshots", "must be in [0,52] (0 disables earlier training snapshots), got %d", c.Training.Snapshots)
	}
	if c.Training.SnapshotStepDays < 1 {
		v.bad("training.snapshot_step_days", "must be ≥ 1 day, got %d", c.Training.SnapshotStepDays)
	}
	for _, m := range c.Training.Models {
		if !modelkind.Kind(m).Valid() {
			v.bad("training.models", "unknown model %q (choose from %s)", m, strings.Join(modelkind.Names(), ", "))
		}
	}
}

// checkWorkers checks how the work is spread and bounded: worker.*,
// featurize.*, scoring.* and drift.*.
func (c Config) checkWorkers(v *validator) {
	if c.Worker.MaxHeavyActivities < 0 {
		v.bad("worker.max_heavy_activities", "must be ≥ 0 (0: no bound), got %d", c.Worker.MaxHeavyActivities)
	}
	if c.Worker.FeatureCacheBytes < 0 {
		v.bad("worker.feature_cache_bytes", "must be ≥ 0 bytes (0: keep no unused feature set), got %d", c.Worker.FeatureCacheBytes)
	}
	if c.Featurize.ShardRows < 0 {
		v.bad("featurize.shard_rows", "must be ≥ 0 accepted rows per shard (0 never shards), got %d", c.Featurize.ShardRows)
	}
	if c.Featurize.MaxShards < 1 || c.Featurize.MaxShards > 256 {
		v.bad("featurize.max_shards", "must be in [1,256] (1 never shards), got %d", c.Featurize.MaxShards)
	}
	if c.Scoring.Shards < 1 || c.Scoring.Shards > 256 {
		v.bad("scoring.shards", "must be in [1,256], got %d", c.Scoring.Shards)
	}
	if c.Scoring.DormantBelow < 0 || c.Scoring.DormantBelow >= 1 {
		v.bad("scoring.dormant_below", "must be a purchase probability in [0,1), got %g", c.Scoring.DormantBelow)
	}
	if c.Drift.PSIThreshold <= 0 {
		v.bad("drift.psi_threshold", "must be > 0 (0.1 moderate, 0.25 large shift), got %g", c.Drift.PSIThreshold)
	}
	if c.Drift.Action != "retrain" && c.Drift.Action != "alert" {
		v.bad("drift.action", "must be retrain or alert, got %q", c.Drift.Action)
	}
}

// checkServing: serve and codec-server.
func (c Config) checkServing(v *validator) {
	v.hostPort("serving.listen", c.Serving.Listen)
	v.hostPort("codec.listen", c.Codec.Listen)
	if c.Serving.ModelAlias == "" {
		v.bad("serving.model_alias", "must not be empty (default champion)")
	}
	if c.Serving.ReloadInterval <= 0 {
		v.bad("serving.reload_interval", "must be a positive duration like 10s")
	}
	if c.Serving.ReloadTimeout <= 0 {
		v.bad("serving.reload_timeout", "must be a positive duration like 30s")
	}
	if c.Serving.MaxBodyBytes < 1024 {
		v.bad("serving.max_body_bytes", "must be ≥ 1024, got %d", c.Serving.MaxBodyBytes)
	}
	for key, d := range map[string]time.Duration{"serving.read_header_timeout": c.Serving.ReadHeaderTimeout, "serving.read_timeout": c.Serving.ReadTimeout,
		"serving.write_timeout": c.Serving.WriteTimeout, "serving.idle_timeout": c.Serving.IdleTimeout} {
		if d <= 0 {
			v.bad(key, "must be a positive duration like 30s, got %s", d)
		}
	}
	if c.Serving.DriftWindow < 0 {
		v.bad("serving.drift_window", "must be ≥ 0 (0 turns online drift monitoring off), got %d", c.Serving.DriftWindow)
	}
	if c.Serving.MaxInFlight < 1 {
		v.bad("serving.max_in_flight", "must be ≥ 1, got %d", c.Serving.MaxInFlight)
	}
	if (c.Serving.TLSCertFile == "") != (c.Serving.TLSKeyFile == "") {
		v.bad("serving.tls_cert_file", "serving.tls_cert_file and serving.tls_key_file must be set together (HTTPS) or both left empty (HTTP)")
	}
}

// Redacted returns the config as YAML with every secret replaced by a
// marker that shows only whether it is set.
func (c Config) Redacted() ([]byte, error) {
	cp := c
	redact(reflect.ValueOf(&cp).Elem())
	return yaml.Marshal(cp)
}

func redact(v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			redact(f)
			continue
		}
		if t.Field(i).Tag.Get("secret") == "true" && f.Kind() == reflect.String {
			if f.String() != "" {
				f.SetString("<redacted>")
			} else {
				f.SetString("<unset>")
			}
		}
	}
}

// LoadCredentials fills storage access/secret keys from CredentialsFile when
// they are not set directly. The file has KEY=VALUE lines (ACCESS_KEY,
// SECRET_KEY), as written by `clvflow dev up`.
func (c *Config) LoadCredentials() error {
	if c.Storage.AccessKey != "" && c.Storage.SecretKey != "" {
		return nil
	}
	if c.Storage.CredentialsFile == "" {
		return fmt.Errorf("storage.access_key / storage.secret_key are not set (env CLVFLOW_STORAGE_ACCESS_KEY, CLVFLOW_STORAGE_SECRET_KEY) and storage.credentials_file is empty")
	}
	b, err := os.ReadFile(c.Storage.CredentialsFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("storage credentials not set and %s does not exist: run `clvflow dev up` for a local stack, or set CLVFLOW_STORAGE_ACCESS_KEY and CLVFLOW_STORAGE_SECRET_KEY", c.Storage.CredentialsFile)
		}
		return fmt.Errorf("storage.credentials_file: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, val, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		switch k {
		case "ACCESS_KEY":
			if c.Storage.AccessKey == "" {
				c.Storage.AccessKey = val
			}
		case "SECRET_KEY":
			if c.Storage.SecretKey == "" {
				c.Storage.SecretKey = val
			}
		}
	}
	if c.Storage.AccessKey == "" || c.Storage.SecretKey == "" {
		return fmt.Errorf("storage credentials file %s lacks ACCESS_KEY or SECRET_KEY", c.Storage.CredentialsFile)
	}
	return nil
}
