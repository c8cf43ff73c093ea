package features

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// writeCSVReference is WriteCSV as encoding/csv writes it, record by
// record (the bytes WriteCSV must keep).
func writeCSVReference(s *Set) []byte {
	var out bytes.Buffer
	sw, tail := s.Split.SeqWeeks, ""
	if s.WithoutSequences {
		sw, tail = 0, " sequences=none"
	}
	fmt.Fprintf(&out, "%s cutoff=%s horizon_days=%d seq_weeks=%d%s\n", csvMagic, s.Split.Cutoff.UTC().Format(time.DateOnly), s.Split.HorizonDays, s.Split.SeqWeeks, tail)
	cw := csv.NewWriter(&out)
	_ = cw.Write(CSVColumns(sw))
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for i := range s.Customers {
		c := &s.Customers[i]
		rec := []string{c.ID, strconv.Itoa(c.X), f(c.TX), f(c.T), f(c.Recency), f(c.CalSpend), f(c.MBar), f(c.FirstValue),
			c.FirstPurchase.UTC().Format(time.DateOnly), strconv.Itoa(c.HoldoutX), f(c.HoldoutSpend)}
		for ch := range 2 {
			for k := range sw {
				rec = append(rec, f(c.Seq[ch][k]))
			}
		}
		_ = cw.Write(rec)
	}
	cw.Flush()
	return out.Bytes()
}

// TestWriteCSVBytesAsEncodingCSV: WriteCSV (rows formatted in parallel
// chunks) writes the bytes of encoding/csv on sets with and without
// sequences, ids that need quotes, signed zeros, huge, tiny and integral
// values, over several chunks; a customer with a short sequence fails.
func TestWriteCSVBytesAsEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 4))
	ids := []string{"154", "007", "a,b", `q"uote`, " lead", `\.`, "x\ny", "é"}
	vals := []float64{0, math.Copysign(0, -1), 1, 3, 999999, 1e6, 1.5e21, 1e-7, 0.1, 30.02, -2.5, 123456.789}
	for _, without := range []bool{false, true} {
		s := &Set{Split: Split{Cutoff: time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 365, SeqWeeks: 6}, WithoutSequences: without}
		n := 3*csvChunk + 17
		seq := make([]float64, n*12)
		for i := range seq {
			seq[i] = vals[r.IntN(len(vals))]
		}
		for i := range n {
			c := Customer{ID: ids[r.IntN(len(ids))] + strconv.Itoa(i), X: r.IntN(9), TX: vals[r.IntN(len(vals))], T: r.Float64() * 100,
				Recency: vals[r.IntN(len(vals))], CalSpend: r.ExpFloat64() * 50, MBar: vals[r.IntN(len(vals))], FirstValue: r.NormFloat64(),
				FirstPurchase: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(900)), HoldoutX: r.IntN(4), HoldoutSpend: vals[r.IntN(len(vals))]}
			if !without {
				c.Seq = [2][]float64{seq[i*12 : i*12+6], seq[i*12+6 : i*12+12]}
			}
			s.Customers = append(s.Customers, c)
		}
		var got bytes.Buffer
		if err := s.WriteCSV(&got); err != nil {
			t.Fatal(err)
		}
		if want := writeCSVReference(s); !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("without sequences %v: WriteCSV differs from encoding/csv (%d vs %d bytes)", without, got.Len(), len(want))
		}
		if !without {
			s.Customers[n-5].Seq[1] = s.Customers[n-5].Seq[1][:3]
			if err := s.WriteCSV(&bytes.Buffer{}); err == nil {
				t.Fatal("a short sequence was written")
			}
		}
	}
	if err := (&Set{Customers: make([]Customer, 5000), WithoutSequences: true}).WriteCSV(failingWriter{}); !errors.Is(err, errWrite) {
		t.Fatalf("write error %v", err)
	}
}

var errWrite = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

// BenchmarkWriteCSV writes 100,000 customers with 52-week sequences (about
// 30 MB); compare with writeCSVReference (encoding/csv, one goroutine).
func BenchmarkWriteCSV(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	s := &Set{Split: Split{Cutoff: time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC), HorizonDays: 365, SeqWeeks: 52}}
	for i := range 100000 {
		c := Customer{ID: strconv.Itoa(i), X: r.IntN(9), TX: r.Float64() * 50, T: r.Float64() * 100, CalSpend: r.ExpFloat64() * 50,
			FirstPurchase: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.IntN(900))}
		c.Seq = [2][]float64{make([]float64, 52), make([]float64, 52)}
		for k := range 52 {
			if r.IntN(8) == 0 {
				c.Seq[0][k], c.Seq[1][k] = math.Round(r.ExpFloat64()*5000)/100, 1
			}
		}
		s.Customers = append(s.Customers, c)
	}
	for _, impl := range []struct {
		name  string
		write func() error
	}{
		{"parallel", func() error { return s.WriteCSV(discard{}) }},
		{"encoding-csv", func() error { writeCSVReference(s); return nil }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			for b.Loop() {
				if err := impl.write(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
