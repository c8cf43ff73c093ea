package devstack

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/testenv"
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
