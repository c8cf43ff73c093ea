package dataset

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// messyRetail renders an Online Retail file with the cases that make rows
// depend on their neighbours or on the record splitter: quoted
// descriptions with commas and newlines, blank lines, cancellations that
// reverse earlier purchases, exact duplicates, missing ids and bad numbers.
func messyRetail(rows int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 9))
	var b strings.Builder
	b.WriteString("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n")
	prev := ""
	for i := 0; i < rows; i++ {
		desc := []string{"MUG", `"CUP, RED"`, "\"TWO\nLINES\"", `"SAY ""HI"""`}[r.IntN(4)]
		cust := mixedID(r)
		inv, qty, price := fmt.Sprint(500000+i), 1+r.IntN(5), fmt.Sprintf("%d.%02d", r.IntN(9), r.IntN(100))
		switch r.IntN(40) {
		case 0:
			inv, qty = "C"+inv, -qty
		case 1:
			cust = ""
		case 2:
			price = "x"
		case 3:
			b.WriteString("\n")
		case 4:
			if prev != "" {
				b.WriteString(prev)
				continue
			}
		}
		line := fmt.Sprintf("%s,%d,%s,%d,12/%d/2010 %d:%02d,%s,%s,UK\n", inv, 20000+r.IntN(50), desc, qty, 1+r.IntN(28), 8+r.IntN(10), r.IntN(60), price, cust)
		b.WriteString(line)
		prev = line
	}
	return b.String()
}

// mixedID draws ids of every kind the interner distinguishes: small
// canonical numbers (direct keys), leading zeros, numbers above maxDirect
// and beyond 18 digits, and non-numeric ids.
func mixedID(r *rand.Rand) string {
	n := r.IntN(300)
	switch r.IntN(6) {
	case 0:
		return fmt.Sprintf("%05d", n)
	case 1:
		return fmt.Sprintf("%d", maxDirect+n)
	case 2:
		return fmt.Sprintf("99999999999999999999%d", n)
	case 3:
		return fmt.Sprintf("cust-%d", n)
	default:
		return fmt.Sprintf("%d.0", 12000+n)
	}
}

type readResult struct {
	txs        []Transaction
	report     string
	quarantine string
	err        error
}

func readWith(t *testing.T, input string, opts Options, batches bool) readResult {
	t.Helper()
	var res readResult
	var q bytes.Buffer
	opts.Quarantine = &q
	var rep *Report
	if batches {
		rep, res.err = ReadBatches(strings.NewReader(input), opts, func(b *Batch) error {
			for i := range b.Keys {
				res.txs = append(res.txs, Transaction{Customer: b.Customer(i), Time: b.Times[i], Amount: b.Amounts[i], Line: b.Lines[i]})
			}
			return nil
		})
	} else {
		rep, res.err = Read(strings.NewReader(input), opts, func(tx Transaction) error {
			res.txs = append(res.txs, tx)
			return nil
		})
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	res.report, res.quarantine = string(js), q.String()
	return res
}

func sameResult(t *testing.T, what string, got, want readResult) {
	t.Helper()
	if fmt.Sprint(got.err) != fmt.Sprint(want.err) {
		t.Fatalf("%s: error %v, want %v", what, got.err, want.err)
	}
	if got.report != want.report {
		t.Fatalf("%s: report\n%s\nwant\n%s", what, got.report, want.report)
	}
	if got.quarantine != want.quarantine {
		t.Fatalf("%s: quarantine differs", what)
	}
	if !slices.Equal(got.txs, want.txs) {
		t.Fatalf("%s: %d transactions differ from the %d of one worker", what, len(got.txs), len(want.txs))
	}
}

// TestParallelReadIsDeterministic: any number of workers and any chunk
// size give the transactions, report and quarantine of one worker; run
// it with -race.
func TestParallelReadIsDeterministic(t *testing.T) {
	input := messyRetail(3000, 1)
	rev, err := CollectReversals(strings.NewReader(input), Options{})
	if err != nil || len(rev) == 0 {
		t.Fatalf("reversals %d, %v", len(rev), err)
	}
	for _, base := range []Options{{}, {DropDuplicates: true, DropReversed: true, Reversals: rev}} {
		one := base
		one.workers, one.chunkBytes = 1, 1<<20
		want := readWith(t, input, one, false)
		if want.err != nil || len(want.txs) < 2000 || !strings.Contains(want.quarantine, "cancellation") {
			t.Fatalf("reference read: %d transactions, %v", len(want.txs), want.err)
		}
		for _, w := range []int{2, 3, 8} {
			for _, cb := range []int{1, 100, 4096} {
				o := base
				o.workers, o.chunkBytes = w, cb
				what := fmt.Sprintf("workers %d chunk %d", w, cb)
				sameResult(t, what, readWith(t, input, o, false), want)
				sameResult(t, what+" batches", readWith(t, input, o, true), want)
			}
		}
	}
}

// TestParallelConsumerErrorStopsEarly: an error from the consumer in the
// middle of a many-chunk read is reported at its line and stops the
// reader and the workers (the test would hang or leak otherwise).
func TestParallelConsumerErrorStopsEarly(t *testing.T) {
	input := messyRetail(5000, 2)
	boom := errors.New("boom")
	var seen int
	var last int64
	rep, err := Read(strings.NewReader(input), Options{workers: 4, chunkBytes: 64}, func(tx Transaction) error {
		seen++
		last = tx.Line
		if seen == 1000 {
			return boom
		}
		return nil
	})
	var e *Error
	if !errors.Is(err, ErrConsumer) || !errors.Is(err, boom) || !errors.As(err, &e) || e.Line != last {
		t.Fatalf("err %v (line %v), want consumer error at line %d", err, e, last)
	}
	if rep.Accepted != 1000 {
		t.Fatalf("accepted %d after the failing row, want 1000", rep.Accepted)
	}
	_, err = ReadBatches(strings.NewReader(input), Options{workers: 4, chunkBytes: 64}, func(b *Batch) error { return boom })
	if !errors.Is(err, boom) || !errors.As(err, &e) || e.Line < 2 {
		t.Fatalf("batch err %v", err)
	}
}
