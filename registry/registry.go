package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// Options tune a [Registry]. The zero value is usable.
type Options struct {
	// Prefix is prepended to every key (e.g. "registry/"); empty by default.
	Prefix string
	// Now is the clock stamped on versions, events and alias moves (stored
	// in UTC). Default time.Now.
	Now func() time.Time
	// MaxAttempts bounds how often one append is retried after losing a
	// race to a concurrent writer before failing with ErrConflict.
	// Default 1000.
	MaxAttempts int
}

// Registry is the model registry in one MinIO bucket. It is safe for
// concurrent use, also by several processes sharing the bucket.
type Registry struct {
	client      *minio.Client
	bucket      string
	prefix      string
	now         func() time.Time
	maxAttempts int

	hintsMu sync.Mutex
	hints   map[string]int64 // log prefix → highest entry seen
}

// New returns a registry on bucket. It does no I/O; call
// [Registry.EnsureBucket] once to create the bucket with versioning on.
func New(client *minio.Client, bucket string, opts Options) (*Registry, error) {
	if client == nil {
		return nil, invalidf("nil MinIO client")
	}
	if bucket == "" {
		return nil, invalidf("empty bucket name")
	}
	if opts.Prefix != "" && !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 1000
	}
	return &Registry{client: client, bucket: bucket, prefix: opts.Prefix, now: opts.Now, maxAttempts: opts.MaxAttempts}, nil
}

// Bucket returns the registry's bucket name.
func (r *Registry) Bucket() string { return r.bucket }

// EnsureBucket creates the bucket if needed and turns versioning on. It is
// idempotent and safe to call concurrently.
func (r *Registry) EnsureBucket(ctx context.Context) error {
	ok, err := r.client.BucketExists(ctx, r.bucket)
	if err != nil {
		return fmt.Errorf("registry: check bucket %q: %w", r.bucket, err)
	}
	if !ok {
		if err := r.client.MakeBucket(ctx, r.bucket, minio.MakeBucketOptions{}); err != nil {
			code := minio.ToErrorResponse(err).Code
			if code != "BucketAlreadyOwnedByYou" && code != "BucketAlreadyExists" {
				return fmt.Errorf("registry: create bucket %q: %w", r.bucket, err)
			}
		}
	}
	cfg, err := r.client.GetBucketVersioning(ctx, r.bucket)
	if err != nil {
		return fmt.Errorf("registry: read versioning of bucket %q: %w", r.bucket, err)
	}
	if !cfg.Enabled() {
		if err := r.client.EnableVersioning(ctx, r.bucket); err != nil {
			return fmt.Errorf("registry: enable versioning on bucket %q: %w", r.bucket, err)
		}
	}
	return nil
}

func (r *Registry) versionsLog() seqLog {
	return seqLog{what: "version list", prefix: r.prefix + "versions/", stem: "v", sparse: true}
}

func (r *Registry) versionKey(id string) string { return r.prefix + "versions/" + id + ".json" }

func (r *Registry) eventsLog(id string) seqLog {
	return seqLog{what: "events of " + id, prefix: r.prefix + "events/" + id + "/", pad: 8}
}

func (r *Registry) aliasLog(alias string) seqLog {
	return seqLog{what: fmt.Sprintf("history of alias %q", alias), prefix: r.prefix + "aliases/" + alias + "/", pad: 12}
}

func encode(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("registry: encode: %w", err)
	}
	return append(b, '\n'), nil
}

func decodeVersion(key string, b []byte) (Version, error) {
	var v Version
	if err := json.Unmarshal(b, &v); err != nil {
		return Version{}, fmt.Errorf("registry: decode %s: %w", key, err)
	}
	if raw, ok := v.Artifacts[legacyRawDatasetRole]; ok && v.Dataset.Raw.IsZero() {
		v.Dataset.Raw = raw
		delete(v.Artifacts, legacyRawDatasetRole)
	}
	return v, nil
}

// legacyRawDatasetRole is where entries registered before DatasetRef.Raw
// kept the raw dataset.
const legacyRawDatasetRole = "raw_dataset"

// Register validates v and stores it as a new immutable version, stamped
// with the registry clock. With v.ID empty the next id (v1, v2, …) is
// allocated; with v.ID set exactly that id is created, and ErrConflict is
// returned when it exists. When v carries a WorkflowID and RunID and a
// version of the same ModelName was already registered by that run, that
// version is returned instead (so retried activities do not duplicate it;
// ErrConflict if v.ID asks for a different id).
// The returned Version is what [Registry.Get] will return.
func (r *Registry) Register(ctx context.Context, v Version) (Version, error) {
	if err := v.Validate(); err != nil {
		return Version{}, err
	}
	if v.WorkflowID != "" && v.RunID != "" {
		all, err := r.List(ctx)
		if err != nil {
			return Version{}, err
		}
		for _, old := range all {
			if old.WorkflowID == v.WorkflowID && old.RunID == v.RunID && old.ModelName == v.ModelName {
				if v.ID != "" && v.ID != old.ID {
					return Version{}, conflictf("workflow %s run %s already registered model %q as %s, not %s", v.WorkflowID, v.RunID, v.ModelName, old.ID, v.ID)
				}
				return old, nil
			}
		}
	}
	v.CreatedAt = r.now().UTC()
	if v.ID != "" {
		body, err := encode(v)
		if err != nil {
			return Version{}, err
		}
		key := r.versionKey(v.ID)
		if err := r.create(ctx, key, body); err != nil {
			if errors.Is(err, errExists) {
				return Version{}, conflictf("version %s already exists", v.ID)
			}
			return Version{}, err
		}
		return decodeVersion(key, body)
	}
	l := r.versionsLog()
	n, body, err := r.appendEntry(ctx, l, func(n int64, _ []byte) ([]byte, error) {
		v.ID = fmt.Sprintf("v%d", n+1)
		return encode(v)
	})
	if err != nil {
		return Version{}, err
	}
	return decodeVersion(l.key(n), body)
}

// Get returns version id ("v3").
func (r *Registry) Get(ctx context.Context, id string) (Version, error) {
	if err := ValidateVersionID(id); err != nil {
		return Version{}, err
	}
	key := r.versionKey(id)
	b, err := r.get(ctx, key)
	if errors.Is(err, errMissing) {
		return Version{}, notFoundf("version %s", id)
	}
	if err != nil {
		return Version{}, err
	}
	v, err := decodeVersion(key, b)
	if err != nil {
		return Version{}, err
	}
	if v.ID != id {
		return Version{}, fmt.Errorf("registry: %s holds version %q, not %s: record is corrupt", key, v.ID, id)
	}
	return v, nil
}

// List returns every version, sorted by id numerically (v2 before v10).
func (r *Registry) List(ctx context.Context) ([]Version, error) {
	ns, err := r.listed(ctx, r.versionsLog())
	if err != nil {
		return nil, err
	}
	out := make([]Version, 0, len(ns))
	for _, n := range ns {
		v, err := r.Get(ctx, fmt.Sprintf("v%d", n))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// ChampionAlias is the alias of the model in production: the pipeline
// promotes to it and serving follows it.
const ChampionAlias = "champion"

// Lookup returns the version named by ref: a version id ("v3") or an alias
// name ("champion").
func (r *Registry) Lookup(ctx context.Context, ref string) (Version, error) {
	if IsVersionID(ref) {
		return r.Get(ctx, ref)
	}
	if err := ValidateAlias(ref); err != nil {
		return Version{}, invalidf("%q is neither a version id (v1, v2, …) nor an alias name", ref)
	}
	return r.Resolve(ctx, ref)
}

// AddEvent appends a status event to a version's event log and returns it
// with its Seq and Time filled in. Version, Type and Actor are required.
// When the last event of the version has the same type, actor, comment and
// (non-empty) workflow and run ids, that event is returned instead of a
// duplicate.
func (r *Registry) AddEvent(ctx context.Context, e Event) (Event, error) {
	if err := e.validate(); err != nil {
		return Event{}, err
	}
	if _, err := r.Get(ctx, e.Version); err != nil {
		return Event{}, fmt.Errorf("add %s event: %w", e.Type, err)
	}
	l := r.eventsLog(e.Version)
	n, body, err := r.appendEntry(ctx, l, func(n int64, head []byte) ([]byte, error) {
		if head != nil && e.WorkflowID != "" {
			last, err := decodeEvent(l.key(n), head)
			if err != nil {
				return nil, err
			}
			if last.Type == e.Type && last.Actor == e.Actor && last.Comment == e.Comment && last.WorkflowID == e.WorkflowID && last.RunID == e.RunID {
				return nil, errUseHead
			}
		}
		e.Seq = n + 1
		e.Time = r.now().UTC()
		return encode(e)
	})
	if err != nil {
		return Event{}, err
	}
	return decodeEvent(l.key(n), body)
}

func decodeEvent(key string, b []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(b, &e); err != nil {
		return Event{}, fmt.Errorf("registry: decode %s: %w", key, err)
	}
	return e, nil
}

// Events returns the status events of a version in order (empty when it
// has none); ErrNotFound when the version does not exist.
func (r *Registry) Events(ctx context.Context, id string) ([]Event, error) {
	if _, err := r.Get(ctx, id); err != nil {
		return nil, err
	}
	l := r.eventsLog(id)
	bodies, err := r.entries(ctx, l)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(bodies))
	for i, b := range bodies {
		e, err := decodeEvent(l.key(int64(i+1)), b)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func decodeEntry(alias, key string, seq int64, b []byte) (AliasEntry, error) {
	var e AliasEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return AliasEntry{}, fmt.Errorf("registry: decode %s: %w", key, err)
	}
	if e.Seq != seq || e.Alias != alias {
		return AliasEntry{}, fmt.Errorf("registry: %s holds entry %d of alias %q, want entry %d of %q: history is corrupt", key, e.Seq, e.Alias, seq, alias)
	}
	return e, nil
}

// MoveAlias points m.Alias at version m.To and appends the move to the
// alias's history. The target must exist (ErrNotFound) and have an ONNX
// artifact (ErrInvalid); moving an alias to where it already points is
// ErrInvalid; with m.ExpectFrom set, a move finding the alias elsewhere fails
// with ErrConflict. Concurrent moves are serialised by the history: each
// entry's From is the previous entry's To. Repeating the latest move of the
// same workflow run (same alias, target, actor, workflow and run id) returns
// that entry instead of failing.
func (r *Registry) MoveAlias(ctx context.Context, m Move) (AliasEntry, error) {
	if err := m.validate(); err != nil {
		return AliasEntry{}, err
	}
	target, err := r.Get(ctx, m.To)
	if err != nil {
		return AliasEntry{}, fmt.Errorf("move alias %q: %w", m.Alias, err)
	}
	if target.ONNX.IsZero() {
		return AliasEntry{}, invalidf("move alias %q: version %s has no ONNX artifact and cannot be served", m.Alias, m.To)
	}
	l := r.aliasLog(m.Alias)
	n, body, err := r.appendEntry(ctx, l, func(n int64, head []byte) ([]byte, error) {
		current := ""
		if head != nil {
			cur, err := decodeEntry(m.Alias, l.key(n), n, head)
			if err != nil {
				return nil, err
			}
			if m.WorkflowID != "" && cur.To == m.To && cur.Actor == m.Actor && cur.WorkflowID == m.WorkflowID && cur.RunID == m.RunID {
				return nil, errUseHead
			}
			current = cur.To
		}
		if m.ExpectFrom != nil && *m.ExpectFrom != current {
			return nil, conflictf("alias %q points to %s, not the expected %s", m.Alias, orUnset(current), orUnset(*m.ExpectFrom))
		}
		if current == m.To {
			return nil, invalidf("alias %q already points to %s", m.Alias, m.To)
		}
		return encode(AliasEntry{
			Seq: n + 1, Alias: m.Alias, From: current, To: m.To,
			Actor: m.Actor, Reason: m.Reason, WorkflowID: m.WorkflowID, RunID: m.RunID,
			Time: r.now().UTC(),
		})
	})
	if err != nil {
		return AliasEntry{}, err
	}
	return decodeEntry(m.Alias, l.key(n), n, body)
}

func orUnset(v string) string {
	if v == "" {
		return "(unset)"
	}
	return v
}

// Current returns the latest history entry of an alias (its To is where the
// alias points); ErrNotFound when the alias has never been set.
func (r *Registry) Current(ctx context.Context, alias string) (AliasEntry, error) {
	if err := ValidateAlias(alias); err != nil {
		return AliasEntry{}, err
	}
	l := r.aliasLog(alias)
	n, body, err := r.head(ctx, l)
	if err != nil {
		return AliasEntry{}, err
	}
	if n == 0 {
		return AliasEntry{}, notFoundf("alias %q", alias)
	}
	return decodeEntry(alias, l.key(n), n, body)
}

// Resolve returns the version an alias points at.
func (r *Registry) Resolve(ctx context.Context, alias string) (Version, error) {
	cur, err := r.Current(ctx, alias)
	if err != nil {
		return Version{}, err
	}
	v, err := r.Get(ctx, cur.To)
	if err != nil {
		return Version{}, fmt.Errorf("resolve alias %q: %w", alias, err)
	}
	return v, nil
}

// History returns every move of an alias, oldest first. It checks the
// history's invariants (entries 1..n, each From equal to the previous To) and
// reports a corrupt history as an error. ErrNotFound when the alias has never
// been set.
func (r *Registry) History(ctx context.Context, alias string) ([]AliasEntry, error) {
	if err := ValidateAlias(alias); err != nil {
		return nil, err
	}
	l := r.aliasLog(alias)
	bodies, err := r.entries(ctx, l)
	if err != nil {
		return nil, err
	}
	if len(bodies) == 0 {
		return nil, notFoundf("alias %q", alias)
	}
	out := make([]AliasEntry, 0, len(bodies))
	prev := ""
	for i, b := range bodies {
		seq := int64(i + 1)
		e, err := decodeEntry(alias, l.key(seq), seq, b)
		if err != nil {
			return nil, err
		}
		if e.From != prev {
			return nil, fmt.Errorf("registry: history of alias %q: entry %d moves from %s but entry %d left it at %s: history is corrupt", alias, seq, orUnset(e.From), seq-1, orUnset(prev))
		}
		prev = e.To
		out = append(out, e)
	}
	return out, nil
}

// Aliases returns the current state of every alias, sorted by name.
func (r *Registry) Aliases(ctx context.Context) ([]AliasState, error) {
	base := r.prefix + "aliases/"
	keys, err := r.listKeys(ctx, base, false)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, k := range keys {
		name, ok := strings.CutSuffix(strings.TrimPrefix(k, base), "/")
		if ok && ValidateAlias(name) == nil {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := make([]AliasState, 0, len(names))
	for _, name := range names {
		cur, err := r.Current(ctx, name)
		if errors.Is(err, ErrNotFound) {
			continue // a prefix without entries
		}
		if err != nil {
			return nil, err
		}
		out = append(out, AliasState{Alias: name, Version: cur.To, Seq: cur.Seq, Since: cur.Time, Actor: cur.Actor})
	}
	return out, nil
}

// Diff loads two versions (ids or alias names) and compares them.
func (r *Registry) Diff(ctx context.Context, a, b string) (Diff, error) {
	va, err := r.Lookup(ctx, a)
	if err != nil {
		return Diff{}, err
	}
	vb, err := r.Lookup(ctx, b)
	if err != nil {
		return Diff{}, err
	}
	return DiffVersions(va, vb), nil
}
