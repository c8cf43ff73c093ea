package dataset

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ReadFile opens path and calls [Read]; Options.Name defaults to the base
// name of path.
func ReadFile(path string, opts Options, fn func(Transaction) error) (*Report, error) {
	if opts.Name == "" {
		opts.Name = filepath.Base(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: opts.Name, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
	}
	defer f.Close()
	if opts.DropReversed && opts.Reversals == nil {
		rev, err := CollectReversals(f, opts)
		if err != nil {
			return nil, err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, &Error{File: opts.Name, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
		}
		opts.Reversals = rev
	}
	return Read(f, opts, fn)
}

// CollectReversals reads r once and counts its cancellation rows per order
// line, for a second [Read] with Options.DropReversed. Memory grows with the
// number of distinct cancelled order lines. Formats without a stock code
// column give an empty result.
func CollectReversals(r io.Reader, opts Options) (Reversals, error) {
	rev := Reversals{}
	opts.Quarantine, opts.Reversals, opts.DropReversed = nil, nil, false
	opts.MaxRejectedFraction = 1 // counting pass: any reject rate is fine here
	opts.collect = rev
	if _, err := Read(r, opts, nil); err != nil && !errors.Is(err, ErrTooManyRejected) {
		return nil, err
	}
	return rev, nil
}

// Read streams r (plain or gzip) through the parser of opts.Format and the
// validation rules, calls fn for every accepted transaction in file order,
// and writes rejected rows to opts.Quarantine. fn may be nil (validation
// only); an error from fn stops the read and is returned wrapped in
// [ErrConsumer].
//
// The returned report is non-nil whenever reading started, also with an
// error. Errors are [*Error] values wrapping [ErrEmpty], [ErrHeaderOnly],
// [ErrUnknownFormat], [ErrBadHeader], [ErrInvalidOptions], [ErrRead],
// [ErrConsumer] or [ErrTooManyRejected]; in the last case fn has already
// seen the accepted rows, which the caller must discard.
func Read(r io.Reader, opts Options, fn func(Transaction) error) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	format, _ := ParseFormat(string(opts.Format))
	file := opts.Name
	readErr := func(line int64, err error) error {
		return &Error{File: file, Line: line, Msg: "read failed: " + err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
	}
	text, counter, isGzip, err := openStream(r)
	if err != nil {
		return nil, readErr(0, err)
	}
	rep := &Report{File: file, Gzip: isGzip, Rules: map[Rule]int64{},
		MaxRejectedFraction: opts.maxRejected(), DropDuplicates: opts.DropDuplicates}
	defer func() { rep.Bytes = counter.n }()

	if format == FormatAuto {
		head, perr := text.Peek(64 << 10)
		if perr != nil && perr != io.EOF && perr != bufio.ErrBufferFull {
			return rep, readErr(0, perr)
		}
		if format, err = detectText(head, file); err != nil {
			return rep, err
		}
	}
	rep.Format = format

	rr := &recordReader{br: text, maxBytes: opts.maxLine(), quoteAware: format != FormatCDNOW, delim: ','}
	var rec record
	for {
		if err := rr.next(&rec); err != nil {
			if err == io.EOF {
				return rep, &Error{File: file, Err: ErrEmpty}
			}
			return rep, readErr(rr.line, err)
		}
		if !rec.blank {
			break
		}
		rep.BlankLines++
	}

	var p rowParser
	header := true
	switch format {
	case FormatCDNOW:
		p, header = newCDNOW(rec.text)
	case FormatOnlineRetail:
		p, err = newOnlineRetail(rec.text, file)
	default:
		p, err = newGenericCSV(rec.text, opts.CSV, file)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Line = rec.line
		}
		return rep, err
	}
	rep.Header = header
	if d := p.csvDelim(); d != 0 {
		rr.delim = d
	}

	v := newValidator(opts, format, rep, fn)
	if !header {
		if err := v.process(&rec, p); err != nil {
			return rep, err
		}
	}
	for {
		if err := rr.next(&rec); err != nil {
			if err == io.EOF {
				break
			}
			return rep, readErr(rr.line, err)
		}
		if rec.blank {
			rep.BlankLines++
			continue
		}
		if err := v.process(&rec, p); err != nil {
			return rep, err
		}
	}
	return rep, v.finish()
}

// validator applies the row rules and keeps the report's counters.
type validator struct {
	opts        Options
	file        string
	rep         *Report
	fn          func(Transaction) error
	acceptZero  bool
	maxExamples int
	examples    map[Rule]int
	first       map[Rule]*Error
	customers   map[string]string
	dedupe      map[uint64]struct{}
	remaining   Reversals // cancellations not yet matched (DropReversed)
	maxDedupe   int
	quarantine  *csv.Writer
	qerr        error
	sum, comp   float64 // Neumaier summation
	row         parsedRow
	lineBuf     []byte
}

func newValidator(opts Options, format Format, rep *Report, fn func(Transaction) error) *validator {
	v := &validator{opts: opts, file: opts.Name, rep: rep, fn: fn, acceptZero: opts.acceptZero(format),
		maxExamples: opts.maxExamples(), examples: map[Rule]int{}, first: map[Rule]*Error{},
		customers: map[string]string{}}
	if opts.DropReversed && len(opts.Reversals) > 0 {
		v.remaining = make(Reversals, len(opts.Reversals))
		for k, n := range opts.Reversals {
			v.remaining[k] = n
		}
	}
	if opts.DropDuplicates {
		v.dedupe = map[uint64]struct{}{}
		v.maxDedupe = opts.maxDedupe()
	}
	if opts.Quarantine != nil {
		v.quarantine = csv.NewWriter(opts.Quarantine)
		v.qerr = v.quarantine.Write([]string{"line", "rule", "raw"})
	}
	return v
}

func (v *validator) reject(rec *record, rule Rule, msg string) error {
	v.rep.Rejected++
	v.rep.Rules[rule]++
	if _, ok := v.first[rule]; !ok {
		v.first[rule] = &Error{File: v.file, Line: rec.line, Rule: rule, Msg: msg, Raw: truncRaw(rec.text)}
	}
	if v.examples[rule] < v.maxExamples {
		v.examples[rule]++
		v.rep.Examples = append(v.rep.Examples, Error{File: v.file, Line: rec.line, Rule: rule, Msg: msg, Raw: truncRaw(rec.text)})
	}
	if v.quarantine != nil && v.qerr == nil {
		v.lineBuf = strconv.AppendInt(v.lineBuf[:0], rec.line, 10)
		v.qerr = v.quarantine.Write([]string{string(v.lineBuf), string(rule), string(rec.text)})
		if v.qerr != nil {
			return &Error{File: v.file, Line: rec.line, Msg: "writing quarantine: " + v.qerr.Error(), Err: fmt.Errorf("%w: %w", ErrConsumer, v.qerr)}
		}
	}
	return nil
}

func (v *validator) process(rec *record, p rowParser) error {
	v.rep.RowsRead++
	switch {
	case rec.tooLong:
		return v.reject(rec, RuleLineTooLong, fmt.Sprintf("record longer than %d bytes", v.opts.maxLine()))
	case rec.openQuote:
		return v.reject(rec, RuleBadQuote, "quoted field not closed before end of input")
	}
	row := &v.row
	*row = parsedRow{}
	p.parse(rec.text, row)
	if row.rule == RuleCancellation && v.opts.collect != nil && row.line != "" {
		v.opts.collect[row.line]++
	}
	if row.rule != "" {
		return v.reject(rec, row.rule, row.msg)
	}
	if row.amount < 0 || (row.amount == 0 && !v.acceptZero) {
		return v.reject(rec, RuleNonPositiveAmount, fmt.Sprintf("amount %s ≤ 0", strconv.FormatFloat(row.amount, 'g', -1, 64)))
	}
	if (!v.opts.MinTime.IsZero() && row.time.Before(v.opts.MinTime)) || (!v.opts.MaxTime.IsZero() && row.time.After(v.opts.MaxTime)) {
		return v.reject(rec, RuleOutOfRange, fmt.Sprintf("time %s outside [%s, %s]", row.time.Format(time.RFC3339),
			fmtBound(v.opts.MinTime), fmtBound(v.opts.MaxTime)))
	}
	if v.remaining != nil && row.line != "" && v.remaining[row.line] > 0 {
		v.remaining[row.line]--
		return v.reject(rec, RuleReversed, "purchase reversed by a cancellation (same customer, stock code, unit price and quantity)")
	}
	if v.dedupe != nil {
		h := fnv64(rec.text)
		if _, dup := v.dedupe[h]; dup {
			return v.reject(rec, RuleDuplicate, "exact duplicate of an earlier row")
		}
		if len(v.dedupe) < v.maxDedupe {
			v.dedupe[h] = struct{}{}
		} else {
			v.rep.DedupeSaturated = true
		}
	}
	id, ok := v.customers[string(row.customer)]
	if !ok {
		id = string(row.customer)
		v.customers[id] = id
	}
	v.rep.Accepted++
	if v.rep.Accepted == 1 || row.time.Before(v.rep.MinTime) {
		v.rep.MinTime = row.time
	}
	if v.rep.Accepted == 1 || row.time.After(v.rep.MaxTime) {
		v.rep.MaxTime = row.time
	}
	t := v.sum + row.amount
	if math.Abs(v.sum) >= math.Abs(row.amount) {
		v.comp += (v.sum - t) + row.amount
	} else {
		v.comp += (row.amount - t) + v.sum
	}
	v.sum = t
	if v.fn != nil {
		if err := v.fn(Transaction{Customer: id, Time: row.time, Amount: row.amount, Line: rec.line}); err != nil {
			return &Error{File: v.file, Line: rec.line, Msg: "consumer: " + err.Error(), Err: fmt.Errorf("%w: %w", ErrConsumer, err)}
		}
	}
	return nil
}

func fmtBound(t time.Time) string {
	if t.IsZero() {
		return "-∞"
	}
	return t.Format(time.RFC3339)
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func (v *validator) finish() error {
	rep := v.rep
	rep.Customers = len(v.customers)
	rep.TotalAmount = v.sum + v.comp
	if v.quarantine != nil {
		v.quarantine.Flush()
		if err := v.quarantine.Error(); err != nil {
			return &Error{File: v.file, Msg: "writing quarantine: " + err.Error(), Err: fmt.Errorf("%w: %w", ErrConsumer, err)}
		}
	}
	if rep.RowsRead == 0 {
		if rep.Header {
			return &Error{File: v.file, Err: ErrHeaderOnly}
		}
		return &Error{File: v.file, Err: ErrEmpty}
	}
	rep.RejectedFraction = float64(rep.Rejected) / float64(rep.RowsRead)
	if rep.Accepted > 0 && rep.RejectedFraction <= rep.MaxRejectedFraction {
		return nil
	}
	rule, n := rep.DominantRule()
	msg := fmt.Sprintf("rejected %d of %d rows (%.1f%%, max %.1f%%); dominant rule %s: %d rows",
		rep.Rejected, rep.RowsRead, 100*rep.RejectedFraction, 100*rep.MaxRejectedFraction, rule, n)
	if rep.Accepted == 0 {
		msg = fmt.Sprintf("no row accepted (%d rejected); dominant rule %s: %d rows", rep.Rejected, rule, n)
	}
	if e := v.first[rule]; e != nil {
		msg += fmt.Sprintf(", first at line %d: %s", e.Line, e.Msg)
	}
	return &Error{File: v.file, Rule: rule, Msg: msg, Err: ErrTooManyRejected}
}
