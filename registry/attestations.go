package registry

import (
	"context"
	"errors"
	"fmt"
)

// Raw registry objects and the attestations that sign them. The registry
// stores an attestation (a DSSE envelope, package provenance) next to the
// object it signs, create-only:
//
//	attestations/versions/<id>.dsse.json
//	attestations/aliases/<alias>/<seq, 20 digits>.dsse.json

// Object is a registry object's exact bytes and its key in the bucket.
type Object struct {
	Key   string
	Bytes []byte
}

// VersionObject returns the stored bytes of a version entry with the
// version decoded from them.
func (r *Registry) VersionObject(ctx context.Context, id string) (Object, Version, error) {
	if err := ValidateVersionID(id); err != nil {
		return Object{}, Version{}, err
	}
	key := r.versionKey(id)
	b, err := r.get(ctx, key)
	if errors.Is(err, errMissing) {
		return Object{}, Version{}, notFoundf("version %s", id)
	}
	if err != nil {
		return Object{}, Version{}, err
	}
	v, err := decodeVersion(key, b)
	if err == nil && v.ID != id {
		err = fmt.Errorf("registry: %s holds version %q, not %s: record is corrupt", key, v.ID, id)
	}
	return Object{Key: key, Bytes: b}, v, err
}

// AliasEntryObject returns the stored bytes of entry seq of an alias's
// history with the entry decoded from them.
func (r *Registry) AliasEntryObject(ctx context.Context, alias string, seq int64) (Object, AliasEntry, error) {
	if err := ValidateAlias(alias); err != nil {
		return Object{}, AliasEntry{}, err
	}
	key := r.aliasLog(alias).key(seq)
	b, err := r.get(ctx, key)
	if errors.Is(err, errMissing) {
		return Object{}, AliasEntry{}, notFoundf("entry %d of alias %q", seq, alias)
	}
	if err != nil {
		return Object{}, AliasEntry{}, err
	}
	e, err := decodeEntry(alias, key, seq, b)
	return Object{Key: key, Bytes: b}, e, err
}

// VersionAttestationKey is where the attestation of a version lives.
func (r *Registry) VersionAttestationKey(id string) string {
	return r.prefix + "attestations/versions/" + id + ".dsse.json"
}

// AliasAttestationKey is where the attestation of an alias move lives.
func (r *Registry) AliasAttestationKey(alias string, seq int64) string {
	return fmt.Sprintf("%sattestations/aliases/%s/%020d.dsse.json", r.prefix, alias, seq)
}

// PutAttestation stores an attestation at key, create-only: an existing
// byte-identical one is success (a retry), a different one is ErrConflict
// (an attestation is never replaced).
func (r *Registry) PutAttestation(ctx context.Context, key string, envelope []byte) error {
	err := r.create(ctx, key, envelope)
	if errors.Is(err, errExists) {
		return conflictf("attestation %s exists with other content and is never replaced", key)
	}
	return err
}

// Attestation reads the attestation at key; ErrNotFound when there is none.
func (r *Registry) Attestation(ctx context.Context, key string) ([]byte, error) {
	b, err := r.get(ctx, key)
	if errors.Is(err, errMissing) {
		return nil, notFoundf("attestation %s", key)
	}
	return b, err
}
