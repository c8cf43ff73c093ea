// Package testenv starts the real servers clvflow's integration tests talk
// to: one Temporal dev server and one MinIO per test binary, each on free
// loopback ports with its state in a temporary directory, so tests never touch
// the dev stack's fixed ports or ./.clvflow/.
//
// Integration tests call [Temporal] or [MinIO]; the first call starts the
// server and later calls reuse it. A package that uses them must run its tests
// through [Main] so the servers are stopped when the binary exits:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
// When a server cannot be started the test fails (it does not skip), unless
// `go test -short` was asked for, in which case integration tests are skipped.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clvflow/clvflow/internal/searchattr"
	"github.com/clvflow/clvflow/internal/shareddata"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"go.temporal.io/sdk/client"
)

// MinIOServer is a running MinIO server.
type MinIOServer struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Dir       string
}

// TemporalServer is a running Temporal dev server.
type TemporalServer struct {
	Address   string // host:port of the frontend (gRPC)
	Namespace string
	UIPort    int
}

var (
	mu       sync.Mutex
	procs    []*exec.Cmd
	baseDir  string
	minioSrv *MinIOServer
	minioErr error
	tempSrv  *TemporalServer
	tempErr  error
)

// Main runs the tests and stops every server this package started.
func Main(m *testing.M) {
	code := m.Run()
	stopAll()
	os.Exit(code)
}

func stopAll() {
	mu.Lock()
	defer mu.Unlock()
	for _, c := range procs {
		if c.Process != nil {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		}
	}
	for _, c := range procs {
		done := make(chan struct{})
		go func() { _ = c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	procs = nil
	if baseDir != "" {
		_ = os.RemoveAll(baseDir)
	}
}

// skipOrFail skips in -short mode and otherwise fails the test with err.
func skipOrFail(t testing.TB, what string, err error) {
	t.Helper()
	if testing.Short() {
		t.Skipf("integration test skipped in -short mode (%s)", what)
	}
	t.Fatalf("cannot start %s for integration tests: %v", what, err)
}

// RequireIntegration skips the test in -short mode.
func RequireIntegration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode")
	}
}

func dir() (string, error) {
	if baseDir == "" {
		d, err := os.MkdirTemp("", "clvflow-testenv-")
		if err != nil {
			return "", err
		}
		baseDir = d
	}
	return baseDir, nil
}

// MinIO returns the test binary's MinIO server, starting it on first use.
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode (MinIO)")
	}
	mu.Lock()
	defer mu.Unlock()
	if minioSrv == nil && minioErr == nil {
		minioSrv, minioErr = startMinIO()
	}
	if minioErr != nil {
		mu.Unlock()
		skipOrFail(t, "MinIO", minioErr)
		mu.Lock()
	}
	return minioSrv
}

// Temporal returns the test binary's Temporal dev server, starting it on
// first use. The clvflow search attributes are registered.
func Temporal(t testing.TB) *TemporalServer {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode (Temporal)")
	}
	mu.Lock()
	defer mu.Unlock()
	if tempSrv == nil && tempErr == nil {
		tempSrv, tempErr = startTemporal()
	}
	if tempErr != nil {
		mu.Unlock()
		skipOrFail(t, "Temporal dev server", tempErr)
		mu.Lock()
	}
	return tempSrv
}

// RepoRoot returns the directory holding the module's go.mod, found by
// walking up from the working directory.
func RepoRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/clvflow/clvflow") {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("go.mod of github.com/clvflow/clvflow not found above the working directory")
		}
		d = p
	}
}

// SharedData returns the directory of the shared public datasets
// ($CLVFLOW_SHARED_DATA, else ../shared/data beside the repository) and skips
// the test with a clear message when it is absent.
func SharedData(t testing.TB) string {
	t.Helper()
	return shareddata.Dir(t)
}

// Binary finds a server binary: $envVar, then <repo>/.tools/bin/name, then PATH.
func Binary(name, envVar string) (string, error) {
	tried := []string{}
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, envVar+"="+p)
	}
	if root, err := RepoRoot(); err == nil {
		p := filepath.Join(root, ".tools", "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		tried = append(tried, p)
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	tried = append(tried, "$PATH")
	return "", fmt.Errorf("%s binary not found (tried %s); run `make tools` (or deploy/dev/install-tools.sh) to install the pinned version into .tools/bin", name, strings.Join(tried, ", "))
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(name string, bin string, args []string, env []string, logPath string) (*exec.Cmd, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group, and die with the test binary even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	logf.Close()
	procs = append(procs, cmd)
	return cmd, nil
}

func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func waitReady(cmd *exec.Cmd, timeout time.Duration, ready func() error) error {
	exited := make(chan struct{})
	go func() {
		_, _ = cmd.Process.Wait()
		close(exited)
	}()
	return waitReadyOrExit(exited, timeout, ready)
}

// waitReadyOrExit polls ready until it succeeds, exited is closed or timeout
// passes.
func waitReadyOrExit(exited <-chan struct{}, timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("process exited before becoming ready (last check: %v)", last)
		default:
		}
		if last = ready(); last == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("process exited before becoming ready (last check: %v)", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s: %v", timeout, last)
}

func startMinIO() (*MinIOServer, error) {
	bin, err := Binary("minio", "CLVFLOW_MINIO_BIN")
	if err != nil {
		return nil, err
	}
	base, err := dir()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		consolePort, err := FreePort()
		if err != nil {
			return nil, err
		}
		data := filepath.Join(base, "minio-"+strconv.Itoa(attempt))
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		s := &MinIOServer{Endpoint: fmt.Sprintf("127.0.0.1:%d", port), AccessKey: "clvflowtest", SecretKey: "clvflow-test-secret-" + strconv.Itoa(port), Dir: data}
		logPath := filepath.Join(base, "minio-"+strconv.Itoa(attempt)+".log")
		cmd, err := start("minio", bin, minioArgs(s, consolePort), minioEnv(s), logPath)
		if err != nil {
			return nil, err
		}
		ready, err := minioReady(s)
		if err != nil {
			return nil, err
		}
		err = waitReady(cmd, 60*time.Second, ready)
		if err == nil {
			return s, nil
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		lastErr = fmt.Errorf("minio on %s: %w\n%s", s.Endpoint, err, logTail(logPath))
	}
	return nil, lastErr
}

// minioArgs are the arguments of `minio server` for s.
func minioArgs(s *MinIOServer, consolePort int) []string {
	return []string{"server", "--quiet", "--address", s.Endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort), s.Dir}
}

// minioEnv is the environment (credentials) of a MinIO server for s.
func minioEnv(s *MinIOServer) []string {
	return []string{"MINIO_ROOT_USER=" + s.AccessKey, "MINIO_ROOT_PASSWORD=" + s.SecretKey, "MINIO_BROWSER=off", "MINIO_UPDATE=off"}
}

// minioReady returns a readiness check of the MinIO server s.
func minioReady(s *MinIOServer) (func() error, error) {
	hc := &http.Client{Timeout: time.Second}
	mc, err := minio.New(s.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s.AccessKey, s.SecretKey, "")})
	if err != nil {
		return nil, err
	}
	return func() error {
		resp, err := hc.Get("http://" + s.Endpoint + "/minio/health/ready")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health: %s", resp.Status)
		}
		// The health endpoint answers slightly before S3 calls work
		// (XMinioServerNotInitialized): wait for a signed request too.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err = mc.ListBuckets(ctx)
		return err
	}, nil
}

func startTemporal() (*TemporalServer, error) {
	bin, err := Binary("temporal", "CLVFLOW_TEMPORAL_BIN")
	if err != nil {
		return nil, err
	}
	base, err := dir()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports := make([]int, 4)
		for i := range ports {
			if ports[i], err = FreePort(); err != nil {
				return nil, err
			}
		}
		s := &TemporalServer{Address: fmt.Sprintf("127.0.0.1:%d", ports[0]), Namespace: "default", UIPort: ports[1]}
		logPath := filepath.Join(base, "temporal-"+strconv.Itoa(attempt)+".log")
		args := []string{"server", "start-dev", "--headless", "--ip", "127.0.0.1",
			"--port", strconv.Itoa(ports[0]), "--ui-port", strconv.Itoa(ports[1]),
			"--http-port", strconv.Itoa(ports[2]), "--metrics-port", strconv.Itoa(ports[3]),
			"--db-filename", filepath.Join(base, "temporal-"+strconv.Itoa(attempt)+".db"),
			"--log-level", "warn", "--namespace", s.Namespace}
		args = append(args, searchattr.CLIFlags()...)
		cmd, err := start("temporal", bin, args, nil, logPath)
		if err != nil {
			return nil, err
		}
		err = waitReady(cmd, 60*time.Second, func() error {
			c, err := client.Dial(client.Options{HostPort: s.Address, Namespace: s.Namespace, Logger: quietLogger{}})
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		})
		if err == nil {
			return s, nil
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		lastErr = fmt.Errorf("temporal on %s: %w\n%s", s.Address, err, logTail(logPath))
	}
	return nil, lastErr
}

// quietLogger drops the SDK's log lines during readiness polling.
type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
