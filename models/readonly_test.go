package models

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/models/modelstest"
)

// deepCopy copies a set, its customers and their sequences.
func deepCopy(s *features.Set) *features.Set {
	c := *s
	c.Customers = slices.Clone(s.Customers)
	for i := range c.Customers {
		for ch := range c.Customers[i].Seq {
			c.Customers[i].Seq[ch] = slices.Clone(s.Customers[i].Seq[ch])
		}
	}
	return &c
}

// TestFitDoesNotMutateTheSet: a worker shares one loaded feature set (and
// its snapshots) between concurrent activities (activities.FeatureCache),
// so fitting, predicting and evaluating every kind must leave them exactly
// as they were.
func TestFitDoesNotMutateTheSet(t *testing.T) {
	set, snaps := synthSnapshots(t, 300, 5, 8, 2)
	want, wantSnaps := deepCopy(set), make([]*features.Set, len(snaps))
	for i, s := range snaps {
		wantSnaps[i] = deepCopy(s)
	}
	train, test := set.SplitTrainTest(0.3, 1)
	wantTrain, wantTest := slices.Clone(train), slices.Clone(test)
	for _, k := range modelkind.All() {
		m, _, err := Fit(context.Background(), k, set, train, FitOptions{Seed: 1, NN: modelstest.SmallNN(k, 2), Snapshots: snaps})
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if _, _, err := EvaluateScored(m, set, test); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		set.Float32Rows(test, true)
		if !reflect.DeepEqual(set, want) {
			t.Fatalf("fitting or evaluating %s changed the feature set", k)
		}
		for i := range snaps {
			if !reflect.DeepEqual(snaps[i], wantSnaps[i]) {
				t.Fatalf("fitting %s changed training snapshot %d", k, i)
			}
		}
		if !slices.Equal(train, wantTrain) || !slices.Equal(test, wantTest) {
			t.Fatalf("fitting or evaluating %s reordered the split", k)
		}
	}
}
