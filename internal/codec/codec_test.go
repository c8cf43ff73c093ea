package codec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const secretText = "s3cret-customer-ledger.csv"

func key(t *testing.T, id string) Key {
	t.Helper()
	k, err := NewKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustNew(t *testing.T, keys ...Key) *Codec {
	t.Helper()
	c, err := New(keys)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func plainPayload(t *testing.T) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(map[string]string{"input": secretText})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTripAndCiphertext(t *testing.T) {
	c := mustNew(t, key(t, "k1"))
	in := []*commonpb.Payload{plainPayload(t), nil, plainPayload(t)}
	enc, err := c.Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range enc {
		if in[i] == nil {
			if p != nil {
				t.Fatalf("payload %d: nil became %v", i, p)
			}
			continue
		}
		if !Encrypted(p) || string(p.Metadata[MetadataKeyID]) != "k1" {
			t.Fatalf("payload %d metadata %v lacks the marker or key id", i, p.Metadata)
		}
		if bytes.Contains(p.Data, []byte(secretText)) || bytes.Contains(p.Data, []byte("json/plain")) {
			t.Fatalf("payload %d holds plaintext", i)
		}
	}
	if bytes.Equal(enc[0].Data[:NonceSize], enc[2].Data[:NonceSize]) {
		t.Fatal("two payloads share a nonce")
	}
	dec, err := c.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		if !proto.Equal(dec[i], in[i]) {
			t.Fatalf("payload %d: decoded %v, want %v", i, dec[i], in[i])
		}
	}
	// Through the SDK's codec data converter, as clients use it.
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
	p, err := dc.ToPayload(secretText)
	if err != nil {
		t.Fatal(err)
	}
	if !Encrypted(p) {
		t.Fatal("data converter did not encrypt")
	}
	var s string
	if err := dc.FromPayload(p, &s); err != nil || s != secretText {
		t.Fatalf("FromPayload = %q, %v", s, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	old := key(t, "2026-01")
	newer := key(t, "2026-07")
	other := key(t, "2026-01") // same id, different secret
	encOld, err := mustNew(t, old).Encode([]*commonpb.Payload{plainPayload(t)})
	if err != nil {
		t.Fatal(err)
	}
	clone := func() *commonpb.Payload { return proto.Clone(encOld[0]).(*commonpb.Payload) }
	flip := func(i int) *commonpb.Payload {
		p := clone()
		p.Data[i] ^= 0x01
		return p
	}
	relabel := clone()
	relabel.Metadata[MetadataKeyID] = []byte("2026-07")
	plain := plainPayload(t)
	cases := []struct {
		name    string
		codec   *Codec
		payload *commonpb.Payload
		wantErr string // empty: decodes to the original
	}{
		{"same key", mustNew(t, old), clone(), ""},
		{"rotation: old key no longer active", mustNew(t, newer, old), clone(), ""},
		{"unencrypted passes through", mustNew(t, old), plain, ""},
		{"tampered nonce", mustNew(t, old), flip(0), "authentication failed"},
		{"tampered ciphertext", mustNew(t, old), flip(NonceSize + 3), "authentication failed"},
		{"tampered tag", mustNew(t, old), flip(len(encOld[0].Data) - 1), "authentication failed"},
		{"key id relabelled (AAD)", mustNew(t, newer, old), relabel, "authentication failed"},
		{"wrong key, same id", mustNew(t, other), clone(), "authentication failed"},
		{"unknown key id", mustNew(t, newer), clone(), `key id "2026-01", which the key file lacks`},
		{"truncated", mustNew(t, old), &commonpb.Payload{Metadata: clone().Metadata, Data: []byte{1, 2, 3}}, "too short"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.codec.Decode([]*commonpb.Payload{tc.payload})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(out[0], plain) {
					t.Fatalf("decoded %v, want %v", out[0], plain)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want ErrDecrypt saying %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), secretText) {
				t.Fatal("error echoes plaintext")
			}
		})
	}
	// Rotation: the new active key encrypts.
	enc, err := mustNew(t, newer, old).Encode([]*commonpb.Payload{plainPayload(t)})
	if err != nil || string(enc[0].Metadata[MetadataKeyID]) != "2026-07" {
		t.Fatalf("encrypted with %q, %v; want the first (active) key", enc[0].Metadata[MetadataKeyID], err)
	}
}

func writeKeyFile(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadKeyFile(t *testing.T) {
	k1, k2 := key(t, "new"), key(t, "old")
	good := "# clvflow payload keys\n\n" + KeyFileLine(k1) + KeyFileLine(k2)
	secret := base64.StdEncoding.EncodeToString(k1.Secret)
	c, err := LoadKeyFile(writeKeyFile(t, good, 0o600))
	if err != nil {
		t.Fatal(err)
	}
	if c.ActiveKeyID() != "new" || strings.Join(c.KeyIDs(), ",") != "new,old" {
		t.Fatalf("active %s, keys %v", c.ActiveKeyID(), c.KeyIDs())
	}
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	cases := []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"group readable", good, 0o640, "chmod 600"},
		{"world readable", good, 0o604, "must not be accessible by group or others"},
		{"empty", "# nothing\n", 0o600, "holds no key"},
		{"one field", "k1\n", 0o600, "line 1"},
		{"bad id", "k/1 " + secret + "\n", 0o600, "key id"},
		{"bad base64", "k1 !!notbase64!!\n", 0o600, "not standard base64"},
		{"short key", "k1 " + short + "\n", 0o600, "16 bytes, want 32"},
		{"duplicate id", KeyFileLine(k1) + KeyFileLine(Key{ID: "new", Secret: k2.Secret}), 0o600, "appears twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeyFile(writeKeyFile(t, tc.body, tc.mode))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), short) {
				t.Fatal("error prints key material")
			}
		})
	}
	if _, err := LoadKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "payload key file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestHTTPHandler(t *testing.T) {
	c := mustNew(t, key(t, "k1"))
	const origin, token = "http://127.0.0.1:8233", "tok-123"
	srv := httptest.NewServer(NewHTTPHandler(c, HTTPOptions{Origin: origin, AuthToken: token}))
	defer srv.Close()
	enc, err := c.Encode([]*commonpb.Payload{plainPayload(t)})
	if err != nil {
		t.Fatal(err)
	}
	remote := func(tok string) converter.PayloadCodec {
		return converter.NewRemotePayloadCodec(converter.RemotePayloadCodecOptions{Endpoint: srv.URL, ModifyRequest: func(r *http.Request) error {
			if tok != "" {
				r.Header.Set("Authorization", "Bearer "+tok)
			}
			return nil
		}})
	}
	dec, err := remote(token).Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(dec[0], plainPayload(t)) {
		t.Fatalf("decode endpoint returned %v", dec[0])
	}
	// /encode encrypts; the result decodes locally.
	enc2, err := remote(token).Encode([]*commonpb.Payload{plainPayload(t)})
	if err != nil || !Encrypted(enc2[0]) {
		t.Fatalf("encode endpoint: %v, %v", enc2, err)
	}
	for _, tok := range []string{"", "wrong"} {
		if _, err := remote(tok).Decode(enc); err == nil || !strings.Contains(err.Error(), "Unauthorized") { // the remote codec reports http.StatusText(401)
			t.Errorf("token %q: err = %v, want 401 Unauthorized", tok, err)
		}
	}
	// A tampered payload is a 400 that does not echo plaintext.
	bad := proto.Clone(enc[0]).(*commonpb.Payload)
	bad.Data[NonceSize] ^= 1
	if _, err := remote(token).Decode([]*commonpb.Payload{bad}); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("tampered: %v", err)
	}

	preflight := func(from string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/decode", nil)
		req.Header.Set("Origin", from)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type, x-namespace")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight(origin)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight from the UI origin: %d %v", resp.StatusCode, resp.Header)
	}
	resp = preflight("http://evil.example")
	if resp.StatusCode == http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("preflight from another origin: %d %v", resp.StatusCode, resp.Header)
	}
	// Only POST /encode and /decode exist.
	r, err := http.Get(srv.URL + "/decode")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("GET /decode = %d", r.StatusCode)
	}
}
