package dataset

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

// TestBadCorpus reads every file of testdata/bad and checks its specific
// error, or the exact counts of a clean (possibly partly rejected) result.
func TestBadCorpus(t *testing.T) {
	tests := []struct {
		file      string
		opts      Options
		wantErr   error
		wantRule  Rule // dominant rule of ErrTooManyRejected
		wantFmt   Format
		accepted  int64
		rejected  int64
		customers int
		rules     map[Rule]int64
	}{
		{file: "empty.csv", wantErr: ErrEmpty},
		{file: "blank_lines.txt", wantErr: ErrEmpty},
		{file: "header_only_online_retail.csv", wantErr: ErrHeaderOnly, wantFmt: FormatOnlineRetail},
		{file: "header_only_generic.csv", wantErr: ErrHeaderOnly, wantFmt: FormatCSV},
		{file: "binary_junk.bin", wantErr: ErrUnknownFormat},
		{file: "single_column.txt", wantErr: ErrUnknownFormat},
		{file: "truncated.csv.gz", wantErr: ErrRead},
		{file: "wrong_delimiter_online_retail.csv", opts: Options{Format: FormatOnlineRetail}, wantErr: ErrBadHeader},
		{file: "wrong_delimiter_online_retail.csv", wantErr: ErrTooManyRejected, wantRule: RuleBadNumber, wantFmt: FormatCSV,
			rejected: 1, rules: map[Rule]int64{RuleBadNumber: 1}},
		{file: "wrong_delimiter_generic.csv", opts: Options{CSV: CSVMapping{Delimiter: ','}}, wantErr: ErrBadHeader},
		{file: "wrong_delimiter_generic.csv", wantFmt: FormatCSV, accepted: 2, customers: 2},
		{file: "bad_dates.csv", wantErr: ErrTooManyRejected, wantRule: RuleBadTime, wantFmt: FormatCSV,
			accepted: 1, rejected: 3, customers: 1, rules: map[Rule]int64{RuleBadTime: 3}},
		{file: "huge_numbers.csv", wantErr: ErrTooManyRejected, wantRule: RuleBadNumber, wantFmt: FormatCSV,
			accepted: 1, rejected: 6, customers: 1, rules: map[Rule]int64{RuleBadNumber: 6}},
		{file: "negative_amounts.csv", wantErr: ErrTooManyRejected, wantRule: RuleNonPositiveAmount, wantFmt: FormatCSV,
			accepted: 1, rejected: 3, customers: 1, rules: map[Rule]int64{RuleNonPositiveAmount: 3}},
		{file: "negative_amounts.csv", opts: Options{MaxRejectedFraction: 1, ZeroAmounts: ZeroAmountAccept}, wantFmt: FormatCSV,
			accepted: 2, rejected: 2, customers: 2, rules: map[Rule]int64{RuleNonPositiveAmount: 2}},
		{file: "missing_columns.csv", wantErr: ErrTooManyRejected, wantRule: RuleColumnCount, wantFmt: FormatCSV,
			accepted: 1, rejected: 3, customers: 1, rules: map[Rule]int64{RuleColumnCount: 3}},
		{file: "missing_customer.csv", wantErr: ErrTooManyRejected, wantRule: RuleMissingCustomer, wantFmt: FormatCSV,
			accepted: 1, rejected: 2, customers: 1, rules: map[Rule]int64{RuleMissingCustomer: 2}},
		{file: "cdnow_wrong_columns.txt", wantErr: ErrTooManyRejected, wantRule: RuleColumnCount, wantFmt: FormatCDNOW,
			accepted: 1, rejected: 2, customers: 1, rules: map[Rule]int64{RuleColumnCount: 2}},
		{file: "utf8_bom.csv", wantFmt: FormatCSV, accepted: 3, customers: 2},
		{file: "crlf_cdnow.txt", wantFmt: FormatCDNOW, accepted: 3, customers: 2},
		{file: "bom_crlf_online_retail_v2.csv", wantFmt: FormatOnlineRetail, accepted: 2, rejected: 1, customers: 1,
			rules: map[Rule]int64{RuleCancellation: 1}},
		{file: "unterminated_quote.csv", wantFmt: FormatCSV, accepted: 2, rejected: 1, customers: 2,
			rules: map[Rule]int64{RuleBadQuote: 1}},
		{file: "cdnow_mixed.txt", wantFmt: FormatCDNOW, accepted: 3, rejected: 2, customers: 2,
			rules: map[Rule]int64{RuleBadTime: 1, RuleNonPositiveQuantity: 1}},
		{file: "cdnow_mixed.txt", opts: Options{DropDuplicates: true}, wantErr: ErrTooManyRejected, wantRule: RuleBadTime, wantFmt: FormatCDNOW,
			accepted: 2, rejected: 3, customers: 2, rules: map[Rule]int64{RuleBadTime: 1, RuleNonPositiveQuantity: 1, RuleDuplicate: 1}},
		{file: "cdnow_mixed.txt", opts: Options{ZeroAmounts: ZeroAmountReject, MaxRejectedFraction: 0.7}, wantFmt: FormatCDNOW,
			accepted: 2, rejected: 3, customers: 1, rules: map[Rule]int64{RuleBadTime: 1, RuleNonPositiveQuantity: 1, RuleNonPositiveAmount: 1}},
	}
	for _, tc := range tests {
		name := tc.file
		if !reflect.DeepEqual(tc.opts, Options{}) {
			name += "/opts"
		}
		t.Run(name, func(t *testing.T) {
			var n int64
			rep, err := ReadFile(filepath.Join("testdata", "bad", tc.file), tc.opts, func(tx Transaction) error {
				n++
				if tx.Customer == "" || tx.Amount < 0 {
					t.Errorf("accepted bad transaction %+v", tx)
				}
				return nil
			})
			if err != nil {
				t.Logf("error: %v", err)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				var e *Error
				if !errors.As(err, &e) || e.File != tc.file {
					t.Errorf("error %v is not an *Error naming file %s", err, tc.file)
				}
				if e != nil && e.Rule != tc.wantRule {
					t.Errorf("error rule = %q, want %q (%v)", e.Rule, tc.wantRule, err)
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if rep == nil {
				if tc.accepted+tc.rejected > 0 || tc.wantFmt != "" {
					t.Fatalf("no report")
				}
				return
			}
			if tc.wantFmt != "" && rep.Format != tc.wantFmt {
				t.Errorf("format = %q, want %q", rep.Format, tc.wantFmt)
			}
			if rep.Accepted != tc.accepted || rep.Rejected != tc.rejected || n != tc.accepted {
				t.Errorf("accepted/rejected/callbacks = %d/%d/%d, want %d/%d/%d", rep.Accepted, rep.Rejected, n, tc.accepted, tc.rejected, tc.accepted)
			}
			if rep.RowsRead != rep.Accepted+rep.Rejected {
				t.Errorf("rows %d != accepted %d + rejected %d", rep.RowsRead, rep.Accepted, rep.Rejected)
			}
			if rep.Customers != tc.customers {
				t.Errorf("customers = %d, want %d", rep.Customers, tc.customers)
			}
			if len(rep.Rules) != len(tc.rules) {
				t.Errorf("rules = %v, want %v", rep.Rules, tc.rules)
			}
			for r, c := range tc.rules {
				if rep.Rules[r] != c {
					t.Errorf("rule %s = %d, want %d (all %v)", r, rep.Rules[r], c, rep.Rules)
				}
			}
		})
	}
}
