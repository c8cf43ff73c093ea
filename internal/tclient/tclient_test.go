package tclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/codec"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

func keyFile(t *testing.T, mode os.FileMode) string {
	t.Helper()
	k, err := codec.NewKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "payload-keys")
	if err := os.WriteFile(path, []byte(codec.KeyFileLine(k)), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSetPayloadEncryption(t *testing.T) {
	var opts client.Options
	if err := SetPayloadEncryption(&opts, config.Temporal{}); err != nil || opts.DataConverter != nil || opts.FailureConverter != nil {
		t.Fatalf("no key file: options changed (%v, %v, %v)", opts.DataConverter, opts.FailureConverter, err)
	}
	cfg := config.Temporal{PayloadKeyFile: keyFile(t, 0o600)}
	if err := SetPayloadEncryption(&opts, cfg); err != nil {
		t.Fatal(err)
	}
	p, err := opts.DataConverter.ToPayload("gs://bucket/customers.csv")
	if err != nil {
		t.Fatal(err)
	}
	if !codec.Encrypted(p) || strings.Contains(string(p.Data), "customers.csv") {
		t.Fatalf("payload not encrypted: %v", p)
	}
	var s string
	if err := opts.DataConverter.FromPayload(p, &s); err != nil || s != "gs://bucket/customers.csv" {
		t.Fatalf("round trip: %q %v", s, err)
	}
	// Failure messages are encrypted too, and come back.
	f := opts.FailureConverter.ErrorToFailure(temporal.NewApplicationError("bad file customers.csv", "BadInput"))
	if strings.Contains(f.GetMessage(), "customers.csv") || !codec.Encrypted(f.GetEncodedAttributes()) {
		t.Fatalf("failure message in the clear: %q", f.GetMessage())
	}
	var appErr *temporal.ApplicationError
	if err := opts.FailureConverter.FailureToError(f); !errors.As(err, &appErr) || !strings.Contains(err.Error(), "customers.csv") || appErr.Type() != "BadInput" {
		t.Fatalf("failure round trip: %v", err)
	}

	bad := config.Temporal{PayloadKeyFile: keyFile(t, 0o644)}
	if err := SetPayloadEncryption(&client.Options{}, bad); err == nil || !strings.Contains(err.Error(), "CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
}
