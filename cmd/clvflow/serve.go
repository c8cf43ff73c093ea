package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/provenance"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/scoring"
	"github.com/clvflow/clvflow/serving"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// registrySource serves the version an alias points at; the server polls
// it, so moving the alias (promotion, rollback) swaps the served model.
type registrySource struct {
	reg   *registry.Registry
	store *artifacts.Store
	alias string
	// trusted, when set (serving.require_signed), must verify a version's
	// chain before it is served.
	trusted *provenance.TrustedKeys

	mu   sync.Mutex
	last registry.Version // the version Current resolved last
}

func (s *registrySource) Current(ctx context.Context) (serving.ModelRef, error) {
	v, err := s.reg.Resolve(ctx, s.alias)
	if err != nil {
		return serving.ModelRef{}, s.unreachable(err)
	}
	s.mu.Lock()
	s.last = v
	s.mu.Unlock()
	return serving.ModelRef{Version: v.ID, SHA256: v.ONNX.SHA256}, nil
}

// Fetch reads the ONNX file; the store verifies its sha256 against the
// registered one before returning any byte.
func (s *registrySource) Fetch(ctx context.Context, ref serving.ModelRef) ([]byte, error) {
	v, err := s.reg.Get(ctx, ref.Version)
	if err != nil {
		return nil, s.unreachable(err)
	}
	data, err := s.store.GetBytes(ctx, artifacts.Ref{Bucket: v.ONNX.Bucket, Key: v.ONNX.Key, VersionID: v.ONNX.VersionID, SHA256: v.ONNX.SHA256, Size: v.ONNX.Size})
	if err != nil {
		return nil, s.unreachable(err)
	}
	if s.trusted != nil {
		// The bytes were just checked against the registry entry's sha256;
		// the chain proves that entry is the signed one.
		report := provenance.VerifyChain(ctx, provenance.RegistrySource{Registry: s.reg, Store: s.store}, s.trusted, v.ID,
			provenance.Options{SkipONNX: true, Aliases: []string{s.alias}})
		if err := report.Err(); err != nil {
			return nil, fmt.Errorf("serving.require_signed: refusing %s: %w", v.ID, err)
		}
	}
	return data, nil
}

// DriftReference implements serving.DriftReferenceSource: the version's
// training features (registry artifact "features"), scored by the served
// model m and binned (scoring.NewDriftReference), the reference the
// BatchScore workflow compares with too.
func (s *registrySource) DriftReference(ctx context.Context, ref serving.ModelRef, m *onnxrt.Model) (*scoring.DriftReference, error) {
	v, ok := s.resolved(ref.Version)
	if !ok {
		var err error
		if v, err = s.reg.Get(ctx, ref.Version); err != nil {
			return nil, s.unreachable(err)
		}
	}
	set, err := s.trainingFeatures(ctx, v)
	if err != nil {
		return nil, err
	}
	dr, err := scoring.ModelReference(m, set)
	if err != nil {
		return nil, fmt.Errorf("score the training features of %s: %w", v.ID, err)
	}
	return &dr, nil
}

// trainingFeatures reads the feature set version v was trained on.
func (s *registrySource) trainingFeatures(ctx context.Context, v registry.Version) (*features.Set, error) {
	fref, ok := v.Artifacts["features"]
	if !ok {
		return nil, fmt.Errorf("version %s records no training features (registry artifact \"features\")", v.ID)
	}
	rc, err := s.store.Get(ctx, fref)
	if err != nil {
		return nil, s.unreachable(err)
	}
	defer rc.Close()
	set, err := features.ReadCSV(rc)
	if err == nil {
		err = rc.Close() // reports a digest mismatch
	}
	if err != nil {
		return nil, fmt.Errorf("training features of %s (%s/%s): %w", v.ID, fref.Bucket, fref.Key, s.unreachable(err))
	}
	return set, nil
}

// resolved returns the registry record of version when Current resolved it last.
func (s *registrySource) resolved(version string) (registry.Version, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last, s.last.ID == version && version != ""
}

// unreachable says in so many words when err means MinIO could not be asked.
func (s *registrySource) unreachable(err error) error {
	if isUnreachable(err) {
		return fmt.Errorf("model registry unreachable (MinIO at %s): %w", s.store.Endpoint(), err)
	}
	return err
}

// startPingTimeout bounds the start-up check of MinIO (or
// serving.reload_timeout when shorter), so a hung MinIO delays listening by
// at most that much.
const startPingTimeout = 5 * time.Second

// openRegistrySource opens the registry without requiring MinIO to answer:
// a MinIO that is down (or hung: the check is bounded by startPingTimeout) is
// logged and left to the server's reloads, which serve the local cache
// meanwhile; rejected credentials or an invalid configuration are errors.
func (a *app) openRegistrySource(ctx context.Context, cfg config.Config, log *slog.Logger) (*registrySource, error) {
	scfg, err := a.storageConfig()
	if err != nil {
		return nil, err
	}
	st, err := artifacts.New(artifacts.Config{
		Endpoint: scfg.Storage.Endpoint, AccessKey: scfg.Storage.AccessKey, SecretKey: scfg.Storage.SecretKey,
		Region: scfg.Storage.Region, UseTLS: scfg.Storage.UseTLS, CAFile: scfg.Storage.CAFile,
	})
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(st.Client(), scfg.Storage.RegistryBucket, registry.Options{})
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, min(cfg.Serving.ReloadTimeout, startPingTimeout))
	defer cancel()
	err = st.Ping(pctx)
	if err == nil {
		err = reg.EnsureBucket(pctx)
	}
	switch kind := artifacts.KindOf(err); {
	case err == nil:
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case kind == artifacts.BadCredentials || kind == artifacts.Invalid:
		return nil, err
	default:
		log.Warn("MinIO does not answer at start: serving the local cache of the model until the registry answers (retrying every serving.reload_interval)",
			"endpoint", scfg.Storage.Endpoint, "err", err)
	}
	src := &registrySource{reg: reg, store: st, alias: cfg.Serving.ModelAlias}
	if cfg.Serving.RequireSigned {
		if cfg.Provenance.TrustedKeys == "" {
			return nil, errors.New("serving.require_signed is on but provenance.trusted_keys is not set: no signature could be checked")
		}
		if src.trusted, err = provenance.LoadTrustedKeys(cfg.Provenance.TrustedKeys); err != nil {
			return nil, err
		}
	}
	return src, nil
}

// serveCacheDir is serving.cache_dir (default <dev.state_dir>/serve-cache);
// a relative path is relative to the repository root inside a checkout,
// like the other dev paths.
func serveCacheDir(cfg config.Config) string {
	dir := cfg.Serving.CacheDir
	if dir == "" {
		dir = filepath.Join(cfg.Dev.StateDir, "serve-cache")
	}
	if !filepath.IsAbs(dir) {
		if root, ok := repoRoot(); ok {
			dir = filepath.Join(root, dir)
		}
	}
	return dir
}

// serveFlags are the flags of `clvflow serve`.
type serveFlags struct {
	model  string
	config configFlags // serving.* overrides

	insecure        bool
	tlsCert, tlsKey string
}

func (f *serveFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.model, "model", "", "serve this ONNX file (or directory) instead of the registry alias")
	bindConfigFlag(&f.config, fs.StringVar, "listen", "serving.listen", "address to listen on",
		func(c *config.Config) *string { return &c.Serving.Listen },
		checkValue(func(addr string) bool { return addr != "" }, "want host:port"))
	// Not in f.config (the config-flag mechanism): set only when given, by
	// applyHardening.
	fs.BoolVar(&f.insecure, "insecure", false, "allow a non-loopback listen address without serving.auth_token; logs a warning (default: config key serving.insecure, built-in false)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate to serve HTTPS with, together with --tls-key (default: config key serving.tls_cert_file)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key of --tls-cert (default: config key serving.tls_key_file)")
}

// applyHardening applies --insecure, --tls-cert and --tls-key when given.
func (f *serveFlags) applyHardening(fs *pflag.FlagSet, cfg *config.Config) {
	if fs.Changed("insecure") {
		cfg.Serving.Insecure = f.insecure
	}
	if fs.Changed("tls-cert") {
		cfg.Serving.TLSCertFile = f.tlsCert
	}
	if fs.Changed("tls-key") {
		cfg.Serving.TLSKeyFile = f.tlsKey
	}
}

// servingConfig is the server configuration of cfg's serving section.
func servingConfig(cfg config.Config) serving.Config {
	s := cfg.Serving
	sc := serving.Config{
		Listen: s.Listen, AuthToken: s.AuthToken, MaxBodyBytes: s.MaxBodyBytes,
		ReloadInterval: s.ReloadInterval, ReloadTimeout: s.ReloadTimeout, ModelAlias: s.ModelAlias,
		Insecure: s.Insecure, TLSCertFile: s.TLSCertFile, TLSKeyFile: s.TLSKeyFile,
		ReadHeaderTimeout: s.ReadHeaderTimeout, ReadTimeout: s.ReadTimeout, WriteTimeout: s.WriteTimeout, IdleTimeout: s.IdleTimeout,
		MaxInFlight: s.MaxInFlight, DriftWindow: s.DriftWindow, DriftThreshold: cfg.Drift.PSIThreshold,
	}
	if s.DriftWindow == 0 {
		sc.DriftWindow = serving.DriftDisabled
	}
	return sc
}

func (a *app) serveCmd() *cobra.Command {
	var f serveFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve CLV predictions over HTTP with ONNX Runtime (reloads when the champion moves)",
		Long: `Serves POST /v1/predict, GET /v1/model, /healthz, /readyz, /metrics and
/openapi.yaml. By default it serves the registry alias serving.model_alias
(champion) and polls it every serving.reload_interval; the new model is loaded
and warmed before it replaces the old one, so no request fails during a swap.
--model FILE serves one ONNX file instead (a directory with <version>.onnx files
and an alias file works too).

Outages: every reload is bounded by serving.reload_timeout. While MinIO is
down the last good model keeps answering and /readyz says "degraded" with the
reason. The model last loaded from the registry is kept, with its registry
entry, in serving.cache_dir (default <dev.state_dir>/serve-cache); when MinIO
is unreachable at start, serve loads that copy after checking its sha256
against the entry, reports it as served from the local cache (degraded) and
keeps polling the registry.

Exposure: on an address other machines can reach (anything but 127.0.0.0/8,
::1 and localhost) serve refuses to start without serving.auth_token, unless
--insecure (serving.insecure) is given; then it warns loudly. With
serving.tls_cert_file and serving.tls_key_file (--tls-cert, --tls-key) it
speaks HTTPS. Connections are bounded by serving.read_header_timeout,
serving.read_timeout, serving.write_timeout and serving.idle_timeout; beyond
serving.max_in_flight concurrent /v1/ requests it answers 503 with
Retry-After.

Drift: serving from the registry, serve bins every predicted customer's
features and expected value into the served version's training-data
reference and exports the PSI of the last serving.drift_window customers
(0: off) as clvflow_drift_psi{column} on /metrics and in GET /v1/model.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runServe(cmd, &f) },
	}
	f.register(c)
	return c
}

// runServe checks the serving configuration, opens the model source and
// serves until the command's context ends.
func (a *app) runServe(cmd *cobra.Command, f *serveFlags) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	if err := f.config.apply(cmd.Flags(), &cfg); err != nil {
		return err
	}
	f.applyHardening(cmd.Flags(), &cfg)
	// Refuse an open listen address or a bad certificate before loading
	// anything.
	scfg := servingConfig(cfg)
	if err := scfg.Validate(); err != nil {
		return err
	}
	if err := a.initONNX(); err != nil {
		return err
	}
	log := a.logger()
	src, opts, err := a.serveSource(cmd.Context(), cfg, f.model, log)
	if err != nil {
		return err
	}
	srv := serving.New(scfg, src, append(opts, serving.WithLogger(log))...)
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Serving.Listen)
	if err != nil {
		return fmt.Errorf("serve: cannot listen on %s: %v (change serving.listen or --listen)", cfg.Serving.Listen, err)
	}
	scheme := "http"
	if scfg.TLSCertFile != "" {
		scheme = "https"
	}
	fmt.Fprintf(a.errOut, "clvflow serve: listening on %s://%s (alias %s)\n", scheme, ln.Addr(), cfg.Serving.ModelAlias)
	if scfg.AuthToken == "" && !serving.IsLoopback(cfg.Serving.Listen) {
		fmt.Fprintf(a.errOut, "clvflow serve: WARNING: --insecure: the scoring API on %s has no bearer token (set serving.auth_token)\n", cfg.Serving.Listen)
	}
	return srv.Serve(cmd.Context(), ln)
}

// serveSource opens what serve serves: the local model file or directory,
// else the registry alias behind the local model cache (without the cache,
// loudly, when its directory is unusable).
func (a *app) serveSource(ctx context.Context, cfg config.Config, model string, log *slog.Logger) (serving.ModelSource, []serving.Option, error) {
	if model != "" {
		src, err := serving.OpenLocalSource(model, cfg.Serving.ModelAlias)
		return src, nil, err
	}
	rs, err := a.openRegistrySource(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	dir := serveCacheDir(cfg)
	mc, err := openModelCache(dir, cfg.Serving.ModelAlias)
	if err != nil {
		// Serving matters more than the cache (e.g. a read-only root file
		// system): run without it, loudly.
		log.Warn("local model cache disabled: serve cannot start from a cached model while MinIO is unreachable; set serving.cache_dir to a writable directory",
			"dir", dir, "err", err)
		return rs, nil, nil
	}
	cs := &cachingSource{src: rs, cache: mc, log: log.With("component", "serve-cache"), ctx: ctx, timeout: cfg.Serving.ReloadTimeout}
	log.Info("local model cache", "dir", dir)
	return cs, []serving.Option{serving.WithReloadHook(cs.observe)}, nil
}
