// Package serving is clvflow's HTTP scoring server: it serves the current
// champion model (ONNX, through package onnxrt) over a small JSON API, reloads
// it without dropping requests when the registry moves the alias, and exposes
// health, readiness, Prometheus metrics and its OpenAPI document.
//
// Routes: POST /v1/predict, GET /v1/model, GET /healthz, GET /readyz,
// GET /metrics, GET /openapi.yaml (see openapi.yaml). Only /v1/ routes
// require the bearer token when one is configured.
//
// Outages: every reload runs under Config.ReloadTimeout and under the
// server's context, so a hung source neither stalls later reloads nor blocks
// shutdown. When a reload fails while a model is served, that model keeps
// answering and /readyz stays 200 with status "degraded" and the reason; a
// source may also answer Current from a fallback (see [FallbackError]), which
// the server serves and reports as degraded until the source's authority
// answers again.
package serving

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/clvflow/clvflow/onnxrt"
)

//go:embed openapi.yaml
var openAPIDoc []byte

// OpenAPI returns the embedded OpenAPI 3 document served at /openapi.yaml.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// Config is the server configuration (config section "serving").
type Config struct {
	// Listen is the TCP address (serving.listen).
	Listen string
	// AuthToken, when set, is the bearer token /v1/ routes require (serving.auth_token).
	AuthToken string
	// MaxBodyBytes limits request bodies; larger ones get 413 (serving.max_body_bytes).
	MaxBodyBytes int64
	// ReloadInterval is how often the model source is polled (serving.reload_interval).
	ReloadInterval time.Duration
	// ReloadTimeout bounds one reload (resolve, fetch, load, warm); a source
	// that does not answer by then fails the reload (serving.reload_timeout).
	ReloadTimeout time.Duration
	// ModelAlias is the registry alias served; reported by GET /v1/model (serving.model_alias).
	ModelAlias string
	// MaxBatch is the most customers one request may score.
	MaxBatch int
	// ShutdownTimeout bounds graceful shutdown after the context is cancelled.
	ShutdownTimeout time.Duration
	// CacheSize is how many idle model sessions are kept besides the served
	// one, so a rollback to a recent version needs no fetch (0 closes the
	// previous model as soon as its requests drain).
	CacheSize int
	// Insecure allows a non-loopback Listen without an AuthToken
	// (serving.insecure, flag --insecure); the server then logs a warning.
	Insecure bool
	// TLSCertFile and TLSKeyFile, set together, make the server speak HTTPS
	// (serving.tls_cert_file, serving.tls_key_file; PEM files).
	TLSCertFile string
	TLSKeyFile  string
	// ReadHeaderTimeout bounds reading a request's headers, so a client that
	// never finishes them (slowloris) loses its connection (serving.read_header_timeout).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included (serving.read_timeout).
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the request headers to
	// the end of the response (serving.write_timeout).
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long (serving.idle_timeout).
	IdleTimeout time.Duration
	// MaxInFlight is the most /v1/ requests handled at once; more get 503
	// with Retry-After (serving.max_in_flight).
	MaxInFlight int
	// DriftWindow is how many of the latest predicted customers the drift
	// gauges and GET /v1/model's drift cover (serving.drift_window; 0 takes
	// DefaultDriftWindow, DriftDisabled or any negative value turns drift
	// monitoring off). It needs a source that is a DriftReferenceSource.
	DriftWindow int
	// DriftThreshold is the PSI above which GET /v1/model reports drifted
	// (drift.psi_threshold; default 0.1).
	DriftThreshold float64
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		MaxBodyBytes:    4 << 20,
		ReloadInterval:  10 * time.Second,
		ReloadTimeout:   30 * time.Second,
		ModelAlias:      "champion",
		MaxBatch:        10000,
		ShutdownTimeout: 15 * time.Second,
		CacheSize:       1,

		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxInFlight:       64,
		DriftWindow:       DefaultDriftWindow,
		DriftThreshold:    0.1,
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	orDefault(&c.Listen, d.Listen)
	orDefault(&c.MaxBodyBytes, d.MaxBodyBytes)
	orDefault(&c.ReloadInterval, d.ReloadInterval)
	orDefault(&c.ReloadTimeout, d.ReloadTimeout)
	orDefault(&c.ModelAlias, d.ModelAlias)
	orDefault(&c.MaxBatch, d.MaxBatch)
	orDefault(&c.ShutdownTimeout, d.ShutdownTimeout)
	orDefault(&c.ReadHeaderTimeout, d.ReadHeaderTimeout)
	orDefault(&c.ReadTimeout, d.ReadTimeout)
	orDefault(&c.WriteTimeout, d.WriteTimeout)
	orDefault(&c.IdleTimeout, d.IdleTimeout)
	orDefault(&c.MaxInFlight, d.MaxInFlight)
	orDefault(&c.DriftWindow, d.DriftWindow)
	orDefault(&c.DriftThreshold, d.DriftThreshold)
	return c
}

// orDefault sets *v to d when it holds its zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Validate reports the first invalid setting, naming its config key.
func (c Config) Validate() error {
	switch {
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("serving: serving.max_body_bytes is %d, want > 0", c.MaxBodyBytes)
	case c.ReloadInterval < 0:
		return fmt.Errorf("serving: serving.reload_interval is %v, want > 0", c.ReloadInterval)
	case c.ReloadTimeout < 0:
		return fmt.Errorf("serving: serving.reload_timeout is %v, want > 0", c.ReloadTimeout)
	case c.MaxBatch < 0:
		return fmt.Errorf("serving: max batch is %d, want > 0", c.MaxBatch)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("serving: shutdown timeout is %v, want > 0", c.ShutdownTimeout)
	case c.CacheSize < 0:
		return fmt.Errorf("serving: cache size is %d, want ≥ 0", c.CacheSize)
	case c.ReadHeaderTimeout < 0:
		return fmt.Errorf("serving: serving.read_header_timeout is %v, want > 0", c.ReadHeaderTimeout)
	case c.ReadTimeout < 0:
		return fmt.Errorf("serving: serving.read_timeout is %v, want > 0", c.ReadTimeout)
	case c.WriteTimeout < 0:
		return fmt.Errorf("serving: serving.write_timeout is %v, want > 0", c.WriteTimeout)
	case c.IdleTimeout < 0:
		return fmt.Errorf("serving: serving.idle_timeout is %v, want > 0", c.IdleTimeout)
	case c.MaxInFlight < 0:
		return fmt.Errorf("serving: serving.max_in_flight is %d, want > 0", c.MaxInFlight)
	case c.DriftThreshold < 0:
		return fmt.Errorf("serving: drift.psi_threshold is %g, want > 0", c.DriftThreshold)
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("serving: serving.listen %q: %w", c.Listen, err)
	}
	if err := c.checkExposure(c.Listen); err != nil {
		return err
	}
	if _, err := c.TLSConfig(); err != nil {
		return err
	}
	return nil
}

// IsLoopback reports whether the host of addr (host:port) can only be
// reached from this machine: localhost or an address in 127.0.0.0/8 or ::1.
// An empty host, 0.0.0.0, :: and every other name or address are not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// exposedInsecurely reports whether addr is reachable from other machines
// with no bearer token required.
func (c Config) exposedInsecurely(addr string) bool {
	return c.AuthToken == "" && !IsLoopback(addr)
}

// checkExposure refuses to serve the API without a token on an address
// other machines can reach, unless Insecure says so.
func (c Config) checkExposure(addr string) error {
	if c.Insecure || !c.exposedInsecurely(addr) {
		return nil
	}
	return fmt.Errorf("serving: serving.listen %q is reachable from other machines and serving.auth_token is not set: "+
		"anyone who can reach it could score customers and read the model; set serving.auth_token (env CLVFLOW_SERVING_AUTH_TOKEN), "+
		"listen on a loopback address such as 127.0.0.1:8080, or pass --insecure (serving.insecure) to serve without a token anyway", addr)
}

// TLSConfig loads serving.tls_cert_file and serving.tls_key_file: nil when
// neither is set, an error naming the key when only one is, when a file
// cannot be read or when they are not a matching certificate and key.
func (c Config) TLSConfig() (*tls.Config, error) {
	switch {
	case c.TLSCertFile == "" && c.TLSKeyFile == "":
		return nil, nil
	case c.TLSKeyFile == "":
		return nil, fmt.Errorf("serving: serving.tls_cert_file is set but serving.tls_key_file is not: set both (HTTPS) or neither (HTTP)")
	case c.TLSCertFile == "":
		return nil, fmt.Errorf("serving: serving.tls_key_file is set but serving.tls_cert_file is not: set both (HTTPS) or neither (HTTP)")
	}
	certPEM, err := os.ReadFile(c.TLSCertFile)
	if err != nil {
		return nil, fmt.Errorf("serving: serving.tls_cert_file: %w", err)
	}
	keyPEM, err := os.ReadFile(c.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("serving: serving.tls_key_file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("serving: serving.tls_cert_file %s and serving.tls_key_file %s are not a usable certificate and matching private key (PEM): %w",
			c.TLSCertFile, c.TLSKeyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// ModelRef identifies one model file: its registry version and sha256.
type ModelRef struct {
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// ModelSource tells the server which model to serve and delivers its bytes.
// The registry implements it through the champion alias; FileSource and
// DirSource serve local files. Both methods must return once ctx is done:
// the server bounds every reload by Config.ReloadTimeout and cancels it on
// shutdown.
type ModelSource interface {
	// Current returns the model that should be served now. A source with a
	// fallback may return a usable ref together with a *FallbackError when
	// its authority could not be asked (see FallbackError).
	Current(ctx context.Context) (ModelRef, error)
	// Fetch returns the model file of ref; the server verifies its sha256.
	Fetch(ctx context.Context, ref ModelRef) ([]byte, error)
}

// FallbackError is what ModelSource.Current returns, together with a usable
// ModelRef, when the source's authority (the registry) could not be asked and
// a fallback (a local verified cache of the last model) named the model
// instead. The server serves that model like any other, but reports itself
// degraded with Reason in /readyz and /v1/model until a Current answers
// without a FallbackError.
type FallbackError struct {
	// Reason is the operator-facing summary, e.g. "registry unreachable at
	// start; serving cached v3".
	Reason string
	// Err is the authority's failure.
	Err error
}

// Error implements error.
func (e *FallbackError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the authority's failure.
func (e *FallbackError) Unwrap() error { return e.Err }

// ReloadResult describes one reload attempt, for WithReloadHook.
type ReloadResult struct {
	// Ref is the model the source named ("" version if Current failed).
	Ref ModelRef
	// Swapped is true when a new model was loaded and is now served.
	Swapped bool
	// Fallback is set when Ref came from the source's fallback (and is now
	// served): the authority's failure and the reason reported by /readyz.
	Fallback *FallbackError
	// Err is the failure, if any; the previous model keeps serving.
	Err error
}

// Option customises a Server.
type Option func(*Server)

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithRegistry registers the server's metrics on reg and serves reg at
// /metrics (default: a private registry with Go and process collectors).
func WithRegistry(reg *prometheus.Registry) Option { return func(s *Server) { s.reg = reg } }

// WithCache uses c for model sessions instead of a private cache of
// Config.CacheSize; the server does not close a cache it did not create.
func WithCache(c *onnxrt.Cache) Option { return func(s *Server) { s.cache, s.ownCache = c, false } }

// WithReloadHook calls fn after every reload attempt (from the polling
// goroutine or Reload), e.g. to log or to wait for a swap in tests.
func WithReloadHook(fn func(ReloadResult)) Option { return func(s *Server) { s.hook = fn } }

// served is the model currently answering requests.
type served struct {
	model    *onnxrt.Model
	ref      ModelRef
	loadedAt time.Time
	// drift counts the customers this model predicted into its reference's
	// bins; nil until the reference is in, and for good without one.
	drift atomic.Pointer[driftWindow]
	// driftAsked is set once the source was asked for the reference.
	driftAsked atomic.Bool
}

// health is the outcome of the recent reloads, replaced as a whole after
// each one (readers load it without locking).
type health struct {
	// failures counts the reloads in a row that failed or were answered by
	// the source's fallback; 0 after one that reached the authority.
	failures int
	// since is when the first of those failures happened.
	since time.Time
	// lastErr is the last failure's message ("" when failures is 0).
	lastErr string
	// fallback is the FallbackError reason while the served model came from
	// the source's fallback and the authority has not answered since.
	fallback string
}

// Server is the scoring server. Create it with New.
type Server struct {
	cfg      Config
	src      ModelSource
	log      *slog.Logger
	reg      *prometheus.Registry
	cache    *onnxrt.Cache
	ownCache bool
	hook     func(ReloadResult)
	metrics  *metrics
	handler  http.Handler
	routes   []route
	tokenSum [sha256.Size]byte
	// slots holds one token per /v1/ request in flight (capacity MaxInFlight).
	slots chan struct{}

	cur      atomic.Pointer[served]
	health   atomic.Pointer[health] // nil before the first reload
	reloadMu sync.Mutex

	// beforePredict, when set (tests only), runs after a request picked the
	// served model and before it predicts, to force the swap race.
	beforePredict func(attempt int)
}

type route struct {
	method, path string
	auth         bool
	h            http.HandlerFunc
}

// New builds a server for cfg (zero fields take DefaultConfig values) that
// serves the model named by src. It loads nothing yet: Run/Serve (or Reload)
// do.
func New(cfg Config, src ModelSource, opts ...Option) *Server {
	s := &Server{cfg: cfg.withDefaults(), src: src, log: slog.Default(), ownCache: true}
	s.cache = onnxrt.NewCache(s.cfg.CacheSize)
	for _, o := range opts {
		o(s)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s.log = s.log.With("component", "serving")
	s.metrics = newMetrics(s.reg)
	s.reg.MustRegister(newDriftCollector(s))
	s.tokenSum = sha256.Sum256([]byte(s.cfg.AuthToken))
	if s.cfg.MaxInFlight > 0 {
		s.slots = make(chan struct{}, s.cfg.MaxInFlight)
	}
	s.routes = []route{
		{method: http.MethodPost, path: "/v1/predict", auth: true, h: s.handlePredict},
		{method: http.MethodGet, path: "/v1/model", auth: true, h: s.handleModel},
		{method: http.MethodGet, path: "/healthz", h: s.handleHealthz},
		{method: http.MethodGet, path: "/readyz", h: s.handleReadyz},
		{method: http.MethodGet, path: "/metrics", h: promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}).ServeHTTP},
		{method: http.MethodGet, path: "/openapi.yaml", h: s.handleOpenAPI},
	}
	mux := http.NewServeMux()
	for _, r := range s.routes {
		h := r.h
		if r.auth && s.cfg.AuthToken != "" {
			h = s.requireToken(h)
		}
		if r.auth && s.slots != nil {
			h = s.limitInFlight(h)
		}
		mux.HandleFunc(r.method+" "+r.path, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "", fmt.Sprintf("no route %s %s (see GET /openapi.yaml)", r.Method, r.URL.Path))
	})
	s.handler = s.instrument(mux)
	return s
}

// Handler returns the HTTP handler (all routes, metrics included).
func (s *Server) Handler() http.Handler { return s.handler }

// Current returns the served model reference, if a model is loaded.
func (s *Server) Current() (ModelRef, bool) {
	if c := s.cur.Load(); c != nil {
		return c.ref, true
	}
	return ModelRef{}, false
}

// requireToken enforces "Authorization: Bearer <token>", comparing sha256
// digests in constant time so neither content nor length leaks.
func (s *Server) requireToken(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(tok))
		if !ok || subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="clvflow"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "", "missing or wrong bearer token (Authorization: Bearer <serving.auth_token>)")
			return
		}
		next(w, r)
	}
}

// retryAfterSeconds is the Retry-After a request refused at capacity gets.
const retryAfterSeconds = 1

// limitInFlight answers 503 with Retry-After, without running next, while
// MaxInFlight requests are being handled already. Health, readiness,
// metrics and the OpenAPI document are not limited, so probes keep working
// under load.
func (s *Server) limitInFlight(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.slots <- struct{}{}:
		default:
			s.metrics.rejected.Inc()
			w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
			writeError(w, http.StatusServiceUnavailable, "at_capacity", "",
				fmt.Sprintf("the server is at capacity: %d requests in flight (serving.max_in_flight); retry after %ds", cap(s.slots), retryAfterSeconds))
			return
		}
		defer func() { <-s.slots }()
		next(w, r)
	}
}

// Reload asks the source for the current model and, when it differs from the
// served one, fetches, verifies, loads and warms it, swaps it in atomically
// and releases the old one (closed once its in-flight requests finish, unless
// the cache keeps it for a rollback). On failure the served model is kept and
// readiness reports the server degraded. The whole reload runs under
// Config.ReloadTimeout (and ends when ctx does). It reports whether a swap
// happened.
func (s *Server) Reload(ctx context.Context) (bool, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ReloadTimeout)
	res := s.reload(rctx)
	timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	cancel()
	if res.Err != nil && timedOut {
		if errors.Is(res.Err, context.DeadlineExceeded) {
			res.Err = fmt.Errorf("serving: reload timed out after %v (serving.reload_timeout): %w", s.cfg.ReloadTimeout, res.Err)
		} else {
			res.Err = fmt.Errorf("serving: reload timed out after %v (serving.reload_timeout; %w): %w", s.cfg.ReloadTimeout, context.DeadlineExceeded, res.Err)
		}
	}
	switch {
	case res.Err != nil && ctx.Err() != nil:
		// Shutdown (or the caller) interrupted the reload: not a failure of
		// the source, so readiness and the failure counter stay as they were.
		s.log.Info("model reload interrupted", "version", res.Ref.Version, "err", res.Err)
	case res.Err != nil:
		s.metrics.reloadFailures.Inc()
		s.recordFailure(res.Err, "")
		s.log.Error("model reload failed", "version", res.Ref.Version, "sha256", res.Ref.SHA256, "err", res.Err)
	case res.Fallback != nil:
		s.metrics.reloadFailures.Inc()
		s.recordFailure(res.Fallback.Err, res.Fallback.Reason)
		s.log.Warn("serving a fallback model: the model source's authority failed", "version", res.Ref.Version, "sha256", res.Ref.SHA256, "reason", res.Fallback.Reason, "err", res.Fallback.Err)
	default:
		if h := s.health.Load(); h != nil && h.failures > 0 {
			s.log.Info("model source answers again", "version", res.Ref.Version, "failed_reloads", h.failures, "since", h.since)
		}
		s.health.Store(&health{})
	}
	s.metrics.setHealth(s.cur.Load() != nil, s.health.Load())
	if res.Err == nil && res.Fallback == nil {
		s.ensureDrift(ctx)
	}
	if s.hook != nil {
		s.hook(res)
	}
	return res.Swapped, res.Err
}

// recordFailure counts one more failed reload; fallback, when set, is the
// reason the served model came from the source's fallback (an empty one
// keeps the previous reason: the fallback model is still served).
func (s *Server) recordFailure(err error, fallback string) {
	now := time.Now().UTC()
	h := health{failures: 1, since: now, lastErr: err.Error(), fallback: fallback}
	if prev := s.health.Load(); prev != nil {
		if prev.failures > 0 {
			h.failures, h.since = prev.failures+1, prev.since
		}
		if fallback == "" {
			h.fallback = prev.fallback
		}
	}
	s.health.Store(&h)
}

func (s *Server) reload(ctx context.Context) ReloadResult {
	ref, err := s.src.Current(ctx)
	var fb *FallbackError
	if err != nil && !errors.As(err, &fb) {
		return ReloadResult{Err: fmt.Errorf("serving: resolve current model: %w", err)}
	}
	res := s.load(ctx, ref)
	if fb != nil {
		if res.Err != nil {
			res.Err = fmt.Errorf("serving: resolve current model: %w; the fallback model %s failed too: %w", fb, ref.Version, res.Err)
		} else {
			res.Fallback = fb
		}
	}
	return res
}

// load serves ref unless it is served already.
func (s *Server) load(ctx context.Context, ref ModelRef) ReloadResult {
	if ref.Version == "" || ref.SHA256 == "" {
		return ReloadResult{Ref: ref, Err: fmt.Errorf("serving: model source returned an incomplete reference %+v", ref)}
	}
	old := s.cur.Load()
	if old != nil && old.ref == ref {
		return ReloadResult{Ref: ref}
	}
	start := time.Now()
	m, err := s.cache.Acquire(ref.Version, ref.SHA256, func() ([]byte, error) { return s.src.Fetch(ctx, ref) })
	if err != nil {
		return ReloadResult{Ref: ref, Err: fmt.Errorf("serving: load model %s: %w", ref.Version, err)}
	}
	if err := m.Warm(); err != nil {
		s.cache.Release(m)
		return ReloadResult{Ref: ref, Err: fmt.Errorf("serving: %w", err)}
	}
	next := &served{model: m, ref: ref, loadedAt: time.Now().UTC()}
	s.cur.Store(next)
	s.metrics.setModel(old, next)
	s.metrics.reloads.Inc()
	from := ""
	if old != nil {
		from = old.ref.Version
	}
	s.log.Info("model swapped", "from", from, "to", ref.Version, "sha256", ref.SHA256, "kind", m.Metadata().Kind, "load_seconds", time.Since(start).Seconds())
	if old != nil {
		// Closes (after draining) only when the cache evicts it.
		if err := s.cache.Release(old.model); err != nil {
			s.log.Warn("release previous model", "version", old.ref.Version, "err", err)
		}
	}
	return ReloadResult{Ref: ref, Swapped: true}
}

// Run listens on Config.Listen and serves until ctx is cancelled (see Serve).
func (s *Server) Run(ctx context.Context) error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("serving: listen on %s (serving.listen): %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTP on ln, loads the model right away and then polls the
// source every ReloadInterval. When ctx is cancelled it shuts the HTTP server
// down gracefully (in-flight requests finish, bounded by ShutdownTimeout),
// stops polling and closes the models. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	ln, scheme, err := s.listener(ln)
	if err != nil {
		return err
	}
	if s.cfg.exposedInsecurely(addr) {
		s.log.Warn("INSECURE: serving the scoring API with no bearer token on an address other machines can reach (--insecure / serving.insecure); anyone who reaches it can score customers and read the model. Set serving.auth_token.",
			"addr", addr)
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	s.log.Info("serving", "addr", addr, "scheme", scheme, "alias", s.cfg.ModelAlias, "reload_interval", s.cfg.ReloadInterval.String(), "reload_timeout", s.cfg.ReloadTimeout.String(),
		"max_in_flight", s.cfg.MaxInFlight, "read_header_timeout", s.cfg.ReadHeaderTimeout.String(), "read_timeout", s.cfg.ReadTimeout.String(), "write_timeout", s.cfg.WriteTimeout.String())

	pollCtx, stopPoll := context.WithCancel(ctx)
	var pollDone sync.WaitGroup
	pollDone.Go(func() { s.poll(pollCtx) })

	select {
	case <-ctx.Done():
		shCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		err = hs.Shutdown(shCtx)
		cancel()
		if err != nil {
			err = fmt.Errorf("serving: graceful shutdown: %w", err)
		}
	case err = <-serveErr:
		err = fmt.Errorf("serving: http server: %w", err)
	}
	stopPoll()
	pollDone.Wait()
	return errors.Join(err, s.Close())
}

// listener checks the configuration for the address of ln and wraps ln
// in TLS when it is set; it closes ln when it refuses to serve.
func (s *Server) listener(ln net.Listener) (net.Listener, string, error) {
	err := s.cfg.Validate()
	if err == nil {
		err = s.cfg.checkExposure(ln.Addr().String())
	}
	var tlsCfg *tls.Config
	if err == nil {
		tlsCfg, err = s.cfg.TLSConfig()
	}
	if err != nil {
		ln.Close()
		return nil, "", err
	}
	if tlsCfg != nil {
		return tls.NewListener(ln, tlsCfg), "https", nil
	}
	return ln, "http", nil
}

// poll reloads immediately and then every ReloadInterval until ctx ends;
// each reload is bounded by ReloadTimeout and cancelled with ctx.
func (s *Server) poll(ctx context.Context) {
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	for {
		s.Reload(ctx) // failures are logged, counted and shown by /readyz; the old model keeps serving
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close stops serving the model and closes the sessions (waiting for
// in-flight predictions). Serve calls it on shutdown.
func (s *Server) Close() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	old := s.cur.Swap(nil)
	s.metrics.setModel(old, nil)
	s.metrics.setHealth(false, s.health.Load())
	if !s.ownCache {
		if old != nil {
			return s.cache.Release(old.model)
		}
		return nil
	}
	return s.cache.Close()
}
