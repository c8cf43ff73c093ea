package dataset

import (
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCanonicalWriterBytesAsEncodingCSV: the canonical writer writes what
// encoding/csv writes for the same records (ids that need quotes or not,
// repeated and fractional times, any amount), one by one and in batches
// from a read (ids as direct or interned keys).
func TestCanonicalWriterBytesAsEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 3))
	ids := []string{"154", "0", "007", "c-9", "a,b", `say "hi"`, " lead", "\tlead", "\u00a0nbsp", "trail ", `\.`, "x\ny", "x\ry", "é", "4194304", ""}
	var want bytes.Buffer
	ref := csv.NewWriter(&want)
	_ = ref.Write(CanonicalHeader)
	var got bytes.Buffer
	cw := NewCanonicalWriter(&got)
	base := time.Date(2022, 3, 4, 0, 0, 0, 0, time.UTC)
	for i := range 5000 {
		tm := base.Add(time.Duration(r.IntN(3)) * 24 * time.Hour)
		if i%7 == 0 {
			tm = tm.Add(time.Duration(r.Int64N(int64(time.Hour))))
		}
		if i%11 == 0 {
			tm = tm.In(time.FixedZone("x", 3600))
		}
		tx := Transaction{Customer: ids[r.IntN(len(ids))], Time: tm, Amount: r.NormFloat64() * 100}
		_ = ref.Write([]string{tx.Customer, tx.Time.UTC().Format(time.RFC3339Nano), strconv.FormatFloat(tx.Amount, 'g', -1, 64)})
		if err := cw.Write(tx); err != nil {
			t.Fatal(err)
		}
	}
	ref.Flush()
	if err := cw.Flush(); err != nil || got.String() != want.String() {
		t.Fatalf("canonical writer differs from encoding/csv (%v)", err)
	}

	// In batches from a read: the same bytes as one by one.
	var log strings.Builder
	log.WriteString("customer,ts,amount\n")
	for range 3000 {
		log.WriteString([]string{"154", "007", "c9", "\"a,b\"", "4194304", "12"}[r.IntN(6)] + "," + base.AddDate(0, 0, r.IntN(30)).Format(time.DateOnly) + ",1." + strconv.Itoa(r.IntN(100)) + "\n")
	}
	var batched, single bytes.Buffer
	if _, err := WriteCanonical(&batched, strings.NewReader(log.String()), Options{}); err != nil {
		t.Fatal(err)
	}
	one := NewCanonicalWriter(&single)
	if _, err := Read(strings.NewReader(log.String()), Options{}, one.Write); err != nil || one.Flush() != nil {
		t.Fatal(err)
	}
	if batched.String() != single.String() || one.Rows() != 3000 {
		t.Fatalf("batched canonical differs from one by one (%d rows)", one.Rows())
	}
}
