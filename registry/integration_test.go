package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/registry/registrytest"
	"github.com/minio/minio-go/v7"
)

func TestIntegrationRegisterGetList(t *testing.T) {
	r, client := registry.NewTestRegistry(t, registry.Options{Now: registrytest.StepClock(), Prefix: "reg"})
	ctx := t.Context()
	var registered []registry.Version
	for i := range 11 {
		v := registrytest.SampleVersion("ziln", 0.6+float64(i)/100)
		v.RunID = fmt.Sprintf("run-%d", i)
		got, err := r.Register(ctx, v)
		if err != nil {
			t.Fatalf("Register %d: %v", i, err)
		}
		if want := fmt.Sprintf("v%d", i+1); got.ID != want {
			t.Fatalf("Register %d: id %s, want %s", i, got.ID, want)
		}
		if want := registrytest.FixedTime(0).Add(time.Duration(i+1) * time.Second); !got.CreatedAt.Equal(want) {
			t.Errorf("%s: created %v, want %v", got.ID, got.CreatedAt, want)
		}
		registered = append(registered, got)
	}
	for _, want := range registered {
		got, err := r.Get(ctx, want.ID)
		if err != nil {
			t.Fatalf("Get %s: %v", want.ID, err)
		}
		if d := registry.DiffVersions(want, got); !d.Equal() || got.ID != want.ID || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("Get %s differs from what Register returned:\n%s", want.ID, d)
		}
	}
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, v := range list {
		ids = append(ids, v.ID)
	}
	if got, want := strings.Join(ids, " "), "v1 v2 v3 v4 v5 v6 v7 v8 v9 v10 v11"; got != want {
		t.Errorf("List order = %s, want %s", got, want)
	}

	// Keys live under the prefix, one object version each (never rewritten).
	n := 0
	for obj := range client.ListObjects(ctx, r.Bucket(), minio.ListObjectsOptions{Prefix: "reg/versions/", Recursive: true, WithVersions: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		n++
	}
	if n != 11 {
		t.Errorf("%d object versions under reg/versions/, want 11", n)
	}

	tests := []struct {
		name string
		run  func() error
		want error
		msg  string
	}{
		{"explicit existing id", func() error {
			v := registrytest.SampleVersion("ziln", 0.6)
			v.ID, v.RunID = "v3", "run-explicit-v3"
			_, err := r.Register(ctx, v)
			return err
		}, registry.ErrConflict, "version v3 already exists"},
		{"invalid record", func() error {
			v := registrytest.SampleVersion("ziln", 0.6)
			v.Dataset.Clean.SHA256 = "abc"
			_, err := r.Register(ctx, v)
			return err
		}, registry.ErrInvalid, "dataset.clean: sha256"},
		{"get missing", func() error { _, err := r.Get(ctx, "v99"); return err }, registry.ErrNotFound, "version v99"},
		{"get malformed", func() error { _, err := r.Get(ctx, "latest"); return err }, registry.ErrInvalid, `"latest"`},
		{"lookup unknown alias", func() error { _, err := r.Lookup(ctx, "champion"); return err }, registry.ErrNotFound, `alias "champion"`},
		{"lookup garbage", func() error { _, err := r.Lookup(ctx, "No Such"); return err }, registry.ErrInvalid, "neither a version id"},
	}
	for _, tc := range tests {
		err := tc.run()
		if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.msg) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
	if got, _ := r.Get(ctx, "v3"); got.Metrics["ziln"]["normalized_gini"] != registered[2].Metrics["ziln"]["normalized_gini"] {
		t.Errorf("v3 changed after a refused re-registration")
	}

	// An explicit new id is created as asked; allocation continues after it.
	v := registrytest.SampleVersion("ziln", 0.7)
	v.ID, v.RunID = "v20", "run-explicit"
	if got, err := r.Register(ctx, v); err != nil || got.ID != "v20" {
		t.Fatalf("explicit v20: %v, %v", got.ID, err)
	}
	v.ID, v.RunID = "", "run-after"
	if got, err := r.Register(ctx, v); err != nil || got.ID != "v21" {
		t.Fatalf("after v20: %v, %v", got.ID, err)
	}
}

func TestIntegrationRegisterIdempotentPerRun(t *testing.T) {
	r, _ := registry.NewTestRegistry(t, registry.Options{})
	ctx := t.Context()
	v := registrytest.SampleVersion("ziln", 0.63)
	first, err := r.Register(ctx, v)
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Register(ctx, v) // a retried activity of the same run
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || !again.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("retry registered %s (created %v), want the existing %s", again.ID, again.CreatedAt, first.ID)
	}
	other := registrytest.SampleVersion("seq", 0.6) // another model of the same run
	other.ModelKind = "seq"
	if got, err := r.Register(ctx, other); err != nil || got.ID != "v2" {
		t.Errorf("second model of the run: %s, %v; want v2", got.ID, err)
	}
	v.RunID = "run-2"
	if got, err := r.Register(ctx, v); err != nil || got.ID != "v3" {
		t.Errorf("new run: %s, %v; want v3", got.ID, err)
	}
}

func TestIntegrationRegisterConcurrent(t *testing.T) {
	r, _ := registry.NewTestRegistry(t, registry.Options{})
	ctx := t.Context()
	const n = 12
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v := registrytest.SampleVersion("ziln", 0.6)
			v.RunID = fmt.Sprintf("run-%d", i)
			got, err := r.Register(ctx, v)
			if err != nil {
				t.Errorf("Register %d: %v", i, err)
				return
			}
			ids[i] = got.ID
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for i, id := range ids {
		if prev, dup := seen[id]; dup {
			t.Errorf("registrations %d and %d both got %s", prev, i, id)
		}
		seen[id] = i
	}
	list, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != n {
		t.Fatalf("List has %d versions, want %d", len(list), n)
	}
	for i, v := range list {
		if want := fmt.Sprintf("v%d", i+1); v.ID != want {
			t.Errorf("List[%d] = %s, want %s (ids must be gap-free)", i, v.ID, want)
		}
		if owner, ok := seen[v.ID]; !ok || v.RunID != fmt.Sprintf("run-%d", owner) {
			t.Errorf("%s holds run %s, but was returned to registration %d", v.ID, v.RunID, owner)
		}
	}
}

func TestIntegrationEvents(t *testing.T) {
	r, _ := registry.NewTestRegistry(t, registry.Options{Now: registrytest.StepClock()})
	ctx := t.Context()
	v, err := r.Register(ctx, registrytest.SampleVersion("ziln", 0.63))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := r.Get(ctx, v.ID)
	if evs, err := r.Events(ctx, v.ID); err != nil || len(evs) != 0 {
		t.Fatalf("fresh version events = %v, %v", evs, err)
	}
	steps := []registry.Event{
		{Version: v.ID, Type: registry.EventApproved, Actor: "alice", Comment: "ok", WorkflowID: "wf", RunID: "r1"},
		{Version: v.ID, Type: registry.EventApproved, Actor: "alice", Comment: "ok", WorkflowID: "wf", RunID: "r1"}, // retried: no duplicate
		{Version: v.ID, Type: registry.EventPromoted, Actor: "clvflow", WorkflowID: "wf", RunID: "r1"},
		{Version: v.ID, Type: registry.EventNote, Actor: "bob", Comment: "same note twice"},
		{Version: v.ID, Type: registry.EventNote, Actor: "bob", Comment: "same note twice"}, // no workflow id: recorded again
	}
	wantSeq := []int64{1, 1, 2, 3, 4}
	for i, e := range steps {
		got, err := r.AddEvent(ctx, e)
		if err != nil {
			t.Fatalf("AddEvent %d: %v", i, err)
		}
		if got.Seq != wantSeq[i] || got.Type != e.Type || got.Time.IsZero() {
			t.Errorf("AddEvent %d = %+v, want seq %d", i, got, wantSeq[i])
		}
	}
	evs, err := r.Events(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for i, e := range evs {
		if e.Seq != int64(i+1) || e.Version != v.ID {
			t.Errorf("event %d = %+v", i, e)
		}
		kinds = append(kinds, string(e.Type))
	}
	if got := strings.Join(kinds, ","); got != "approved,promoted,note,note" {
		t.Errorf("events = %s", got)
	}
	if registry.StatusOf(evs) != "approved" {
		t.Errorf("status = %s, want approved", registry.StatusOf(evs))
	}
	if after, _ := r.Get(ctx, v.ID); !bytes.Equal(mustEncode(t, before), mustEncode(t, after)) {
		t.Errorf("version record changed by events")
	}

	tests := []struct {
		name string
		e    registry.Event
		want error
		msg  string
	}{
		{"unknown version", registry.Event{Version: "v9", Type: registry.EventApproved, Actor: "a"}, registry.ErrNotFound, "version v9"},
		{"unknown type", registry.Event{Version: v.ID, Type: "deployed", Actor: "a"}, registry.ErrInvalid, `type "deployed"`},
		{"no actor", registry.Event{Version: v.ID, Type: registry.EventRejected}, registry.ErrInvalid, "actor is required"},
	}
	for _, tc := range tests {
		_, err := r.AddEvent(ctx, tc.e)
		if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), tc.msg) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
	if _, err := r.Events(ctx, "v9"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Events of a missing version: %v", err)
	}
}

func mustEncode(t *testing.T, v registry.Version) []byte {
	t.Helper()
	b, err := registry.Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// registerN registers n servable versions v1..vn.
func registerN(t *testing.T, r *registry.Registry, n int) {
	t.Helper()
	for i := range n {
		v := registrytest.SampleVersion("ziln", 0.6)
		v.RunID = fmt.Sprintf("run-%d", i)
		if _, err := r.Register(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
}

func ptr(s string) *string { return &s }

func TestIntegrationAliasMoves(t *testing.T) {
	r, _ := registry.NewTestRegistry(t, registry.Options{Now: registrytest.StepClock()})
	ctx := t.Context()
	registerN(t, r, 3)
	noONNX := registrytest.SampleVersion("ziln", 0.5)
	noONNX.ONNX, noONNX.RunID = artifacts.Ref{}, "run-failed-gate"
	noONNX.Gate = registry.NewGate(registry.NewCheck("gini_vs_baseline", 0.5, registry.OpGE, 0.58))
	if v, err := r.Register(ctx, noONNX); err != nil || v.ID != "v4" {
		t.Fatalf("register v4: %v %v", v.ID, err)
	}

	steps := []struct {
		name     string
		move     registry.Move
		wantErr  error
		msg      string
		wantSeq  int64
		wantFrom string
	}{
		{"first move creates the alias", registry.Move{Alias: "champion", To: "v1", ExpectFrom: ptr(""), Actor: "alice", Reason: "bootstrap"}, nil, "", 1, ""},
		{"create-only CAS on an existing alias", registry.Move{Alias: "champion", To: "v2", ExpectFrom: ptr(""), Actor: "bob"}, registry.ErrConflict, `alias "champion" points to v1, not the expected (unset)`, 0, ""},
		{"CAS with the right source", registry.Move{Alias: "champion", To: "v2", ExpectFrom: ptr("v1"), Actor: "bob", WorkflowID: "wf-2", RunID: "r-2"}, nil, "", 2, "v1"},
		{"retried CAS of the same run is answered with its entry", registry.Move{Alias: "champion", To: "v2", ExpectFrom: ptr("v1"), Actor: "bob", WorkflowID: "wf-2", RunID: "r-2"}, nil, "", 2, "v1"},
		{"stale CAS", registry.Move{Alias: "champion", To: "v3", ExpectFrom: ptr("v1"), Actor: "carol"}, registry.ErrConflict, "points to v2, not the expected v1", 0, ""},
		{"no-op move", registry.Move{Alias: "champion", To: "v2", Actor: "carol"}, registry.ErrInvalid, `alias "champion" already points to v2`, 0, ""},
		{"missing target", registry.Move{Alias: "champion", To: "v9", Actor: "carol"}, registry.ErrNotFound, "version v9", 0, ""},
		{"target without ONNX", registry.Move{Alias: "champion", To: "v4", Actor: "carol"}, registry.ErrInvalid, "v4 has no ONNX artifact", 0, ""},
		{"bad alias", registry.Move{Alias: "Champion", To: "v3", Actor: "carol"}, registry.ErrInvalid, `alias name "Champion"`, 0, ""},
		{"version-like alias", registry.Move{Alias: "v2", To: "v3", Actor: "carol"}, registry.ErrInvalid, "looks like a version id", 0, ""},
		{"no actor", registry.Move{Alias: "champion", To: "v3"}, registry.ErrInvalid, "actor is required", 0, ""},
		{"blind move", registry.Move{Alias: "champion", To: "v3", Actor: "carol", Reason: "rollout"}, nil, "", 3, "v2"},
		{"rollback", registry.Move{Alias: "champion", To: "v1", Actor: "dave", Reason: "rollback"}, nil, "", 4, "v3"},
		{"second alias", registry.Move{Alias: "candidate", To: "v3", Actor: "clvflow"}, nil, "", 1, ""},
	}
	for _, st := range steps {
		got, err := r.MoveAlias(ctx, st.move)
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) || !strings.Contains(fmt.Sprint(err), st.msg) {
				t.Errorf("%s: got %v, want %v containing %q", st.name, err, st.wantErr, st.msg)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got.Seq != st.wantSeq || got.From != st.wantFrom || got.To != st.move.To || got.Alias != st.move.Alias || got.Actor != st.move.Actor {
			t.Errorf("%s: entry %+v, want seq %d from %q to %s", st.name, got, st.wantSeq, st.wantFrom, st.move.To)
		}
	}

	h, err := r.History(ctx, "champion")
	if err != nil {
		t.Fatal(err)
	}
	var chain []string
	for _, e := range h {
		chain = append(chain, fmt.Sprintf("%d:%s>%s:%s", e.Seq, registry.OrUnset(e.From), e.To, e.Actor))
	}
	if got, want := strings.Join(chain, " "), "1:(unset)>v1:alice 2:v1>v2:bob 3:v2>v3:carol 4:v3>v1:dave"; got != want {
		t.Errorf("history = %s\nwant      %s", got, want)
	}
	for i := 1; i < len(h); i++ {
		if !h[i].Time.After(h[i-1].Time) {
			t.Errorf("entry %d time %v not after %v", h[i].Seq, h[i].Time, h[i-1].Time)
		}
	}
	if v, err := r.Resolve(ctx, "champion"); err != nil || v.ID != "v1" {
		t.Errorf("Resolve champion = %s, %v; want v1", v.ID, err)
	}
	if v, err := r.Lookup(ctx, "candidate"); err != nil || v.ID != "v3" {
		t.Errorf("Lookup candidate = %s, %v; want v3", v.ID, err)
	}
	states, err := r.Aliases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range states {
		got = append(got, fmt.Sprintf("%s=%s@%d", s.Alias, s.Version, s.Seq))
	}
	if strings.Join(got, " ") != "candidate=v3@1 champion=v1@4" {
		t.Errorf("Aliases = %v", got)
	}
	if _, err := r.History(ctx, "shadow"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("History of an unknown alias: %v", err)
	}
	if _, err := r.Resolve(ctx, "shadow"); !errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), `"shadow"`) {
		t.Errorf("Resolve of an unknown alias: %v", err)
	}
}

// A corrupt history (an entry whose From does not continue the chain) is
// reported, not silently returned.
func TestIntegrationHistoryDetectsCorruption(t *testing.T) {
	r, _ := registry.NewTestRegistry(t, registry.Options{})
	ctx := t.Context()
	registerN(t, r, 2)
	if _, err := r.MoveAlias(ctx, registry.Move{Alias: "champion", To: "v1", Actor: "a"}); err != nil {
		t.Fatal(err)
	}
	forged, _ := registry.Encode(registry.AliasEntry{Seq: 2, Alias: "champion", From: "v2", To: "v1", Actor: "mallory"})
	if err := r.PutIfAbsent(ctx, r.AliasLogKey("champion", 2), forged); err != nil {
		t.Fatal(err)
	}
	_, err := r.History(ctx, "champion")
	if err == nil || !strings.Contains(err.Error(), "entry 2 moves from v2 but entry 1 left it at v1") {
		t.Errorf("History of a corrupt log: %v", err)
	}
	gap, _ := registry.Encode(registry.AliasEntry{Seq: 4, Alias: "champion", From: "v1", To: "v2", Actor: "mallory"})
	if err := r.PutIfAbsent(ctx, r.AliasLogKey("champion", 4), gap); err != nil {
		t.Fatal(err)
	}
	if _, err := r.History(ctx, "champion"); err == nil || !strings.Contains(err.Error(), "entry 3 is missing") {
		t.Errorf("History with a gap: %v", err)
	}
}

// Many goroutines move one alias at once, half with compare-and-swap, half
// blind. Every successful move must appear in the history exactly once, at
// the seq it was returned with, and the history must be a gap-free chain.
func TestIntegrationConcurrentAliasMoves(t *testing.T) {
	const movers, movesEach, nVersions = 20, 5, 4
	r, _ := registry.NewTestRegistry(t, registry.Options{})
	ctx := t.Context()
	registerN(t, r, nVersions)
	version := func(i int) string { return fmt.Sprintf("v%d", i%nVersions+1) }

	var mu sync.Mutex
	returned := map[int64]registry.AliasEntry{}
	var casConflicts, noops atomic.Int64
	var wg sync.WaitGroup
	for m := range movers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(m), 7))
			actor := fmt.Sprintf("mover-%02d", m)
			for j := 0; j < movesEach; {
				target := version(rng.IntN(nVersions))
				mv := registry.Move{Alias: "champion", To: target, Actor: actor, Reason: fmt.Sprintf("move %d", j)}
				if m%2 == 0 { // compare-and-swap mover
					cur, err := r.Current(ctx, "champion")
					from := ""
					switch {
					case err == nil:
						from = cur.To
					case !errors.Is(err, registry.ErrNotFound):
						t.Errorf("%s: Current: %v", actor, err)
						return
					}
					if from == target {
						continue
					}
					mv.ExpectFrom = &from
				}
				e, err := r.MoveAlias(ctx, mv)
				switch {
				case errors.Is(err, registry.ErrConflict) && m%2 == 0:
					casConflicts.Add(1)
					continue
				case errors.Is(err, registry.ErrInvalid) && m%2 == 1: // blind move onto the current target
					noops.Add(1)
					continue
				case err != nil:
					t.Errorf("%s: %v", actor, err)
					return
				}
				if e.To != target || e.From == target {
					t.Errorf("%s: returned entry %+v for target %s", actor, e, target)
				}
				mu.Lock()
				if prev, dup := returned[e.Seq]; dup {
					t.Errorf("seq %d returned to both %s and %s", e.Seq, prev.Actor, e.Actor)
				}
				returned[e.Seq] = e
				mu.Unlock()
				j++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	h, err := r.History(ctx, "champion") // also checks seq 1..n and the From/To chain
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != movers*movesEach || len(returned) != movers*movesEach {
		t.Fatalf("history has %d entries, %d moves succeeded, want %d", len(h), len(returned), movers*movesEach)
	}
	prev := ""
	for i, e := range h {
		if e.Seq != int64(i+1) || e.From != prev || e.From == e.To {
			t.Fatalf("entry %d = %+v breaks the chain (previous to %q)", i+1, e, prev)
		}
		prev = e.To
		if ret := returned[e.Seq]; ret.Actor != e.Actor || ret.Reason != e.Reason || ret.To != e.To || !ret.Time.Equal(e.Time) {
			t.Errorf("entry %d in history %+v, but the mover got %+v", e.Seq, e, ret)
		}
	}
	if cur, err := r.Current(ctx, "champion"); err != nil || cur.Seq != int64(len(h)) || cur.To != prev {
		t.Errorf("Current = %+v, %v; want seq %d to %s", cur, err, len(h), prev)
	}
	t.Logf("%d moves by %d movers: %d CAS conflicts retried, %d blind no-ops refused", len(h), movers, casConflicts.Load(), noops.Load())
}

func TestIntegrationContextCancelled(t *testing.T) {
	r, _ := registry.NewTestRegistry(t, registry.Options{})
	registerN(t, r, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.MoveAlias(ctx, registry.Move{Alias: "champion", To: "v1", Actor: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("MoveAlias with a cancelled context: %v", err)
	}
}
