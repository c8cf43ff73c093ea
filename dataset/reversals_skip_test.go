package dataset

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestReversalPassSkipped: ReadFile with DropReversed counts the
// cancellations first only in a format with reversal keys; the report is
// the same as with the counting pass.
func TestReversalPassSkipped(t *testing.T) {
	dir := t.TempDir()
	files := map[string]struct {
		text string
		keys bool
	}{
		"generic.csv": {"customer_id,ts,amount\n1,2020-01-01,5\n2,2020-01-02,-1\n1,2020-01-03,7\n", false},
		"cdnow.txt":   {"00001 19970101 1 11.77\n00002 19970112 2 -3\n", false},
		"retail.csv": {"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n" +
			"536365,A,x,6,12/1/2010 8:26,2.55,17850,UK\nC536366,A,x,-6,12/1/2010 9:26,2.55,17850,UK\n536367,B,y,1,12/2/2010 8:26,1,17851,UK\n", true},
	}
	for name, f := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(f.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := hasReversalKeys(strings.NewReader(f.text), Options{}); got != f.keys {
			t.Errorf("%s: reversal keys %v, want %v", name, got, f.keys)
		}
		rev, err := CollectReversals(strings.NewReader(f.text), Options{MaxRejectedFraction: 1})
		if err != nil {
			t.Fatal(err)
		}
		want, err := Read(strings.NewReader(f.text), Options{Name: name, DropReversed: true, Reversals: rev, MaxRejectedFraction: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path, Options{DropReversed: true, MaxRejectedFraction: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: report %+v, want %+v", name, got, want)
		}
		if f.keys && got.Rules[RuleReversed] != 1 {
			t.Errorf("%s: %d reversed, want 1", name, got.Rules[RuleReversed])
		}
	}
}
