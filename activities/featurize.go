package activities

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/registry"
)

// SplitDoc is the stored train/test split: customer ids, so that it stays
// valid for any reader of the feature file.
type SplitDoc struct {
	Seed         uint64   `json:"seed"`
	TestFraction float64  `json:"test_fraction"`
	Cutoff       string   `json:"cutoff"`
	HorizonDays  int      `json:"horizon_days"`
	Train        []string `json:"train"`
	Test         []string `json:"test"`
}

// canonicalOptions reads the clean canonical CSV written by validation.
func canonicalOptions(name string) dataset.Options {
	// Validation already applied the source format's rules; zero amounts
	// it accepted (CDNOW's zero-dollar purchases) stay purchases here.
	return dataset.Options{Format: dataset.FormatCSV, Name: name, ZeroAmounts: dataset.ZeroAmountAccept,
		CSV: dataset.CSVMapping{Customer: "customer", Time: "timestamp", Amount: "amount"}}
}

// Featurize builds per-customer features at the cutoff (calibration up to
// the cutoff, holdout labels over the horizon), splits customers into train
// and test with the seed, and stores both.
func (a *Activities) Featurize(ctx context.Context, in FeaturizeInput) (FeaturizeResult, error) {
	split, asOf, err := featurizeSplit(in)
	if err != nil {
		return FeaturizeResult{}, err
	}
	withSeq, err := a.needsSequences(ctx, in.Models)
	if err != nil {
		return FeaturizeResult{}, err
	}
	defer heartbeatEvery(ctx, heartbeatInterval(ctx, 10*time.Second), func() any { return "featurize" })()
	b, err := a.readFeatures(ctx, in.Clean, split, asOf, withSeq)
	if err != nil {
		return FeaturizeResult{}, err
	}
	set, err := b.Build()
	if err != nil {
		return FeaturizeResult{}, nonRetryable(ErrTypeBadData, err)
	}
	first, ok := b.FirstDay()
	snapCuts, err := snapshotCutoffs(in, split, first, ok)
	if err != nil {
		return FeaturizeResult{}, err
	}
	stats := set.Stats // set itself may go once its file is written, before the snapshots
	res, err := a.storeFeaturized(ctx, in, split, setFile(set), snapCuts, builderSnapshots(b))
	res.Stats = stats
	return res, err
}

// featureFile writes one feature CSV file (features.Set.WriteCSV's format)
// and returns its customer ids in file order.
type featureFile func(w io.Writer) ([]string, error)

// snapshotFile returns the featureFile of the k-th training snapshot, at
// cutoff.
type snapshotFile func(k int, cutoff time.Time) (featureFile, error)

// setFile is the featureFile of a feature set.
func setFile(s *features.Set) featureFile {
	return func(w io.Writer) ([]string, error) { return s.IDs(), s.WriteCSV(w) }
}

// builderSnapshots builds the training snapshots from b, one at a time.
func builderSnapshots(b *features.Builder) snapshotFile {
	return func(_ int, cutoff time.Time) (featureFile, error) {
		s, err := b.BuildSnapshot(cutoff)
		if err != nil {
			return nil, nonRetryable(ErrTypeBadInput, err)
		}
		return setFile(s), nil
	}
}

// storeFeaturized is the tail of featurizing, the same for one builder
// (Featurize) and for merged shards (MergeFeatures): it writes the feature
// file, refuses one of too few customers, stores it and the snapshots, and
// splits the customers into train and test with the seed (the split depends
// only on their number and order), all content-addressed.
func (a *Activities) storeFeaturized(ctx context.Context, in FeaturizeInput, split features.Split, file featureFile, snapCuts []time.Time, snapshot snapshotFile) (FeaturizeResult, error) {
	var res FeaturizeResult
	dir, err := os.MkdirTemp("", "clvflow-features-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	path, ids, err := writeFeatureFile(dir, file)
	if err != nil {
		return res, err
	}
	if len(ids) < 10 {
		return res, nonRetryablef(ErrTypeBadData, "only %d customers bought on or before the cutoff %s: move the cutoff later or shorten the horizon", len(ids), split.Cutoff.Format("2006-01-02"))
	}
	featRef, err := a.putFeatureFile(ctx, path)
	if err != nil {
		return res, err
	}
	snapRefs, err := a.putSnapshots(ctx, dir, snapCuts, snapshot)
	if err != nil {
		return res, err
	}
	train, test := features.SplitIndices(len(ids), in.TestFraction, in.Seed)
	doc := newSplitDoc(in, split, ids, train, test)
	splitRef, err := a.Store.PutJSON(ctx, a.Buckets.Datasets, fmt.Sprintf("splits/%s-seed%d-frac%g.json", featRef.SHA256, in.Seed, in.TestFraction), doc)
	if err != nil {
		return res, Classify(err)
	}
	a.log().Info("features built", "cutoff", doc.Cutoff, "customers", len(ids), "train", len(train), "test", len(test), "snapshots", len(snapRefs))
	return FeaturizeResult{Features: featRef, Split: splitRef, Cutoff: doc.Cutoff, HorizonDays: split.HorizonDays, SeqWeeks: split.SeqWeeks,
		Customers: len(ids), TrainCustomers: len(train), TestCustomers: len(test), Snapshots: snapRefs}, nil
}

// snapshotCutoffs are the cutoffs of the earlier training snapshots of
// split for a log whose first stored day is first (ok: it has one), latest
// first (features.SnapshotCutoffs); none without a stored day.
func snapshotCutoffs(in FeaturizeInput, split features.Split, first time.Time, ok bool) ([]time.Time, error) {
	if !ok || in.Snapshots <= 0 {
		return nil, nil
	}
	step := in.SnapshotStepDays
	if step == 0 {
		step = features.DefaultSnapshotStepDays
	}
	cuts, err := features.SnapshotCutoffs(split, first, in.Snapshots, step)
	if err != nil {
		return nil, nonRetryable(ErrTypeBadInput, err)
	}
	return cuts, nil
}

// featurizeSplit resolves the cutoff (given, from the as-of date, or from
// the last transaction) and checks that the holdout window has labels.
func featurizeSplit(in FeaturizeInput) (features.Split, time.Time, error) {
	var asOf time.Time
	if in.AsOf != "" {
		t, err := parseDay(in.AsOf, true)
		if err != nil {
			return features.Split{}, asOf, nonRetryable(ErrTypeBadInput, fmt.Errorf("as-of: %w", err))
		}
		asOf = t
	}
	cutoff, err := featurizeCutoff(in, asOf)
	if err != nil {
		return features.Split{}, asOf, err
	}
	split, err := features.Split{Cutoff: cutoff, HorizonDays: in.HorizonDays, SeqWeeks: in.SeqWeeks}.Validate()
	if err != nil {
		return split, asOf, nonRetryable(ErrTypeBadInput, err)
	}
	if in.DataEnd != "" {
		end, err := time.Parse(time.RFC3339, in.DataEnd)
		if err == nil && split.HoldoutEnd().After(end.Add(24*time.Hour)) {
			return split, asOf, nonRetryablef(ErrTypeBadData, "the holdout window %s..%s ends after the last transaction (%s): there are no labels to train on; use an earlier --cutoff/--as-of or a shorter --horizon-days",
				split.Cutoff.Format("2006-01-02"), split.HoldoutEnd().Format("2006-01-02"), end.Format("2006-01-02"))
		}
	}
	return split, asOf, nil
}

// featurizeCutoff is the given cutoff, else the as-of date minus the
// horizon, else the last transaction's day minus the horizon.
func featurizeCutoff(in FeaturizeInput, asOf time.Time) (time.Time, error) {
	switch {
	case in.Cutoff != "":
		t, err := time.Parse("2006-01-02", in.Cutoff)
		if err != nil {
			return t, nonRetryablef(ErrTypeBadInput, "cutoff %q is not YYYY-MM-DD", in.Cutoff)
		}
		return t, nil
	case !asOf.IsZero():
		return features.CutoffFor(asOf, in.HorizonDays), nil
	case in.DataEnd != "":
		end, err := time.Parse(time.RFC3339, in.DataEnd)
		if err != nil {
			return end, nonRetryablef(ErrTypeBadInput, "data end %q: %v", in.DataEnd, err)
		}
		return features.CutoffFor(end, in.HorizonDays), nil
	}
	return time.Time{}, nonRetryablef(ErrTypeBadInput, "featurize: no cutoff, as-of date or data end given")
}

// needsSequences reports whether the features of a run training models
// need the weekly sequences: unknown models, a sequence model, or a
// sequence-model champion (evaluation scores it on the same features).
func (a *Activities) needsSequences(ctx context.Context, kinds []string) (bool, error) {
	if len(kinds) == 0 || slices.Contains(kinds, string(modelkind.Seq)) {
		return true, nil
	}
	champ, err := a.CurrentChampion(ctx, registry.ChampionAlias)
	if err != nil {
		return false, err
	}
	return champ.Kind == string(modelkind.Seq), nil
}

// readFeatures streams the clean dataset (transactions up to asOf, when
// set) into a feature builder for split, which keeps the weekly sequences
// when withSeq.
func (a *Activities) readFeatures(ctx context.Context, clean artifacts.Ref, split features.Split, asOf time.Time, withSeq bool) (*features.Builder, error) {
	rc, err := a.Store.Get(ctx, clean)
	if err != nil {
		return nil, Classify(err)
	}
	defer rc.Close()
	b := features.NewBuilder(split)
	if !withSeq {
		b.OmitSequences()
	}
	if !asOf.IsZero() {
		b.IgnoreAfter(asOf)
	}
	if _, err := b.Read(rc, canonicalOptions("clean.csv")); err != nil {
		return nil, Classify(err)
	}
	return b, nil
}

// putSnapshots builds (snapshot) and stores the earlier training snapshots
// one at a time, so only one extra feature set is in memory.
func (a *Activities) putSnapshots(ctx context.Context, dir string, cutoffs []time.Time, snapshot snapshotFile) ([]SnapshotRef, error) {
	var refs []SnapshotRef
	for k, c := range cutoffs {
		file, err := snapshot(k, c)
		if err != nil {
			return nil, err
		}
		ref, ids, err := a.putFeatures(ctx, dir, file)
		if err != nil {
			return nil, err
		}
		refs = append(refs, SnapshotRef{Cutoff: c.Format("2006-01-02"), Features: ref, Customers: len(ids)})
	}
	return refs, nil
}

// newSplitDoc records which customers are training and which test customers.
func newSplitDoc(in FeaturizeInput, split features.Split, ids []string, train, test []int) SplitDoc {
	doc := SplitDoc{Seed: in.Seed, TestFraction: in.TestFraction, Cutoff: split.Cutoff.Format("2006-01-02"), HorizonDays: split.HorizonDays}
	for _, i := range train {
		doc.Train = append(doc.Train, ids[i])
	}
	for _, i := range test {
		doc.Test = append(doc.Test, ids[i])
	}
	return doc
}

// putFeatures writes a feature file into dir and stores it.
func (a *Activities) putFeatures(ctx context.Context, dir string, file featureFile) (artifacts.Ref, []string, error) {
	path, ids, err := writeFeatureFile(dir, file)
	if err != nil {
		return artifacts.Ref{}, nil, err
	}
	ref, err := a.putFeatureFile(ctx, path)
	return ref, ids, err
}

// writeFeatureFile writes a feature file into dir and returns its path and
// customer ids.
func writeFeatureFile(dir string, file featureFile) (string, []string, error) {
	path := filepath.Join(dir, "features.csv")
	f, err := os.Create(path)
	if err != nil {
		return "", nil, err
	}
	ids, err := file(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return path, ids, err
}

// putFeatureFile stores a written feature file (content-addressed) under
// FeaturesPrefix.
func (a *Activities) putFeatureFile(ctx context.Context, path string) (artifacts.Ref, error) {
	ref, err := a.Store.PutFile(ctx, a.Buckets.Datasets, FeaturesPrefix, path, artifacts.PutOptions{ContentType: "text/csv", Filename: "features.csv"})
	if err != nil {
		return ref, Classify(err)
	}
	return ref, nil
}

// loadSnapshots reads stored training snapshots through the worker's
// feature cache; release gives them back (once, when done with them).
func (a *Activities) loadSnapshots(ctx context.Context, refs []artifacts.Ref) (_ []*features.Set, release func(), err error) {
	out := make([]*features.Set, 0, len(refs))
	var releases []func()
	release = func() {
		for _, r := range releases {
			r()
		}
	}
	for _, ref := range refs {
		e, rel, err := a.Features.acquire(ctx, ref.SHA256, func(ctx context.Context) (*features.Set, error) { return a.readFeatureSet(ctx, ref) })
		if err != nil {
			release()
			return nil, nil, err
		}
		releases = append(releases, rel)
		out = append(out, e.set)
	}
	return out, release, nil
}

// readFeatureSet reads one stored feature set.
func (a *Activities) readFeatureSet(ctx context.Context, ref artifacts.Ref) (*features.Set, error) {
	rc, err := a.Store.Get(ctx, ref)
	if err != nil {
		return nil, Classify(err)
	}
	defer rc.Close()
	set, err := features.ReadCSV(rc)
	if err != nil {
		return nil, Classify(err)
	}
	if err := rc.Close(); err != nil {
		return nil, Classify(err)
	}
	return set, nil
}

// loadFeatures reads a stored feature set (shared through the worker's
// feature cache: read only) and the split back as indices; release gives
// the set back (once, when done with it).
func (a *Activities) loadFeatures(ctx context.Context, featRef, splitRef artifacts.Ref) (_ *features.Set, train, test []int, release func(), err error) {
	e, rel, err := a.Features.acquire(ctx, featRef.SHA256, func(ctx context.Context) (*features.Set, error) { return a.readFeatureSet(ctx, featRef) })
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer func() {
		if err != nil {
			rel()
		}
	}()
	if splitRef.Key == "" {
		return e.set, nil, nil, rel, nil
	}
	var doc SplitDoc
	if err := a.Store.GetJSON(ctx, splitRef, &doc); err != nil {
		return nil, nil, nil, nil, Classify(err)
	}
	index := e.ids()
	toIdx := func(ids []string) ([]int, error) {
		out := make([]int, 0, len(ids))
		for _, id := range ids {
			i, ok := index[id]
			if !ok {
				return nil, nonRetryablef(ErrTypeBadInput, "split names customer %q that the feature file lacks", id)
			}
			out = append(out, i)
		}
		return out, nil
	}
	if train, err = toIdx(doc.Train); err != nil {
		return nil, nil, nil, nil, err
	}
	if test, err = toIdx(doc.Test); err != nil {
		return nil, nil, nil, nil, err
	}
	return e.set, train, test, rel, nil
}

// parseDay parses YYYY-MM-DD or RFC 3339; a bare day used as an upper
// bound means the end of that day.
func parseDay(s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date (YYYY-MM-DD) or RFC 3339 time", s)
	}
	if end {
		t = t.Add(24*time.Hour - time.Nanosecond)
	}
	return t, nil
}
