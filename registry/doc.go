// Package registry is clvflow's model registry: immutable model versions with
// full lineage, append-only status events, and named aliases (champion,
// candidate, …) whose every move is kept in an append-only history.
//
// Everything lives in one MinIO bucket (versioning on) and is written with
// conditional "create only if absent" PUTs (If-None-Match: *), which the
// MinIO server evaluates under its per-object namespace lock. No object is
// ever overwritten or deleted by this package:
//
//	versions/v<N>.json                 one immutable record per model version
//	events/v<N>/<seq:08d>.json         status events of version v<N> (approved, rejected, …)
//	aliases/<alias>/<seq:012d>.json    history entry <seq> of an alias
//
// Sequence numbers are allocated by trying to create entry N+1 after reading
// entry N: of two concurrent writers exactly one succeeds, the other re-reads
// and retries (or, for a compare-and-swap alias move whose expected source is
// no longer current, fails with [ErrConflict]). The alias history is therefore
// gap-free and each entry's From equals the previous entry's To; the current
// target of an alias is the To of its last history entry.
//
// Writes are idempotent under retries of the same Temporal activity: a write
// whose response was lost is recognised by its byte-identical content, an
// alias move or event repeating the last entry of the same workflow run is
// answered with that entry, and [Registry.Register] returns the version already
// registered by the same workflow run and model name.
package registry
