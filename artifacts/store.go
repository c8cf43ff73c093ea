package artifacts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// User-metadata keys written by this package (stored as X-Amz-Meta-<key>).
const (
	metaSHA256   = "clvflow-sha256"
	metaFilename = "clvflow-filename"
)

// Ref points at one stored object version. It is what travels in Temporal
// payloads instead of the data.
type Ref struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	// VersionID pins one version; "" means the latest version.
	VersionID string `json:"version_id"`
	// SHA256 is the lower-case hex digest of the content; "" when unknown
	// (then Get checks against the digest recorded on the object, if any).
	SHA256 string `json:"sha256"`
	// Size is the content length in bytes.
	Size        int64  `json:"size"`
	ContentType string `json:"content_type,omitempty"`
}

// IsZero reports whether the reference is unset.
func (r Ref) IsZero() bool { return r == Ref{} }

// String returns bucket/key[@version] [sha256:<first 12 hex>].
func (r Ref) String() string {
	s := r.Bucket + "/" + r.Key
	if r.VersionID != "" {
		s += "@" + r.VersionID
	}
	if r.SHA256 != "" {
		s += " sha256:" + r.SHA256[:min(12, len(r.SHA256))]
	}
	return s
}

// Validate checks that the reference names an object and that its digest,
// when set, is well formed.
func (r Ref) Validate() error {
	var errs []error
	if r.Bucket == "" {
		errs = append(errs, errors.New("reference has no bucket"))
	}
	if r.Key == "" {
		errs = append(errs, errors.New("reference has no key"))
	}
	if r.SHA256 != "" && !ValidSHA256(r.SHA256) {
		errs = append(errs, fmt.Errorf("reference sha256 %q is not 64 lower-case hex digits", r.SHA256))
	}
	if r.Size < 0 {
		errs = append(errs, fmt.Errorf("reference size %d is negative", r.Size))
	}
	if len(errs) == 0 {
		return nil
	}
	return joinOneLine(errs)
}

// ObjectInfo describes a stored object version.
type ObjectInfo struct {
	Ref
	LastModified time.Time
	ETag         string
	// Filename is the original file name given at upload, if any.
	Filename string
	// Metadata is the caller's user metadata, keys lower-cased, without the
	// keys this package manages.
	Metadata map[string]string
}

// Store is a client for the artifact store. It is safe for concurrent use.
type Store struct {
	cfg    Config
	client *minio.Client
	core   minio.Core
	retry  retrier
}

// New validates cfg and returns a Store. It does not contact the server;
// call [Store.Ping] for that.
func New(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tr, err := minio.DefaultTransport(cfg.UseTLS)
	if err != nil {
		return nil, &Error{Op: "config", Kind: Other, Endpoint: cfg.Endpoint, Err: err}
	}
	if cfg.UseTLS && cfg.CAFile != "" {
		pool, err := loadCAFile(cfg.CAFile)
		if err != nil {
			return nil, &Error{Op: "config", Kind: Invalid, Endpoint: cfg.Endpoint, Err: err}
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	cl, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       cfg.UseTLS,
		Transport:    tr,
		Region:       cfg.region(),
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1, // our RetryPolicy is the only retry loop
	})
	if err != nil {
		return nil, &Error{Op: "config", Kind: Invalid, Endpoint: cfg.Endpoint, Err: err}
	}
	return &Store{cfg: cfg, client: cl, core: minio.Core{Client: cl}, retry: newRetrier(cfg.retryPolicy())}, nil
}

// Endpoint returns the configured host:port.
func (s *Store) Endpoint() string { return s.cfg.Endpoint }

// call runs one server request under the retry policy, classifying errors.
func (s *Store) call(ctx context.Context, op, bucket, key string, fn func(ctx context.Context) error) error {
	return s.retry.do(ctx, func(int) error {
		return s.wrap(op, bucket, key, fn(ctx))
	})
}

func (s *Store) wrap(op, bucket, key string, err error) error {
	return newError(op, s.cfg.Endpoint, bucket, key, err)
}

func (s *Store) invalid(op, bucket, key string, err error) error {
	return &Error{Op: op, Bucket: bucket, Key: key, Endpoint: s.cfg.Endpoint, Kind: Invalid, Err: err}
}

// Ping checks that the server is reachable and accepts the credentials.
// The error's Kind is Unreachable or BadCredentials in those two cases.
func (s *Store) Ping(ctx context.Context) error {
	return s.call(ctx, "ping", "", "", func(ctx context.Context) error {
		_, err := s.client.ListBuckets(ctx)
		return err
	})
}

func checkBucket(name string) error {
	if err := s3utils.CheckValidBucketNameStrict(name); err != nil {
		return fmt.Errorf("bucket name %q: %v", name, err)
	}
	return nil
}

// EnsureBucket creates the bucket when it is missing and turns versioning
// on. It is idempotent.
func (s *Store) EnsureBucket(ctx context.Context, name string) error {
	const op = "ensure-bucket"
	if err := checkBucket(name); err != nil {
		return s.invalid(op, name, "", err)
	}
	var exists bool
	if err := s.call(ctx, op, name, "", func(ctx context.Context) (err error) {
		exists, err = s.client.BucketExists(ctx, name)
		return err
	}); err != nil {
		return err
	}
	if !exists {
		err := s.call(ctx, op, name, "", func(ctx context.Context) error {
			err := s.client.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.cfg.region()})
			var er minio.ErrorResponse
			if errors.As(err, &er) && (er.Code == "BucketAlreadyOwnedByYou" || er.Code == "BucketAlreadyExists") {
				return nil // created concurrently
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	on, err := s.VersioningEnabled(ctx, name)
	if err != nil || on {
		return err
	}
	return s.call(ctx, op, name, "", func(ctx context.Context) error {
		return s.client.EnableVersioning(ctx, name)
	})
}

// VersioningEnabled reports whether versioning is on for the bucket.
func (s *Store) VersioningEnabled(ctx context.Context, bucket string) (bool, error) {
	var on bool
	err := s.call(ctx, "get-versioning", bucket, "", func(ctx context.Context) error {
		vc, err := s.client.GetBucketVersioning(ctx, bucket)
		on = vc.Enabled()
		return err
	})
	return on, err
}

// Stat returns the object version ref points at (the latest when
// ref.VersionID is empty). It does not check ref.SHA256.
func (s *Store) Stat(ctx context.Context, ref Ref) (ObjectInfo, error) {
	const op = "stat"
	if err := ref.Validate(); err != nil {
		return ObjectInfo{}, s.invalid(op, ref.Bucket, ref.Key, err)
	}
	var oi minio.ObjectInfo
	err := s.call(ctx, op, ref.Bucket, ref.Key, func(ctx context.Context) (err error) {
		oi, err = s.client.StatObject(ctx, ref.Bucket, ref.Key, minio.StatObjectOptions{VersionID: ref.VersionID})
		return err
	})
	if err != nil {
		return ObjectInfo{}, withVersion(err, ref.VersionID)
	}
	return objectInfo(ref.Bucket, oi, false), nil
}

// withVersion records the version id on an *Error for the message.
func withVersion(err error, v string) error {
	var e *Error
	if v == "" || !errors.As(err, &e) {
		return err
	}
	c := *e
	c.VersionID = v
	return &c
}

// Delete removes the object version ref points at. With an empty
// VersionID it deletes the key, which in a versioned bucket adds a delete
// marker and keeps the older versions. Deleting what does not exist is not
// an error (S3 semantics).
func (s *Store) Delete(ctx context.Context, ref Ref) error {
	const op = "delete"
	if err := ref.Validate(); err != nil {
		return s.invalid(op, ref.Bucket, ref.Key, err)
	}
	err := s.call(ctx, op, ref.Bucket, ref.Key, func(ctx context.Context) error {
		return s.client.RemoveObject(ctx, ref.Bucket, ref.Key, minio.RemoveObjectOptions{VersionID: ref.VersionID})
	})
	return withVersion(err, ref.VersionID)
}

// List returns the latest version of every object whose key starts with
// prefix (recursively), sorted by key. Deleted keys (delete markers) are
// left out.
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]ObjectInfo, error) {
	const op = "list"
	if err := checkBucket(bucket); err != nil {
		return nil, s.invalid(op, bucket, prefix, err)
	}
	var out []ObjectInfo
	err := s.call(ctx, op, bucket, prefix, func(ctx context.Context) error {
		out = out[:0]
		for oi := range s.client.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{
			Prefix: prefix, Recursive: true, WithVersions: true, WithMetadata: true,
		}) {
			if oi.Err != nil {
				return oi.Err
			}
			if !oi.IsLatest || oi.IsDeleteMarker {
				continue
			}
			out = append(out, objectInfo(bucket, oi, true))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b ObjectInfo) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// objectInfo converts minio-go's description. Listings carry user metadata
// in UserMetadataStripped; Stat and Get in UserMetadata.
func objectInfo(bucket string, oi minio.ObjectInfo, listed bool) ObjectInfo {
	src := oi.UserMetadata
	if listed {
		src = oi.UserMetadataStripped
	}
	meta := map[string]string{}
	var sha, filename string
	for k, v := range src {
		lk := strings.ToLower(strings.TrimPrefix(strings.ToLower(k), "x-amz-meta-"))
		switch lk {
		case metaSHA256:
			sha = v
		case metaFilename:
			if f, err := url.PathUnescape(v); err == nil {
				filename = f
			} else {
				filename = v
			}
		default:
			meta[lk] = v
		}
	}
	if len(meta) == 0 {
		meta = nil
	}
	version := oi.VersionID
	if version == "null" {
		version = ""
	}
	return ObjectInfo{
		Ref: Ref{
			Bucket: bucket, Key: oi.Key, VersionID: version, SHA256: sha,
			Size: oi.Size, ContentType: oi.ContentType,
		},
		LastModified: oi.LastModified,
		ETag:         oi.ETag,
		Filename:     filename,
		Metadata:     meta,
	}
}

// Client returns the underlying minio-go client, for packages that keep
// their own documents in the same object store (the model registry).
func (s *Store) Client() *minio.Client { return s.client }
