package provenance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/registry"
	"github.com/minio/minio-go/v7"
)

// RegistrySource is the Source of a registry and its artifact store.
type RegistrySource struct {
	*registry.Registry
	Store *artifacts.Store
}

// ONNXDigest hashes the ONNX file twice: the object version the entry pins
// and the object now at its key, which must agree (a file replaced at its
// key is reported even though readers of the pinned version are safe).
func (s RegistrySource) ONNXDigest(ctx context.Context, v registry.Version) (string, error) {
	pinned, err := s.digest(ctx, v.ONNX.Bucket, v.ONNX.Key, v.ONNX.VersionID)
	if err != nil || v.ONNX.VersionID == "" {
		return pinned, err
	}
	latest, err := s.digest(ctx, v.ONNX.Bucket, v.ONNX.Key, "")
	if err != nil {
		return "", err
	}
	if latest != pinned {
		return latest, fmt.Errorf("the object now at s3://%s/%s (sha256 %s) is not the registered version %s (sha256 %s): it was replaced",
			v.ONNX.Bucket, v.ONNX.Key, latest, v.ONNX.VersionID, pinned)
	}
	return pinned, nil
}

func (s RegistrySource) digest(ctx context.Context, bucket, key, versionID string) (string, error) {
	obj, err := s.Store.Client().GetObject(ctx, bucket, key, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		return "", err
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
