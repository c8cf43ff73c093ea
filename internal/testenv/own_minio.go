package testenv

import (
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

// OwnMinIO is a MinIO server that belongs to one test, which may kill and
// restart it (outage tests); the shared server of [MinIO] must never be
// stopped. Its data lives in the test's temporary directory, so a restart
// finds the objects written before the kill.
type OwnMinIO struct {
	Endpoint  string // host:port on 127.0.0.1
	AccessKey string
	SecretKey string
	Dir       string // data directory, kept across Kill and Restart

	t           testing.TB
	bin         string
	consolePort int
	logPath     string

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil while killed
	exited chan struct{} // closed when cmd has exited and been reaped
	starts int
}

// StartOwnMinIO starts a MinIO server for t alone, on a free loopback port,
// and waits until it answers signed S3 requests. It is killed when the test
// ends. Like [MinIO], it skips in -short mode and fails the test when MinIO
// cannot be started.
func StartOwnMinIO(t testing.TB) *OwnMinIO {
	t.Helper()
	RequireIntegration(t)
	bin, err := Binary("minio", "CLVFLOW_MINIO_BIN")
	if err != nil {
		skipOrFail(t, "MinIO", err)
	}
	base := t.TempDir() // removed after the cleanup below has killed MinIO
	m := &OwnMinIO{t: t, bin: bin, AccessKey: "clvflowown", Dir: filepath.Join(base, "data"), logPath: filepath.Join(base, "minio.log")}
	if err := os.MkdirAll(m.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.stop)
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if m.consolePort, err = FreePort(); err != nil {
			t.Fatal(err)
		}
		m.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
		m.SecretKey = "clvflow-own-secret-" + strconv.Itoa(port)
		if lastErr = m.start(); lastErr == nil {
			return m
		}
		m.stop()
	}
	skipOrFail(t, "an own MinIO", lastErr)
	return nil
}

func (m *OwnMinIO) server() *MinIOServer {
	return &MinIOServer{Endpoint: m.Endpoint, AccessKey: m.AccessKey, SecretKey: m.SecretKey, Dir: m.Dir}
}

// start launches MinIO on m's port and data directory and waits until it is
// ready (the process is killed when it is not).
func (m *OwnMinIO) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		return fmt.Errorf("own MinIO on %s is already running", m.Endpoint)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	m.starts++
	fmt.Fprintf(logf, "--- start %d on %s\n", m.starts, m.Endpoint)
	s := m.server()
	cmd := exec.Command(m.bin, minioArgs(s, m.consolePort)...)
	cmd.Env = append(os.Environ(), minioEnv(s)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, and die with the test binary even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start own MinIO: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	m.cmd, m.exited = cmd, exited
	ready, err := minioReady(s)
	if err == nil {
		err = waitReadyOrExit(exited, 60*time.Second, ready)
	}
	if err != nil {
		m.killLocked()
		return fmt.Errorf("own MinIO on %s: %w\n%s", m.Endpoint, err, logTail(m.logPath))
	}
	return nil
}

// killLocked SIGKILLs the process group and waits until the process has
// exited; m.mu is held.
func (m *OwnMinIO) killLocked() {
	if m.cmd == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	<-m.exited
	m.cmd, m.exited = nil, nil
}

func (m *OwnMinIO) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.killLocked()
}

// Kill stops MinIO abruptly (SIGKILL, like a crash or a lost host) and
// returns once the process has exited: from then on connections to Endpoint
// are refused. Killing a killed server does nothing.
func (m *OwnMinIO) Kill() {
	m.t.Helper()
	m.stop()
}

// Restart starts MinIO again on the same port with the same data directory
// and credentials (killing it first if it runs) and waits until it answers
// signed S3 requests; the test fails if it does not.
func (m *OwnMinIO) Restart() {
	m.t.Helper()
	m.stop()
	if err := m.start(); err != nil {
		m.t.Fatalf("restart own MinIO: %v", err)
	}
}
