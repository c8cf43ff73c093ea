// Package activities holds the side-effecting steps of clvflow's workflows:
// reading and writing MinIO artifacts, validating data, training, evaluating,
// exporting ONNX and updating the model registry. Activities are methods of
// [Activities], whose fields are the injected clients; workflows call them
// through method references such as (*Activities).IngestDataset.
//
// Only references (bucket, key, version id, sha256, size) cross the
// workflow boundary; data stays in MinIO.
package activities

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/provenance"
	"github.com/clvflow/clvflow/registry"
)

// Buckets names the buckets activities write to.
type Buckets struct {
	Datasets string // raw and cleaned datasets, features, reports
	Models   string // trained models, checkpoints, ONNX files
}

// Activities is the set of activities a clvflow worker runs.
type Activities struct {
	Store    *artifacts.Store
	Registry *registry.Registry
	Buckets  Buckets
	// ONNXLibrary is the ONNX Runtime shared library path ("" = search).
	ONNXLibrary string
	// CodeRevision is recorded in the lineage of registered models.
	CodeRevision string
	// MaxUncompressedBytes caps the decompressed size of an ingested
	// transaction log (config ingest.max_uncompressed_bytes); 0 means
	// dataset.DefaultMaxUncompressedBytes.
	MaxUncompressedBytes int64
	// AllowedInputDirs are the only directories IngestDataset reads a local
	// path from (config ingest.allowed_dirs): a worker-side policy, never
	// workflow input. Empty means none: only objects already in the store.
	AllowedInputDirs []string
	// Policy loads the worker's promotion policy (config policy.file, or the
	// worker's gate and approvals sections); called at the start of every
	// run so an edited file applies to the next one.
	Policy func() (policy.Policy, error)
	// Provenance signs what the registry records (config
	// provenance.signing_key); nil: versions and alias moves are unsigned.
	Provenance *provenance.Signer
	// Features shares the feature sets loaded by concurrent activities of
	// this worker ([FeatureCache]); nil: every activity loads its own.
	Features *FeatureCache
	// Heavy bounds how many heavy activities (featurize, train, evaluate,
	// export, score shards) run at once in this worker (config
	// worker.max_heavy_activities); nil: no bound.
	Heavy  *HeavyLimiter
	Logger *slog.Logger
}

func (a *Activities) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// sha256Hex is the lower-case hex sha256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
