package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The models command end to end against a real registry: every subcommand,
// human and --json.
func TestIntegrationModelsCommand(t *testing.T) {
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

	run := func(args ...string) (string, error) {
		t.Helper()
		opened := 0
		cmd := NewModelsCommand(func(context.Context) (*Registry, error) { opened++; return r, nil })
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(ctx)
		if err == nil && opened != 1 {
			t.Errorf("%v opened the registry %d times", args, opened)
		}
		return out.String(), err
	}

	tests := []struct {
		args  []string
		want  []string
		check func(t *testing.T, out string)
	}{
		{[]string{"list"}, []string{"VERSION", "v1", "v2", "approved", "registered", "candidate,champion", "0.6100", "0.6400"}, func(t *testing.T, out string) {
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[1], "v1 ") || !strings.HasPrefix(lines[2], "v2 ") {
				t.Errorf("list rows:\n%s", out)
			}
		}},
		{[]string{"list", "--json"}, nil, func(t *testing.T, out string) {
			var rows []VersionSummary
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("list --json: %v\n%s", err, out)
			}
			if len(rows) != 2 || rows[0].ID != "v1" || rows[0].Status != "approved" || len(rows[0].Aliases) != 0 ||
				rows[1].ID != "v2" || strings.Join(rows[1].Aliases, ",") != "candidate,champion" || rows[1].Dataset.Clean.SHA256 != sha('a') {
				t.Errorf("list --json rows: %+v", rows)
			}
		}},
		{[]string{"show", "champion"}, []string{"v2 (alias champion)", "candidate, champion", "GATE PASS", "gini_vs_baseline", "EVENTS\n(none)", `"lr":0.001`}, nil},
		{[]string{"show", "v1", "--json"}, nil, func(t *testing.T, out string) {
			var d VersionDetail
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("show --json: %v\n%s", err, out)
			}
			if d.Ref != "v1" || d.Version.ID != "v1" || d.Status != "approved" || len(d.Events) != 1 || d.Events[0].Actor != "alice" ||
				d.Version.Metrics["ziln"]["normalized_gini"] != 0.61 || d.Version.ONNX.SHA256 != sha('c') {
				t.Errorf("show --json: %+v", d)
			}
		}},
		{[]string{"history", "champion"}, []string{"ALIAS", "bootstrap", "better gini", "train-cdnow-2"}, func(t *testing.T, out string) {
			if strings.Contains(out, "candidate") {
				t.Errorf("history champion lists candidate:\n%s", out)
			}
		}},
		{[]string{"history", "--json"}, nil, func(t *testing.T, out string) {
			var h []AliasEntry
			if err := json.Unmarshal([]byte(out), &h); err != nil {
				t.Fatalf("history --json: %v\n%s", err, out)
			}
			var got []string
			for _, e := range h {
				got = append(got, e.Alias+":"+orUnset(e.From)+">"+e.To)
			}
			if strings.Join(got, " ") != "champion:(unset)>v1 candidate:(unset)>v2 champion:v1>v2" {
				t.Errorf("history --json in time order = %v", got)
			}
		}},
		{[]string{"diff", "v1", "champion"}, []string{"v1 → v2", "params:", "lr", "0.0003 → 0.001", "ziln.normalized_gini", "0.61 → 0.64 (+0.03)", "run_id", "run-1 → run-2"}, nil},
		{[]string{"diff", "v1", "v2", "--json"}, nil, func(t *testing.T, out string) {
			var d Diff
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("diff --json: %v\n%s", err, out)
			}
			if d.A != "v1" || d.B != "v2" || len(d.Section(SectionParams)) != 1 || len(d.Section(SectionMetrics)) != 1 {
				t.Errorf("diff --json: %+v", d)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			out, err := run(tc.args...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tc.args, err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v output lacks %q:\n%s", tc.args, w, out)
				}
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}

	errTests := []struct {
		args []string
		want error
		msg  string
	}{
		{[]string{"show", "v9"}, ErrNotFound, "version v9"},
		{[]string{"show", "shadow"}, ErrNotFound, `alias "shadow"`},
		{[]string{"history", "shadow"}, ErrNotFound, `alias "shadow"`},
		{[]string{"diff", "v1", "Bad Name"}, ErrInvalid, "neither a version id"},
		{[]string{"show"}, nil, "accepts 1 arg"},
	}
	for _, tc := range errTests {
		_, err := run(tc.args...)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: got %v, want %v containing %q", tc.args, err, tc.want, tc.msg)
		}
	}

	openErr := errors.New("storage.endpoint unreachable")
	cmd := NewModelsCommand(func(context.Context) (*Registry, error) { return nil, openErr })
	cmd.SetArgs([]string{"list"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	if err := cmd.ExecuteContext(ctx); !errors.Is(err, openErr) {
		t.Errorf("open failure surfaced as %v", err)
	}
}
