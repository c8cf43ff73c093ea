// Package provenance owns clvflow's signed provenance: in-toto statements
// (github.com/in-toto/attestation) in DSSE envelopes
// (github.com/secure-systems-lab/go-securesystemslib/dsse) signed by the
// worker's ed25519 key, for every registered version (subjects: the ONNX
// file and the registry entry's bytes; predicate: the lineage) and every
// alias move (subjects: the alias entry's bytes and the target's ONNX file;
// predicate: the move and the signed decision behind it), and the offline
// verification of the whole chain of a version: [VerifyChain].
//
// Keys are OpenSSH ed25519 keys: the worker signs with a private key file
// (config provenance.signing_key, made by `ssh-keygen -t ed25519` or `clvflow
// dev up`), verifiers trust public keys in authorized_keys format (config
// provenance.trusted_keys). A key's id in an envelope is its SSH SHA256
// fingerprint.
package provenance

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/clvflow/clvflow/approval"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/crypto/ssh"
)

// Signer signs envelopes with the worker's key (a dsse.SignerVerifier).
type Signer struct {
	priv ed25519.PrivateKey
	id   string
}

// LoadSigner reads an unencrypted OpenSSH ed25519 private key.
func LoadSigner(path string) (*Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("provenance signing key: %w", err)
	}
	key, err := ssh.ParseRawPrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("provenance signing key %s: not an unencrypted OpenSSH private key: %v", path, err)
	}
	priv, ok := key.(*ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("provenance signing key %s: %T, want an ed25519 key (ssh-keygen -t ed25519)", path, key)
	}
	return newSigner(*priv)
}

func newSigner(priv ed25519.PrivateKey) (*Signer, error) {
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Signer{priv: priv, id: ssh.FingerprintSHA256(pub)}, nil
}

// Sign implements dsse.Signer (ed25519 is deterministic: the same payload
// gives the same envelope).
func (s *Signer) Sign(_ context.Context, data []byte) ([]byte, error) {
	return ed25519.Sign(s.priv, data), nil
}

// KeyID is the key's SSH SHA256 fingerprint.
func (s *Signer) KeyID() (string, error) { return s.id, nil }

// Verify implements dsse.Verifier.
func (s *Signer) Verify(ctx context.Context, data, sig []byte) error {
	return verifier{pub: s.priv.Public().(ed25519.PublicKey), id: s.id}.Verify(ctx, data, sig)
}

// Public implements dsse.Verifier.
func (s *Signer) Public() crypto.PublicKey { return s.priv.Public() }

// PublicKeyLine is the signer's public key as an authorized_keys line (what
// a trusted-keys file lists).
func (s *Signer) PublicKeyLine(comment string) string {
	pub, _ := ssh.NewPublicKey(s.priv.Public())
	return approval.AuthorizedKeyLine(pub, comment)
}

// verifier checks envelopes against one trusted ed25519 key.
type verifier struct {
	pub ed25519.PublicKey
	id  string
}

func (v verifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.pub, data, sig) {
		return errors.New("ed25519 signature does not verify")
	}
	return nil
}
func (v verifier) KeyID() (string, error)   { return v.id, nil }
func (v verifier) Public() crypto.PublicKey { return v.pub }

// TrustedKeys are the public keys whose envelopes a verifier accepts.
type TrustedKeys struct {
	verifiers []dsse.Verifier
}

// ParseTrustedKeys reads authorized_keys-format lines (ed25519 keys only;
// blank lines and # comments ignored); name is used in errors.
func ParseTrustedKeys(b []byte, name string) (*TrustedKeys, error) {
	var t TrustedKeys
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: not a public key line (want: ssh-ed25519 BASE64KEY [COMMENT])", name, n+1)
		}
		ck, ok := pub.(ssh.CryptoPublicKey)
		edPub, isEd := ck.CryptoPublicKey().(ed25519.PublicKey)
		if !ok || !isEd {
			return nil, fmt.Errorf("%s:%d: %s key; provenance keys are ed25519", name, n+1, pub.Type())
		}
		t.verifiers = append(t.verifiers, verifier{pub: edPub, id: ssh.FingerprintSHA256(pub)})
	}
	if len(t.verifiers) == 0 {
		return nil, fmt.Errorf("%s: no trusted key", name)
	}
	return &t, nil
}

// LoadTrustedKeys reads a trusted-keys file.
func LoadTrustedKeys(path string) (*TrustedKeys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("provenance trusted keys: %w", err)
	}
	return ParseTrustedKeys(b, path)
}

// Trust returns the trusted keys of a signer (its own public key).
func Trust(s *Signer) *TrustedKeys {
	return &TrustedKeys{verifiers: []dsse.Verifier{verifier{pub: s.priv.Public().(ed25519.PublicKey), id: s.id}}}
}

// signEnvelope signs a payload and returns the envelope's JSON.
func signEnvelope(ctx context.Context, s *Signer, payloadType string, payload []byte) ([]byte, error) {
	es, err := dsse.NewEnvelopeSigner(s)
	if err != nil {
		return nil, err
	}
	env, err := es.SignPayload(ctx, payloadType, payload)
	if err != nil {
		return nil, err
	}
	return marshalJSON(env)
}

// openEnvelope verifies an envelope's JSON against the trusted keys and
// returns its payload and the id of the key that signed it.
func openEnvelope(ctx context.Context, t *TrustedKeys, payloadType string, b []byte) ([]byte, string, error) {
	var env dsse.Envelope
	if err := unmarshalStrict(b, &env); err != nil {
		return nil, "", fmt.Errorf("not a DSSE envelope: %v", err)
	}
	if env.PayloadType != payloadType {
		return nil, "", fmt.Errorf("envelope payload type %q, want %q", env.PayloadType, payloadType)
	}
	ev, err := dsse.NewEnvelopeVerifier(t.verifiers...)
	if err != nil {
		return nil, "", err
	}
	keys, payload, err := ev.VerifyAndDecode(ctx, &env)
	if err != nil {
		return nil, "", fmt.Errorf("no signature by a trusted key: %v", err)
	}
	return payload, keys[0].KeyID, nil
}

var errTrailing = errors.New("trailing data after the JSON value")

func unmarshalStrict(b []byte, v any) error {
	dec := jsonDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errTrailing
	}
	return nil
}
