package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/memlimit"
	"github.com/clvflow/clvflow/internal/tclient"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/provenance"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
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
	var signer *provenance.Signer
	if cfg.Provenance.SigningKey != "" {
		if signer, err = provenance.LoadSigner(cfg.Provenance.SigningKey); err != nil {
			return nil, cfg, err
		}
	}
	return &activities.Activities{
		Store: st, Registry: reg,
		Buckets:              activities.Buckets{Datasets: cfg.Storage.DatasetsBucket, Models: cfg.Storage.ModelsBucket},
		ONNXLibrary:          cfg.ONNX.LibraryPath,
		CodeRevision:         version,
		MaxUncompressedBytes: cfg.Ingest.MaxUncompressedBytes,
		AllowedInputDirs:     cfg.Ingest.AllowedDirs,
		Policy:               func() (policy.Policy, error) { return workerPolicy(cfg) },
		Provenance:           signer,
		Features:             activities.NewFeatureCache(cfg.Worker.FeatureCacheBytes),
		Heavy:                activities.NewHeavyLimiter(cfg.Worker.MaxHeavyActivities),
		Logger:               a.logger(),
	}, cfg, nil
}

// checkPolicy loads the policy once at start so that a broken file stops
// the worker with its error instead of failing every run; a policy without
// allowed signers is allowed (runs can be gated and auto-approved where the
// policy allows it) but warned about.
func checkPolicy(acts *activities.Activities, log *slog.Logger) error {
	p, err := acts.Policy()
	if err != nil {
		return fmt.Errorf("worker policy: %w", err)
	}
	if s, _ := p.Signers(); s.Len() == 0 {
		log.Warn("the worker's policy lists no allowed signers: no approval can be accepted (set policy.file or approvals.allowed_signers)", "policy", p.Source)
	}
	log.Info("worker policy", "source", p.Source, "digest", p.Digest)
	if acts.Provenance == nil {
		log.Warn("provenance.signing_key is not set: registered versions and alias moves are not signed (models verify and serve with serving.require_signed refuse them)")
	} else {
		id, _ := acts.Provenance.KeyID()
		log.Info("provenance signing key", "key", id)
	}
	return nil
}

// workerPolicy is the worker's promotion policy: policy.file when set, else
// its own gate and approvals sections.
func workerPolicy(cfg config.Config) (policy.Policy, error) {
	if cfg.Policy.File != "" {
		return policy.Load(cfg.Policy.File)
	}
	return policy.FromConfig(cfg.Gate, cfg.Approvals.AllowedSigners, cfg.Approvals.Timeout, cfg.Approvals.AllowAutoApproval)
}

func (a *app) workerCmd() *cobra.Command {
	var gpu bool
	c := &cobra.Command{
		Use:   "worker",
		Short: "Run a Temporal worker for clvflow's workflows and activities",
		Long: `Polls temporal.task_queue for workflows and activities, and temporal.task_queue
with "-heavy" appended for the heavy activities. With --gpu it also polls
temporal.gpu_task_queue for training activities (pipelines send training there
when temporal.train_on_gpu_queue is true). Stops gracefully on SIGINT/SIGTERM.

Memory follows the data, not the number of activities: the worker takes at
most worker.max_heavy_activities heavy activities (Featurize, FeaturizeShard,
TrainModel, Evaluate, ExportONNX, ScoreShard) from the heavy queue at once, so
the others wait in Temporal for any worker with a free slot (those that still
come on the main queue, from runs started before the heavy queue, wait in the
worker heartbeating); activities that read the same feature file share one
loaded copy, and up to worker.feature_cache_bytes of sets no activity uses any
more are kept for the next.

At start and then every storage.temp_max_age/2 (between 1 min and 1 h) it
removes what crashed uploads left under .clvflow-tmp/ in the datasets and
models buckets: temporary objects and unfinished multipart uploads older
than storage.temp_max_age.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runWorker(cmd.Context(), gpu) },
	}
	c.Flags().BoolVar(&gpu, "gpu", false, "also poll the GPU task queue for training activities")
	return c
}

// tempSweeper is what sweepTempLoop needs of the artifact store.
type tempSweeper interface {
	SweepTemp(ctx context.Context, bucket string, olderThan time.Duration) (artifacts.SweepResult, error)
}

// tempSweepInterval is how often a worker sweeps for abandoned temporary
// uploads: half of storage.temp_max_age, at least every hour and at most
// every minute.
func tempSweepInterval(maxAge time.Duration) time.Duration {
	return min(max(maxAge/2, time.Minute), time.Hour)
}

// sweepTempLoop removes the temporary uploads older than maxAge from
// buckets at once and then every interval, until ctx ends. Each bucket's
// sweep is bounded (by interval, at least a minute) so that a hung store
// cannot stall the loop; a failed sweep is logged and tried again at the
// next round.
func sweepTempLoop(ctx context.Context, st tempSweeper, buckets []string, maxAge, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		for _, b := range buckets {
			if ctx.Err() != nil {
				return
			}
			sweepTemp(ctx, st, b, maxAge, interval, log)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sweepTemp runs one bucket's sweep and logs what it did.
func sweepTemp(ctx context.Context, st tempSweeper, bucket string, maxAge, interval time.Duration, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(ctx, max(interval, time.Minute))
	defer cancel()
	res, err := st.SweepTemp(sctx, bucket, maxAge)
	attrs := []any{"bucket", bucket, "older_than", maxAge, "objects", res.Objects, "versions", res.Versions, "uploads", res.Uploads, "bytes", res.Bytes}
	switch {
	case err != nil && ctx.Err() != nil: // shutting down
	case err != nil:
		log.Warn("sweeping abandoned temporary uploads failed; trying again at the next sweep", append(attrs, "next_sweep_in", interval, "err", err)...)
	case res.Removed():
		log.Info("removed abandoned temporary uploads", attrs...)
	default:
		log.Debug("no abandoned temporary uploads", "bucket", bucket, "older_than", maxAge, "in_flight", res.Young)
	}
}

// goMemoryLimit gives the runtime a soft memory limit below the
// container's (memlimit.Set) and returns the limit in force, as text.
func goMemoryLimit() string {
	memlimit.Set()
	if l := debug.SetMemoryLimit(-1); l < math.MaxInt64 {
		return fmt.Sprintf("%d MiB", l>>20)
	}
	return "none"
}

// runWorker polls the task queues until ctx ends. A worker that Temporal
// stopped for good (e.g. the namespace vanished) ends it with that error,
// so that a supervisor restarts it instead of it idling forever.
func (a *app) runWorker(ctx context.Context, gpu bool) error {
	ctx, stopped := context.WithCancelCause(ctx)
	defer stopped(nil)
	memLimit := goMemoryLimit()
	acts, cfg, err := a.newActivities(ctx)
	if err != nil {
		return err
	}
	log := a.logger()
	if err := checkPolicy(acts, log); err != nil {
		return err
	}
	tc, err := tclient.Dial(ctx, cfg.Temporal, log)
	if err != nil {
		return err
	}
	defer tc.Close()
	onFatal := func(err error) { stopped(fmt.Errorf("temporal stopped the worker: %w", err)) }
	queues, stop, err := startWorkers(tc, cfg, acts, gpu, onFatal)
	defer stop()
	if err != nil {
		return err
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		maxAge := cfg.Storage.TempMaxAge
		sweepTempLoop(sweepCtx, acts.Store, []string{cfg.Storage.DatasetsBucket, cfg.Storage.ModelsBucket}, maxAge, tempSweepInterval(maxAge), log)
	}()
	defer func() { stopSweep(); <-sweepDone }()
	log.Info("clvflow worker started", "task_queues", strings.Join(queues, ", "), "temporal", cfg.Temporal.Address, "storage", cfg.Storage.Endpoint,
		"max_heavy_activities", acts.Heavy.Slots(), "feature_cache_bytes", cfg.Worker.FeatureCacheBytes, "go_memory_limit", memLimit)
	<-ctx.Done()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		log.Error("clvflow worker stopping", "error", cause)
		return cause
	}
	log.Info("clvflow worker stopping")
	return nil
}

// startWorkers starts the worker of the task queue (workflows and every
// activity), the one of its heavy queue (the heavy activities, at most
// worker.max_heavy_activities at once: Temporal then hands them only to a
// worker with a free slot) and, with gpu, the one of the GPU queue
// (training only, one at a time); stop stops those that started.
func startWorkers(tc client.Client, cfg config.Config, acts *activities.Activities, gpu bool, onFatal func(error)) (queues []string, stop func(), err error) {
	var started []worker.Worker
	stop = func() {
		for _, w := range started {
			w.Stop()
		}
	}
	// One limiter for every queue: the bound is on this process's memory
	// (the main queue still gets the heavy activities of runs started
	// before the heavy queue).
	var interceptors []interceptor.WorkerInterceptor
	if acts.Heavy != nil {
		interceptors = append(interceptors, acts.Heavy.Interceptor())
	}
	start := func(queue string, opts worker.Options, register func(worker.Worker)) error {
		opts.OnFatalError, opts.Interceptors = onFatal, interceptors
		w := worker.New(tc, queue, opts)
		register(w)
		if err := w.Start(); err != nil {
			return fmt.Errorf("worker on %s: %w", queue, err)
		}
		started, queues = append(started, w), append(queues, queue)
		return nil
	}
	err = start(cfg.Temporal.TaskQueue, worker.Options{}, func(w worker.Worker) { workflows.Register(w); w.RegisterActivity(acts) })
	if err == nil {
		err = start(workflows.HeavyTaskQueue(cfg.Temporal.TaskQueue), worker.Options{MaxConcurrentActivityExecutionSize: acts.Heavy.Slots()},
			func(w worker.Worker) { w.RegisterActivity(acts) })
	}
	if err == nil && gpu {
		err = start(cfg.Temporal.GPUTaskQueue, worker.Options{MaxConcurrentActivityExecutionSize: 1}, func(w worker.Worker) { w.RegisterActivity(acts.TrainModel) })
	}
	return queues, stop, err
}
