package activities_test

import (
	"context"
	"slices"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/features"
)

func readFeatures(t *testing.T, st *artifacts.Store, ref artifacts.Ref) *features.Set {
	t.Helper()
	rc, err := st.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	set, err := features.ReadCSV(rc)
	if err != nil {
		t.Fatalf("%s: %v", ref.Key, err)
	}
	return set
}

func TestFeaturize(t *testing.T) {
	p := sharedPipeline(t)
	a := p.acts
	env := newEnv(t, a)
	ctx := context.Background()

	t.Run("cutoff", func(t *testing.T) {
		res := p.featurize // built by the fixture with these inputs
		// Every CDNOW customer first bought in early 1997, before the cutoff.
		if int64(res.Customers) != p.validate.Customers || res.Customers != pipeCustomers {
			t.Errorf("%d customers, want the %d customers of the clean dataset (%d)", res.Customers, p.validate.Customers, pipeCustomers)
		}
		wantTest := int(float64(res.Customers)*pipeTestFraction + 0.5)
		if res.TrainCustomers+res.TestCustomers != res.Customers || res.TestCustomers != wantTest {
			t.Errorf("train %d + test %d of %d customers, want %d test customers", res.TrainCustomers, res.TestCustomers, res.Customers, wantTest)
		}
		if res.Cutoff != pipeCutoff || res.HorizonDays != pipeHorizon || res.SeqWeeks != features.DefaultSeqWeeks {
			t.Errorf("cutoff %s horizon %d seq weeks %d", res.Cutoff, res.HorizonDays, res.SeqWeeks)
		}
		set := readFeatures(t, p.store, res.Features)
		if set.Len() != res.Customers || set.Split.HorizonDays != pipeHorizon || set.Split.Cutoff.Format("2006-01-02") != pipeCutoff {
			t.Errorf("stored feature set: %d customers, split %+v", set.Len(), set.Split)
		}
		var split activities.SplitDoc
		if err := p.store.GetJSON(ctx, res.Split, &split); err != nil {
			t.Fatal(err)
		}
		if len(split.Train) != res.TrainCustomers || len(split.Test) != res.TestCustomers || split.Seed != pipeSeed || split.Cutoff != pipeCutoff {
			t.Errorf("split doc: %d train, %d test, seed %d, cutoff %s", len(split.Train), len(split.Test), split.Seed, split.Cutoff)
		}
		all := append(slices.Clone(split.Train), split.Test...)
		slices.Sort(all)
		ids := slices.Clone(set.IDs())
		slices.Sort(ids)
		if !slices.Equal(all, ids) || len(slices.Compact(all)) != len(ids) {
			t.Error("train and test customers are not a partition of the feature set's customers")
		}
	})

	t.Run("same inputs give the same artifacts", func(t *testing.T) {
		again := mustRun[activities.FeaturizeResult](t, env, a.Featurize, activities.FeaturizeInput{
			Clean: p.validate.Clean, Cutoff: pipeCutoff, DataEnd: p.validate.MaxTime, HorizonDays: pipeHorizon,
			TestFraction: pipeTestFraction, Seed: pipeSeed,
		})
		if again.Features.SHA256 != p.featurize.Features.SHA256 || again.Split.SHA256 != p.featurize.Split.SHA256 {
			t.Errorf("features %s / split %s, first run %s / %s", again.Features.SHA256, again.Split.SHA256, p.featurize.Features.SHA256, p.featurize.Split.SHA256)
		}
	})

	t.Run("as-of date and snapshots", func(t *testing.T) {
		res := mustRun[activities.FeaturizeResult](t, env, a.Featurize, activities.FeaturizeInput{
			Clean: p.validate.Clean, AsOf: "1998-03-31", HorizonDays: 91, SeqWeeks: 26, TestFraction: 0.5, Seed: 3,
			Snapshots: 2, SnapshotStepDays: 30,
		})
		if res.Cutoff != "1997-12-30" || res.SeqWeeks != 26 || res.TestCustomers != res.Customers/2 {
			t.Errorf("cutoff %s, seq weeks %d, test %d of %d; want 1997-12-30, 26, half", res.Cutoff, res.SeqWeeks, res.TestCustomers, res.Customers)
		}
		if len(res.Snapshots) != 2 {
			t.Fatalf("%d snapshots, want 2", len(res.Snapshots))
		}
		prev := res.Cutoff
		for _, s := range res.Snapshots {
			if s.Cutoff >= prev {
				t.Errorf("snapshot cutoff %s is not before %s (latest first)", s.Cutoff, prev)
			}
			prev = s.Cutoff
			set := readFeatures(t, p.store, s.Features)
			if set.Len() != s.Customers || set.Split.Cutoff.Format("2006-01-02") != s.Cutoff || s.Customers == 0 {
				t.Errorf("snapshot %s: stored %d customers at %s, result says %d", s.Cutoff, set.Len(), set.Split.Cutoff, s.Customers)
			}
		}
	})

	t.Run("no sequences unless a model needs them", func(t *testing.T) {
		for _, tc := range []struct {
			models  []string
			withSeq bool
		}{{[]string{"naive", "bgnbd", "ziln"}, false}, {[]string{"ziln", "seq"}, true}, {nil, true}} {
			res := mustRun[activities.FeaturizeResult](t, env, a.Featurize, activities.FeaturizeInput{
				Clean: p.validate.Clean, Cutoff: pipeCutoff, DataEnd: p.validate.MaxTime, HorizonDays: pipeHorizon,
				TestFraction: pipeTestFraction, Seed: pipeSeed, Models: tc.models,
			})
			set := readFeatures(t, p.store, res.Features)
			if set.HasSequences() != tc.withSeq || set.Len() != p.featurize.Customers {
				t.Errorf("models %v: sequences %v, want %v (%d customers)", tc.models, set.HasSequences(), tc.withSeq, set.Len())
			}
			if tc.models == nil && res.Features.SHA256 != p.featurize.Features.SHA256 {
				t.Errorf("no models named: features %s, want the full set %s", res.Features.SHA256, p.featurize.Features.SHA256)
			}
		}
	})

	t.Run("cutoff from the data end", func(t *testing.T) {
		res := mustRun[activities.FeaturizeResult](t, env, a.Featurize, activities.FeaturizeInput{
			Clean: p.validate.Clean, DataEnd: p.validate.MaxTime, HorizonDays: 30, TestFraction: 0.2, Seed: 1,
		})
		if res.Cutoff != "1998-05-31" { // last transaction 1998-06-30
			t.Errorf("cutoff %s, want 1998-05-31", res.Cutoff)
		}
	})
}

func TestFeaturizeErrors(t *testing.T) {
	p := sharedPipeline(t)
	a := p.acts
	env := newEnv(t, a)
	clean := p.validate.Clean
	// Five customers only.
	f := newFixture(t)
	tiny := ingestText(t, f, "tiny.csv", "customer,date,amount\na,2020-01-01,1\nb,2020-01-02,1\nc,2020-01-03,1\nd,2020-01-04,1\ne,2020-06-01,1\n")
	tinyClean := mustRun[activities.ValidateResult](t, newEnv(t, f.acts), f.acts.ValidateDataset, activities.ValidateInput{Dataset: tiny.Dataset, Format: "csv"})

	for _, tc := range []struct {
		name     string
		acts     *activities.Activities
		in       activities.FeaturizeInput
		errType  string
		contains []string
	}{
		{"no cutoff, as-of or data end", a, activities.FeaturizeInput{Clean: clean, HorizonDays: 30}, activities.ErrTypeBadInput, []string{"no cutoff"}},
		{"malformed cutoff", a, activities.FeaturizeInput{Clean: clean, Cutoff: "30/09/1997", HorizonDays: 30}, activities.ErrTypeBadInput, []string{"30/09/1997"}},
		{"malformed as-of", a, activities.FeaturizeInput{Clean: clean, AsOf: "soon", HorizonDays: 30}, activities.ErrTypeBadInput, []string{"soon"}},
		{"negative horizon", a, activities.FeaturizeInput{Clean: clean, Cutoff: pipeCutoff, HorizonDays: -1}, activities.ErrTypeBadInput, []string{"negative"}},
		{"holdout beyond the data", a, activities.FeaturizeInput{Clean: clean, Cutoff: "1998-06-01", HorizonDays: 90, DataEnd: p.validate.MaxTime}, activities.ErrTypeBadData, []string{"no labels"}},
		{"too few customers", f.acts, activities.FeaturizeInput{Clean: tinyClean.Clean, Cutoff: "2020-01-31", HorizonDays: 30}, activities.ErrTypeBadData, []string{"only 4 customers"}},
		{"clean dataset not found", a, activities.FeaturizeInput{Clean: missing(clean), Cutoff: pipeCutoff, HorizonDays: 30}, activities.ErrTypeNotFound, []string{"never-written"}},
		{"clean dataset digest mismatch", a, activities.FeaturizeInput{Clean: withWrongSHA(clean), Cutoff: pipeCutoff, HorizonDays: 30}, activities.ErrTypeIntegrity, []string{clean.Key}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env
			if tc.acts != a {
				e = newEnv(t, tc.acts)
			}
			_, err := run[activities.FeaturizeResult](t, e, tc.acts.Featurize, tc.in)
			wantNonRetryable(t, err, tc.errType, tc.contains...)
		})
	}

	t.Run("unreachable store", func(t *testing.T) {
		u := unreachable(t)
		_, err := run[activities.FeaturizeResult](t, newEnv(t, u), u.Featurize, activities.FeaturizeInput{Clean: clean, Cutoff: pipeCutoff, HorizonDays: 30})
		wantRetryable(t, err, refusedCause)
	})
}
