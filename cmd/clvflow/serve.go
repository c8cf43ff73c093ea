package main

import (
	"context"
	"fmt"
	"net"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/serving"
	"github.com/spf13/cobra"
)

// registrySource serves the version an alias points at; the server polls
// it, so moving the alias (promotion, rollback) swaps the served model.
type registrySource struct {
	reg   *registry.Registry
	store *artifacts.Store
	alias string
}

func (s *registrySource) Current(ctx context.Context) (serving.ModelRef, error) {
	v, err := s.reg.Resolve(ctx, s.alias)
	if err != nil {
		return serving.ModelRef{}, err
	}
	return serving.ModelRef{Version: v.ID, SHA256: v.ONNX.SHA256}, nil
}

// Fetch reads the ONNX file; the store verifies its sha256 against the
// registered one before returning any byte.
func (s *registrySource) Fetch(ctx context.Context, ref serving.ModelRef) ([]byte, error) {
	v, err := s.reg.Get(ctx, ref.Version)
	if err != nil {
		return nil, err
	}
	return s.store.GetBytes(ctx, artifacts.Ref{Bucket: v.ONNX.Bucket, Key: v.ONNX.Key, VersionID: v.ONNX.VersionID, SHA256: v.ONNX.SHA256, Size: v.ONNX.Size})
}

// serveFlags are the flags of `clvflow serve`.
type serveFlags struct {
	model  string
	config configFlags // serving.* overrides
}

func (f *serveFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.model, "model", "", "serve this ONNX file (or directory) instead of the registry alias")
	bindConfigFlag(&f.config, fs.StringVar, "listen", "serving.listen", "address to listen on",
		func(c *config.Config) *string { return &c.Serving.Listen },
		checkValue(func(addr string) bool { return addr != "" }, "want host:port"))
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
and an alias file works too).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			if err := f.config.apply(cmd.Flags(), &cfg); err != nil {
				return err
			}
			if err := a.initONNX(); err != nil {
				return err
			}
			var src serving.ModelSource
			if f.model != "" {
				src, err = serving.OpenLocalSource(f.model, cfg.Serving.ModelAlias)
				if err != nil {
					return err
				}
			} else {
				st, _, err := a.openStore(cmd.Context())
				if err != nil {
					return err
				}
				reg, err := a.openRegistry(cmd.Context())
				if err != nil {
					return err
				}
				src = &registrySource{reg: reg, store: st, alias: cfg.Serving.ModelAlias}
			}
			srv := serving.New(serving.Config{
				Listen: cfg.Serving.Listen, AuthToken: cfg.Serving.AuthToken, MaxBodyBytes: cfg.Serving.MaxBodyBytes,
				ReloadInterval: cfg.Serving.ReloadInterval, ModelAlias: cfg.Serving.ModelAlias,
			}, src, serving.WithLogger(a.logger()))
			defer srv.Close()
			ln, err := net.Listen("tcp", cfg.Serving.Listen)
			if err != nil {
				return fmt.Errorf("serve: cannot listen on %s: %v (change serving.listen or --listen)", cfg.Serving.Listen, err)
			}
			fmt.Fprintf(a.errOut, "clvflow serve: listening on http://%s (alias %s)\n", ln.Addr(), cfg.Serving.ModelAlias)
			return srv.Serve(cmd.Context(), ln)
		},
	}
	f.register(c)
	return c
}
