package dataset

import (
	"errors"
	"strconv"
	"strings"
)

// Rule is the stable identifier of a validation rule. Rule ids appear in
// reports, quarantine files and error messages; they never change meaning.
type Rule string

// Validation rules, in the order in which they are checked for each row.
const (
	// RuleLineTooLong: a record longer than Options.MaxLineBytes.
	RuleLineTooLong Rule = "line_too_long"
	// RuleBadQuote: a quoted CSV field that is never closed.
	RuleBadQuote Rule = "bad_quote"
	// RuleColumnCount: a row whose number of columns differs from the header
	// (or, for CDNOW, from the 4- or 5-column layout of the file).
	RuleColumnCount Rule = "column_count"
	// RuleMissingCustomer: an empty customer id.
	RuleMissingCustomer Rule = "missing_customer"
	// RuleCancellation: an invoice number starting with "C" (a cancellation).
	RuleCancellation Rule = "cancellation"
	// RuleBadTime: a timestamp that does not parse or is not a real date.
	RuleBadTime Rule = "bad_time"
	// RuleBadNumber: an amount, quantity or price that is not a finite
	// decimal number (also NaN, Inf, 1e400, thousands separators).
	RuleBadNumber Rule = "bad_number"
	// RuleNonPositiveQuantity: quantity ≤ 0.
	RuleNonPositiveQuantity Rule = "non_positive_quantity"
	// RuleNonPositivePrice: unit price ≤ 0.
	RuleNonPositivePrice Rule = "non_positive_price"
	// RuleNonPositiveAmount: amount < 0, or amount = 0 unless zero amounts
	// are accepted (see ZeroAmountPolicy).
	RuleNonPositiveAmount Rule = "non_positive_amount"
	// RuleOutOfRange: a timestamp outside [Options.MinTime, Options.MaxTime].
	RuleOutOfRange Rule = "out_of_range"
	// RuleDuplicate: a row byte-for-byte equal to an earlier accepted row
	// (only with Options.DropDuplicates).
	RuleDuplicate Rule = "duplicate"
	// RuleReversed: a purchase that a cancellation in the same file reverses
	// exactly (same customer, stock code, unit price and quantity); only
	// with Options.DropReversed (Online Retail). Each cancellation removes
	// one purchase.
	RuleReversed Rule = "reversed"
)

// Rules lists every row rule in checking order; reports and the dominant-rule
// choice use this order, never map order.
var Rules = []Rule{
	RuleLineTooLong, RuleBadQuote, RuleColumnCount, RuleMissingCustomer,
	RuleCancellation, RuleBadTime, RuleBadNumber, RuleNonPositiveQuantity,
	RuleNonPositivePrice, RuleNonPositiveAmount, RuleOutOfRange, RuleReversed, RuleDuplicate,
}

// Sentinel errors; every error returned by this package that is not an I/O
// or consumer error is an [*Error] wrapping one of them.
var (
	// ErrEmpty: the input has no bytes or only blank lines.
	ErrEmpty = errors.New("empty input")
	// ErrHeaderOnly: the input has a header and no data rows.
	ErrHeaderOnly = errors.New("header only, no data rows")
	// ErrUnknownFormat: the format could not be detected or is not known.
	ErrUnknownFormat = errors.New("unknown format")
	// ErrBadHeader: the header lacks a required column or cannot be read.
	ErrBadHeader = errors.New("bad header")
	// ErrTooManyRejected: the rejected fraction exceeds the configured
	// maximum, or no row at all was accepted.
	ErrTooManyRejected = errors.New("too many rejected rows")
	// ErrInvalidOptions: the Options are inconsistent.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrRead: the input could not be read (I/O or gzip error).
	ErrRead = errors.New("read error")
	// ErrConsumer: the transaction callback returned an error.
	ErrConsumer = errors.New("consumer error")
)

// Error describes one problem at one place of one file. It is used both for
// errors returned by [Read] and for the rejected-row examples of a [Report].
// Its text reads like
//
//	orders.csv:17: unparsable time "2011-13-45" (rule bad_time)
type Error struct {
	File string `json:"file,omitempty"`
	// Line is the 1-based physical line where the record starts; 0 when the
	// error is about the whole file.
	Line int64  `json:"line,omitempty"`
	Rule Rule   `json:"rule,omitempty"`
	Msg  string `json:"msg"`
	// Raw is the offending record (truncated to 256 bytes), if any.
	Raw string `json:"raw,omitempty"`
	// Err is the sentinel (or underlying error) this error wraps.
	Err error `json:"-"`
}

// Error implements error.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
	} else {
		b.WriteString("input")
	}
	if e.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(e.Line, 10))
	}
	b.WriteString(": ")
	switch {
	case e.Msg != "":
		b.WriteString(e.Msg)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	default:
		b.WriteString("error")
	}
	if e.Rule != "" {
		b.WriteString(" (rule ")
		b.WriteString(string(e.Rule))
		b.WriteByte(')')
	}
	return b.String()
}

// Unwrap returns the wrapped sentinel or cause.
func (e *Error) Unwrap() error { return e.Err }

// RuleOf returns the rule named by err if it is (or wraps) an [*Error] with
// a rule, and "" otherwise.
func RuleOf(err error) Rule {
	var e *Error
	if errors.As(err, &e) {
		return e.Rule
	}
	return ""
}

const maxRawExample = 256

func truncRaw(raw []byte) string {
	if len(raw) > maxRawExample {
		return string(raw[:maxRawExample]) + "…"
	}
	return string(raw)
}
