package dataset

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Format names an input format.
type Format string

// Known formats.
const (
	FormatAuto         Format = "auto"
	FormatCDNOW        Format = "cdnow"
	FormatOnlineRetail Format = "online-retail"
	FormatCSV          Format = "csv"
	FormatParquet      Format = "parquet"
)

// ParseFormat parses a format name as given on a command line; "" means
// [FormatAuto].
func ParseFormat(s string) (Format, error) {
	switch f := Format(strings.ToLower(strings.TrimSpace(s))); f {
	case "", FormatAuto:
		return FormatAuto, nil
	case FormatCDNOW, FormatOnlineRetail, FormatCSV, FormatParquet:
		return f, nil
	case "onlineretail", "online_retail", "uci":
		return FormatOnlineRetail, nil
	default:
		return "", &Error{Msg: fmt.Sprintf("unknown format %q (want auto, cdnow, online-retail, csv or parquet)", s), Err: ErrUnknownFormat}
	}
}

// ZeroAmountPolicy says whether rows whose amount is exactly 0 are accepted.
// Negative amounts are always rejected.
type ZeroAmountPolicy string

// Zero-amount policies.
const (
	// ZeroAmountDefault accepts zero amounts for CDNOW (the published CDNOW
	// summaries count the 8 zero-dollar purchases of the sample, 80 of the
	// master file) and rejects them for the other formats.
	ZeroAmountDefault ZeroAmountPolicy = ""
	// ZeroAmountAccept accepts zero amounts.
	ZeroAmountAccept ZeroAmountPolicy = "accept"
	// ZeroAmountReject rejects zero amounts (rule non_positive_amount).
	ZeroAmountReject ZeroAmountPolicy = "reject"
)

// CSVMapping maps the columns of a generic CSV file (FormatCSV). Column names
// are matched case-insensitively, ignoring spaces, '_' and '-' ("Customer ID"
// matches "customer_id"). Columns left empty are guessed from common names
// (customer_id, customer, date, timestamp, invoice_date, amount, revenue,
// quantity, unit_price, invoice, ...). Either Amount or both Quantity and
// Price must resolve.
type CSVMapping struct {
	Customer string `json:"customer,omitempty"`
	Time     string `json:"time,omitempty"`
	Amount   string `json:"amount,omitempty"`
	Quantity string `json:"quantity,omitempty"`
	Price    string `json:"price,omitempty"`
	// Invoice, when set or guessed (invoice, invoice_no), marks rows whose
	// value starts with "C" as cancellations.
	Invoice string `json:"invoice,omitempty"`
	// TimeLayout is a Go time layout, "unix" for Unix seconds, or "" to try
	// RFC3339, 2006-01-02, 2006-01-02 15:04:05, 2006-01-02 15:04, 20060102,
	// 1/2/2006 [15:04[:05]] (month first) and Unix seconds (an integer or
	// decimal that is not 8 digits long). Times without a zone are UTC.
	TimeLayout string `json:"time_layout,omitempty"`
	// Delimiter is the field separator; 0 picks whichever of , ; tab | splits
	// the header into the most fields.
	Delimiter rune `json:"delimiter,omitempty"`
}

// Reversals counts, per order line (customer, stock code, unit price,
// |quantity|), the cancellations in a file; see [CollectReversals].
type Reversals map[string]int

// Options control [Read]. The zero value reads any detected format with the
// default limits.
type Options struct {
	// DropReversed rejects purchases that a cancellation in the same file
	// reverses exactly (rule reversed): returned orders are not spend.
	// Online Retail only (it needs the StockCode column). [ReadFile] makes
	// the extra pass that finds the cancellations itself; [Read] needs them
	// in Reversals.
	DropReversed bool
	// Reversals are the cancellations found by [CollectReversals]; with
	// DropReversed each one rejects one matching purchase.
	Reversals Reversals

	collect Reversals // set by CollectReversals: counts cancellations
	// workers and chunkBytes override the parallelism and the chunk size
	// (0: GOMAXPROCS, 512 KiB); tests set them.
	workers, chunkBytes int
	// Format is the input format; "" or "auto" detects it.
	Format Format
	// Name is the file name used in errors and the report.
	Name string
	// CSV maps the columns of a FormatCSV input.
	CSV CSVMapping
	// MinTime and MaxTime, when non-zero, bound the accepted timestamps
	// (inclusive); rows outside are rejected with rule out_of_range.
	MinTime, MaxTime time.Time
	// MaxRejectedFraction is the largest tolerated rejected/rows ratio: 0
	// selects DefaultMaxRejectedFraction, a negative value tolerates no
	// rejected row, 1 tolerates any number (but at least one row must be
	// accepted).
	MaxRejectedFraction float64
	// ZeroAmounts says whether amount = 0 rows are accepted.
	ZeroAmounts ZeroAmountPolicy
	// DropDuplicates rejects rows that are byte-for-byte equal to an earlier
	// accepted row (rule duplicate). Off by default: the reference CLV
	// procedures keep such rows.
	DropDuplicates bool
	// MaxDedupeEntries caps the duplicate hash set (0 = 16,777,216).
	MaxDedupeEntries int
	// Quarantine, if non-nil, receives the rejected rows as CSV with the
	// header "line,rule,raw".
	Quarantine io.Writer
	// MaxExamples is the number of example rows kept per rule in the report
	// (0 = 5, negative = none).
	MaxExamples int
	// MaxLineBytes caps one record (0 = 1 MiB); longer records are rejected
	// with rule line_too_long without being held in memory.
	MaxLineBytes int
}

// Defaults used when the corresponding Options field is zero.
const (
	DefaultMaxRejectedFraction = 0.5
	DefaultMaxExamples         = 5
	DefaultMaxLineBytes        = 1 << 20
	DefaultMaxDedupeEntries    = 1 << 24
)

// DefaultMaxUncompressedBytes is the default cap on the decompressed size
// of one transaction log that clvflow ingests (config key
// ingest.max_uncompressed_bytes). 16 GiB is 200 to 400 million rows of
// CDNOW or Online Retail style logs (40 to 85 bytes a row), far more than
// any public CLV data set, while every later stage streams the whole log
// again under a one-hour activity timeout, so a much larger file would be
// accepted only to time out downstream. Deflate expands at most about
// 1032:1, so a gzip bomb reaches the cap only after some 16 MiB of input.
const DefaultMaxUncompressedBytes int64 = 16 << 30

// RejectedShare converts a configured share of rows validation may reject
// (in [0,1]; 0 tolerates no rejected row, as config key
// training.max_rejected_fraction says) to [Options.MaxRejectedFraction],
// whose 0 selects the default.
func RejectedShare(share float64) float64 {
	if share == 0 {
		return -1
	}
	return share
}

func (o Options) maxRejected() float64 {
	switch {
	case o.MaxRejectedFraction == 0:
		return DefaultMaxRejectedFraction
	case o.MaxRejectedFraction < 0:
		return 0
	default:
		return o.MaxRejectedFraction
	}
}

func (o Options) maxExamples() int {
	switch {
	case o.MaxExamples == 0:
		return DefaultMaxExamples
	case o.MaxExamples < 0:
		return 0
	default:
		return o.MaxExamples
	}
}

func (o Options) maxLine() int {
	if o.MaxLineBytes <= 0 {
		return DefaultMaxLineBytes
	}
	return o.MaxLineBytes
}

func (o Options) maxDedupe() int {
	if o.MaxDedupeEntries <= 0 {
		return DefaultMaxDedupeEntries
	}
	return o.MaxDedupeEntries
}

func (o Options) acceptZero(f Format) bool {
	switch o.ZeroAmounts {
	case ZeroAmountAccept:
		return true
	case ZeroAmountReject:
		return false
	default:
		return f == FormatCDNOW
	}
}

func (o Options) validate() error {
	bad := func(format string, a ...any) error {
		return &Error{File: o.Name, Msg: fmt.Sprintf(format, a...), Err: ErrInvalidOptions}
	}
	if _, err := ParseFormat(string(o.Format)); err != nil {
		return bad("unknown format %q (want auto, cdnow, online-retail, csv or parquet)", o.Format)
	}
	if o.MaxRejectedFraction > 1 || o.MaxRejectedFraction != o.MaxRejectedFraction {
		return bad("max rejected fraction %v not in [0,1]", o.MaxRejectedFraction)
	}
	if !o.MinTime.IsZero() && !o.MaxTime.IsZero() && o.MaxTime.Before(o.MinTime) {
		return bad("time range [%s, %s] is empty", o.MinTime.Format(time.RFC3339), o.MaxTime.Format(time.RFC3339))
	}
	switch o.ZeroAmounts {
	case ZeroAmountDefault, ZeroAmountAccept, ZeroAmountReject:
	default:
		return bad("unknown zero-amount policy %q (want accept or reject)", o.ZeroAmounts)
	}
	switch d := o.CSV.Delimiter; {
	case d == 0, d == ',', d == ';', d == '\t', d == '|', d == ' ':
	default:
		return bad("unsupported CSV delimiter %q (want , ; tab | or space)", d)
	}
	return nil
}
