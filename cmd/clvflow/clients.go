package main

import (
	"context"
	"fmt"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/tclient"
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
