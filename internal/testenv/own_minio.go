package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// OwnMinIO is a MinIO server that one test owns, so that it can inject an
// outage for real: Kill stops the process with SIGKILL, Restart starts it
// again on the same port with the same data directory and credentials.
type OwnMinIO struct {
	MinIOServer
	bin         string
	consolePort int
	logPath     string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartOwnMinIO starts a MinIO server for t alone (its own port and data
// directory); it is stopped when t ends.
func StartOwnMinIO(t testing.TB) *OwnMinIO {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode (MinIO)")
	}
	m, err := startOwnMinIO(t.TempDir())
	if err != nil {
		t.Fatalf("cannot start a MinIO of the test's own: %v", err)
	}
	t.Cleanup(m.Kill)
	return m
}

func startOwnMinIO(dir string) (*OwnMinIO, error) {
	bin, err := Binary("minio", "CLVFLOW_MINIO_BIN")
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err1 := FreePort()
		consolePort, err2 := FreePort()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		data := filepath.Join(dir, "data-"+strconv.Itoa(attempt))
		if err := os.MkdirAll(data, 0o700); err != nil {
			return nil, err
		}
		m := &OwnMinIO{
			MinIOServer: MinIOServer{Endpoint: fmt.Sprintf("127.0.0.1:%d", port), AccessKey: "clvflowown",
				SecretKey: "clvflow-own-secret-" + strconv.Itoa(port), Dir: data},
			bin: bin, consolePort: consolePort, logPath: filepath.Join(dir, "minio-"+strconv.Itoa(attempt)+".log"),
		}
		if lastErr = m.launch(); lastErr == nil {
			return m, nil
		}
	}
	return nil, lastErr
}

func (m *OwnMinIO) launch() error {
	mu.Lock()
	cmd, err := launchMinIO(m.bin, &m.MinIOServer, m.consolePort, m.logPath)
	mu.Unlock()
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.cmd = cmd
	m.mu.Unlock()
	return nil
}

// Kill stops the server at once (SIGKILL, as a crash would) and returns
// when its process is gone; killing a stopped server does nothing.
func (m *OwnMinIO) Kill() {
	m.mu.Lock()
	cmd := m.cmd
	m.cmd = nil
	m.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	// The process is reaped by the goroutine waitReady started; wait until
	// it no longer exists.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err := syscall.Kill(cmd.Process.Pid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
	}
}

// Restart starts the killed server again on the same port, with the same
// data and credentials, and returns once it serves requests.
func (m *OwnMinIO) Restart() error {
	m.mu.Lock()
	running := m.cmd != nil
	m.mu.Unlock()
	if running {
		return errors.New("testenv: restart of a MinIO that is running; Kill it first")
	}
	return m.launch()
}
