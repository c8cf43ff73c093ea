package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/codec"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/provenance"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func freePort(t *testing.T) int {
	t.Helper()
	p, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIntegrationDevStackUpStatusDown brings the whole dev stack up on free
// ports in a temporary state directory, checks every component is healthy,
// then checks down stops exactly those processes.
func TestIntegrationDevStackUpStatusDown(t *testing.T) {
	testenv.RequireIntegration(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := os.Getenv("CLVFLOW_BIN")
	if bin == "" {
		bin = filepath.Join(t.TempDir(), "clvflow")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/clvflow")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build: %v\n%s", err, out)
		}
	}
	state := t.TempDir()
	cfg := config.Default()
	cfg.Dev.StateDir = state
	cfg.Dev.ToolsDir = filepath.Join(root, ".tools")
	cfg.Dev.TemporalPort, cfg.Dev.TemporalUIPort, cfg.Dev.MinIOPort = freePort(t), freePort(t), freePort(t)
	cfg.Temporal.TaskQueue = "devstack-test"
	var out bytes.Buffer
	s, err := New(cfg, root, &out)
	if err != nil {
		t.Fatal(err)
	}
	// The worker reads its settings from the environment up passes on.
	s.WorkerCommand = []string{bin, "worker", "--log-level", "warn"}
	t.Setenv("CLVFLOW_TEMPORAL_TASK_QUEUE", cfg.Temporal.TaskQueue)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t.Cleanup(func() { _ = s.Down(context.Background()) })
	if err := s.Up(ctx, true); err != nil {
		t.Fatalf("up: %v\n%s", err, out.String())
	}
	pids := map[string]int{}
	for _, c := range s.Status(ctx) {
		if !c.Running || !c.Healthy {
			t.Errorf("%s not healthy after up: %+v", c.Name, c)
		}
		pids[c.Name] = c.PID
	}
	st, err := os.Stat(s.CredentialsFile())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v, mode %v", err, st.Mode().Perm())
	}
	if b, _ := os.ReadFile(s.CredentialsFile()); strings.Contains(out.String(), strings.TrimPrefix(strings.Split(string(b), "\n")[1], "SECRET_KEY=")) {
		t.Error("up printed the MinIO secret")
	}
	checkGovernance(t, s)
	checkEncryptedHistory(t, s, bin, root)
	// A second up is a no-op that finds everything running.
	if err := s.Up(ctx, true); err != nil {
		t.Fatalf("second up: %v", err)
	}
	if !strings.Contains(out.String(), "already running") {
		t.Errorf("second up should report running components:\n%s", out.String())
	}
	if err := s.Down(ctx); err != nil {
		t.Fatalf("down: %v", err)
	}
	for name, pid := range pids {
		if pid > 0 && syscall.Kill(pid, 0) == nil && !zombie(pid) {
			t.Errorf("%s (pid %d) still running after down", name, pid)
		}
	}
	for _, c := range s.Status(ctx) {
		if c.Running || c.Healthy {
			t.Errorf("%s still up after down: %+v", c.Name, c)
		}
	}
}

func TestIntegrationPortInUseNamesTheKey(t *testing.T) {
	testenv.RequireIntegration(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, ".tools", "bin", "temporal")); err != nil {
		t.Skip("tools not installed (make tools)")
	}
	cfg := config.Default()
	cfg.Dev.StateDir = t.TempDir()
	cfg.Dev.ToolsDir = filepath.Join(root, ".tools")
	cfg.Dev.TemporalPort, cfg.Dev.TemporalUIPort = freePort(t), freePort(t)
	ms := testenv.MinIO(t) // something already listens on this port
	_, port, _ := strings.Cut(ms.Endpoint, ":")
	cfg.Dev.MinIOPort = atoi(port)
	cfg.Dev.TemporalPort = cfg.Dev.MinIOPort
	s, err := New(cfg, root, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Up(context.Background(), false)
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "CLVFLOW_DEV_TEMPORAL_PORT") {
		t.Fatalf("got %v", err)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// checkGovernance: up wrote a policy the worker loads, a signing key whose
// signatures the policy's allowed signers accept, and a payload key, all
// private to the user.
func checkGovernance(t *testing.T, s *Stack) {
	t.Helper()
	g := s.Governance()
	for _, f := range []string{g.PolicyFile, g.AllowedSigners, g.SigningKey, g.PayloadKeyFile, g.WorkerKey, g.TrustedKeys} {
		if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v (want mode 0600)", f, err)
		}
	}
	p, err := policy.Load(g.PolicyFile)
	if err != nil {
		t.Fatal(err)
	}
	signers, err := p.Signers()
	if err != nil || signers.Len() != 1 || p.AllowAutoApproval || p.Gate != s.Cfg.Gate {
		t.Fatalf("dev policy %+v (signers %v)", p, err)
	}
	st := approval.Statement{Decision: approval.Approve, WorkflowID: "w", RunID: "r", Version: "v1", Approver: DevApprover, Time: time.Now()}
	sig, err := approval.SignWithKey(context.Background(), st.Marshal(), g.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := approval.Verify(st.Marshal(), sig, signers); err != nil {
		t.Fatalf("the dev key's signature is refused by the dev policy: %v", err)
	}
	worker, err := provenance.LoadSigner(g.WorkerKey)
	if err != nil {
		t.Fatal(err)
	}
	trusted, err := provenance.LoadTrustedKeys(g.TrustedKeys)
	if err != nil || !strings.Contains(worker.PublicKeyLine(""), strings.Fields(mustRead(t, g.TrustedKeys))[1]) || trusted == nil {
		t.Fatalf("trusted keys do not list the worker key: %v", err)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkEncryptedHistory ingests the demo file through the dev stack as
// `make demo` does and reads the run's history back through the server
// with a client that has no key: every payload is ciphertext and neither
// the file name nor its sha256 appears in it.
func checkEncryptedHistory(t *testing.T, s *Stack, bin, root string) {
	t.Helper()
	input := filepath.Join(root, "testdata", "demo", "cdnow_master.txt.gz")
	cmd := exec.Command(bin, "ingest", "--input", input, "--json")
	cmd.Env = append(os.Environ(), "CLVFLOW_CONFIG=",
		config.EnvName("temporal.address")+"="+s.temporalAddr(), config.EnvName("storage.endpoint")+"="+s.minioAddr(),
		config.EnvName("storage.credentials_file")+"="+s.CredentialsFile(),
		config.EnvName("temporal.payload_key_file")+"="+s.Governance().PayloadKeyFile)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ingest through the dev stack: %v\n%s", err, out)
	}
	var started struct {
		WorkflowID string `json:"workflow_id"`
		Result     struct {
			Dataset struct{ SHA256 string } `json:"dataset"`
		} `json:"result"`
	}
	if err := json.Unmarshal(out, &started); err != nil || started.Result.Dataset.SHA256 == "" {
		t.Fatalf("ingest output %s: %v", out, err)
	}
	raw, err := client.Dial(client.Options{HostPort: s.temporalAddr(), Namespace: s.Cfg.Temporal.Namespace, Logger: nopLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	payloads, events := testenv.HistoryPayloads(t, raw, started.WorkflowID)
	if len(payloads) < 3 {
		t.Fatalf("%d events carry only %d payloads", events, len(payloads))
	}
	for _, hp := range payloads {
		b, _ := proto.Marshal(hp.Payload)
		if !codec.Encrypted(hp.Payload) || bytes.Contains(b, []byte("cdnow_master")) || bytes.Contains(b, []byte(started.Result.Dataset.SHA256)) {
			t.Errorf("%s: payload is not ciphertext only (metadata %q)", hp.Where, hp.Payload.Metadata)
		}
	}
}
