// Package tclient dials Temporal from clvflow's configuration and turns
// connection failures into one actionable line.
package tclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/codec"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
)

// Dial connects to the configured Temporal cluster, failing within a few
// seconds with a message that says what to do when it is not reachable.
func Dial(ctx context.Context, cfg config.Temporal, logger *slog.Logger) (client.Client, error) {
	opts := client.Options{HostPort: cfg.Address, Namespace: cfg.Namespace}
	if logger != nil {
		opts.Logger = log.NewStructuredLogger(logger)
	} else {
		opts.Logger = log.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	}
	if cfg.TLS.Enabled {
		tc, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		opts.ConnectionOptions.TLS = tc
	}
	if cfg.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(cfg.APIKey)
	}
	if err := SetPayloadEncryption(&opts, cfg); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %v; start the local stack with `clvflow dev up` or point temporal.address (env CLVFLOW_TEMPORAL_ADDRESS) at your cluster",
			cfg.Address, cfg.Namespace, shortErr(err))
	}
	return c, nil
}

// Codec loads the payload codec of temporal.payload_key_file; nil when the
// key is empty (no encryption).
func Codec(cfg config.Temporal) (*codec.Codec, error) {
	if cfg.PayloadKeyFile == "" {
		return nil, nil
	}
	c, err := codec.LoadKeyFile(cfg.PayloadKeyFile)
	if err != nil {
		return nil, fmt.Errorf("temporal.payload_key_file (env CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE): %w", err)
	}
	return c, nil
}

// SetPayloadEncryption makes opts encrypt payloads with
// temporal.payload_key_file's codec (nothing when it is empty): workflow and
// activity inputs and results, signals, updates, queries, memos, and
// failure messages and stack traces (encoded as failure attributes). Search
// attributes stay plain: the server indexes them.
func SetPayloadEncryption(opts *client.Options, cfg config.Temporal) error {
	c, err := Codec(cfg)
	if err != nil || c == nil {
		return err
	}
	parent := opts.DataConverter
	if parent == nil {
		parent = converter.GetDefaultDataConverter()
	}
	dc := converter.NewCodecDataConverter(parent, c)
	opts.DataConverter = dc
	opts.FailureConverter = temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{DataConverter: dc, EncodeCommonAttributes: true})
	return nil
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func tlsConfig(c config.TLS) (*tls.Config, error) {
	tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("temporal.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("temporal.tls.ca_file %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("temporal.tls.cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
