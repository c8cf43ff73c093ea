package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/minio/minio-go/v7"
)

func TestWorkerTempSweepInterval(t *testing.T) {
	for _, tc := range []struct{ maxAge, want time.Duration }{
		{time.Hour, 30 * time.Minute},
		{10 * time.Minute, 5 * time.Minute},
		{time.Second, time.Minute},
		{time.Minute, time.Minute},
		{24 * time.Hour, time.Hour},
	} {
		if got := tempSweepInterval(tc.maxAge); got != tc.want {
			t.Errorf("tempSweepInterval(%v) = %v, want %v", tc.maxAge, got, tc.want)
		}
	}
}

// sweepCall is one SweepTemp call a fakeSweeper saw.
type sweepCall struct {
	bucket    string
	olderThan time.Duration
}

// fakeSweeper hands each call to the test, which answers it.
type fakeSweeper struct {
	calls   chan sweepCall
	answers chan sweepAnswer
}

type sweepAnswer struct {
	res artifacts.SweepResult
	err error
}

func (f *fakeSweeper) SweepTemp(ctx context.Context, bucket string, olderThan time.Duration) (artifacts.SweepResult, error) {
	select {
	case f.calls <- sweepCall{bucket, olderThan}:
	case <-ctx.Done():
		return artifacts.SweepResult{}, ctx.Err()
	}
	select {
	case a := <-f.answers:
		return a.res, a.err
	case <-ctx.Done():
		return artifacts.SweepResult{}, ctx.Err()
	}
}

// nextCall waits (at most a minute) for the loop's next SweepTemp call.
func nextCall(t *testing.T, f *fakeSweeper, loopDone <-chan struct{}) sweepCall {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-loopDone:
		t.Fatal("the sweep loop returned early")
	case <-time.After(time.Minute):
		t.Fatal("no sweep within a minute")
	}
	return sweepCall{}
}

func TestWorkerSweepTempLoop(t *testing.T) {
	f := &fakeSweeper{calls: make(chan sweepCall), answers: make(chan sweepAnswer)}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sweepTempLoop(ctx, f, []string{"ds", "md"}, 2*time.Hour, time.Millisecond, log)
	}()
	unreachable := &artifacts.Error{Op: "sweep-temp", Bucket: "ds", Endpoint: "127.0.0.1:1", Kind: artifacts.Unreachable, Err: errors.New("connection refused")}
	rounds := []struct {
		bucket string
		answer sweepAnswer
	}{
		// At start: both buckets; the first one fails.
		{"ds", sweepAnswer{err: unreachable}},
		{"md", sweepAnswer{res: artifacts.SweepResult{Objects: 1, Versions: 2, Uploads: 1, Bytes: 300}}},
		// The next round tries again.
		{"ds", sweepAnswer{res: artifacts.SweepResult{Young: 1}}},
		{"md", sweepAnswer{}},
	}
	for i, r := range rounds {
		c := nextCall(t, f, done)
		if c.bucket != r.bucket || c.olderThan != 2*time.Hour {
			t.Fatalf("call %d = %+v, want bucket %s older than 2h", i+1, c, r.bucket)
		}
		f.answers <- r.answer
	}
	nextCall(t, f, done) // a third round begins
	cancel()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("the sweep loop did not return within a minute of the cancellation")
	}
	out := logs.String()
	t.Logf("logs:\n%s", out)
	for _, want := range []string{
		`level=WARN msg="sweeping abandoned temporary uploads failed; trying again at the next sweep" bucket=ds`,
		`err="artifacts: cannot reach MinIO at 127.0.0.1:1`,
		`level=INFO msg="removed abandoned temporary uploads" bucket=md older_than=2h0m0s objects=1 versions=2 uploads=1 bytes=300`,
		`level=DEBUG msg="no abandoned temporary uploads" bucket=ds older_than=2h0m0s in_flight=1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1 (the cancellation must not be logged as a failure)", n)
	}
}

// observedSweeper passes calls to a real store and reports each one done.
type observedSweeper struct {
	st   *artifacts.Store
	done chan string
}

func (o observedSweeper) SweepTemp(ctx context.Context, bucket string, olderThan time.Duration) (artifacts.SweepResult, error) {
	res, err := o.st.SweepTemp(ctx, bucket, olderThan)
	select {
	case o.done <- fmt.Sprintf("%s: %+v, %v", bucket, res, err):
	case <-ctx.Done():
	}
	return res, err
}

func TestIntegrationWorkerSweepsTemp(t *testing.T) {
	srv := testenv.MinIO(t)
	st, err := artifacts.New(artifacts.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bucket := fmt.Sprintf("t%d-sweep-%d", seq.Add(1), time.Now().UnixNano()%1e9)
	if err := st.EnsureBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	// What a crashed upload leaves: versions of a temporary object and an
	// unfinished multipart upload; and an object that must stay.
	cl := st.Client()
	put := func(key, data string) {
		t.Helper()
		if _, err := cl.PutObject(ctx, bucket, key, strings.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	temp := artifacts.TempPrefix + "abandoned"
	put(temp, "one")
	put(temp, "two")
	put("keep/object", "stays")
	upload := artifacts.TempPrefix + "unfinished"
	core := minio.Core{Client: cl}
	id, err := core.NewMultipartUpload(ctx, bucket, upload, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := core.PutObjectPart(ctx, bucket, upload, id, 1, strings.NewReader("part"), 4, minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	// left lists what is under the prefix: versions, and uploads (MinIO
	// lists them bucket-wide or by exact key).
	left := func() []string {
		t.Helper()
		var out []string
		for oi := range cl.ListObjectsIter(ctx, bucket, minio.ListObjectsOptions{Prefix: artifacts.TempPrefix, Recursive: true, WithVersions: true}) {
			if oi.Err != nil {
				t.Fatal(oi.Err)
			}
			out = append(out, oi.Key+"@"+oi.VersionID)
		}
		for _, p := range []string{"", upload} {
			for u := range cl.ListIncompleteUploads(ctx, bucket, p, true) {
				if u.Err != nil {
					t.Fatal(u.Err)
				}
				out = append(out, "upload "+u.Key+" "+u.UploadID)
			}
		}
		return out
	}
	before := left()
	if len(before) < 3 {
		t.Fatalf("setup: %v, want 2 versions and an upload", before)
	}

	// run runs the loop with maxAge until stop says so, then cancels it
	// and checks that it returns.
	run := func(maxAge time.Duration, stop func(round string) bool) string {
		t.Helper()
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		o := observedSweeper{st: st, done: make(chan string)}
		lctx, cancel := context.WithCancel(ctx)
		defer cancel()
		loopDone := make(chan struct{})
		go func() {
			defer close(loopDone)
			sweepTempLoop(lctx, o, []string{bucket}, maxAge, 10*time.Millisecond, log)
		}()
		deadline := time.After(time.Minute)
		for finished := false; !finished; {
			select {
			case round := <-o.done:
				finished = stop(round)
			case <-deadline:
				t.Fatalf("the sweep loop did not get there within a minute; left: %v", left())
			}
		}
		cancel()
		select {
		case <-loopDone:
		case <-time.After(time.Minute):
			t.Fatal("the sweep loop did not return within a minute of the cancellation")
		}
		return logs.String()
	}

	// Younger than temp_max_age: kept.
	run(time.Hour, func(round string) bool {
		t.Logf("sweep (1h): %s", round)
		return true
	})
	if got := left(); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Fatalf("a sweep with max age 1h changed what is there: %v, was %v", got, before)
	}

	// Older: removed within a few rounds (the objects are a few
	// milliseconds old).
	logs := run(time.Millisecond, func(round string) bool {
		t.Logf("sweep (1ms): %s", round)
		return len(left()) == 0
	})
	t.Logf("logs:\n%s", logs)
	if !strings.Contains(logs, `msg="removed abandoned temporary uploads" bucket=`+bucket) {
		t.Errorf("the removal was not logged")
	}
	if b, err := st.GetBytes(ctx, artifacts.Ref{Bucket: bucket, Key: "keep/object"}); err != nil || string(b) != "stays" {
		t.Fatalf("keep/object after the sweeps: %q, %v", b, err)
	}
}
