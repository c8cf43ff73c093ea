package registry

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func fixedTime(min int) time.Time { return time.Date(2025, 3, 4, 10, min, 0, 0, time.UTC) }

// newQueriedRegistry registers v1 (approved by alice) and v2 and moves
// champion v1 → v2 and candidate to v2, on a one-second step clock.
func newQueriedRegistry(t *testing.T) *Registry {
	t.Helper()
	r, _ := newTestRegistry(t, Options{Now: stepClock()})
	ctx := t.Context()
	a := sampleVersion("ziln", 0.61)
	b := sampleVersion("ziln", 0.64)
	b.RunID = "run-2"
	b.HyperParams = json.RawMessage(`{"hidden":[64,32],"lr":0.001,"weight_decay":0.0001,"patience":20}`)
	for _, v := range []Version{a, b} {
		if _, err := r.Register(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.AddEvent(ctx, Event{Version: "v1", Type: EventApproved, Actor: "alice", Comment: "first model"}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []Move{
		{Alias: "champion", To: "v1", Actor: "alice", Reason: "bootstrap"},
		{Alias: "candidate", To: "v2", Actor: "clvflow"},
		{Alias: "champion", To: "v2", Actor: "bob", Reason: "better gini", WorkflowID: "train-cdnow-2"},
	} {
		if _, err := r.MoveAlias(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// Summaries, Detail and AllHistory against a real registry: what `clvflow
// models list`, `show` and `history` print.
func TestIntegrationQueries(t *testing.T) {
	r := newQueriedRegistry(t)
	ctx := t.Context()

	rows, err := r.Summaries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].ID != "v1" || rows[0].Status != "approved" || rows[0].Aliases == nil || len(rows[0].Aliases) != 0 ||
		rows[1].ID != "v2" || rows[1].Status != "registered" || strings.Join(rows[1].Aliases, ",") != "candidate,champion" ||
		rows[1].Dataset.Clean.SHA256 != sha('a') {
		t.Errorf("Summaries: %+v", rows)
	}

	d, err := r.Detail(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Ref != "v1" || d.Version.ID != "v1" || d.Status != "approved" || len(d.Events) != 1 || d.Events[0].Actor != "alice" ||
		d.Version.Metrics["ziln"]["normalized_gini"] != 0.61 || d.Version.ONNX.SHA256 != sha('c') || d.Aliases == nil || len(d.Aliases) != 0 {
		t.Errorf("Detail v1: %+v", d)
	}
	d, err = r.Detail(ctx, "champion")
	if err != nil {
		t.Fatal(err)
	}
	if d.Ref != "champion" || d.Version.ID != "v2" || d.Status != "registered" || strings.Join(d.Aliases, ",") != "candidate,champion" ||
		d.Events == nil || len(d.Events) != 0 {
		t.Errorf("Detail champion: %+v", d)
	}

	all, err := r.AllHistory(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range all {
		got = append(got, e.Alias+":"+orUnset(e.From)+">"+e.To)
	}
	if strings.Join(got, " ") != "champion:(unset)>v1 candidate:(unset)>v2 champion:v1>v2" {
		t.Errorf("AllHistory in time order = %v", got)
	}

	errTests := []struct {
		name string
		run  func() error
		want error
		msg  string
	}{
		{"Detail v9", func() error { _, err := r.Detail(ctx, "v9"); return err }, ErrNotFound, "version v9"},
		{"Detail shadow", func() error { _, err := r.Detail(ctx, "shadow"); return err }, ErrNotFound, `alias "shadow"`},
		{"History shadow", func() error { _, err := r.History(ctx, "shadow"); return err }, ErrNotFound, `alias "shadow"`},
		{"Diff bad name", func() error { _, err := r.Diff(ctx, "v1", "Bad Name"); return err }, ErrInvalid, "neither a version id"},
	}
	for _, tc := range errTests {
		err := tc.run()
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: got %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
}

// An empty registry answers with empty lists, not nil (JSON [] not null).
func TestIntegrationQueriesEmpty(t *testing.T) {
	r, _ := newTestRegistry(t, Options{})
	rows, err := r.Summaries(t.Context())
	if err != nil || rows == nil || len(rows) != 0 {
		t.Errorf("Summaries of an empty registry = %#v, %v", rows, err)
	}
	all, err := r.AllHistory(t.Context())
	if err != nil || all == nil || len(all) != 0 {
		t.Errorf("AllHistory of an empty registry = %#v, %v", all, err)
	}
}
