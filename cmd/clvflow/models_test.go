package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/registry/registrytest"
)

// modelsTestRegistry is a registry on a fresh bucket of the test MinIO,
// on a clock that advances one second per call, holding
// registrytest.Populate's versions, event and aliases: v1 (approved by
// alice) and v2, champion moved v1 → v2 and candidate at v2.
func modelsTestRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	srv := testenv.MinIO(t)
	st, err := artifacts.New(artifacts.Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	r, err := registry.New(st.Client(), fmt.Sprintf("models-cmd-%d", time.Now().UnixNano()), registry.Options{Now: registrytest.StepClock()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.EnsureBucket(t.Context()); err != nil {
		t.Fatal(err)
	}
	registrytest.Populate(t, r)
	return r
}

// The models command end to end against a real registry: every subcommand,
// human and --json, and its errors.
func TestIntegrationModelsCommand(t *testing.T) {
	r := modelsTestRegistry(t)
	run := func(args ...string) (string, error) {
		t.Helper()
		opened := 0
		cmd := newModelsCmd(func(context.Context) (*registry.Registry, error) { opened++; return r, nil })
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(t.Context())
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
			var rows []registry.VersionSummary
			if err := json.Unmarshal([]byte(out), &rows); err != nil {
				t.Fatalf("list --json: %v\n%s", err, out)
			}
			if len(rows) != 2 || rows[0].ID != "v1" || rows[0].Status != "approved" || len(rows[0].Aliases) != 0 ||
				rows[1].ID != "v2" || strings.Join(rows[1].Aliases, ",") != "candidate,champion" || rows[1].Dataset.Raw.SHA256 != registrytest.SHA('e') || rows[1].Dataset.Clean.SHA256 != registrytest.SHA('a') {
				t.Errorf("list --json rows: %+v", rows)
			}
			if !strings.Contains(out, `"aliases": []`) {
				t.Errorf("list --json: v1 without aliases is not []:\n%s", out)
			}
		}},
		{[]string{"show", "champion"}, []string{"v2 (alias champion)", "candidate, champion", "GATE PASS", "gini_vs_baseline", "EVENTS\n(none)", `"lr":0.001`}, nil},
		{[]string{"show", "v1", "--json"}, nil, func(t *testing.T, out string) {
			var d registry.VersionDetail
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("show --json: %v\n%s", err, out)
			}
			if d.Ref != "v1" || d.Version.ID != "v1" || d.Status != "approved" || len(d.Events) != 1 || d.Events[0].Actor != "alice" ||
				d.Version.Metrics["ziln"]["normalized_gini"] != 0.61 || d.Version.ONNX.SHA256 != registrytest.SHA('c') {
				t.Errorf("show --json: %+v", d)
			}
		}},
		{[]string{"history", "champion"}, []string{"ALIAS", "bootstrap", "better gini", "train-cdnow-2"}, func(t *testing.T, out string) {
			if strings.Contains(out, "candidate") {
				t.Errorf("history champion lists candidate:\n%s", out)
			}
		}},
		{[]string{"history", "--json"}, nil, func(t *testing.T, out string) {
			var h []registry.AliasEntry
			if err := json.Unmarshal([]byte(out), &h); err != nil {
				t.Fatalf("history --json: %v\n%s", err, out)
			}
			var got []string
			for _, e := range h {
				got = append(got, e.Alias+":"+e.From+">"+e.To)
			}
			if strings.Join(got, " ") != "champion:>v1 candidate:>v2 champion:v1>v2" {
				t.Errorf("history --json in time order = %v", got)
			}
		}},
		{[]string{"diff", "v1", "champion"}, []string{"v1 → v2", "params:", "lr", "0.0003 → 0.001", "ziln.normalized_gini", "0.61 → 0.64 (+0.03)", "run_id", "run-1 → run-2"}, nil},
		{[]string{"diff", "v1", "v2", "--json"}, nil, func(t *testing.T, out string) {
			var d registry.Diff
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("diff --json: %v\n%s", err, out)
			}
			if d.A != "v1" || d.B != "v2" || len(d.Section(registry.SectionParams)) != 1 || len(d.Section(registry.SectionMetrics)) != 1 {
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
		{[]string{"show", "v9"}, registry.ErrNotFound, "version v9"},
		{[]string{"show", "shadow"}, registry.ErrNotFound, `alias "shadow"`},
		{[]string{"history", "shadow"}, registry.ErrNotFound, `alias "shadow"`},
		{[]string{"diff", "v1", "Bad Name"}, registry.ErrInvalid, "neither a version id"},
		{[]string{"show"}, nil, "accepts 1 arg"},
	}
	for _, tc := range errTests {
		_, err := run(tc.args...)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%v: got %v, want %v containing %q", tc.args, err, tc.want, tc.msg)
		}
	}
}

// A registry that cannot be opened fails the command with that error.
func TestModelsCommandOpenError(t *testing.T) {
	openErr := errors.New("storage.endpoint unreachable")
	cmd := newModelsCmd(func(context.Context) (*registry.Registry, error) { return nil, openErr })
	cmd.SetArgs([]string{"list"})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.ExecuteContext(t.Context()); !errors.Is(err, openErr) {
		t.Errorf("open failure surfaced as %v", err)
	}
}
