package scoring

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// csvText returns a text cell that a spreadsheet will not run as a formula:
// a value starting with =, +, -, @, a tab or a carriage return gets a
// leading single quote (OWASP's CSV injection advice). Only text fields
// (customer ids, segments) go through it; numbers are written as they are,
// negative ones included.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes one row per customer; text cells are escaped, so a hostile
// customer id cannot run in a spreadsheet.
func WriteCSV(w io.Writer, preds []Prediction) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"customer_id", "expected_value", "purchase_probability", "decile", "segment"}); err != nil {
		return err
	}
	for _, p := range preds {
		if err := cw.Write([]string{csvText(p.CustomerID), strconv.FormatFloat(p.ExpectedValue, 'f', 4, 64),
			strconv.FormatFloat(p.PurchaseProbability, 'f', 6, 64), strconv.Itoa(p.Decile), csvText(p.Segment)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
