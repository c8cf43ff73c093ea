package provenance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/registry"
)

// Source is what chain verification reads: the registry's objects and the
// stored ONNX file's digest.
type Source interface {
	VersionObject(ctx context.Context, id string) (registry.Object, registry.Version, error)
	Attestation(ctx context.Context, key string) ([]byte, error)
	VersionAttestationKey(id string) string
	AliasAttestationKey(alias string, seq int64) string
	Events(ctx context.Context, id string) ([]registry.Event, error)
	Aliases(ctx context.Context) ([]registry.AliasState, error)
	AliasEntryObject(ctx context.Context, alias string, seq int64) (registry.Object, registry.AliasEntry, error)
	// ONNXDigest hashes the stored ONNX file of v (whatever its bytes are now).
	ONNXDigest(ctx context.Context, v registry.Version) (string, error)
}

// Link is one checked link of a version's chain.
type Link struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Report is the verification of a version's chain, link by link in order;
// it stops at the first link that fails.
type Report struct {
	Version string `json:"version"`
	Links   []Link `json:"links"`
}

// Err names the first link that failed (nil when all passed).
func (r Report) Err() error {
	for _, l := range r.Links {
		if !l.OK {
			return fmt.Errorf("%s: chain broken at link %q: %s", r.Version, l.Name, l.Detail)
		}
	}
	return nil
}

// Options of VerifyChain.
type Options struct {
	// SkipONNX leaves out hashing the stored ONNX file (a caller that has
	// just read it through a sha256-checking reader).
	SkipONNX bool
	// Aliases limits the alias links to these aliases (nil: every alias that
	// points at the version).
	Aliases []string
}

// chain carries what earlier links established to later ones.
type chain struct {
	src     Source
	trusted *TrustedKeys
	opts    Options
	id      string
	entry   registry.Object
	v       registry.Version
	stmt    opened
	report  Report
}

// VerifyChain checks, offline, every link from a version's registry entry to
// the aliases that point at it: the entry can be read; its provenance
// envelope is signed by a trusted key; the signed statement names the
// entry's exact bytes; it names the ONNX file the entry names, and the stored
// file has those bytes; the approval is signed by a key the recorded policy
// allows, for this run, version and file; and every alias entry that points
// at the version is signed and names the same file.
func VerifyChain(ctx context.Context, src Source, trusted *TrustedKeys, id string, opts Options) Report {
	c := &chain{src: src, trusted: trusted, opts: opts, id: id, report: Report{Version: id}}
	for _, step := range []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{"registry entry", c.readEntry}, {"provenance signature", c.openProvenance}, {"registry entry digest", c.entryDigest},
		{"ONNX file", c.onnxFile}, {"approval", c.approval},
	} {
		if !c.link(ctx, step.name, step.run) {
			return c.report
		}
	}
	c.aliases(ctx)
	return c.report
}

func (c *chain) link(ctx context.Context, name string, run func(context.Context) (string, error)) bool {
	detail, err := run(ctx)
	if err != nil {
		c.report.Links = append(c.report.Links, Link{Name: name, Detail: err.Error()})
		return false
	}
	c.report.Links = append(c.report.Links, Link{Name: name, OK: true, Detail: detail})
	return true
}

func (c *chain) readEntry(ctx context.Context) (string, error) {
	entry, v, err := c.src.VersionObject(ctx, c.id)
	if err != nil {
		return "", err
	}
	c.entry, c.v = entry, v
	return fmt.Sprintf("%s (%d bytes, sha256 %s)", entry.Key, len(entry.Bytes), SHA256(entry.Bytes)), nil
}

func (c *chain) openProvenance(ctx context.Context) (string, error) {
	key := c.src.VersionAttestationKey(c.id)
	env, err := c.src.Attestation(ctx, key)
	if err != nil {
		return "", fmt.Errorf("no provenance for %s (%v): it was registered by a worker without provenance.signing_key", c.id, err)
	}
	o, err := open(ctx, c.trusted, env, LineagePredicate)
	if err != nil {
		return "", fmt.Errorf("%s: %v", key, err)
	}
	var lin Lineage
	if err := o.predicate(&lin); err != nil || lin.Version != c.id {
		return "", fmt.Errorf("%s: the signed lineage is for version %q, not %s (%v)", key, lin.Version, c.id, err)
	}
	c.stmt = o
	return fmt.Sprintf("%s signed by %s", key, o.keyID), nil
}

func (c *chain) entryDigest(context.Context) (string, error) {
	signed, now := c.stmt.subject(SubjectRegistryEntry), SHA256(c.entry.Bytes)
	if signed != now {
		return "", fmt.Errorf("%s was changed after it was signed (sha256 now %s, signed %s)", c.entry.Key, now, signed)
	}
	return "sha256 " + now + " as signed", nil
}

func (c *chain) onnxFile(ctx context.Context) (string, error) {
	signed := c.stmt.subject(SubjectONNX)
	if signed == "" || signed != c.v.ONNX.SHA256 {
		return "", fmt.Errorf("the signed statement names ONNX sha256 %q, the registry entry %q", signed, c.v.ONNX.SHA256)
	}
	if c.opts.SkipONNX {
		return "sha256 " + signed + " (file checked by the reader)", nil
	}
	stored, err := c.src.ONNXDigest(ctx, c.v)
	if err != nil {
		return "", fmt.Errorf("read s3://%s/%s: %v", c.v.ONNX.Bucket, c.v.ONNX.Key, err)
	}
	if stored != signed {
		return "", fmt.Errorf("s3://%s/%s has sha256 %s, the signed statement %s: the file was changed", c.v.ONNX.Bucket, c.v.ONNX.Key, stored, signed)
	}
	return fmt.Sprintf("s3://%s/%s sha256 %s as signed", c.v.ONNX.Bucket, c.v.ONNX.Key, stored), nil
}

// approval checks the version's last approval: a signed statement by a key
// the policy recorded in the (signed) registry entry allows, or an automatic
// approval that policy allowed.
func (c *chain) approval(ctx context.Context) (string, error) {
	events, err := c.src.Events(ctx, c.id)
	if err != nil {
		return "", err
	}
	var last *registry.Event
	for j := range events {
		if events[j].Type == registry.EventApproved {
			last = &events[j]
		}
	}
	if last == nil {
		return "", errors.New("the version was never approved")
	}
	if c.v.Policy == nil {
		return "", errors.New("the registry entry records no policy to verify the approval with")
	}
	if last.Signed == nil {
		if c.v.Policy.AllowAutoApproval && strings.HasPrefix(last.Comment, "auto-approved") {
			return "automatic approval by " + last.Actor + ", allowed by policy " + c.v.Policy.Digest, nil
		}
		return "", fmt.Errorf("approval event %d by %q carries no signature", last.Seq, last.Actor)
	}
	return c.verifyDecision(last.Signed, approval.Approve)
}

func (c *chain) verifyDecision(d *registry.SignedDecision, decision string) (string, error) {
	signers, err := approval.ParseAllowedSigners([]byte(c.v.Policy.AllowedSignersText), "recorded allowed signers")
	if err != nil {
		return "", err
	}
	ver, err := approval.Verify([]byte(d.Statement), []byte(d.Signature), signers)
	if err != nil {
		return "", err
	}
	exp := approval.Expect{Decisions: []string{decision}, WorkflowID: c.v.WorkflowID, RunID: c.v.RunID, Version: c.id, ONNXSHA256: c.v.ONNX.SHA256}
	if err := exp.Match(ver.Statement); err != nil {
		return "", err
	}
	return fmt.Sprintf("signed by %s with %s key %s", ver.Signer.Principal, ver.Signer.KeyType, ver.Signer.Fingerprint), nil
}

// aliases checks the current entry of every alias that points at the
// version.
func (c *chain) aliases(ctx context.Context) {
	states, err := c.src.Aliases(ctx)
	if err != nil {
		c.report.Links = append(c.report.Links, Link{Name: "aliases", Detail: err.Error()})
		return
	}
	for _, st := range states {
		if st.Version != c.id || (c.opts.Aliases != nil && !slices.Contains(c.opts.Aliases, st.Alias)) {
			continue
		}
		if !c.link(ctx, "alias "+st.Alias, func(ctx context.Context) (string, error) { return c.aliasEntry(ctx, st) }) {
			return
		}
	}
}

func (c *chain) aliasEntry(ctx context.Context, st registry.AliasState) (string, error) {
	obj, e, err := c.src.AliasEntryObject(ctx, st.Alias, st.Seq)
	if err != nil {
		return "", err
	}
	key := c.src.AliasAttestationKey(st.Alias, st.Seq)
	env, err := c.src.Attestation(ctx, key)
	if err != nil {
		return "", fmt.Errorf("entry %d of alias %s is not signed (%v)", st.Seq, st.Alias, err)
	}
	o, err := open(ctx, c.trusted, env, AliasMovePredicate)
	if err != nil {
		return "", fmt.Errorf("%s: %v", key, err)
	}
	if signed, now := o.subject(SubjectAliasEntry), SHA256(obj.Bytes); signed != now {
		return "", fmt.Errorf("%s was changed after it was signed (sha256 now %s, signed %s)", obj.Key, now, signed)
	}
	if o.subject(SubjectONNX) != c.v.ONNX.SHA256 || e.To != c.id {
		return "", fmt.Errorf("the signed move of %s names another model than %s's ONNX file", st.Alias, c.id)
	}
	return fmt.Sprintf("entry %d (%s → %s by %s) signed by %s", e.Seq, orDash(e.From), e.To, e.Actor, o.keyID), nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
