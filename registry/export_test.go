package registry

import "context"

// Unexported identifiers that the external tests (package registry_test)
// need. They are declared here, in a test file of package registry, so they
// exist only while testing.

var (
	// NewTestRegistry is newTestRegistry (store_test.go): a registry on a
	// fresh versioned bucket of the test binary's MinIO.
	NewTestRegistry = newTestRegistry
	Encode          = encode
	DecodeVersion   = decodeVersion
	OrUnset         = orUnset
	VersionNumber   = versionNumber
)

// PutIfAbsent is putIfAbsent: it stores body under key unless an object is
// there, bypassing every check of the registry (to forge corrupt logs).
func (r *Registry) PutIfAbsent(ctx context.Context, key string, body []byte) error {
	return r.putIfAbsent(ctx, key, body)
}

// AliasLogKey is the key of entry n of alias's history.
func (r *Registry) AliasLogKey(alias string, n int64) string { return r.aliasLog(alias).key(n) }
