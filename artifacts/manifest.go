package artifacts

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// JSONContentType is the content type of documents written by PutJSON.
const JSONContentType = "application/json"

// PutJSON stores v as indented JSON at the fixed key (a new version when
// the bucket is versioned) and returns the reference, digest included.
func (s *Store) PutJSON(ctx context.Context, bucket, key string, v any) (Ref, error) {
	const op = "put-json"
	if err := checkBucket(bucket); err != nil {
		return Ref{}, s.invalid(op, bucket, key, err)
	}
	if err := s3utils.CheckValidObjectName(key); err != nil {
		return Ref{}, s.invalid(op, bucket, key, fmt.Errorf("key %q: %v", key, err))
	}
	if strings.HasPrefix(key, TempPrefix) {
		return Ref{}, s.invalid(op, bucket, key, fmt.Errorf("key %q is under the reserved prefix %s", key, TempPrefix))
	}
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return Ref{}, s.invalid(op, bucket, key, fmt.Errorf("encode JSON: %w", err))
	}
	data = append(data, '\n')
	h := sha256.Sum256(data)
	sum := hex.EncodeToString(h[:])
	var info minio.UploadInfo
	err = s.call(ctx, op, bucket, key, func(ctx context.Context) (err error) {
		info, err = s.client.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
			ContentType:  JSONContentType,
			UserMetadata: map[string]string{metaSHA256: sum},
		})
		return err
	})
	if err != nil {
		return Ref{}, err
	}
	if info.Size != int64(len(data)) {
		return Ref{}, &Error{Op: op, Bucket: bucket, Key: key, VersionID: info.VersionID, Endpoint: s.cfg.Endpoint, Kind: Integrity,
			Err: fmt.Errorf("the server stored %d bytes, %d were sent", info.Size, len(data))}
	}
	return Ref{Bucket: bucket, Key: key, VersionID: info.VersionID, SHA256: sum, Size: int64(len(data)), ContentType: JSONContentType}, nil
}

// GetJSON reads the JSON document ref points at into v, after verifying it
// as [Store.GetBytes] does. For the latest version at a fixed key pass
// Ref{Bucket: b, Key: k}. A document that does not decode is an [*Error] of
// kind [Invalid].
func (s *Store) GetJSON(ctx context.Context, ref Ref, v any) error {
	data, err := s.GetBytes(ctx, ref)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &Error{Op: "get-json", Bucket: ref.Bucket, Key: ref.Key, VersionID: ref.VersionID, Endpoint: s.cfg.Endpoint, Kind: Invalid,
			Err: fmt.Errorf("decode JSON: %w", err)}
	}
	return nil
}

// DatasetManifest records one uploaded raw dataset (a transaction log).
type DatasetManifest struct {
	Ref      Ref    `json:"ref"`      // the stored file
	Filename string `json:"filename"` // original file name
	Format   string `json:"format"`   // input format: cdnow, online-retail, csv
	Rows     int64  `json:"rows"`     // data rows in the file (header excluded)
	Bytes    int64  `json:"bytes"`    // stored size in bytes (equals Ref.Size)
	// CreatedAt is when the dataset was ingested (UTC).
	CreatedAt time.Time `json:"created_at"`
	// Source says where the file came from (a path, URL or "api").
	Source string `json:"source,omitempty"`
}

// Validate checks that the manifest is complete and consistent.
func (m DatasetManifest) Validate() error {
	var errs []error
	if err := m.Ref.Validate(); err != nil {
		errs = append(errs, err)
	}
	if !ValidSHA256(m.Ref.SHA256) {
		errs = append(errs, errors.New("dataset ref has no valid sha256"))
	}
	if m.Format == "" {
		errs = append(errs, errors.New("dataset format is empty"))
	}
	if m.Rows < 0 {
		errs = append(errs, fmt.Errorf("dataset rows %d is negative", m.Rows))
	}
	if m.Bytes != m.Ref.Size {
		errs = append(errs, fmt.Errorf("dataset bytes %d differ from the ref size %d", m.Bytes, m.Ref.Size))
	}
	if m.CreatedAt.IsZero() {
		errs = append(errs, errors.New("dataset created_at is not set"))
	}
	if len(errs) == 0 {
		return nil
	}
	return joinOneLine(errs)
}

// DatasetManifestKey returns the fixed key of the manifest of the dataset
// whose content has the given sha256 (hex).
func DatasetManifestKey(sha string) string {
	return "manifests/datasets/" + sha + ".json"
}

// PutDatasetManifest validates m and stores it at DatasetManifestKey(m.Ref.SHA256).
func (s *Store) PutDatasetManifest(ctx context.Context, bucket string, m DatasetManifest) (Ref, error) {
	if err := m.Validate(); err != nil {
		return Ref{}, s.invalid("put-json", bucket, DatasetManifestKey(m.Ref.SHA256), err)
	}
	return s.PutJSON(ctx, bucket, DatasetManifestKey(m.Ref.SHA256), m)
}

// GetDatasetManifest reads the latest manifest of the dataset with the
// given sha256 and checks that it describes that dataset.
func (s *Store) GetDatasetManifest(ctx context.Context, bucket, sha string) (DatasetManifest, error) {
	var m DatasetManifest
	if !ValidSHA256(sha) {
		return m, s.invalid("get-json", bucket, DatasetManifestKey(sha), fmt.Errorf("sha256 %q is not 64 lower-case hex digits", sha))
	}
	if err := s.GetJSON(ctx, Ref{Bucket: bucket, Key: DatasetManifestKey(sha)}, &m); err != nil {
		return DatasetManifest{}, err
	}
	if err := m.Validate(); err != nil {
		return DatasetManifest{}, s.invalid("get-json", bucket, DatasetManifestKey(sha), fmt.Errorf("stored manifest: %w", err))
	}
	if m.Ref.SHA256 != sha {
		return DatasetManifest{}, &Error{Op: "get-json", Bucket: bucket, Key: DatasetManifestKey(sha), Endpoint: s.cfg.Endpoint, Kind: Integrity,
			Err: fmt.Errorf("manifest describes sha256 %s", m.Ref.SHA256)}
	}
	return m, nil
}

// ArtifactManifest records a produced artifact (model file, checkpoint,
// clean dataset, report) and what it was made from.
type ArtifactManifest struct {
	Name string `json:"name"` // e.g. "clv-ziln"
	Kind string `json:"kind"` // e.g. "onnx-model", "checkpoint", "clean-dataset", "report"
	Ref  Ref    `json:"ref"`  // the stored artifact
	// Parents are the artifacts it was derived from (lineage), e.g. the
	// clean dataset a model was trained on.
	Parents   []Ref     `json:"parents,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Labels are small free-form facts (seed, code revision, ...).
	Labels map[string]string `json:"labels,omitempty"`
}

// Validate checks that the manifest is complete.
func (m ArtifactManifest) Validate() error {
	var errs []error
	if m.Name == "" {
		errs = append(errs, errors.New("artifact name is empty"))
	} else if strings.ContainsAny(m.Name, "/\\") {
		errs = append(errs, fmt.Errorf("artifact name %q must not contain slashes", m.Name))
	}
	if m.Kind == "" {
		errs = append(errs, errors.New("artifact kind is empty"))
	}
	if err := m.Ref.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("artifact ref: %w", err))
	}
	if !ValidSHA256(m.Ref.SHA256) {
		errs = append(errs, errors.New("artifact ref has no valid sha256"))
	}
	for i, p := range m.Parents {
		if err := p.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("parent %d: %w", i, err))
		}
	}
	if m.CreatedAt.IsZero() {
		errs = append(errs, errors.New("artifact created_at is not set"))
	}
	if len(errs) == 0 {
		return nil
	}
	return joinOneLine(errs)
}

// ArtifactManifestKey returns the fixed key of the manifest of the artifact
// with the given name and content sha256 (hex).
func ArtifactManifestKey(name, sha string) string {
	return "manifests/artifacts/" + name + "/" + sha + ".json"
}

// PutArtifactManifest validates m and stores it at
// ArtifactManifestKey(m.Name, m.Ref.SHA256).
func (s *Store) PutArtifactManifest(ctx context.Context, bucket string, m ArtifactManifest) (Ref, error) {
	key := ArtifactManifestKey(m.Name, m.Ref.SHA256)
	if err := m.Validate(); err != nil {
		return Ref{}, s.invalid("put-json", bucket, key, err)
	}
	return s.PutJSON(ctx, bucket, key, m)
}
