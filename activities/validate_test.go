package activities_test

import (
	"context"
	"encoding/csv"
	"maps"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
)

// crafted is a small CSV with known rejected rows: 6 rows of 4 customers
// pass and 7 are rejected.
const crafted = `customer,date,amount
c1,2020-01-05,10.00
c2,2020-01-06,20.50
c1,2020-02-01,5
c3,2020-03-01,7.25
c4,2020-03-02,1
c2,2020-03-03,2
,2020-01-07,3
c5,not-a-date,4
c6,2020-13-45,4
c7,2020-01-08,abc
c8,2020-01-09,-2
c9,2020-01-10,0
c10,2020-01-11
`

var craftedRules = map[string]int64{
	"missing_customer":    1,
	"bad_time":            2,
	"bad_number":          1,
	"non_positive_amount": 2,
	"column_count":        1,
}

// ingestText stores content as a raw dataset through IngestDataset.
func ingestText(t *testing.T, f *fixture, name, content string) activities.IngestResult {
	t.Helper()
	return mustRun[activities.IngestResult](t, newEnv(t, f.acts), f.acts.IngestDataset, activities.IngestInput{Path: writeFile(t, name, content)})
}

func readCSV(t *testing.T, f *fixture, ref artifacts.Ref) [][]string {
	t.Helper()
	b, err := f.store.GetBytes(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", ref.Key, err)
	}
	return recs
}

func TestValidateDataset(t *testing.T) {
	f := newFixture(t)
	a := f.acts
	env := newEnv(t, a)
	raw := ingestText(t, f, "crafted.csv", crafted)

	res := mustRun[activities.ValidateResult](t, env, a.ValidateDataset, activities.ValidateInput{
		Dataset: raw.Dataset, Format: raw.Format, MaxRejectedFraction: 0.7,
	})
	if res.Rows != 13 || res.Accepted != 6 || res.Rejected != 7 || res.Customers != 4 {
		t.Errorf("rows %d accepted %d rejected %d customers %d, want 13 6 7 4", res.Rows, res.Accepted, res.Rejected, res.Customers)
	}
	if !maps.Equal(res.RuleCounts, craftedRules) {
		t.Errorf("rule counts %v, want %v", res.RuleCounts, craftedRules)
	}
	if res.MinTime != "2020-01-05T00:00:00Z" || res.MaxTime != "2020-03-03T00:00:00Z" {
		t.Errorf("time range %s..%s, want 2020-01-05..2020-03-03", res.MinTime, res.MaxTime)
	}

	// The clean dataset holds exactly the accepted rows, canonically.
	clean := readCSV(t, f, res.Clean)
	if len(clean) != 7 || strings.Join(clean[0], ",") != "customer,timestamp,amount" {
		t.Fatalf("clean dataset %v, want the canonical header and 6 rows", clean)
	}
	perCustomer := map[string]int{}
	for _, r := range clean[1:] {
		perCustomer[r[0]]++
	}
	if want := map[string]int{"c1": 2, "c2": 2, "c3": 1, "c4": 1}; !maps.Equal(perCustomer, want) {
		t.Errorf("clean rows per customer %v, want %v", perCustomer, want)
	}

	// The quarantine holds every rejected row with its rule.
	quar := readCSV(t, f, res.Quarantine)
	if len(quar) != 8 || strings.Join(quar[0], ",") != "line,rule,raw" {
		t.Fatalf("quarantine %v, want a header and 7 rows", quar)
	}
	quarRules := map[string]int64{}
	for _, r := range quar[1:] {
		quarRules[r[1]]++
	}
	if !maps.Equal(quarRules, craftedRules) {
		t.Errorf("quarantined rules %v, want %v", quarRules, craftedRules)
	}

	// The report records the same counts.
	var rep struct {
		RowsRead int64            `json:"rows_read"`
		Rules    map[string]int64 `json:"rules"`
	}
	if err := f.store.GetJSON(context.Background(), res.Report, &rep); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(rep.Rules, craftedRules) {
		t.Errorf("report rules %v, want %v", rep.Rules, craftedRules)
	}
}

// Validation that refuses the dataset names the dominant rule and uploads
// nothing.
func TestValidateDatasetBadData(t *testing.T) {
	f := newFixture(t)
	a := f.acts
	env := newEnv(t, a)
	mostlyBadTimes := ingestText(t, f, "times.csv", "customer,date,amount\nc1,2020-01-01,1\nc2,2020-01-02,2\nc3,2020-01-03,3\n"+
		"c4,yesterday,1\nc5,today,1\nc6,tomorrow,1\nc7,soon,1\nc8,later,1\nc9,2020-01-04,x\n")
	allBad := ingestText(t, f, "allbad.csv", "customer,date,amount\nc1,2020-01-01,-1\nc2,2020-01-02,0\n")

	for _, tc := range []struct {
		name     string
		in       activities.ValidateInput
		contains []string
	}{
		{"too many rejected rows", activities.ValidateInput{Dataset: mostlyBadTimes.Dataset, Format: "csv", MaxRejectedFraction: 0.5}, []string{"bad_time", "rejected 6 of 9 rows"}},
		{"no rejected row tolerated (0)", activities.ValidateInput{Dataset: ingestText(t, f, "crafted.csv", crafted).Dataset, Format: "csv", MaxRejectedFraction: 0}, []string{"dominant rule"}},
		{"stricter limit on the crafted file", activities.ValidateInput{Dataset: ingestText(t, f, "crafted.csv", crafted).Dataset, Format: "csv", MaxRejectedFraction: 0.3}, []string{"dominant rule"}},
		{"no row accepted", activities.ValidateInput{Dataset: allBad.Dataset, Format: "csv", MaxRejectedFraction: 1}, []string{"non_positive_amount"}},
		{"wrong format for the file", activities.ValidateInput{Dataset: mostlyBadTimes.Dataset, Format: "cdnow"}, []string{"column_count"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[activities.ValidateResult](t, env, a.ValidateDataset, tc.in)
			wantNonRetryable(t, err, activities.ErrTypeBadData, tc.contains...)
		})
	}
	for _, prefix := range []string{activities.CleanPrefix, activities.QuarantinePrefix, activities.ReportPrefix} {
		if k := keys(t, f.store, a.Buckets.Datasets, prefix+"/"); len(k) != 0 {
			t.Errorf("refused datasets left %v", k)
		}
	}
}

func TestValidateDatasetErrors(t *testing.T) {
	f := newFixture(t)
	a := f.acts
	env := newEnv(t, a)
	raw := ingestText(t, f, "crafted.csv", crafted)
	// The same bytes under a key the store did not write: no recorded
	// digest, so a wrong reference digest is only found at the end of the
	// stream, after every row was read.
	late := withWrongSHA(putRaw(t, f.store, a.Buckets.Datasets, "uploads/crafted.csv", []byte(crafted)))

	for _, tc := range []struct {
		name     string
		in       activities.ValidateInput
		errType  string
		contains []string
	}{
		{"unknown format", activities.ValidateInput{Dataset: raw.Dataset, Format: "xlsx"}, activities.ErrTypeBadInput, []string{"xlsx"}},
		{"dataset not found", activities.ValidateInput{Dataset: missing(raw.Dataset), Format: "csv"}, activities.ErrTypeNotFound, []string{"never-written"}},
		{"digest mismatch", activities.ValidateInput{Dataset: withWrongSHA(raw.Dataset), Format: "csv", MaxRejectedFraction: 0.7}, activities.ErrTypeIntegrity, []string{raw.Dataset.Key}},
		{"digest mismatch found at the end of the stream", activities.ValidateInput{Dataset: late, Format: "csv", MaxRejectedFraction: 0.7}, activities.ErrTypeIntegrity, []string{late.Key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run[activities.ValidateResult](t, env, a.ValidateDataset, tc.in)
			wantNonRetryable(t, err, tc.errType, tc.contains...)
		})
	}
	if k := keys(t, f.store, a.Buckets.Datasets, activities.CleanPrefix+"/"); len(k) != 0 {
		t.Errorf("failed validations left %v", k)
	}

	t.Run("unreachable store", func(t *testing.T) {
		u := unreachable(t)
		_, err := run[activities.ValidateResult](t, newEnv(t, u), u.ValidateDataset, activities.ValidateInput{Dataset: raw.Dataset, Format: "csv"})
		wantRetryable(t, err, refusedCause)
	})
}
