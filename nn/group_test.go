package nn

import (
	"context"
	"slices"
	"testing"

	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn/nntest"
)

func TestValSplitGroups(t *testing.T) {
	// 300 customers with 1..4 rows each, interleaved as snapshot sets are.
	var group []int
	for snap := 0; snap < 4; snap++ {
		for c := 0; c < 300; c++ {
			if c%4 >= snap {
				group = append(group, c)
			}
		}
	}
	n := len(group)
	train, val := valSplit(group, n, 0.15, 7)
	if len(train)+len(val) != n {
		t.Fatalf("%d + %d rows, want %d", len(train), len(val), n)
	}
	all := slices.Concat(train, val)
	slices.Sort(all)
	for i, r := range all {
		if r != i {
			t.Fatalf("row %d appears %v", i, all)
		}
	}
	side := map[int]bool{}
	for _, i := range val {
		side[group[i]] = true
	}
	for _, i := range train {
		if side[group[i]] {
			t.Fatalf("customer %d has rows in training and validation", group[i])
		}
	}
	if want := 0.15 * float64(n); float64(len(val)) < want || float64(len(val)) > want+4 {
		t.Fatalf("%d validation rows, want about %.0f", len(val), want)
	}
	t2, v2 := valSplit(group, n, 0.15, 7)
	if !slices.Equal(t2, train) || !slices.Equal(v2, val) {
		t.Fatal("same seed gave a different split")
	}
	if _, v3 := valSplit(group, n, 0.15, 8); slices.Equal(v3, val) {
		t.Fatal("another seed gave the same split")
	}
	// Without groups every row is its own group: exactly round(frac·n) rows.
	if tr, v := valSplit(nil, 200, 0.15, 7); len(v) != 30 || len(tr) != 170 || !slices.IsSorted(v) || !slices.IsSorted(tr) {
		t.Fatalf("no groups: %d train, %d validation rows (sorted %v %v)", len(tr), len(v), slices.IsSorted(tr), slices.IsSorted(v))
	}
	// One group only: nothing can be held out without emptying training.
	if tr, v := valSplit([]int{5, 5, 5}, 3, 0.5, 1); len(tr) != 3 || len(v) != 0 {
		t.Fatalf("single group: train %v val %v", tr, v)
	}
}

func TestTrainWithGroups(t *testing.T) {
	ds := nntest.Synthetic(400, 0, 3)
	d := Data{Tabular: ds.Tabular, Label: ds.Label}
	cfg := smallConfig(modelkind.ZILN)
	d.Group = make([]int, len(d.Label))
	for i := range d.Group {
		d.Group[i] = i / 2
	}
	m, err := Train(context.Background(), cfg, d, TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Summary[0].ValRows%2 != 0 {
		t.Fatalf("validation rows %d: pairs of rows of one group must stay together", m.Summary[0].ValRows)
	}
	if fingerprint(cfg, &d) == fingerprint(cfg, &Data{Tabular: d.Tabular, Label: d.Label}) {
		t.Fatal("the fingerprint ignores the groups")
	}
	bad := d
	bad.Group = bad.Group[:10]
	if _, err := Train(context.Background(), cfg, bad, TrainOptions{}); err == nil {
		t.Fatal("a group slice of the wrong length was accepted")
	}
}
