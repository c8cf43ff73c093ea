package provenance_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/provenance"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/registry/registrytest"
	"github.com/minio/minio-go/v7"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// world is a registry on a real MinIO with one version v1 whose ONNX file
// is stored, approved with a signature by alice, made champion; every
// registry object signed by the worker's key.
type world struct {
	store   *artifacts.Store
	reg     *registry.Registry
	signer  *provenance.Signer
	trusted *provenance.TrustedKeys
	models  string
	version registry.Version
}

func newWorld(t *testing.T) *world {
	t.Helper()
	testenv.RequireIntegration(t)
	srv := testenv.MinIO(t)
	ctx := context.Background()
	st, err := artifacts.New(artifacts.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	n := time.Now().UnixNano() % 1e9
	w := &world{store: st, models: fmt.Sprintf("prov-md-%d", n)}
	if err := st.EnsureBucket(ctx, w.models); err != nil {
		t.Fatal(err)
	}
	if w.reg, err = registry.New(st.Client(), fmt.Sprintf("prov-rg-%d", n), registry.Options{}); err != nil {
		t.Fatal(err)
	}
	if err := w.reg.EnsureBucket(ctx); err != nil {
		t.Fatal(err)
	}
	w.signer, w.trusted = newSigner(t)
	w.register(t)
	return w
}

func newSigner(t *testing.T) (*provenance.Signer, *provenance.TrustedKeys) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "worker")
	if _, err := approval.WriteNewKey(path, "worker"); err != nil {
		t.Fatal(err)
	}
	s, err := provenance.LoadSigner(path)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := provenance.ParseTrustedKeys([]byte(s.PublicKeyLine("worker")), "trusted")
	if err != nil {
		t.Fatal(err)
	}
	return s, trusted
}

// register stores an ONNX file, registers v1 with a policy allowing alice,
// signs it, records alice's signed approval and makes it champion.
func (w *world) register(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	onnx, err := w.store.Put(ctx, w.models, "onnx", bytes.NewReader([]byte("not really onnx, but bytes with a digest")), artifacts.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pub, err := approval.WriteNewKey(filepath.Join(dir, "alice"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	v := registrytest.SampleVersion("ziln", 0.7)
	v.ONNX = onnx
	v.Policy = &registry.PolicyRecord{Digest: strings.Repeat("d", 64), AllowedSignersText: approval.AllowedSignersLine("alice", pub)}
	if w.version, err = w.reg.Register(ctx, v); err != nil {
		t.Fatal(err)
	}
	obj, got, err := w.reg.VersionObject(ctx, w.version.ID)
	if err != nil {
		t.Fatal(err)
	}
	env, err := provenance.SignVersion(ctx, w.signer, obj, got)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.reg.PutAttestation(ctx, w.reg.VersionAttestationKey(got.ID), env); err != nil {
		t.Fatal(err)
	}
	st := approval.Statement{Decision: approval.Approve, WorkflowID: v.WorkflowID, RunID: v.RunID, Version: got.ID,
		ONNXSHA256: onnx.SHA256, Approver: "alice", Comment: "ok", Time: time.Now()}
	sig, err := approval.SignWithKey(ctx, st.Marshal(), filepath.Join(dir, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	signed := &registry.SignedDecision{Format: "sshsig", Statement: string(st.Marshal()), Signature: string(sig), Principal: "alice"}
	if _, err := w.reg.AddEvent(ctx, registry.Event{Version: got.ID, Type: registry.EventApproved, Actor: "alice", Signed: signed}); err != nil {
		t.Fatal(err)
	}
	w.move(t, "champion", signed)
}

func (w *world) move(t *testing.T, alias string, d *registry.SignedDecision) {
	t.Helper()
	ctx := context.Background()
	e, err := w.reg.MoveAlias(ctx, registry.Move{Alias: alias, To: w.version.ID, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := w.reg.AliasEntryObject(ctx, alias, e.Seq)
	if err != nil {
		t.Fatal(err)
	}
	env, err := provenance.SignAliasMove(ctx, w.signer, obj, e, w.version, d)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.reg.PutAttestation(ctx, w.reg.AliasAttestationKey(alias, e.Seq), env); err != nil {
		t.Fatal(err)
	}
}

func (w *world) verify(trusted *provenance.TrustedKeys) provenance.Report {
	return provenance.VerifyChain(context.Background(), provenance.RegistrySource{Registry: w.reg, Store: w.store}, trusted, w.version.ID, provenance.Options{})
}

// flipByte rewrites an object with one byte changed (a digit, so JSON stays
// valid), as someone with write access to the bucket could.
func flipByte(t *testing.T, c *minio.Client, bucket, key string, find string) {
	t.Helper()
	ctx := context.Background()
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(obj); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	i := bytes.Index(b, []byte(find))
	if i < 0 {
		t.Fatalf("%q not in %s", find, key)
	}
	b[i+len(find)-1]++
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestChainVerifies(t *testing.T) {
	w := newWorld(t)
	r := w.verify(w.trusted)
	if err := r.Err(); err != nil {
		t.Fatalf("a signed chain does not verify: %v\n%+v", err, r.Links)
	}
	var names []string
	for _, l := range r.Links {
		names = append(names, l.Name)
	}
	if got := strings.Join(names, ","); got != "registry entry,provenance signature,registry entry digest,ONNX file,approval,alias champion" {
		t.Fatalf("links %s", got)
	}
	other, _ := newSigner(t)
	r = w.verify(provenance.Trust(other))
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), `link "provenance signature"`) {
		t.Fatalf("a chain signed by an untrusted key: %v", err)
	}
}

// TestTamperingNamesTheLink changes one byte of the registry entry, of the
// alias entry and of the ONNX object, each in a fresh world, and expects the
// verification to name the link that broke.
func TestTamperingNamesTheLink(t *testing.T) {
	cases := []struct {
		link   string
		tamper func(t *testing.T, w *world)
	}{
		{"registry entry digest", func(t *testing.T, w *world) {
			flipByte(t, w.store.Client(), w.reg.Bucket(), "versions/"+w.version.ID+".json", `"seed": 4`)
		}},
		{"alias champion", func(t *testing.T, w *world) {
			flipByte(t, w.store.Client(), w.reg.Bucket(), aliasEntryKey(t, w), `"actor": "alic`)
		}},
		{"ONNX file", func(t *testing.T, w *world) {
			flipByte(t, w.store.Client(), w.version.ONNX.Bucket, w.version.ONNX.Key, "not")
		}},
		{"approval", func(t *testing.T, w *world) {
			if _, err := w.reg.AddEvent(context.Background(), registry.Event{Version: w.version.ID, Type: registry.EventApproved, Actor: "mallory"}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.link, func(t *testing.T) {
			w := newWorld(t)
			c.tamper(t, w)
			err := w.verify(w.trusted).Err()
			if err == nil || !strings.Contains(err.Error(), `link "`+c.link+`"`) {
				t.Fatalf("after tampering: %v, want the %q link named", err, c.link)
			}
		})
	}
}

func aliasEntryKey(t *testing.T, w *world) string {
	t.Helper()
	obj, _, err := w.reg.AliasEntryObject(context.Background(), "champion", 1)
	if err != nil {
		t.Fatal(err)
	}
	return obj.Key
}

func TestAttestationsAreNeverReplaced(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	key := w.reg.VersionAttestationKey(w.version.ID)
	env, err := w.reg.Attestation(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.reg.PutAttestation(ctx, key, env); err != nil {
		t.Fatalf("re-storing the same envelope (a retry) failed: %v", err)
	}
	if err := w.reg.PutAttestation(ctx, key, append(env, ' ')); err == nil || !strings.Contains(err.Error(), "never replaced") {
		t.Fatalf("replacing an attestation: %v", err)
	}
}
