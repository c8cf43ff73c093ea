package main

import (
	"strings"
	"testing"

	"github.com/clvflow/clvflow/config"
)

func TestCodecServerConfig(t *testing.T) {
	keyFile := writePayloadKeyFile(t, "k1")
	cases := []struct {
		name   string
		modify func(*config.Config)
		want   string // empty: starts
	}{
		{"loopback without token", func(c *config.Config) {}, ""},
		{"localhost without token", func(c *config.Config) { c.Codec.Listen = "localhost:0" }, ""},
		{"all interfaces without token", func(c *config.Config) { c.Codec.Listen = "0.0.0.0:8081" }, "not a loopback address"},
		{"empty host without token", func(c *config.Config) { c.Codec.Listen = ":8081" }, "codec.auth_token"},
		{"all interfaces with token", func(c *config.Config) { c.Codec.Listen = "0.0.0.0:8081"; c.Codec.AuthToken = "t" }, ""},
		{"no key file", func(c *config.Config) { c.Temporal.PayloadKeyFile = "" }, "temporal.payload_key_file"},
		{"missing key file", func(c *config.Config) { c.Temporal.PayloadKeyFile = keyFile + ".missing" }, "no such file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Temporal.PayloadKeyFile = keyFile
			tc.modify(&cfg)
			srv, err := newCodecServer(cfg)
			if tc.want == "" {
				if err != nil || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.ReadHeaderTimeout == 0 {
					t.Fatalf("newCodecServer = %v, %v (want a server with timeouts)", srv, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
		})
	}
	cfg := config.Default()
	if got := codecOrigin(cfg); got != "http://127.0.0.1:8233" {
		t.Errorf("default origin %q, want temporal.ui_url's", got)
	}
	cfg.Codec.Origin = "https://temporal.example.com/"
	if got := codecOrigin(cfg); got != "https://temporal.example.com" {
		t.Errorf("origin %q", got)
	}
}

func TestCodecServerFlags(t *testing.T) {
	t.Setenv("CLVFLOW_CONFIG", "")
	t.Setenv("CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE", writePayloadKeyFile(t, "k1"))
	_, _, err := clvflow(t, "codec-server", "--listen", "0.0.0.0:0")
	if err == nil || !strings.Contains(err.Error(), "refusing to listen on 0.0.0.0:0") {
		t.Fatalf("codec-server --listen 0.0.0.0:0 without a token: %v", err)
	}
}
