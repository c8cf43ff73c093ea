package modelfile

import (
	"slices"
	"testing"

	"github.com/clvflow/clvflow/features"
)

// The sequence channels of the file are those features builds, in order.
func TestChannelsMatchFeatures(t *testing.T) {
	if !slices.Equal(SequenceChannels, features.SequenceChannels) {
		t.Fatalf("sequence channels %v, features builds %v", SequenceChannels, features.SequenceChannels)
	}
	if !slices.Equal(TabularColumns, features.TabularColumns) || len(TabularColumns) != 7 {
		t.Fatalf("tabular columns %v", TabularColumns)
	}
}

func TestSequenceLen(t *testing.T) {
	s := FeatureSchema{SequenceChannels: SequenceChannels, SequenceWeeks: 52}
	if s.HasSequence() || s.SequenceLen() != 0 {
		t.Fatalf("no sequence input: HasSequence %v, SequenceLen %d", s.HasSequence(), s.SequenceLen())
	}
	s.SequenceInput = InputSequence
	if !s.HasSequence() || s.SequenceLen() != 104 {
		t.Fatalf("with sequence input: HasSequence %v, SequenceLen %d", s.HasSequence(), s.SequenceLen())
	}
}
