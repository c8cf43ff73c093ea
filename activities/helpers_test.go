package activities_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/registry"
	"github.com/minio/minio-go/v7"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// quiet drops the log lines of the activities and of the Temporal test
// environment (failing activities log at error level by design).
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fastRetry keeps the store's retries of unreachable servers short.
var fastRetry = artifacts.RetryPolicy{MaxAttempts: 2, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Multiplier: 2}

var bucketSeq atomic.Int64

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// bucketName returns a fresh valid bucket name derived from the test name.
func bucketName(tb testing.TB, kind string) string {
	name := strings.Trim(nonAlnum.ReplaceAllString(strings.ToLower(tb.Name()), "-"), "-")
	b := fmt.Sprintf("a%d-%s-%s", bucketSeq.Add(1), kind, name)
	if len(b) > 63 {
		b = b[:63]
	}
	return strings.TrimRight(b, "-")
}

// fixture is an Activities on fresh buckets (datasets, models, registry) of
// the test binary's MinIO.
type fixture struct {
	acts  *activities.Activities
	store *artifacts.Store
	reg   *registry.Registry
}

func newStore(tb testing.TB, endpoint string, srv *testenv.MinIOServer) *artifacts.Store {
	tb.Helper()
	st, err := artifacts.New(artifacts.Config{Endpoint: endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Retry: fastRetry})
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// newFixture needs MinIO: it skips in -short mode.
func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	srv := testenv.MinIO(tb)
	return newFixtureAt(tb, srv, srv.Endpoint)
}

// newFixtureAt is newFixture with the clients talking to endpoint (a proxy
// in front of srv).
func newFixtureAt(tb testing.TB, srv *testenv.MinIOServer, endpoint string) *fixture {
	tb.Helper()
	ctx := context.Background()
	st := newStore(tb, endpoint, srv)
	buckets := activities.Buckets{Datasets: bucketName(tb, "ds"), Models: bucketName(tb, "md")}
	for _, b := range []string{buckets.Datasets, buckets.Models} {
		if err := st.EnsureBucket(ctx, b); err != nil {
			tb.Fatal(err)
		}
	}
	reg, err := registry.New(st.Client(), bucketName(tb, "rg"), registry.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := reg.EnsureBucket(ctx); err != nil {
		tb.Fatal(err)
	}
	return &fixture{
		acts: &activities.Activities{Store: st, Registry: reg, Buckets: buckets,
			CodeRevision: "test-revision", AllowedInputDirs: testInputDirs(tb), Logger: quiet},
		store: st, reg: reg,
	}
}

// unreachable returns an Activities whose store and registry point at a
// loopback port with nothing listening. It needs no server.
func unreachable(tb testing.TB) *activities.Activities {
	tb.Helper()
	port, err := testenv.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	st, err := artifacts.New(artifacts.Config{Endpoint: "127.0.0.1:" + strconv.Itoa(port), AccessKey: "nobody", SecretKey: "nothing-listens-here", Retry: fastRetry})
	if err != nil {
		tb.Fatal(err)
	}
	reg, err := registry.New(st.Client(), "unreachable-registry", registry.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return &activities.Activities{Store: st, Registry: reg, Buckets: activities.Buckets{Datasets: "unreachable-ds", Models: "unreachable-md"},
		AllowedInputDirs: testInputDirs(tb), Logger: quiet}
}

// testInputDirs are the directories the tests' workers may read inputs
// from: the temporary directory (t.TempDir) and the repository's testdata.
func testInputDirs(tb testing.TB) []string {
	tb.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return []string{os.TempDir(), filepath.Join(root, "testdata")}
}

// newEnv returns a test activity environment running acts.
func newEnv(tb testing.TB, acts *activities.Activities) *testsuite.TestActivityEnvironment {
	return newEnvWith(tb, acts, worker.Options{})
}

// newEnvWith is newEnv with worker options (background context,
// interceptors).
func newEnvWith(tb testing.TB, acts *activities.Activities, wo worker.Options) *testsuite.TestActivityEnvironment {
	tb.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(quiet))
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(wo)
	env.RegisterActivity(acts)
	return env
}

// run executes one activity and decodes its result.
func run[T any](tb testing.TB, env *testsuite.TestActivityEnvironment, fn any, args ...any) (T, error) {
	tb.Helper()
	var out T
	v, err := env.ExecuteActivity(fn, args...)
	if err != nil {
		return out, err
	}
	if v != nil && v.HasValue() {
		if err := v.Get(&out); err != nil {
			tb.Fatalf("decode the result of the activity: %v", err)
		}
	}
	return out, nil
}

// mustRun is run failing the test on an error.
func mustRun[T any](tb testing.TB, env *testsuite.TestActivityEnvironment, fn any, args ...any) T {
	tb.Helper()
	out, err := run[T](tb, env, fn, args...)
	if err != nil {
		tb.Fatalf("activity failed: %v", err)
	}
	return out
}

// wantNonRetryable checks that err is a non-retryable application error of
// type errType whose message contains every string of contains.
func wantNonRetryable(tb testing.TB, err error, errType string, contains ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want a non-retryable %s error", errType)
	}
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		tb.Fatalf("got %T %v, want a non-retryable %s application error", err, err, errType)
	}
	if got := activities.ErrorType(err); got != errType {
		tb.Errorf("ErrorType = %q, want %q (error: %v)", got, errType, err)
	}
	if !ae.NonRetryable() {
		tb.Errorf("error of type %s is retryable, want non-retryable: %v", ae.Type(), err)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			tb.Errorf("error %q does not mention %q", err, s)
		}
	}
}

// wantRetryable checks that err is an error Temporal retries (not a
// non-retryable application error, not one of activities'
// NonRetryableErrorTypes, not a cancellation) and that its message keeps the
// cause (every string of contains).
func wantRetryable(tb testing.TB, err error, contains ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatal("got no error, want a retryable one")
	}
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		tb.Fatalf("got %T %v, want a (retryable) application error", err, err)
	}
	if ae.NonRetryable() {
		tb.Errorf("error is non-retryable (type %q), want retryable: %v", ae.Type(), err)
	}
	if slices.Contains(activities.NonRetryableErrorTypes, activities.ErrorType(err)) {
		tb.Errorf("error type %q is one of the non-retryable types: %v", activities.ErrorType(err), err)
	}
	var ce *temporal.CanceledError
	if errors.As(err, &ce) {
		tb.Errorf("got a cancellation, want a retryable failure: %v", err)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			tb.Errorf("error %q does not keep its cause %q", err, s)
		}
	}
}

// wantCanceled checks that err reports the activity's cancellation (not a
// failure of any application error type).
func wantCanceled(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		tb.Fatal("got no error, want a cancellation")
	}
	var ce *temporal.CanceledError
	if !errors.As(err, &ce) {
		tb.Errorf("got %v (error type %q), want a cancellation", err, activities.ErrorType(err))
	}
	if typ := activities.ErrorType(err); typ != "" {
		tb.Errorf("cancellation reported as application error type %q: %v", typ, err)
	}
}

// refusedCause is what an error from an unreachable store must still say.
const refusedCause = "connection refused"

// keys lists the keys under prefix in bucket (latest versions).
func keys(tb testing.TB, st *artifacts.Store, bucket, prefix string) []string {
	tb.Helper()
	infos, err := st.List(context.Background(), bucket, prefix)
	if err != nil {
		tb.Fatalf("list %s/%s: %v", bucket, prefix, err)
	}
	var out []string
	for _, i := range infos {
		out = append(out, i.Key)
	}
	return out
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sha256File(tb testing.TB, path string) (string, int64) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return sha256Hex(b), int64(len(b))
}

// writeFile writes content to name in a fresh temporary directory.
func writeFile(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// demoPath is the bundled CDNOW master file (gzip).
func demoPath(tb testing.TB) string {
	tb.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return filepath.Join(root, "testdata", "demo", "cdnow_master.txt.gz")
}

// demoLines is the number of lines of the demo file (header included).
const demoLines = 69660

// cdnowSubset writes the header and the rows of the first customers
// customers of the demo file to a plain-text CDNOW file and returns its path
// and number of data rows.
func cdnowSubset(tb testing.TB, customers int) (string, int) {
	tb.Helper()
	f, err := os.Open(demoPath(tb))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	rows := 0
	sc := bufio.NewScanner(zr)
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		if !first {
			fields := strings.Fields(line)
			id, err := strconv.Atoi(fields[0])
			if err != nil {
				tb.Fatalf("demo file: %q", line)
			}
			if id > customers {
				break
			}
			rows++
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return writeFile(tb, "cdnow_subset.txt", b.String()), rows
}

// putRaw stores data at key with the raw MinIO client, bypassing the store:
// the object has no recorded digest, so a reader only finds a wrong
// reference digest at the end of the stream.
func putRaw(tb testing.TB, st *artifacts.Store, bucket, key string, data []byte) artifacts.Ref {
	tb.Helper()
	info, err := st.Client().PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		tb.Fatal(err)
	}
	return artifacts.Ref{Bucket: bucket, Key: key, VersionID: info.VersionID, SHA256: sha256Hex(data), Size: int64(len(data))}
}

// withWrongSHA returns ref with a well-formed digest that is not its
// content's.
func withWrongSHA(ref artifacts.Ref) artifacts.Ref {
	ref.SHA256 = sha256Hex([]byte("not the content of " + ref.Key))
	return ref
}

// missing returns a reference to a key that was never written in ref's
// bucket.
func missing(ref artifacts.Ref) artifacts.Ref {
	return artifacts.Ref{Bucket: ref.Bucket, Key: "never-written/" + sha256Hex([]byte(ref.Key)), SHA256: ref.SHA256, Size: ref.Size}
}

// heartbeats is a worker interceptor that sees every RecordHeartbeat call
// of an activity, synchronously and in order (the test environment's
// heartbeat listener only sees throttled batches).
type heartbeats struct {
	interceptor.WorkerInterceptorBase
	on func(details []any)
}

func (h *heartbeats) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &hbInbound{on: h.on}
	i.Next = next
	return i
}

type hbInbound struct {
	interceptor.ActivityInboundInterceptorBase
	on func(details []any)
}

func (i *hbInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	o := &hbOutbound{on: i.on}
	o.Next = outbound
	return i.Next.Init(o)
}

type hbOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	on func(details []any)
}

func (o *hbOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	o.on(details)
	o.Next.RecordHeartbeat(ctx, details...)
}

// onHeartbeat returns worker options whose interceptor calls fn on every
// heartbeat.
func onHeartbeat(fn func(details []any)) worker.Options {
	return worker.Options{Interceptors: []interceptor.WorkerInterceptor{&heartbeats{on: fn}}}
}

// tcpProxy forwards loopback connections to a server until it is cut: then
// it closes its listener and every open connection, so the server is
// unreachable through it (connection refused) from that moment on.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
}

func startProxy(tb testing.TB, target string) *tcpProxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	go p.serve()
	tb.Cleanup(p.Cut)
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(s, c); s.Close() }()
		go func() { _, _ = io.Copy(c, s); c.Close() }()
	}
}

// Cut makes the server unreachable through the proxy.
func (p *tcpProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return
	}
	p.cut = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// pipeline is the output of ingest → validate → featurize → train (every
// kind) → evaluate on a CDNOW subset. It is computed once per test binary,
// on its own buckets, and shared read-only by the tests that need trained
// models; tests that delete or overwrite objects use their own fixture.
type pipeline struct {
	*fixture
	rows       int // data rows of the subset file
	ingest     activities.IngestResult
	validate   activities.ValidateResult
	featurize  activities.FeaturizeResult
	trained    map[string]activities.TrainResult
	trainedAll []activities.TrainResult // in pipeKinds order
	evaluation activities.EvaluateResult
}

const (
	pipeCustomers    = 1500
	pipeCutoff       = "1997-09-30"
	pipeHorizon      = 273
	pipeSeed         = 7
	pipeEpochs       = 2
	pipeTestFraction = 0.2
)

var pipeKinds = []string{"naive", "bgnbd", "ziln", "seq"}

var (
	pipeOnce sync.Once
	pipe     *pipeline
)

// sharedPipeline returns the shared pipeline, building it on first use.
func sharedPipeline(t *testing.T) *pipeline {
	t.Helper()
	testenv.RequireIntegration(t)
	pipeOnce.Do(func() { pipe = buildPipeline(t) })
	if pipe == nil {
		t.Fatal("building the shared pipeline fixture failed in an earlier test")
	}
	return pipe
}

func buildPipeline(t *testing.T) *pipeline {
	t.Helper()
	p := &pipeline{fixture: newFixture(t), trained: map[string]activities.TrainResult{}}
	a := p.acts
	env := newEnv(t, a)
	var path string
	path, p.rows = cdnowSubset(t, pipeCustomers)
	p.ingest = mustRun[activities.IngestResult](t, env, a.IngestDataset, activities.IngestInput{Path: path})
	p.validate = mustRun[activities.ValidateResult](t, env, a.ValidateDataset, activities.ValidateInput{Dataset: p.ingest.Dataset, Format: p.ingest.Format})
	p.featurize = mustRun[activities.FeaturizeResult](t, env, a.Featurize, activities.FeaturizeInput{
		Clean: p.validate.Clean, Cutoff: pipeCutoff, DataEnd: p.validate.MaxTime, HorizonDays: pipeHorizon,
		TestFraction: pipeTestFraction, Seed: pipeSeed,
	})
	for _, kind := range pipeKinds {
		r := mustRun[activities.TrainResult](t, env, a.TrainModel, p.trainInput(kind))
		p.trained[kind] = r
		p.trainedAll = append(p.trainedAll, r)
	}
	p.evaluation = mustRun[activities.EvaluateResult](t, env, a.Evaluate, activities.EvaluateInput{
		Features: p.featurize.Features, Split: p.featurize.Split, Models: p.trainedAll, HorizonDays: p.featurize.HorizonDays,
	})
	return p
}

// trainInput is the pipeline's training input for kind.
func (p *pipeline) trainInput(kind string) activities.TrainInput {
	return activities.TrainInput{Kind: kind, Features: p.featurize.Features, Split: p.featurize.Split,
		HorizonDays: p.featurize.HorizonDays, Seed: pipeSeed, MaxEpochs: pipeEpochs,
		CheckpointKey: "checkpoints/shared/" + kind}
}
