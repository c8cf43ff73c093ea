package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/tclient"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/clvflow/clvflow/registry"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

// openStore connects to the object store and checks it answers with our
// credentials, once per command: later calls reuse the checked store.
func (a *app) openStore(ctx context.Context) (*artifacts.Store, config.Config, error) {
	cfg, err := a.storageConfig()
	if err != nil {
		return nil, cfg, err
	}
	if a.store != nil {
		return a.store, cfg, nil
	}
	st, err := artifacts.New(artifacts.Config{
		Endpoint: cfg.Storage.Endpoint, AccessKey: cfg.Storage.AccessKey, SecretKey: cfg.Storage.SecretKey,
		Region: cfg.Storage.Region, UseTLS: cfg.Storage.UseTLS, CAFile: cfg.Storage.CAFile,
	})
	if err != nil {
		return nil, cfg, err
	}
	if err := st.Ping(ctx); err != nil {
		return nil, cfg, err
	}
	a.store = st
	return st, cfg, nil
}

// openRegistry opens the model registry in its bucket (created with
// versioning on when missing).
func (a *app) openRegistry(ctx context.Context) (*registry.Registry, error) {
	st, cfg, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	reg, err := registry.New(st.Client(), cfg.Storage.RegistryBucket, registry.Options{})
	if err != nil {
		return nil, err
	}
	if err := reg.EnsureBucket(ctx); err != nil {
		return nil, err
	}
	return reg, nil
}

// initONNX initialises ONNX Runtime from config once per process.
func (a *app) initONNX() error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	return onnxrt.Init(onnxrt.Options{LibraryPath: cfg.ONNX.LibraryPath, IntraOpThreads: cfg.ONNX.IntraOpThreads})
}

// ensureBuckets creates the configured buckets with versioning on.
func (a *app) ensureBuckets(cmd *cobra.Command) error {
	st, cfg, err := a.openStore(cmd.Context())
	if err != nil {
		return err
	}
	for _, b := range []string{cfg.Storage.DatasetsBucket, cfg.Storage.ModelsBucket, cfg.Storage.RegistryBucket} {
		if err := st.EnsureBucket(cmd.Context(), b); err != nil {
			return err
		}
	}
	return nil
}

// temporal dials the configured Temporal frontend.
func (a *app) temporal(ctx context.Context) (client.Client, config.Config, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, cfg, err
	}
	c, err := tclient.Dial(ctx, cfg.Temporal, nil)
	return c, cfg, err
}

// runURL is the Temporal Web UI page of a workflow run.
func runURL(cfg config.Config, workflowID, runID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s/%s/history", cfg.Temporal.UIURL, cfg.Temporal.Namespace, workflowID, runID)
}

var idUnsafe = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// workflowID builds a human-readable workflow id: kind-name-time.
func workflowID(kind, name string, now time.Time) string {
	base := filepath.Base(name)
	for _, ext := range []string{".gz", ".csv", ".txt", ".tsv"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.Trim(idUnsafe.ReplaceAllString(base, "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	if base == "" {
		base = "dataset"
	}
	return fmt.Sprintf("%s-%s-%s-%s", kind, base, now.UTC().Format("20060102T150405Z"), randomSuffix())
}

// randomSuffix keeps two runs started in the same second apart (without it
// the second start would join the first run).
func randomSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// rootCause returns the innermost error message of a workflow failure,
// which is the one that says what went wrong.
func rootCause(err error) string {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err.Error()
		}
		err = u.Unwrap()
	}
}
