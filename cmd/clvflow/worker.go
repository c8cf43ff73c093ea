package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/tclient"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/worker"
)

// newActivities builds the activities with their clients from config and
// makes sure the buckets exist.
func (a *app) newActivities(ctx context.Context) (*activities.Activities, config.Config, error) {
	st, cfg, err := a.openStore(ctx)
	if err != nil {
		return nil, cfg, err
	}
	for _, b := range []string{cfg.Storage.DatasetsBucket, cfg.Storage.ModelsBucket} {
		if err := st.EnsureBucket(ctx, b); err != nil {
			return nil, cfg, err
		}
	}
	reg, err := a.openRegistry(ctx)
	if err != nil {
		return nil, cfg, err
	}
	return &activities.Activities{
		Store: st, Registry: reg,
		Buckets:              activities.Buckets{Datasets: cfg.Storage.DatasetsBucket, Models: cfg.Storage.ModelsBucket},
		ONNXLibrary:          cfg.ONNX.LibraryPath,
		CodeRevision:         version,
		MaxUncompressedBytes: cfg.Ingest.MaxUncompressedBytes,
		Logger:               a.logger(),
	}, cfg, nil
}

func (a *app) workerCmd() *cobra.Command {
	var gpu bool
	c := &cobra.Command{
		Use:   "worker",
		Short: "Run a Temporal worker for clvflow's workflows and activities",
		Long: `Polls temporal.task_queue for workflows and activities. With --gpu it also polls
temporal.gpu_task_queue for training activities (pipelines send training there
when temporal.train_on_gpu_queue is true). Stops gracefully on SIGINT/SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A worker that Temporal stopped for good (e.g. the namespace
			// vanished) ends the command with that error, so that a
			// supervisor restarts it instead of it idling forever.
			ctx, stopped := context.WithCancelCause(cmd.Context())
			defer stopped(nil)
			acts, cfg, err := a.newActivities(ctx)
			if err != nil {
				return err
			}
			log := a.logger()
			tc, err := tclient.Dial(ctx, cfg.Temporal, log)
			if err != nil {
				return err
			}
			defer tc.Close()
			onFatal := func(err error) { stopped(fmt.Errorf("temporal stopped the worker: %w", err)) }
			w := worker.New(tc, cfg.Temporal.TaskQueue, worker.Options{OnFatalError: onFatal})
			workflows.Register(w)
			w.RegisterActivity(acts)
			if err := w.Start(); err != nil {
				return fmt.Errorf("worker on %s: %w", cfg.Temporal.TaskQueue, err)
			}
			defer w.Stop()
			queues := cfg.Temporal.TaskQueue
			if gpu {
				gw := worker.New(tc, cfg.Temporal.GPUTaskQueue, worker.Options{MaxConcurrentActivityExecutionSize: 1, OnFatalError: onFatal})
				gw.RegisterActivity(acts.TrainModel)
				if err := gw.Start(); err != nil {
					return fmt.Errorf("worker on %s: %w", cfg.Temporal.GPUTaskQueue, err)
				}
				defer gw.Stop()
				queues += ", " + cfg.Temporal.GPUTaskQueue
			}
			log.Info("clvflow worker started", "task_queues", queues, "temporal", cfg.Temporal.Address, "storage", cfg.Storage.Endpoint)
			<-ctx.Done()
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
				log.Error("clvflow worker stopping", "error", cause)
				return cause
			}
			log.Info("clvflow worker stopping")
			return nil
		},
	}
	c.Flags().BoolVar(&gpu, "gpu", false, "also poll the GPU task queue for training activities")
	return c
}
