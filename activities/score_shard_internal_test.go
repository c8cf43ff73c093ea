package activities

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/internal/testenv"
)

// TestShardRowsSameAsPerRowFilter: picking a shard's rows from batches,
// once per customer, builds the set that filtering every transaction by
// ShardOf builds, for every shard, on the demo log (ids with leading
// zeros) and on a log of plain numbers and text ids.
func TestShardRowsSameAsPerRowFilter(t *testing.T) {
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	demo, err := os.Open(filepath.Join(root, "testdata", "demo", "cdnow_master.txt.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer demo.Close()
	var cdnow, mixed bytes.Buffer
	if _, err := dataset.WriteCanonical(&cdnow, demo, dataset.Options{}); err != nil {
		t.Fatal(err)
	}
	mixed.WriteString("customer,timestamp,amount\n")
	for i := range 20000 {
		id := fmt.Sprint(i % 997)
		if i%5 == 0 {
			id = fmt.Sprintf("c-%d", i%131)
		}
		fmt.Fprintf(&mixed, "%s,%s,%d.5\n", id, time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/40).Format(time.RFC3339), 1+i%50)
	}
	for name, c := range map[string]struct {
		log  []byte
		asOf time.Time
	}{"cdnow": {cdnow.Bytes(), time.Date(1997, 12, 31, 0, 0, 0, 0, time.UTC)}, "mixed": {mixed.Bytes(), time.Date(2022, 10, 1, 0, 0, 0, 0, time.UTC)}} {
		for shard := range 3 {
			want, got := features.NewBuilder(features.Split{Cutoff: c.asOf}), features.NewBuilder(features.Split{Cutoff: c.asOf})
			if _, err := dataset.Read(bytes.NewReader(c.log), canonicalOptions("clean.csv"), func(tx dataset.Transaction) error {
				if ShardOf(tx.Customer, 3) != shard {
					return nil
				}
				return want.AddTransaction(tx)
			}); err != nil {
				t.Fatal(err)
			}
			rows := newShardRows(shard, 3)
			if _, err := dataset.ReadBatches(bytes.NewReader(c.log), canonicalOptions("clean.csv"), func(bt *dataset.Batch) error {
				return rows.add(bt, got.AddTransaction)
			}); err != nil {
				t.Fatal(err)
			}
			ws, err1 := want.Build()
			gs, err2 := got.Build()
			if err1 != nil || err2 != nil || ws.Len() == 0 || !reflect.DeepEqual(gs, ws) {
				t.Fatalf("%s shard %d: %d customers (%v), want %d (%v)", name, shard, gs.Len(), err2, ws.Len(), err1)
			}
		}
	}
}
