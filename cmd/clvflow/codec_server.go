package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/codec"
	"github.com/clvflow/clvflow/internal/tclient"
	"github.com/spf13/cobra"
)

// codecServerFlags are the flags of `clvflow codec-server`.
type codecServerFlags struct {
	config configFlags // codec.* overrides
}

func (f *codecServerFlags) register(c *cobra.Command) {
	fs := c.Flags()
	bindConfigFlag(&f.config, fs.StringVar, "listen", "codec.listen", "address to listen on",
		func(c *config.Config) *string { return &c.Codec.Listen },
		checkValue(func(addr string) bool { return addr != "" }, "want host:port"))
	bindConfigFlag(&f.config, fs.StringVar, "origin", "codec.origin", "the Temporal Web UI's origin allowed by CORS (empty: temporal.ui_url's)",
		func(c *config.Config) *string { return &c.Codec.Origin },
		nil)
}

func (a *app) codecServerCmd() *cobra.Command {
	var f codecServerFlags
	c := &cobra.Command{
		Use:   "codec-server",
		Short: "Serve the Temporal Web UI's remote codec endpoint that decrypts encrypted payloads",
		Long: `With temporal.payload_key_file set, clients and workers encrypt every workflow
payload (AES-256-GCM), so the Web UI shows only ciphertext. codec-server serves
POST /decode and POST /encode (the Temporal remote codec protocol) with the
same key file; point the UI's codec endpoint at it (Web UI: Settings/Data
Encoder, or the UI server's codec endpoint setting) and the UI decrypts in the
browser's session.

Cross-origin requests are allowed from codec.origin only (default: the origin
of temporal.ui_url). With codec.auth_token set, every request must carry
"Authorization: Bearer <token>"; listening on a non-loopback address requires
a token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if err := f.config.apply(cmd.Flags(), &cfg); err != nil {
				return err
			}
			srv, err := newCodecServer(cfg)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", cfg.Codec.Listen)
			if err != nil {
				return fmt.Errorf("codec-server: cannot listen on %s: %v (change codec.listen or --listen)", cfg.Codec.Listen, err)
			}
			fmt.Fprintf(a.errOut, "clvflow codec-server: listening on http://%s (origin %s, bearer token %s)\n",
				ln.Addr(), codecOrigin(cfg), map[bool]string{true: "required", false: "off"}[cfg.Codec.AuthToken != ""])
			return serveCodec(cmd.Context(), srv, ln)
		},
	}
	f.register(c)
	return c
}

// codecOrigin is the browser origin allowed by CORS.
func codecOrigin(cfg config.Config) string {
	if cfg.Codec.Origin != "" {
		return strings.TrimSuffix(cfg.Codec.Origin, "/")
	}
	u, err := url.Parse(cfg.Temporal.UIURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// newCodecServer checks the configuration and builds the codec HTTP server.
func newCodecServer(cfg config.Config) (*http.Server, error) {
	if cfg.Temporal.PayloadKeyFile == "" {
		return nil, errors.New("codec-server: temporal.payload_key_file (env CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE) is not set: there is nothing to decrypt with")
	}
	if cfg.Codec.AuthToken == "" && !loopback(cfg.Codec.Listen) {
		return nil, fmt.Errorf("codec-server: refusing to listen on %s, which is not a loopback address, without a bearer token: set codec.auth_token (env CLVFLOW_CODEC_AUTH_TOKEN) or listen on 127.0.0.1", cfg.Codec.Listen)
	}
	c, err := tclient.Codec(cfg.Temporal)
	if err != nil {
		return nil, err
	}
	h := codec.NewHTTPHandler(c, codec.HTTPOptions{Origin: codecOrigin(cfg), AuthToken: cfg.Codec.AuthToken})
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}, nil
}

// serveCodec serves until ctx ends, then shuts down within 5 s.
func serveCodec(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return err
		}
		return nil
	}
}

// loopback reports whether addr's host is a loopback address or localhost.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
