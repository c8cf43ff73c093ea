// Package codec encrypts Temporal payloads with AES-256-GCM so that workflow
// histories (inputs, results, activity arguments) hold only ciphertext.
//
// It is a converter.PayloadCodec: clients and workers wrap their data
// converter with converter.NewCodecDataConverter(parent, codec), and
// `clvflow codec-server` serves the same codec to the Temporal Web UI
// (NewHTTPHandler).
//
// Each encrypted payload carries the metadata
//
//	encoding:          binary/encrypted
//	encryption-key-id: <key id>
//
// and as data a fresh random 12-byte nonce followed by the GCM sealing of
// the original payload (its metadata and data, proto-marshalled), with the
// key id as additional authenticated data. Payloads without the
// binary/encrypted marker are passed through by Decode, so histories written
// before encryption was switched on stay readable.
//
// # Key file
//
// One key per line, "KEYID BASE64KEY": an id of 1-64 characters from
// [A-Za-z0-9._-] and 32 random bytes in standard base64. Blank lines and
// lines starting with # are ignored. The first key is the active one (it
// encrypts); every key in the file decrypts. To rotate, add a new key as the
// first line and keep the old ones for as long as histories encrypted with
// them must stay readable. The file must not be accessible by group or
// others (chmod 600), as ssh demands of a private key. Make a key with
//
//	printf '%s %s\n' "$(date +%Y%m%d)" "$(head -c 32 /dev/urandom | base64)"
package codec

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const (
	// MetadataEncoding is the payload encoding of an encrypted payload.
	MetadataEncoding = "binary/encrypted"
	// MetadataKeyID is the metadata key that names the encrypting key.
	MetadataKeyID = "encryption-key-id"
	// KeySize is the size of an AES-256 key in bytes.
	KeySize = 32
	// NonceSize is the size of the random GCM nonce in front of the
	// ciphertext.
	NonceSize = 12
)

var keyIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ErrDecrypt is wrapped by every error about a payload that cannot be
// decrypted (unknown key id, failed authentication, malformed data).
var ErrDecrypt = errors.New("cannot decrypt payload")

// Key is one named AES-256 key.
type Key struct {
	ID     string
	Secret []byte // KeySize bytes
}

// Codec is an AES-256-GCM PayloadCodec over a key ring: the first key
// encrypts, every key decrypts.
type Codec struct {
	active string
	aeads  map[string]cipher.AEAD
	ids    []string
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns a codec over keys; keys[0] is the active key.
func New(keys []Key) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("no encryption keys")
	}
	c := &Codec{active: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if !keyIDRe.MatchString(k.ID) {
			return nil, fmt.Errorf("key id %q is not 1-64 characters from [A-Za-z0-9._-]", k.ID)
		}
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("key id %q appears twice", k.ID)
		}
		if len(k.Secret) != KeySize {
			return nil, fmt.Errorf("key %q is %d bytes, want %d (AES-256)", k.ID, len(k.Secret), KeySize)
		}
		block, err := aes.NewCipher(k.Secret)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("key %q: %v", k.ID, err)
		}
		c.aeads[k.ID] = aead
		c.ids = append(c.ids, k.ID)
	}
	sort.Strings(c.ids)
	return c, nil
}

// ActiveKeyID is the id of the key that encrypts.
func (c *Codec) ActiveKeyID() string { return c.active }

// KeyIDs lists the ids of every key that decrypts, sorted.
func (c *Codec) KeyIDs() []string { return append([]string(nil), c.ids...) }

// LoadKeyFile reads a key file (see the package documentation), refusing
// one that group or others may access.
func LoadKeyFile(path string) (*Codec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("payload key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("payload key file: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("payload key file %s is a directory", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("payload key file %s has permissions %04o: it must not be accessible by group or others; run `chmod 600 %s`", path, perm, path)
	}
	keys, err := ParseKeys(f)
	if err != nil {
		return nil, fmt.Errorf("payload key file %s: %w", path, err)
	}
	c, err := New(keys)
	if err != nil {
		return nil, fmt.Errorf("payload key file %s: %w", path, err)
	}
	return c, nil
}

// ParseKeys reads "KEYID BASE64KEY" lines; errors name the line, never the
// key material.
func ParseKeys(r io.Reader) ([]Key, error) {
	var keys []Key
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			return nil, fmt.Errorf("line %d: want \"KEYID BASE64KEY\" (two fields), got %d fields", n, len(fields))
		}
		id := fields[0]
		if !keyIDRe.MatchString(id) {
			return nil, fmt.Errorf("line %d: key id %q is not 1-64 characters from [A-Za-z0-9._-]", n, id)
		}
		secret, err := base64.StdEncoding.DecodeString(fields[1])
		if err != nil {
			return nil, fmt.Errorf("line %d: key %q is not standard base64", n, id)
		}
		if len(secret) != KeySize {
			return nil, fmt.Errorf("line %d: key %q is %d bytes, want %d (e.g. head -c 32 /dev/urandom | base64)", n, id, len(secret), KeySize)
		}
		keys = append(keys, Key{ID: id, Secret: secret})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, errors.New("holds no key (want lines \"KEYID BASE64KEY\", the first one encrypts)")
	}
	return keys, nil
}

// NewKey returns a fresh random key named id.
func NewKey(id string) (Key, error) {
	secret := make([]byte, KeySize)
	if _, err := rand.Read(secret); err != nil {
		return Key{}, err
	}
	return Key{ID: id, Secret: secret}, nil
}

// KeyFileLine formats k as a key file line (with its newline).
func KeyFileLine(k Key) string {
	return k.ID + " " + base64.StdEncoding.EncodeToString(k.Secret) + "\n"
}

// Encode encrypts each payload with the active key.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.active]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if p == nil {
			continue
		}
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("encrypt payload: %w", err)
		}
		data := make([]byte, NonceSize, NonceSize+len(plain)+aead.Overhead())
		if _, err := rand.Read(data); err != nil {
			return payloads, fmt.Errorf("encrypt payload: nonce: %w", err)
		}
		data = aead.Seal(data, data[:NonceSize], plain, []byte(c.active))
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(MetadataEncoding),
				MetadataKeyID:              []byte(c.active),
			},
			Data: data,
		}
	}
	return out, nil
}

// Encrypted reports whether p carries the binary/encrypted marker.
func Encrypted(p *commonpb.Payload) bool {
	return p != nil && bytes.Equal(p.GetMetadata()[converter.MetadataEncoding], []byte(MetadataEncoding))
}

// Decode decrypts each encrypted payload and passes the others through.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !Encrypted(p) {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.aeads[id]
		if !ok {
			return payloads, fmt.Errorf("%w: it was encrypted with key id %q, which the key file lacks (it has %s)", ErrDecrypt, printable(id), strings.Join(c.ids, ", "))
		}
		data := p.GetData()
		if len(data) < NonceSize+aead.Overhead() {
			return payloads, fmt.Errorf("%w: key id %q: %d bytes of data are too short for nonce and tag", ErrDecrypt, id, len(data))
		}
		plain, err := aead.Open(nil, data[:NonceSize], data[NonceSize:], []byte(id))
		if err != nil {
			return payloads, fmt.Errorf("%w: key id %q: authentication failed (the payload was altered, or key %q is not the key it was encrypted with)", ErrDecrypt, id, id)
		}
		var orig commonpb.Payload
		if err := proto.Unmarshal(plain, &orig); err != nil {
			return payloads, fmt.Errorf("%w: key id %q: decrypted bytes are not a payload", ErrDecrypt, id)
		}
		out[i] = &orig
	}
	return out, nil
}

// printable shortens an untrusted key id for an error message.
func printable(id string) string {
	if len(id) > 64 {
		return id[:64] + "…"
	}
	return id
}
