package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/config"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// app carries what every command shares: output streams, the config file
// flag and the configuration, loaded and validated once.
type app struct {
	out, errOut io.Writer
	cfgFile     string
	cfg         config.Config
	loaded      bool
	root        *cobra.Command
	logLevel    string
	store       *artifacts.Store // opened and pinged once, by openStore
}

// rootConfigFlag is a global flag that overrides a config key.
type rootConfigFlag struct {
	name, key, usage string
	builtIn          func(config.Config) string
}

// rootConfigFlags are the global flags over config keys. config.Load applies
// the ones the user gave over file and environment, then validates.
var rootConfigFlags = []rootConfigFlag{
	{"temporal-address", "temporal.address", "Temporal frontend host:port", func(c config.Config) string { return c.Temporal.Address }},
	{"temporal-namespace", "temporal.namespace", "Temporal namespace", func(c config.Config) string { return c.Temporal.Namespace }},
	{"storage-endpoint", "storage.endpoint", "MinIO/S3 endpoint host:port", func(c config.Config) string { return c.Storage.Endpoint }},
}

// rootFlagKeys maps the global config flags to their keys, for config.Load.
func rootFlagKeys() map[string]string {
	keys := make(map[string]string, len(rootConfigFlags))
	for _, f := range rootConfigFlags {
		keys[f.name] = f.key
	}
	return keys
}

func newRootCmd(out, errOut io.Writer) *cobra.Command {
	a := &app{out: out, errOut: errOut}
	root := &cobra.Command{
		Use:   "clvflow",
		Short: "Retrain, gate, approve and serve customer lifetime value models on Temporal and MinIO",
		Long: `clvflow keeps customer lifetime value (CLV) models fresh and trustworthy.

Configuration: built-in defaults, then clvflow.yaml (--config or CLVFLOW_CONFIG),
then CLVFLOW_* environment variables (storage.secret_key is
CLVFLOW_STORAGE_SECRET_KEY), then flags. 'clvflow config show' prints the result.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	a.root = root
	root.SetOut(out)
	root.SetErr(errOut)
	a.registerGlobalFlags(root.PersistentFlags())
	// Every command, grouped by purpose; --help lists them by name.
	root.AddCommand(
		// the stack and its workers
		a.devCmd(),
		a.workerCmd(),
		// pipeline runs and their decisions
		a.ingestCmd(),
		a.trainCmd(),
		a.statusCmd(),
		a.resultCmd(),
		a.approveCmd(),
		a.rejectCmd(),
		a.rollbackCmd(),
		a.scheduleCmd(),
		// models: the registry, local evaluation and scoring
		a.modelsCmd(),
		a.backtestCmd(),
		a.predictCmd(),
		a.scoreCmd(),
		a.realiseCmd(),
		a.reportCmd(),
		a.genCmd(),
		a.serveCmd(),
		a.codecServerCmd(),
		// this program
		a.configCmd(),
		a.versionCmd(),
	)
	return root
}

func (a *app) registerGlobalFlags(pf *pflag.FlagSet) {
	def := config.Default()
	pf.StringVar(&a.cfgFile, "config", "", "config file (default $CLVFLOW_CONFIG, then ./clvflow.yaml when present)")
	for _, f := range rootConfigFlags {
		pf.String(f.name, "", configFlagUsage(f.usage, f.key, f.builtIn(def)))
	}
	pf.StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

// config loads and validates the configuration on first use.
func (a *app) config() (config.Config, error) {
	if a.loaded {
		return a.cfg, nil
	}
	cfg, err := config.Load(config.LoadOptions{File: a.cfgFile, Flags: a.root.PersistentFlags(), FlagKeys: rootFlagKeys()})
	if err != nil {
		return config.Config{}, err
	}
	// Relative dev paths are relative to the repository root when we run
	// inside a checkout, so `clvflow` works from any sub-directory.
	if root, ok := repoRoot(); ok {
		if !filepath.IsAbs(cfg.Storage.CredentialsFile) && cfg.Storage.CredentialsFile != "" {
			cfg.Storage.CredentialsFile = filepath.Join(root, cfg.Storage.CredentialsFile)
		}
	}
	a.cfg, a.loaded = cfg, true
	return cfg, nil
}

// storageConfig returns the config with storage credentials resolved.
func (a *app) storageConfig() (config.Config, error) {
	cfg, err := a.config()
	if err != nil {
		return cfg, err
	}
	if err := cfg.LoadCredentials(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (a *app) logger() *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(a.logLevel) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(a.errOut, &slog.HandlerOptions{Level: lvl}))
}

// repoRoot finds the clvflow checkout around the working directory or the
// executable (for .tools/ and deploy/dev/).
func repoRoot() (string, bool) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, d := range starts {
		for {
			if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/clvflow/clvflow") {
				return d, true
			}
			p := filepath.Dir(d)
			if p == d {
				break
			}
			d = p
		}
	}
	return "", false
}

// currentUser names the person running the command, for audit fields.
func currentUser() string {
	for _, k := range []string{"CLVFLOW_USER", "USER", "LOGNAME"} {
		if u := os.Getenv(k); u != "" {
			return u
		}
	}
	return "unknown"
}
