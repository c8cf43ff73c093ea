package registry_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/registry/registrytest"
)

// newQueriedRegistry is a registry on a one-second step clock holding
// registrytest.Populate's versions, event and aliases: v1 (approved by alice)
// and v2, champion moved v1 → v2 and candidate at v2.
func newQueriedRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	r, _ := registry.NewTestRegistry(t, registry.Options{Now: registrytest.StepClock()})
	registrytest.Populate(t, r)
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
		rows[1].Dataset.Clean.SHA256 != registrytest.SHA('a') {
		t.Errorf("Summaries: %+v", rows)
	}

	d, err := r.Detail(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if d.Ref != "v1" || d.Version.ID != "v1" || d.Status != "approved" || len(d.Events) != 1 || d.Events[0].Actor != "alice" ||
		d.Version.Metrics["ziln"]["normalized_gini"] != 0.61 || d.Version.ONNX.SHA256 != registrytest.SHA('c') || d.Aliases == nil || len(d.Aliases) != 0 {
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
		got = append(got, e.Alias+":"+registry.OrUnset(e.From)+">"+e.To)
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
		{"Detail v9", func() error { _, err := r.Detail(ctx, "v9"); return err }, registry.ErrNotFound, "version v9"},
		{"Detail shadow", func() error { _, err := r.Detail(ctx, "shadow"); return err }, registry.ErrNotFound, `alias "shadow"`},
		{"History shadow", func() error { _, err := r.History(ctx, "shadow"); return err }, registry.ErrNotFound, `alias "shadow"`},
		{"Diff bad name", func() error { _, err := r.Diff(ctx, "v1", "Bad Name"); return err }, registry.ErrInvalid, "neither a version id"},
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
	r, _ := registry.NewTestRegistry(t, registry.Options{})
	rows, err := r.Summaries(t.Context())
	if err != nil || rows == nil || len(rows) != 0 {
		t.Errorf("Summaries of an empty registry = %#v, %v", rows, err)
	}
	all, err := r.AllHistory(t.Context())
	if err != nil || all == nil || len(all) != 0 {
		t.Errorf("AllHistory of an empty registry = %#v, %v", all, err)
	}
}

// A summary read back from its JSON (what `clvflow models list --json`
// prints) keeps its status and aliases next to the embedded version.
func TestVersionSummaryJSONRoundTrip(t *testing.T) {
	v := registrytest.SampleVersion("ziln", 0.63)
	v.ID, v.CreatedAt = "v2", registrytest.FixedTime(1)
	want := registry.VersionSummary{Version: v, Status: "approved", Aliases: []string{"candidate", "champion"}}
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got registry.VersionSummary
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != want.Status || strings.Join(got.Aliases, ",") != "candidate,champion" {
		t.Errorf("status and aliases read back as %q, %v from %s", got.Status, got.Aliases, b)
	}
	if d := registry.DiffVersions(want.Version, got.Version); !d.Equal() || got.ID != "v2" || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Errorf("version read back differs:\n%s", d)
	}
}
