package features

import "fmt"

// Merge joins feature sets built from disjoint parts of one transaction log
// (every customer's transactions in one part) at the same split into the
// set a builder of the whole log builds: the customers in [CompareIDs]
// order and the Stats summed. The parts must be sorted by id, as built or
// read back from CSV; a customer in two parts, or parts with different
// splits, are errors. The customers' sequences are shared with the parts.
func Merge(parts ...*Set) (*Set, error) {
	if len(parts) == 0 {
		return nil, fmt.Errorf("features: merge of no feature sets")
	}
	out := &Set{Split: parts[0].Split}
	n := 0
	for i, p := range parts {
		if !p.Split.Cutoff.Equal(out.Split.Cutoff) || p.Split.HorizonDays != out.Split.HorizonDays || p.Split.SeqWeeks != out.Split.SeqWeeks {
			return nil, fmt.Errorf("features: merge: part %d has split %s/%dd/%dw, part 0 %s/%dd/%dw", i,
				p.Split.Cutoff.Format("2006-01-02"), p.Split.HorizonDays, p.Split.SeqWeeks,
				out.Split.Cutoff.Format("2006-01-02"), out.Split.HorizonDays, out.Split.SeqWeeks)
		}
		n += p.Len()
		out.Stats.Transactions += p.Stats.Transactions
		out.Stats.Calibration += p.Stats.Calibration
		out.Stats.Holdout += p.Stats.Holdout
		out.Stats.AfterHorizon += p.Stats.AfterHorizon
		out.Stats.HoldoutOnlyCustomers += p.Stats.HoldoutOnlyCustomers
	}
	out.Customers = make([]Customer, 0, n)
	next := make([]int, len(parts)) // per part: its next customer
	for len(out.Customers) < n {
		best := -1
		for i, p := range parts {
			if next[i] < p.Len() && (best < 0 || CompareIDs(p.Customers[next[i]].ID, parts[best].Customers[next[best]].ID) < 0) {
				best = i
			}
		}
		c := parts[best].Customers[next[best]]
		if k := len(out.Customers); k > 0 && CompareIDs(out.Customers[k-1].ID, c.ID) >= 0 {
			return nil, fmt.Errorf("features: merge: customer %q follows %q: a customer is in two parts or a part is not sorted by id", c.ID, out.Customers[k-1].ID)
		}
		out.Customers = append(out.Customers, c)
		next[best]++
	}
	return out, nil
}
