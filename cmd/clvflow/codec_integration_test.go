package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/codec"
	"github.com/clvflow/clvflow/internal/testenv"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

// writePayloadKeyFile writes a fresh key file (mode 0600) with the given
// key ids, the first one active.
func writePayloadKeyFile(t *testing.T, ids ...string) string {
	t.Helper()
	var b strings.Builder
	for _, id := range ids {
		k, err := codec.NewKey(id)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(codec.KeyFileLine(k))
	}
	path := filepath.Join(t.TempDir(), "payload-keys")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// With temporal.payload_key_file set, the CLI and the worker encrypt every
// payload: the history on the real server holds ciphertext only, and the
// codec server's /decode restores the plaintext.
func TestIntegrationEncryptedPayloads(t *testing.T) {
	keyFile := writePayloadKeyFile(t, "k2", "k1")
	t.Setenv("CLVFLOW_TEMPORAL_PAYLOAD_KEY_FILE", keyFile)
	s := newStack(t, true)
	input := demoFile(t)
	out, _, err := clvflow(t, "ingest", "--input", input, "--json")
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	var started struct {
		WorkflowID string `json:"workflow_id"`
		Result     struct {
			Dataset struct {
				SHA256 string `json:"sha256"`
			} `json:"dataset"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil {
		t.Fatal(err)
	}
	sha := started.Result.Dataset.SHA256
	if sha == "" {
		t.Fatalf("no sha256 in the (decrypted) result:\n%s", out)
	}

	// A client without the codec sees what the server stores.
	raw, err := client.Dial(client.Options{HostPort: s.temporal.Address, Namespace: s.temporal.Namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	payloads, events := testenv.HistoryPayloads(t, raw, started.WorkflowID)
	if len(payloads) < 3 {
		t.Fatalf("%d events carry only %d payloads", events, len(payloads))
	}
	secrets := []string{input, filepath.Base(input), sha}
	var encrypted []*commonpb.Payload
	for _, hp := range payloads {
		b, err := proto.Marshal(hp.Payload)
		if err != nil {
			t.Fatal(err)
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) {
				t.Errorf("%s: payload holds %q in the clear", hp.Where, sec)
			}
		}
		if !codec.Encrypted(hp.Payload) || string(hp.Payload.Metadata[codec.MetadataKeyID]) != "k2" {
			t.Errorf("%s: payload metadata %q, want encoding %s with the active key id k2", hp.Where, hp.Payload.Metadata, codec.MetadataEncoding)
			continue
		}
		encrypted = append(encrypted, hp.Payload)
	}
	t.Logf("%d events, %d payloads, all encrypted", events, len(payloads))
	// Nor does a plain client decode the result.
	var res map[string]any
	if err := raw.GetWorkflow(context.Background(), started.WorkflowID, "").Get(context.Background(), &res); err == nil {
		t.Errorf("a client without the key read the result: %v", res)
	}

	// The codec server, as `clvflow codec-server` runs it, restores them.
	cfg := config.Default()
	cfg.Temporal.PayloadKeyFile = keyFile
	cfg.Codec.AuthToken = "codec-test-token"
	srv, err := newCodecServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveCodec(ctx, srv, ln) }()
	defer func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("codec server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("codec server did not stop")
		}
	}()
	endpoint := "http://" + ln.Addr().String()
	remote := func(token string) converter.PayloadCodec {
		return converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: endpoint, ModifyRequest: func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}})
	}
	if _, err := remote("wrong").Decode(encrypted); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("decode with a wrong token: %v", err)
	}
	decoded, err := remote(cfg.Codec.AuthToken).Decode(encrypted)
	if err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for i, p := range decoded {
		if codec.Encrypted(p) {
			t.Fatalf("payload %d still encrypted after /decode", i)
		}
		all.Write(p.Data)
	}
	// The CLI uploads the file first: the payloads name the stored object
	// (file name, sha256), not the local path.
	for _, sec := range []string{filepath.Base(input), sha} {
		if !bytes.Contains(all.Bytes(), []byte(sec)) {
			t.Errorf("decoded payloads lack %q", sec)
		}
	}
}
