package dataset

import "time"

// Transaction is one accepted row.
type Transaction struct {
	// Customer is the normalised customer id: trimmed; "17850.0" becomes
	// "17850"; CDNOW ids lose their leading zeros ("0001" → "1"). All
	// transactions of one customer share one string.
	Customer string
	// Time is the timestamp; values without a zone are UTC.
	Time time.Time
	// Amount is the row's value in currency (Quantity × UnitPrice for Online
	// Retail): finite and > 0 (or = 0 where zero amounts are accepted).
	Amount float64
	// Line is the 1-based line of the row in the input.
	Line int64
}

// Report summarises one Read. It is JSON-encodable; the per-rule map is
// encoded with sorted keys.
type Report struct {
	File   string `json:"file,omitempty"`
	Format Format `json:"format"`
	Gzip   bool   `json:"gzip"`
	// Bytes is the number of (decompressed) text bytes read.
	Bytes int64 `json:"bytes"`
	// Header tells whether the first non-blank line was a header.
	Header bool `json:"header"`
	// BlankLines counts empty or whitespace-only lines, which are skipped
	// and are not rows.
	BlankLines int64 `json:"blank_lines"`
	// RowsRead counts data records (not the header, not blank lines);
	// RowsRead = Accepted + Rejected.
	RowsRead            int64   `json:"rows_read"`
	Accepted            int64   `json:"accepted"`
	Rejected            int64   `json:"rejected"`
	RejectedFraction    float64 `json:"rejected_fraction"`
	MaxRejectedFraction float64 `json:"max_rejected_fraction"`
	// Rules counts rejected rows per rule (rules with no rejection omitted).
	Rules map[Rule]int64 `json:"rules"`
	// Examples holds the first few rejected rows of each rule, in line order.
	Examples []Error `json:"examples"`
	// Customers is the number of distinct customers among accepted rows.
	Customers int `json:"customers"`
	// MinTime and MaxTime bound the accepted timestamps (zero if none).
	MinTime time.Time `json:"min_time"`
	MaxTime time.Time `json:"max_time"`
	// TotalAmount is the compensated sum of accepted amounts.
	TotalAmount float64 `json:"total_amount"`
	// DropDuplicates echoes Options.DropDuplicates; DedupeSaturated is set
	// when the duplicate hash set reached Options.MaxDedupeEntries, after
	// which new distinct rows are no longer remembered.
	DropDuplicates  bool `json:"drop_duplicates"`
	DedupeSaturated bool `json:"dedupe_saturated,omitempty"`
}

// DominantRule returns the rule with the most rejected rows (ties go to the
// rule checked first) and its count; "" and 0 when nothing was rejected.
func (r *Report) DominantRule() (Rule, int64) {
	var best Rule
	var n int64
	for _, rule := range Rules {
		if c := r.Rules[rule]; c > n {
			best, n = rule, c
		}
	}
	return best, n
}
