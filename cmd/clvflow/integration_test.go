package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/tclient"
	"github.com/clvflow/clvflow/internal/testenv"
	"go.temporal.io/sdk/client"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var seq atomic.Int64

// stack is one test's view of the real servers: its own buckets and task
// queue, so tests never see each other's data or workers.
type stack struct {
	minio    *testenv.MinIOServer
	temporal *testenv.TemporalServer
	queue    string
	buckets  [3]string
}

// newStack points the CLI (through CLVFLOW_* variables) at the test
// servers and, with withWorker, runs an in-process worker for the test.
func newStack(t *testing.T, withWorker bool) *stack {
	t.Helper()
	return newStackOn(t, testenv.MinIO(t), withWorker)
}

// newStackOn is newStack on a MinIO of the caller's (e.g. one the test
// kills and restarts).
func newStackOn(t *testing.T, srv *testenv.MinIOServer, withWorker bool) *stack {
	t.Helper()
	return newStackWith(t, srv, testenv.Temporal(t), withWorker)
}

// newStackWith is newStack on servers of the caller's.
func newStackWith(t *testing.T, srv *testenv.MinIOServer, tsrv *testenv.TemporalServer, withWorker bool) *stack {
	t.Helper()
	s := &stack{minio: srv, temporal: tsrv}
	n := seq.Add(1)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 30 {
		name = name[:30]
	}
	name = strings.Trim(name, "-")
	s.queue = fmt.Sprintf("test-%s-%d-%d", name, n, time.Now().UnixNano())
	for i, kind := range []string{"ds", "md", "rg"} {
		s.buckets[i] = fmt.Sprintf("t%d-%s-%d", n, kind, time.Now().UnixNano()%1e9)
	}
	t.Setenv("CLVFLOW_CONFIG", "")
	t.Setenv("CLVFLOW_TEMPORAL_ADDRESS", s.temporal.Address)
	t.Setenv("CLVFLOW_TEMPORAL_NAMESPACE", s.temporal.Namespace)
	t.Setenv("CLVFLOW_TEMPORAL_TASK_QUEUE", s.queue)
	t.Setenv("CLVFLOW_STORAGE_ENDPOINT", s.minio.Endpoint)
	t.Setenv("CLVFLOW_STORAGE_ACCESS_KEY", s.minio.AccessKey)
	t.Setenv("CLVFLOW_STORAGE_SECRET_KEY", s.minio.SecretKey)
	t.Setenv("CLVFLOW_STORAGE_DATASETS_BUCKET", s.buckets[0])
	t.Setenv("CLVFLOW_STORAGE_MODELS_BUCKET", s.buckets[1])
	t.Setenv("CLVFLOW_STORAGE_REGISTRY_BUCKET", s.buckets[2])
	// Tests that start workflows with a worker path (not through the CLI,
	// which uploads first) read the bundled demo data.
	if root, err := testenv.RepoRoot(); err == nil {
		t.Setenv("CLVFLOW_INGEST_ALLOWED_DIRS", filepath.Join(root, "testdata"))
	}
	setupTestPolicy(t)
	if withWorker {
		s.startWorker(t)
	}
	return s
}

func (s *stack) startWorker(t *testing.T) {
	t.Helper()
	a := &app{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
	a.root = newRootCmd(a.out, a.errOut)
	a.logLevel = "warn"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	acts, cfg, err := a.newActivities(ctx)
	if err != nil {
		t.Fatalf("activities: %v", err)
	}
	// The worker's client is made as `clvflow worker` makes it (payload
	// encryption included), with a quiet logger.
	opts := client.Options{HostPort: cfg.Temporal.Address, Namespace: cfg.Temporal.Namespace, Logger: quietLogger{}}
	if err := tclient.SetPayloadEncryption(&opts, cfg.Temporal); err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Temporal.TaskQueue = s.queue
	_, stop, err := startWorkers(tc, cfg, acts, false, func(err error) { t.Errorf("temporal stopped the worker: %v", err) })
	t.Cleanup(func() { stop(); tc.Close() })
	if err != nil {
		t.Fatal(err)
	}
}

func (s *stack) store(t *testing.T) *artifacts.Store {
	t.Helper()
	st, err := artifacts.New(artifacts.Config{Endpoint: s.minio.Endpoint, AccessKey: s.minio.AccessKey, SecretKey: s.minio.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// objects lists every object in a bucket (empty when it does not exist).
func (s *stack) objects(t *testing.T, bucket string) []string {
	t.Helper()
	infos, err := s.store(t).List(context.Background(), bucket, "")
	if err != nil {
		if artifacts.IsNotFound(err) {
			return nil
		}
		t.Fatalf("list %s: %v", bucket, err)
	}
	var keys []string
	for _, i := range infos {
		keys = append(keys, i.Key)
	}
	return keys
}

// clvflow runs the CLI in-process with args.
func clvflow(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	err = root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func demoFile(t *testing.T) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "testdata", "demo", "cdnow_master.txt.gz")
}

func TestIntegrationIngestWorkflow(t *testing.T) {
	s := newStack(t, true)
	out, _, err := clvflow(t, "ingest", "--input", demoFile(t), "--json")
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	for _, want := range []string{`"sha256"`, `"format": "cdnow"`, `"lines": 69660`, `"workflow_id": "ingest-cdnow_master`} {
		if !strings.Contains(out, want) {
			t.Errorf("ingest output lacks %s:\n%s", want, out)
		}
	}
	keys := s.objects(t, s.buckets[0])
	var raw, manifest int
	for _, k := range keys {
		switch {
		case strings.HasPrefix(k, "raw/sha256/"):
			raw++
		case strings.HasPrefix(k, "manifests/"):
			manifest++
		}
	}
	if raw != 1 || manifest != 1 {
		t.Fatalf("want one raw object and one manifest, got %v", keys)
	}
	// The stored bytes are the file's bytes (sha256 verified on read).
	want, _ := os.ReadFile(demoFile(t))
	infos, _ := s.store(t).List(context.Background(), s.buckets[0], "raw/")
	got, err := s.store(t).GetBytes(context.Background(), artifacts.Ref{Bucket: s.buckets[0], Key: infos[0].Key, SHA256: infos[0].SHA256, Size: infos[0].Size})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("stored dataset differs from the input file")
	}
	// The run is recorded by Temporal (what the Web UI shows), completed,
	// with the dataset's sha256 as a search attribute.
	var started struct {
		WorkflowID string `json:"workflow_id"`
		Result     struct {
			Dataset struct {
				SHA256 string `json:"sha256"`
			} `json:"dataset"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: s.temporal.Address, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	desc, err := tc.DescribeWorkflow(context.Background(), started.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	d := desc.RawResponse
	if st := d.GetWorkflowExecutionInfo().GetStatus().String(); st != "Completed" {
		t.Errorf("workflow status %s", st)
	}
	recordHistory(t, tc, started.WorkflowID, "ingest")
	sa := d.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["ClvDataset"]
	if sa == nil || !strings.Contains(string(sa.GetData()), started.Result.Dataset.SHA256) || started.Result.Dataset.SHA256 == "" {
		t.Errorf("search attribute ClvDataset = %v, want the dataset sha256 %s", sa, started.Result.Dataset.SHA256)
	}
}

// quietLogger keeps the SDK's debug lines out of test output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}

func TestIntegrationIngestBadInput(t *testing.T) {
	s := newStack(t, true)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "junk.csv.gz")
	if err := os.WriteFile(junk, []byte{0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02, 0x03, 0xff, 0xfe}, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, input, want string
	}{
		{"missing", filepath.Join(dir, "nope.csv"), "does not exist"},
		{"empty", empty, "is empty"},
		{"directory", dir, "is a directory"},
		{"corrupt gzip", junk, "gzip"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := clvflow(t, "ingest", "--input", c.input)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Fatalf("error %q does not say %q", msg, c.want)
			}
			if strings.Count(msg, "\n") > 0 {
				t.Fatalf("error must be one line, got %q", msg)
			}
		})
	}
	for _, k := range s.objects(t, s.buckets[0]) {
		if strings.HasPrefix(k, "raw/") || strings.HasPrefix(k, "manifests/") {
			t.Errorf("bad input left %s behind", k)
		}
	}
}

func TestIntegrationClearErrorsForInfrastructure(t *testing.T) {
	s := newStack(t, false)
	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("temporal not running", func(t *testing.T) {
		t.Setenv("CLVFLOW_TEMPORAL_ADDRESS", fmt.Sprintf("127.0.0.1:%d", port))
		_, _, err := clvflow(t, "ingest", "--input", demoFile(t))
		if err == nil || !strings.Contains(err.Error(), "cannot reach Temporal at 127.0.0.1:") || !strings.Contains(err.Error(), "clvflow dev up") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("wrong MinIO password", func(t *testing.T) {
		t.Setenv("CLVFLOW_STORAGE_SECRET_KEY", "not-the-password")
		_, _, err := clvflow(t, "models", "list")
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "credentials") {
			t.Fatalf("got %v", err)
		}
		if strings.Contains(err.Error(), "not-the-password") {
			t.Fatal("error must not print the secret")
		}
	})
	t.Run("MinIO not running", func(t *testing.T) {
		t.Setenv("CLVFLOW_STORAGE_ENDPOINT", fmt.Sprintf("127.0.0.1:%d", port))
		_, _, err := clvflow(t, "models", "list")
		if err == nil || !strings.Contains(err.Error(), "cannot reach") {
			t.Fatalf("got %v", err)
		}
	})
	_ = s
}
