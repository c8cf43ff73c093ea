// Package devstack runs clvflow's local development stack: a Temporal dev
// server with its Web UI, a MinIO server and a clvflow worker, all on
// 127.0.0.1 with their state under the state directory (./.clvflow by
// default). It installs the pinned tools into .tools/ when they are missing,
// waits on real health checks, records pid files, and stops exactly the
// processes it started.
package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/searchattr"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// Stack is the local stack described by a configuration.
type Stack struct {
	Cfg      config.Config
	Root     string // repository root (where deploy/dev/install-tools.sh lives)
	StateDir string // absolute
	ToolsDir string // absolute
	Out      io.Writer
	// WorkerCommand is the command line that starts a worker; the first
	// element is the executable. Defaults to this executable + "worker".
	WorkerCommand []string
}

// Component is one process of the stack.
type Component struct {
	Name    string
	Address string
	PID     int
	Running bool
	Healthy bool
	Detail  string
}

// New returns the stack for cfg with paths resolved against root.
func New(cfg config.Config, root string, out io.Writer) (*Stack, error) {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	s := &Stack{Cfg: cfg, Root: root, StateDir: abs(cfg.Dev.StateDir), ToolsDir: abs(cfg.Dev.ToolsDir), Out: out}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s.WorkerCommand = []string{exe, "worker"}
	return s, nil
}

func (s *Stack) pidFile(name string) string { return filepath.Join(s.StateDir, "pids", name+".pid") }
func (s *Stack) logFile(name string) string { return filepath.Join(s.StateDir, "logs", name+".log") }

// CredentialsFile is where the generated MinIO credentials live (0600).
func (s *Stack) CredentialsFile() string { return filepath.Join(s.StateDir, "minio", "credentials") }

func (s *Stack) temporalAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.Cfg.Dev.TemporalPort) }
func (s *Stack) uiAddr() string       { return fmt.Sprintf("127.0.0.1:%d", s.Cfg.Dev.TemporalUIPort) }
func (s *Stack) minioAddr() string    { return fmt.Sprintf("127.0.0.1:%d", s.Cfg.Dev.MinIOPort) }

// UIURL is the Temporal Web UI of the dev stack.
func (s *Stack) UIURL() string { return "http://" + s.uiAddr() }

func (s *Stack) logf(format string, args ...any) {
	if s.Out != nil {
		fmt.Fprintf(s.Out, format+"\n", args...)
	}
}

// EnsureTools installs the pinned Temporal CLI, MinIO and ONNX Runtime
// library when missing (deploy/dev/install-tools.sh decides).
func (s *Stack) EnsureTools(ctx context.Context) error {
	script := filepath.Join(s.Root, "deploy", "dev", "install-tools.sh")
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("dev up: %s not found: run clvflow from the repository checkout (dev.tools_dir=%s)", script, s.ToolsDir)
	}
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Env = append(os.Environ(), "CLVFLOW_TOOLS_DIR="+s.ToolsDir)
	cmd.Stdout, cmd.Stderr = s.Out, s.Out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("dev up: installing tools failed (%v); see the output above", err)
	}
	return nil
}

// portInUse reports whether something already listens on addr.
func portInUse(addr string) bool {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return true
	}
	l.Close()
	return false
}

// readPID returns the pid recorded for name and whether that process is
// alive and still the program we started (checked through /proc cmdline).
func (s *Stack) readPID(name string) (int, bool) {
	b, err := os.ReadFile(s.pidFile(name))
	if err != nil {
		return 0, false
	}
	fields := strings.SplitN(strings.TrimSpace(string(b)), "\n", 2)
	pid, err := strconv.Atoi(fields[0])
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return pid, false
	}
	if len(fields) == 2 {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !strings.HasPrefix(string(cmdline), fields[1]) {
			return pid, false // pid reused by another program
		}
	}
	return pid, true
}

func (s *Stack) startProcess(name string, argv []string, env []string) (int, error) {
	if err := os.MkdirAll(filepath.Dir(s.pidFile(name)), 0o700); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(s.logFile(name)), 0o700); err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(s.logFile(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = s.Root
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // survives this command's exit
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	// Record pid and the command line prefix, so that down never kills a
	// process that merely reused the pid.
	cmdline := strings.Join(argv, "\x00")
	if err := os.WriteFile(s.pidFile(name), []byte(strconv.Itoa(pid)+"\n"+cmdline), 0o600); err != nil {
		_ = cmd.Process.Kill()
		return 0, err
	}
	_ = cmd.Process.Release()
	return pid, nil
}

// ensureCredentials creates MinIO root credentials once, 0600.
func (s *Stack) ensureCredentials() (access, secret string, err error) {
	f := s.CredentialsFile()
	if _, err := os.Stat(f); err == nil {
		c := s.Cfg
		c.Storage.AccessKey, c.Storage.SecretKey, c.Storage.CredentialsFile = "", "", f
		if err := c.LoadCredentials(); err != nil {
			return "", "", err
		}
		return c.Storage.AccessKey, c.Storage.SecretKey, nil
	}
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return "", "", err
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", "", err
	}
	access = "clvflow-" + hex.EncodeToString(buf[:4])
	secret = hex.EncodeToString(buf[4:])
	if err := os.WriteFile(f, []byte("ACCESS_KEY="+access+"\nSECRET_KEY="+secret+"\n"), 0o600); err != nil {
		return "", "", err
	}
	return access, secret, nil
}

// Up starts whatever part of the stack is not running and waits until all
// of it is healthy.
func (s *Stack) Up(ctx context.Context, withWorker bool) error {
	if err := s.EnsureTools(ctx); err != nil {
		return err
	}
	for _, d := range []string{"temporal", "minio/data", "logs", "pids"} {
		if err := os.MkdirAll(filepath.Join(s.StateDir, d), 0o700); err != nil {
			return err
		}
	}
	if err := s.checkPorts(); err != nil {
		return err
	}
	if err := s.upTemporal(ctx); err != nil {
		return err
	}
	if err := s.upMinIO(ctx); err != nil {
		return err
	}
	if err := s.ensureGovernance(); err != nil {
		return fmt.Errorf("dev up: policy and keys under %s: %w", filepath.Dir(s.Governance().PolicyFile), err)
	}
	if !withWorker {
		return nil
	}
	return s.upWorker(ctx)
}

// checkPorts refuses early a port another process holds, naming the port
// and the key to change (the ports of a server already running are its own).
func (s *Stack) checkPorts() error {
	type port struct {
		name, addr, key string
	}
	checks := map[string][]port{
		"temporal": {{"Temporal frontend", s.temporalAddr(), "dev.temporal_port"}, {"Temporal Web UI", s.uiAddr(), "dev.temporal_ui_port"}},
		"minio":    {{"MinIO", s.minioAddr(), "dev.minio_port"}},
	}
	for _, name := range []string{"temporal", "minio"} {
		if _, alive := s.readPID(name); alive {
			continue
		}
		for _, p := range checks[name] {
			if portInUse(p.addr) {
				return fmt.Errorf("dev up: port %s for the %s is already in use by another process; stop that process or choose another port with %s (env %s)",
					p.addr, p.name, p.key, config.EnvName(p.key))
			}
		}
	}
	return nil
}

// upTemporal starts the Temporal dev server (with UI and a file database
// that survives restarts) unless it runs, and waits for it and its UI.
func (s *Stack) upTemporal(ctx context.Context) error {
	if pid, alive := s.readPID("temporal"); alive {
		s.logf("temporal: already running (pid %d)", pid)
	} else {
		args := []string{filepath.Join(s.ToolsDir, "bin", "temporal"), "server", "start-dev",
			"--ip", "127.0.0.1", "--port", strconv.Itoa(s.Cfg.Dev.TemporalPort),
			"--ui-port", strconv.Itoa(s.Cfg.Dev.TemporalUIPort),
			"--db-filename", filepath.Join(s.StateDir, "temporal", "temporal.db"),
			"--namespace", s.Cfg.Temporal.Namespace, "--log-level", "warn"}
		args = append(args, searchattr.CLIFlags()...)
		pid, err := s.startProcess("temporal", args, nil)
		if err != nil {
			return err
		}
		s.logf("temporal: started (pid %d), waiting for health", pid)
	}
	if err := waitFor(ctx, 60*time.Second, func() error { return temporalHealthy(ctx, s.temporalAddr(), s.Cfg.Temporal.Namespace) }); err != nil {
		return fmt.Errorf("dev up: Temporal dev server on %s did not become healthy: %v (log: %s)", s.temporalAddr(), err, s.logFile("temporal"))
	}
	if err := waitFor(ctx, 30*time.Second, func() error { return httpOK("http://" + s.uiAddr() + "/") }); err != nil {
		return fmt.Errorf("dev up: Temporal Web UI on %s did not answer: %v (log: %s)", s.uiAddr(), err, s.logFile("temporal"))
	}
	return nil
}

// upMinIO starts MinIO with the stack's credentials unless it runs, and
// waits until it is ready.
func (s *Stack) upMinIO(ctx context.Context) error {
	access, secret, err := s.ensureCredentials()
	if err != nil {
		return fmt.Errorf("dev up: MinIO credentials: %w", err)
	}
	if pid, alive := s.readPID("minio"); alive {
		s.logf("minio: already running (pid %d)", pid)
	} else {
		consolePort := s.Cfg.Dev.MinIOPort + 1
		args := []string{filepath.Join(s.ToolsDir, "bin", "minio"), "server", "--quiet",
			"--address", s.minioAddr(), "--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort),
			filepath.Join(s.StateDir, "minio", "data")}
		pid, err := s.startProcess("minio", args, []string{"MINIO_ROOT_USER=" + access, "MINIO_ROOT_PASSWORD=" + secret, "MINIO_BROWSER=off", "MINIO_UPDATE=off"})
		if err != nil {
			return err
		}
		s.logf("minio: started (pid %d), waiting for health", pid)
	}
	if err := waitFor(ctx, 60*time.Second, func() error { return httpOK("http://" + s.minioAddr() + "/minio/health/ready") }); err != nil {
		return fmt.Errorf("dev up: MinIO on %s did not become ready: %v (log: %s)", s.minioAddr(), err, s.logFile("minio"))
	}
	return nil
}

// upWorker starts the clvflow worker with the stack's addresses, keys and
// policy unless it runs, and waits until it polls the task queue.
func (s *Stack) upWorker(ctx context.Context) error {
	if pid, alive := s.readPID("worker"); alive {
		s.logf("worker: already running (pid %d)", pid)
	} else {
		env := []string{
			config.EnvName("temporal.address") + "=" + s.temporalAddr(),
			config.EnvName("storage.endpoint") + "=" + s.minioAddr(),
			config.EnvName("storage.credentials_file") + "=" + s.CredentialsFile(),
			config.EnvName("onnx.library_path") + "=" + s.ortLibrary(),
			config.EnvName("policy.file") + "=" + s.Governance().PolicyFile,
			config.EnvName("temporal.payload_key_file") + "=" + s.Governance().PayloadKeyFile,
			config.EnvName("provenance.signing_key") + "=" + s.Governance().WorkerKey,
		}
		pid, err := s.startProcess("worker", s.WorkerCommand, env)
		if err != nil {
			return err
		}
		s.logf("worker: started (pid %d), waiting for it to poll %s", pid, s.Cfg.Temporal.TaskQueue)
	}
	if err := waitFor(ctx, 60*time.Second, func() error {
		if _, alive := s.readPID("worker"); !alive {
			return errors.New("worker process exited")
		}
		return workerPolling(ctx, s.temporalAddr(), s.Cfg.Temporal.Namespace, s.Cfg.Temporal.TaskQueue)
	}); err != nil {
		return fmt.Errorf("dev up: clvflow worker is not polling task queue %s: %v (log: %s)", s.Cfg.Temporal.TaskQueue, err, s.logFile("worker"))
	}
	return nil
}

func (s *Stack) ortLibrary() string {
	matches, _ := filepath.Glob(filepath.Join(s.ToolsDir, "lib", "libonnxruntime.so*"))
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// Down stops exactly the processes Up started (from pid files), newest
// first, and removes their pid files.
func (s *Stack) Down(ctx context.Context) error {
	var errs []error
	for _, name := range []string{"worker", "minio", "temporal"} {
		pid, alive := s.readPID(name)
		if pid == 0 {
			continue
		}
		if !alive {
			s.logf("%s: not running (stale pid file removed)", name)
			_ = os.Remove(s.pidFile(name))
			continue
		}
		gone := func() error {
			if syscall.Kill(pid, 0) == nil && !zombie(pid) {
				return errors.New("still running")
			}
			return nil
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if err := waitFor(ctx, 20*time.Second, gone); err != nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			if err := waitFor(ctx, 5*time.Second, gone); err != nil {
				errs = append(errs, fmt.Errorf("%s (pid %d) did not stop", name, pid))
				continue
			}
		}
		_ = os.Remove(s.pidFile(name))
		s.logf("%s: stopped (pid %d)", name, pid)
	}
	return errors.Join(errs...)
}

func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// state is the field after the ")" that closes the command name.
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] == 'Z'
}

// Status reports every component.
func (s *Stack) Status(ctx context.Context) []Component {
	var out []Component
	pid, alive := s.readPID("temporal")
	c := Component{Name: "temporal", Address: s.temporalAddr(), PID: pid, Running: alive}
	if err := temporalHealthy(ctx, s.temporalAddr(), s.Cfg.Temporal.Namespace); err == nil {
		c.Healthy = true
	} else {
		c.Detail = err.Error()
	}
	out = append(out, c)
	ui := Component{Name: "temporal-ui", Address: s.UIURL(), PID: pid, Running: alive}
	if err := httpOK(s.UIURL() + "/"); err == nil {
		ui.Healthy = true
	} else {
		ui.Detail = err.Error()
	}
	out = append(out, ui)
	pid, alive = s.readPID("minio")
	m := Component{Name: "minio", Address: s.minioAddr(), PID: pid, Running: alive}
	if err := httpOK("http://" + s.minioAddr() + "/minio/health/ready"); err == nil {
		m.Healthy = true
	} else {
		m.Detail = err.Error()
	}
	out = append(out, m)
	pid, alive = s.readPID("worker")
	w := Component{Name: "worker", Address: "task queue " + s.Cfg.Temporal.TaskQueue, PID: pid, Running: alive}
	if alive {
		if err := workerPolling(ctx, s.temporalAddr(), s.Cfg.Temporal.Namespace, s.Cfg.Temporal.TaskQueue); err == nil {
			w.Healthy = true
		} else {
			w.Detail = err.Error()
		}
	}
	out = append(out, w)
	return out
}

func waitFor(ctx context.Context, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return last
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func httpOK(url string) error {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}

type nopLogger struct{}

func (nopLogger) Debug(string, ...interface{}) {}
func (nopLogger) Info(string, ...interface{})  {}
func (nopLogger) Warn(string, ...interface{})  {}
func (nopLogger) Error(string, ...interface{}) {}

func temporalHealthy(ctx context.Context, addr, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: ns, Logger: nopLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err
}

func workerPolling(ctx context.Context, addr, ns, queue string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: ns, Logger: nopLogger{}})
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return err
	}
	if len(resp.GetPollers()) == 0 {
		return fmt.Errorf("no poller on task queue %s yet", queue)
	}
	return nil
}
