package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/workflows"
	"go.temporal.io/sdk/client"
)

// The chaos suite (make chaos): every fault of the durability issue, each
// injected for real into one pipeline run against servers the test owns.
// A run must end as an undisturbed run does: promoted once approved, the
// same ONNX bytes, one registry version, gap-free alias histories, and no
// temporary objects left once swept.

// chaosOutage is how long MinIO stays down.
const chaosOutage = 20 * time.Second

type chaosEnv struct {
	t        *testing.T
	minio    *testenv.OwnMinIO
	temporal *testenv.OwnTemporal
	stack    *stack
	tc       client.Client
	worker   *supervisedWorker
}

// chaosScenario injects one fault into a running pipeline and returns the
// stage it hit.
type chaosScenario struct {
	fault, stage string
	inject       func(e *chaosEnv, run client.WorkflowRun) string
}

func TestChaos(t *testing.T) {
	if os.Getenv("CLVFLOW_CHAOS") == "" {
		t.Skip("set CLVFLOW_CHAOS=1 to run the chaos suite (make chaos, about 7 minutes)")
	}
	e := newChaosEnv(t)
	ref := e.approveAndWait(e.start("undisturbed"))
	if ref.ONNX == nil || ref.Outcome != workflows.OutcomePromoted {
		t.Fatalf("undisturbed run: %+v", ref)
	}
	var lines []string
	for _, sc := range chaosScenarios() {
		ok := t.Run(sc.fault+"/"+sc.stage, func(t *testing.T) {
			e.t = t
			defer e.ensureMinIO() // a failed scenario must not leave the next one without MinIO
			run := e.start(sc.fault + "-" + sc.stage)
			hit := sc.inject(e, run)
			res := e.approveAndWait(run)
			left := e.sweepTemp()
			same := res.ONNX != nil && res.ONNX.SHA256 == ref.ONNX.SHA256
			line := fmt.Sprintf("%-17s %-10s hit %-18s outcome %-9s onnx %s  temp objects left %d (swept)",
				sc.fault, sc.stage, hit, res.Outcome, map[bool]string{true: "= undisturbed", false: "DIFFERS"}[same], left)
			lines = append(lines, line)
			t.Log(line)
			if res.Outcome != workflows.OutcomePromoted || !same {
				t.Errorf("scenario %s/%s: outcome %s, ONNX %+v (undisturbed %s)", sc.fault, sc.stage, res.Outcome, res.ONNX, ref.ONNX.SHA256)
			}
			checkOneVersionPerRun(t, run.GetID())
			checkGapFreeHistory(t, []string{workflows.AliasChampion, workflows.AliasCandidate})
		})
		if !ok {
			lines = append(lines, fmt.Sprintf("%-17s %-10s FAILED", sc.fault, sc.stage))
		}
	}
	fmt.Printf("\nchaos: %d scenarios, reference ONNX sha256 %s\n%s\n", len(lines), ref.ONNX.SHA256, strings.Join(lines, "\n"))
}

func chaosScenarios() []chaosScenario {
	minioAt := func(stage, activity string) chaosScenario {
		return chaosScenario{fault: "minio-kill", stage: stage, inject: func(e *chaosEnv, run client.WorkflowRun) string {
			hit := e.waitActivity(run, activity)
			e.minioOutage()
			return hit
		}}
	}
	return []chaosScenario{
		{fault: "minio-kill", stage: "ingest", inject: func(e *chaosEnv, run client.WorkflowRun) string {
			// The run starts with its upload: MinIO goes down at once.
			e.minioOutage()
			return "IngestDataset"
		}},
		minioAt("validate", "ValidateDataset"),
		minioAt("featurize", "Featurize"),
		{fault: "minio-kill", stage: "train", inject: func(e *chaosEnv, run client.WorkflowRun) string {
			epoch := waitCheckpoint(e.t, e.tc, run, "seq")
			e.minioOutage()
			return fmt.Sprintf("TrainModel@%d", epoch)
		}},
		minioAt("export", "ExportONNX"),
		minioAt("register", "RegisterVersion"),
		{fault: "minio-kill", stage: "promote", inject: func(e *chaosEnv, run client.WorkflowRun) string {
			// Approved (through Temporal alone) while MinIO is down: the
			// promotion waits for it.
			version := waitApproval(e.t, run.GetID())
			e.minio.Kill()
			e.approveRun(run, version)
			time.Sleep(chaosOutage) // the outage itself
			e.restartMinIO()
			return "MoveAlias"
		}},
		{fault: "minio-kill", stage: "canary", inject: func(e *chaosEnv, run client.WorkflowRun) string {
			e.approve(waitApproval(e.t, run.GetID()))
			hit := e.waitActivity(run, "Canary")
			e.minioOutage()
			return hit
		}},
		{fault: "temporal-restart", stage: "train", inject: func(e *chaosEnv, run client.WorkflowRun) string {
			epoch := waitCheckpoint(e.t, e.tc, run, "seq")
			e.temporalRestart()
			return fmt.Sprintf("TrainModel@%d", epoch)
		}},
		{fault: "temporal-restart", stage: "approval", inject: func(e *chaosEnv, run client.WorkflowRun) string {
			waitApproval(e.t, run.GetID())
			e.temporalRestart()
			return "approval"
		}},
		{fault: "worker-kill-x3", stage: "random", inject: func(e *chaosEnv, run client.WorkflowRun) string {
			rng := rand.New(rand.NewPCG(7, 11))
			var at []string
			for range 3 {
				time.Sleep(time.Duration(2000+rng.IntN(6000)) * time.Millisecond) // a random point of the run
				at = append(at, e.currentStage(run))
				e.worker.kill()
			}
			return strings.Join(at, ",")
		}},
	}
}

func newChaosEnv(t *testing.T) *chaosEnv {
	e := &chaosEnv{t: t, minio: testenv.StartOwnMinIO(t), temporal: testenv.StartOwnTemporal(t)}
	e.stack = newStackWith(t, &e.minio.MinIOServer, &e.temporal.TemporalServer, false)
	pipelineEnv(t)
	tc, err := client.Dial(client.Options{HostPort: e.temporal.Address, Namespace: e.temporal.Namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	e.tc = tc
	e.worker = superviseWorker(t, clvflowBinary(t))
	return e
}

func (e *chaosEnv) start(name string) client.WorkflowRun {
	in := outageInput(e.t)
	in.MaxEpochs = 12
	run, err := e.tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: fmt.Sprintf("chaos-%s-%d", name, time.Now().UnixNano()), TaskQueue: e.stack.queue}, workflows.TrainingPipeline, in)
	if err != nil {
		e.t.Fatal(err)
	}
	return run
}

// approveAndWait approves the run when it asks (if it still needs to) and
// returns its result.
func (e *chaosEnv) approveAndWait(run client.WorkflowRun) workflows.PipelineResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for {
		st, err := queryStatus(ctx, e.tc, run.GetID())
		if err == nil && st.PendingApproval != nil && st.Decision == nil {
			e.approve(st.PendingApproval.Version)
			break
		}
		if err == nil && (st.Stage == "promote" || st.Stage == "canary" || st.Stage == "done" || st.Stage == "failed") {
			break
		}
		if ctx.Err() != nil {
			e.t.Fatalf("run %s never asked for approval (last status %+v, %v)", run.GetID(), st, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	var res workflows.PipelineResult
	if err := run.Get(ctx, &res); err != nil {
		e.t.Fatalf("run %s: %v", run.GetID(), err)
	}
	return res
}

// approveRun approves version through the run's approval Update, which
// needs only Temporal (`clvflow approve` finds the run in the registry).
func (e *chaosEnv) approveRun(run client.WorkflowRun, version string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := e.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), RunID: run.GetRunID(),
		UpdateName: workflows.UpdateApproval, WaitForStage: client.WorkflowUpdateStageCompleted,
		Args: []any{signedApproval(e.t, pendingApproval(e.t, e.tc, run.GetID()), "alice", "alice", nil)}})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		e.t.Fatalf("approve %s: %v", version, err)
	}
}

// ensureMinIO restarts MinIO if a scenario left it down.
func (e *chaosEnv) ensureMinIO() {
	if err := e.minio.Restart(); err != nil && !strings.Contains(err.Error(), "running") {
		e.t.Errorf("restart MinIO after the scenario: %v", err)
	}
}

func (e *chaosEnv) approve(version string) {
	e.t.Helper()
	if out, _, err := clvflow(e.t, "approve", version, "--approver", "alice", "--comment", "chaos"); err != nil {
		e.t.Fatalf("approve %s: %v\n%s", version, err, out)
	}
}

// waitActivity waits until the run has activity pending (or has moved
// past it) and returns the activity the run was in.
func (e *chaosEnv) waitActivity(run client.WorkflowRun, activity string) string {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		desc, err := e.tc.DescribeWorkflow(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, pa := range desc.RawResponse.GetPendingActivities() {
			if name := pa.GetActivityType().GetName(); name == activity {
				return name
			}
		}
		if desc.RawResponse.GetWorkflowExecutionInfo().GetCloseTime() != nil {
			e.t.Fatalf("run ended before %s", activity)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("%s never started", activity)
	return ""
}

func (e *chaosEnv) currentStage(run client.WorkflowRun) string {
	st, err := queryStatus(context.Background(), e.tc, run.GetID())
	if err != nil {
		return "?"
	}
	return st.Stage
}

// minioOutage kills MinIO and restarts it chaosOutage later.
func (e *chaosEnv) minioOutage() {
	e.minio.Kill()
	time.Sleep(chaosOutage) // the outage itself, not a synchronisation
	e.restartMinIO()
}

func (e *chaosEnv) restartMinIO() {
	if err := e.minio.Restart(); err != nil {
		e.t.Fatal(err)
	}
}

// temporalRestart kills the Temporal dev server and starts it again.
func (e *chaosEnv) temporalRestart() {
	e.temporal.Kill()
	if err := e.temporal.Restart(); err != nil {
		e.t.Fatal(err)
	}
}

// sweepTemp counts the temporary upload objects left in the run's buckets
// and removes them.
func (e *chaosEnv) sweepTemp() int {
	st := e.stack.store(e.t)
	left := 0
	for _, b := range e.stack.buckets[:2] {
		res, err := st.SweepTemp(context.Background(), b, 0)
		if err != nil {
			e.t.Errorf("sweep %s: %v", b, err)
		}
		left += res.Objects + res.Uploads
		if keys := e.stack.objects(e.t, b); slicesContainsPrefix(keys, artifacts.TempPrefix) {
			e.t.Errorf("temporary objects remain in %s after the sweep", b)
		}
	}
	return left
}

func slicesContainsPrefix(keys []string, prefix string) bool {
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// supervisedWorker is a `clvflow worker` process restarted whenever it
// exits, as a process supervisor (systemd, Kubernetes) would.
type supervisedWorker struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	done bool
}

func superviseWorker(t *testing.T, bin string) *supervisedWorker {
	w := &supervisedWorker{}
	dir := t.TempDir()
	startOne := func(n int) *exec.Cmd {
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("worker-%d.log", n)))
		if err != nil {
			t.Error(err)
			return nil
		}
		cmd := exec.Command(bin, "worker", "--log-level", "warn")
		cmd.Env = os.Environ()
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Error(err)
			return nil
		}
		return cmd
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for n := 0; ; n++ {
			cmd := startOne(n)
			if cmd == nil {
				return
			}
			w.mu.Lock()
			w.cmd = cmd
			w.mu.Unlock()
			_ = cmd.Wait()
			w.mu.Lock()
			done := w.done
			w.mu.Unlock()
			if done {
				return
			}
		}
	}()
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		if w.cmd != nil {
			_ = w.cmd.Process.Kill()
		}
		w.mu.Unlock()
		<-stopped
	})
	return w
}

// kill crashes the worker process (SIGKILL); the supervisor starts a new
// one.
func (w *supervisedWorker) kill() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cmd != nil && w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
	}
}
