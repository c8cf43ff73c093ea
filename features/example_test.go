package features_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
)

func ExampleBuildFromReader() {
	log := "customer,timestamp,amount\n" +
		"7,2011-01-03,10\n7,2011-01-03,5\n7,2011-01-17,20\n" + // one day merged, one repeat
		"7,2011-02-10,8\n" + // holdout
		"12,2011-02-01,3\n" // holdout only: not scored
	split := features.Split{Cutoff: time.Date(2011, 1, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 30, SeqWeeks: 5}
	set, rep, err := features.BuildFromReader(strings.NewReader(log), dataset.Options{}, split)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("rows", rep.Accepted, "scored", set.Len(), "holdout-only", set.Stats.HoldoutOnlyCustomers)
	fmt.Println(features.TabularColumns)
	fmt.Printf("%.4g\n", set.Tabular()[0])
	fmt.Println("spend by week", set.Sequences()[0][0], "label", set.Labels()[0])
	// Output:
	// rows 5 scored 1 holdout-only 1
	// [x t_x T recency cal_spend mbar first_value]
	// [1 2 4 2 35 20 15]
	// spend by week [15 0 20 0 0] label 8
}
