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

// ownProcess is a server process that one test owns and can crash
// (SIGKILL) and start again with the same settings, to inject an outage
// for real.
type ownProcess struct {
	name   string
	launch func() (*exec.Cmd, error)

	mu  sync.Mutex
	cmd *exec.Cmd
}

func (p *ownProcess) start() error {
	mu.Lock()
	cmd, err := p.launch()
	mu.Unlock()
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	return nil
}

// Kill stops the server at once (SIGKILL, as a crash would) and returns
// when its process is gone; killing a stopped server does nothing.
func (p *ownProcess) Kill() {
	p.mu.Lock()
	cmd := p.cmd
	p.cmd = nil
	p.mu.Unlock()
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

// Restart starts the killed server again with the same port, data and
// credentials, and returns once it serves requests.
func (p *ownProcess) Restart() error {
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if running {
		return fmt.Errorf("testenv: restart of a %s that is running; Kill it first", p.name)
	}
	return p.start()
}

// OwnMinIO is a MinIO server that one test owns: Kill crashes it, Restart
// starts it again on the same port with the same data and credentials.
type OwnMinIO struct {
	MinIOServer
	ownProcess
}

// StartOwnMinIO starts a MinIO server for t alone (its own port and data
// directory); it is stopped when t ends.
func StartOwnMinIO(t testing.TB) *OwnMinIO {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode (MinIO)")
	}
	bin, err := Binary("minio", "CLVFLOW_MINIO_BIN")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for attempt := 0; attempt < 3; attempt++ {
		var ports [2]int
		for i := range ports {
			if ports[i], err = FreePort(); err != nil {
				t.Fatal(err)
			}
		}
		data := filepath.Join(dir, "data-"+strconv.Itoa(attempt))
		if err = os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
		m := &OwnMinIO{MinIOServer: MinIOServer{Endpoint: fmt.Sprintf("127.0.0.1:%d", ports[0]), AccessKey: "clvflowown",
			SecretKey: "clvflow-own-secret-" + strconv.Itoa(ports[0]), Dir: data}}
		logPath := filepath.Join(dir, "minio-"+strconv.Itoa(attempt)+".log")
		m.ownProcess = ownProcess{name: "MinIO", launch: func() (*exec.Cmd, error) { return launchMinIO(bin, &m.MinIOServer, ports[1], logPath) }}
		if err = m.start(); err == nil {
			t.Cleanup(m.Kill)
			return m
		}
	}
	t.Fatalf("cannot start a MinIO of the test's own: %v", err)
	return nil
}

// OwnTemporal is a Temporal dev server that one test owns: Kill crashes
// it, Restart starts it again on the same ports with the same database
// (workflows, histories and pending work survive).
type OwnTemporal struct {
	TemporalServer
	ownProcess
}

// StartOwnTemporal starts a Temporal dev server for t alone; it is stopped
// when t ends.
func StartOwnTemporal(t testing.TB) *OwnTemporal {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test skipped in -short mode (Temporal)")
	}
	bin, err := Binary("temporal", "CLVFLOW_TEMPORAL_BIN")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for attempt := 0; attempt < 3; attempt++ {
		ports := make([]int, 4)
		for i := range ports {
			if ports[i], err = FreePort(); err != nil {
				t.Fatal(err)
			}
		}
		s := &OwnTemporal{TemporalServer: TemporalServer{Address: fmt.Sprintf("127.0.0.1:%d", ports[0]), Namespace: "default", UIPort: ports[1]}}
		db := filepath.Join(dir, "temporal-"+strconv.Itoa(attempt)+".db")
		logPath := filepath.Join(dir, "temporal-"+strconv.Itoa(attempt)+".log")
		s.ownProcess = ownProcess{name: "Temporal dev server", launch: func() (*exec.Cmd, error) { return launchTemporal(bin, &s.TemporalServer, ports, db, logPath) }}
		if err = s.start(); err == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("cannot start a Temporal dev server of the test's own: %v", err)
	return nil
}
