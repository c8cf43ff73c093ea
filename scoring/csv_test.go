package scoring

import (
	"bytes"
	"encoding/csv"
	"slices"
	"testing"
)

// TestPredictCSVEscapesFormulas: customer ids a spreadsheet would run as a
// formula get a leading single quote; ordinary ids and the numeric columns,
// a negative expected value included, are written unchanged.
func TestPredictCSVEscapesFormulas(t *testing.T) {
	preds := []Prediction{
		{CustomerID: "=1+1", ExpectedValue: 1.5, PurchaseProbability: 0.5, Decile: 1, Segment: "top"},
		{CustomerID: "@SUM(A1)", ExpectedValue: 2, PurchaseProbability: 0.25, Decile: 2, Segment: "high"},
		{CustomerID: "+1", ExpectedValue: 0, PurchaseProbability: 0, Decile: 3, Segment: "high"},
		{CustomerID: "-2", ExpectedValue: -3.25, PurchaseProbability: 0.125, Decile: 4, Segment: "mid"},
		{CustomerID: "\tcmd", ExpectedValue: 1, PurchaseProbability: 1, Decile: 5, Segment: "mid"},
		{CustomerID: "\r=2", ExpectedValue: 1, PurchaseProbability: 1, Decile: 6, Segment: "mid"},
		{CustomerID: "C00042", ExpectedValue: -0.5, PurchaseProbability: 0.75, Decile: 10, Segment: "low"},
		{CustomerID: "a=b", ExpectedValue: 1, PurchaseProbability: 1, Decile: 7, Segment: "low"},
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, preds); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, buf.String())
	}
	want := [][]string{
		{"customer_id", "expected_value", "purchase_probability", "decile", "segment"},
		{"'=1+1", "1.5000", "0.500000", "1", "top"},
		{"'@SUM(A1)", "2.0000", "0.250000", "2", "high"},
		{"'+1", "0.0000", "0.000000", "3", "high"},
		{"'-2", "-3.2500", "0.125000", "4", "mid"},
		{"'\tcmd", "1.0000", "1.000000", "5", "mid"},
		{"'\r=2", "1.0000", "1.000000", "6", "mid"},
		{"C00042", "-0.5000", "0.750000", "10", "low"},
		{"a=b", "1.0000", "1.000000", "7", "low"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows; want %d:\n%s", len(rows), len(want), buf.String())
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d = %q; want %q", i, rows[i], want[i])
		}
	}
}
