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
	return readFile(path, opts, sink{tx: fn})
}

// ReadFileBatches opens path and calls [ReadBatches], as [ReadFile] does.
func ReadFileBatches(path string, opts Options, fn func(*Batch) error) (*Report, error) {
	return readFile(path, opts, sink{batch: fn})
}

func readFile(path string, opts Options, out sink) (*Report, error) {
	if opts.Name == "" {
		opts.Name = filepath.Base(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: opts.Name, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
	}
	defer f.Close()
	if format, _ := ParseFormat(string(opts.Format)); format == FormatAuto && isParquetFile(f, path) {
		opts.Format = FormatParquet
	}
	if opts.DropReversed && opts.Reversals == nil && opts.Format != FormatParquet {
		rev := Reversals{} // what CollectReversals finds in a format without reversal keys
		if hasReversalKeys(f, opts) {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return nil, &Error{File: opts.Name, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
			}
			if rev, err = CollectReversals(f, opts); err != nil {
				return nil, err
			}
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, &Error{File: opts.Name, Msg: err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
		}
		opts.Reversals = rev
	}
	return read(f, opts, out)
}

// hasReversalKeys reads the start of r (a text log) and reports whether
// its format has the columns of a reversal key (stock code, quantity,
// price); the counting pass of CollectReversals is skipped for those that
// do not (it would find nothing). When in doubt (an unreadable or
// undetectable start) it answers true, and the passes report the error.
func hasReversalKeys(r io.Reader, opts Options) bool {
	if err := opts.validate(); err != nil {
		return true
	}
	text, _, _, err := openStream(r)
	if err != nil {
		return true
	}
	_, _, p, err := openParser(text, opts, &Report{File: opts.Name, Rules: map[Rule]int64{}})
	return err != nil || p.reversalKeys()
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
// [ErrConsumer]. Records are parsed in parallel (see [ReadBatches]); fn is
// called from the calling goroutine.
//
// The returned report is non-nil whenever reading started, also with an
// error. Errors are [*Error] values wrapping [ErrEmpty], [ErrHeaderOnly],
// [ErrUnknownFormat], [ErrBadHeader], [ErrInvalidOptions], [ErrRead],
// [ErrConsumer] or [ErrTooManyRejected]; in the last case fn has already
// seen the accepted rows, which the caller must discard.
func Read(r io.Reader, opts Options, fn func(Transaction) error) (*Report, error) {
	return read(r, opts, sink{tx: fn})
}

// Batch holds consecutive accepted transactions in file order, column by
// column. Keys[i] identifies the customer of row i within one read: equal
// ids have equal keys; keys are ≥ 0 and below 2·max(distinct ids, 2²²),
// so a consumer can keep per-customer state in a key-indexed slice and
// call [Batch.Customer] only for keys it has not seen. An even key 2n is
// always the id that is the canonical decimal number n (no leading zero,
// n < 2²²), in every read; odd keys stand for the other ids, differently
// from read to read. A batch is valid only during the callback that
// receives it.
type Batch struct {
	Keys    []int32
	Times   []time.Time
	Amounts []float64
	Lines   []int64
	names   []string // "" for direct keys
}

// Len returns the number of transactions.
func (b *Batch) Len() int { return len(b.Keys) }

// Customer returns the customer id of row i.
func (b *Batch) Customer(i int) string {
	if s := b.names[i]; s != "" || b.Keys[i]%2 != 0 {
		return s
	}
	return strconv.FormatInt(int64(b.Keys[i]/2), 10)
}

func (b *Batch) reset() {
	b.names, b.Keys, b.Times, b.Amounts, b.Lines = b.names[:0], b.Keys[:0], b.Times[:0], b.Amounts[:0], b.Lines[:0]
}

func (b *Batch) add(pr *parsedRec, line int64) {
	b.names = append(b.names, pr.cust)
	b.Keys = append(b.Keys, pr.key)
	b.Times = append(b.Times, pr.time)
	b.Amounts = append(b.Amounts, pr.amount)
	b.Lines = append(b.Lines, line)
}

// ReadBatches is [Read] with the accepted transactions handed over in
// batches (at most one per chunk of 16 KiB of text, or of 256 records when
// quoted fields span lines) rather than one by one. The report, the
// quarantine and the errors are those of Read; an error from fn is
// reported at the first line of its batch.
//
// Parsing runs on GOMAXPROCS goroutines: one cuts the text into chunks of
// lines or records (quoted fields may span lines), the others parse them,
// intern the customer ids and apply the rules that look at one row alone;
// the calling goroutine applies the stateful rules (reversals, duplicates,
// counters) and calls fn in file order, so the results do not depend on
// the number of cores.
func ReadBatches(r io.Reader, opts Options, fn func(*Batch) error) (*Report, error) {
	return read(r, opts, sink{batch: fn})
}

// sink receives the accepted transactions: one by one (tx), in batches
// (batch) or not at all.
type sink struct {
	tx    func(Transaction) error
	batch func(*Batch) error
}

func readError(file string, line int64, err error) error {
	return &Error{File: file, Line: line, Msg: "read failed: " + err.Error(), Err: fmt.Errorf("%w: %w", ErrRead, err)}
}

func read(r io.Reader, opts Options, out sink) (*Report, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	r, isParquet, err := sniffParquet(r, opts)
	if err != nil {
		return nil, readError(opts.Name, 0, err)
	}
	if isParquet {
		return readParquetFrom(r, opts, out)
	}
	text, counter, isGzip, err := openStream(r)
	if err != nil {
		return nil, readError(opts.Name, 0, err)
	}
	rep := &Report{File: opts.Name, Gzip: isGzip, Rules: map[Rule]int64{},
		MaxRejectedFraction: opts.maxRejected(), DropDuplicates: opts.DropDuplicates}
	defer func() { rep.Bytes = counter.n }()
	rr, rec, p, err := openParser(text, opts, rep)
	if err != nil {
		return rep, err
	}
	in := newInterner()
	v := newValidator(opts, rep.Format, rep, out)
	if !rep.Header {
		var pr parsedRec
		if !rec.tooLong && !rec.openQuote {
			parseRecord(p, in, rec.text, &pr)
		}
		if err := v.process(&rec, &pr); err != nil {
			return rep, err
		}
	}
	if err := v.consume(startPipeline(rr, p, in, opts, &v.rules, v.plain())); err != nil {
		return rep, err
	}
	return rep, v.finish()
}

// openParser detects the format (when opts asks for it), reads up to the
// first non-blank record and makes the row parser. The record is the first
// data row when rep.Header is false.
func openParser(text *bufio.Reader, opts Options, rep *Report) (*recordReader, record, rowParser, error) {
	var rec record
	format, _ := ParseFormat(string(opts.Format))
	if format == FormatAuto {
		head, perr := text.Peek(64 << 10)
		if perr != nil && perr != io.EOF && perr != bufio.ErrBufferFull {
			return nil, rec, nil, readError(rep.File, 0, perr)
		}
		var err error
		if format, err = detectText(head, rep.File); err != nil {
			return nil, rec, nil, err
		}
	}
	rep.Format = format
	rr := &recordReader{br: text, maxBytes: opts.maxLine(), quoteAware: format != FormatCDNOW, delim: ','}
	if err := firstRecord(rr, &rec, rep); err != nil {
		return nil, rec, nil, err
	}
	p, header, err := newParser(format, rec.text, opts, rep.File)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Line = rec.line
		}
		return nil, rec, nil, err
	}
	rep.Header = header
	if d := p.csvDelim(); d != 0 {
		rr.delim = d
	}
	return rr, rec, p, nil
}

// firstRecord reads the first non-blank record, counting blank lines.
func firstRecord(rr *recordReader, rec *record, rep *Report) error {
	for {
		if err := rr.next(rec); err != nil {
			if err == io.EOF {
				return &Error{File: rep.File, Err: ErrEmpty}
			}
			return readError(rep.File, rr.line, err)
		}
		if !rec.blank {
			return nil
		}
		rep.BlankLines++
	}
}

// newParser makes the row parser of format from the first record.
func newParser(format Format, first []byte, opts Options, file string) (rowParser, bool, error) {
	switch format {
	case FormatCDNOW:
		p, header := newCDNOW(first)
		return p, header, nil
	case FormatOnlineRetail:
		p, err := newOnlineRetail(first, file)
		return p, true, err
	default:
		p, err := newGenericCSV(first, opts.CSV, file)
		return p, true, err
	}
}

// rowRules are the rules that look at one parsed row alone, so that the
// parse workers apply them too.
type rowRules struct {
	acceptZero       bool
	minTime, maxTime time.Time
}

// apply sets the rule and message of a row that breaks a rule (when no
// earlier rule has).
func (r *rowRules) apply(row *parsedRow) {
	switch {
	case row.rule != "":
	case row.amount < 0 || (row.amount == 0 && !r.acceptZero):
		row.rule, row.msg = RuleNonPositiveAmount, fmt.Sprintf("amount %s ≤ 0", strconv.FormatFloat(row.amount, 'g', -1, 64))
	case !r.inRange(row.time):
		row.rule, row.msg = RuleOutOfRange, fmt.Sprintf("time %s outside [%s, %s]", row.time.Format(time.RFC3339),
			fmtBound(r.minTime), fmtBound(r.maxTime))
	}
}

// inRange reports whether t is within the accepted time range.
func (r *rowRules) inRange(t time.Time) bool {
	return (r.minTime.IsZero() || !t.Before(r.minTime)) && (r.maxTime.IsZero() || !t.After(r.maxTime))
}

// validator applies the row rules and keeps the report's counters.
type validator struct {
	opts        Options
	file        string
	rep         *Report
	out         sink
	batch       Batch
	rules       rowRules
	maxExamples int
	examples    map[Rule]int
	first       map[Rule]*Error
	seen        []uint64 // bit per key: the customer has an accepted row
	names       []string // per direct key n/2: shared id (Read only)
	customers   int
	dedupe      map[uint64]struct{}
	remaining   Reversals // cancellations not yet matched (DropReversed)
	maxDedupe   int
	quarantine  *csv.Writer
	qerr        error
	sum, comp   float64 // Neumaier summation
	lineBuf     []byte
}

func newValidator(opts Options, format Format, rep *Report, out sink) *validator {
	v := &validator{opts: opts, file: opts.Name, rep: rep, out: out,
		rules:       rowRules{acceptZero: opts.acceptZero(format), minTime: opts.MinTime, maxTime: opts.MaxTime},
		maxExamples: opts.maxExamples(), examples: map[Rule]int{}, first: map[Rule]*Error{}}
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

// consume processes the pipeline's chunks in file order.
func (v *validator) consume(pl *pipeline) error {
	for c := range pl.ordered {
		<-c.done
		if err := v.chunk(c); err != nil {
			pl.stop()
			return err
		}
		pl.recycle(c)
	}
	pl.wait()
	return v.flush() // the first record's, when no chunk followed it
}

// plain reports whether every rule is a row rule (see rowRules) and the
// consumer takes batches: then a chunk whose records all pass them goes
// to the consumer as the batch its worker made (see cleanChunk).
func (v *validator) plain() bool {
	return v.out.batch != nil && v.remaining == nil && v.dedupe == nil && v.opts.collect == nil
}

// chunk processes the records of one parsed chunk and flushes the batch.
func (v *validator) chunk(c *chunk) error {
	if c.clean {
		return v.cleanChunk(c)
	}
	for i := range c.recs {
		rec := c.record(i)
		if rec.blank {
			v.rep.BlankLines++
			continue
		}
		if err := v.process(&rec, &c.rows[i]); err != nil {
			return err
		}
	}
	if err := v.flush(); err != nil {
		return err
	}
	if c.err != nil {
		return readError(v.file, c.errLine, c.err)
	}
	return nil
}

// cleanChunk is chunk for a chunk whose every record is blank or passes
// the row rules, with the batch of its worker: the counters as count
// would keep them row by row (the sum in file order).
func (v *validator) cleanChunk(c *chunk) error {
	if err := v.flush(); err != nil { // the first record's (read before the workers)
		return err
	}
	b, rep := &c.batch, v.rep
	rep.BlankLines += c.blanks
	if n := b.Len(); n > 0 {
		rep.RowsRead += int64(n)
		v.widenSpan(c.minTime, c.maxTime)
		rep.Accepted += int64(n)
		v.countKeys(b.Keys)
		v.addAmounts(b.Amounts)
		if err := v.consumeBatch(b); err != nil {
			return err
		}
	}
	if c.err != nil {
		return readError(v.file, c.errLine, c.err)
	}
	return nil
}

// countKeys marks the customers of keys as seen and counts the new ones.
func (v *validator) countKeys(keys []int32) {
	for _, k := range keys {
		w, bit := int(k>>6), uint64(1)<<(k&63)
		if w >= len(v.seen) {
			v.seen = append(v.seen, make([]uint64, w+1-len(v.seen)+len(v.seen)/2+8)...)
		}
		if v.seen[w]&bit == 0 {
			v.seen[w] |= bit
			v.customers++
		}
	}
}

// addAmounts adds amounts to the total in order (Neumaier summation).
func (v *validator) addAmounts(amounts []float64) {
	sum, comp := v.sum, v.comp
	for _, a := range amounts {
		t := sum + a
		if math.Abs(sum) >= math.Abs(a) {
			comp += (sum - t) + a
		} else {
			comp += (a - t) + sum
		}
		sum = t
	}
	v.sum, v.comp = sum, comp
}

// consumeBatch hands b to the batch consumer.
func (v *validator) consumeBatch(b *Batch) error {
	if err := v.out.batch(b); err != nil {
		return &Error{File: v.file, Line: b.Lines[0], Msg: "consumer: " + err.Error(), Err: fmt.Errorf("%w: %w", ErrConsumer, err)}
	}
	return nil
}

// flush hands the pending batch to the batch consumer.
func (v *validator) flush() error {
	if v.out.batch == nil || v.batch.Len() == 0 {
		return nil
	}
	err := v.consumeBatch(&v.batch)
	v.batch.reset()
	return err
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

// process applies the rules to one parsed record and hands an accepted
// transaction to the consumer.
func (v *validator) process(rec *record, pr *parsedRec) error {
	v.rep.RowsRead++
	switch {
	case rec.tooLong:
		return v.reject(rec, RuleLineTooLong, fmt.Sprintf("record longer than %d bytes", v.opts.maxLine()))
	case rec.openQuote:
		return v.reject(rec, RuleBadQuote, "quoted field not closed before end of input")
	}
	row := &pr.parsedRow
	if row.rule == RuleCancellation && v.opts.collect != nil && row.line != "" {
		v.opts.collect[row.line]++
	}
	if rule, msg := v.check(rec, row); rule != "" {
		return v.reject(rec, rule, msg)
	}
	v.count(pr)
	return v.emit(rec, pr)
}

// check applies the rules after parsing; it returns the failed rule.
func (v *validator) check(rec *record, row *parsedRow) (Rule, string) {
	v.rules.apply(row) // for rows no worker checked (the first record, Parquet rows); a no-op on the others
	if row.rule != "" {
		return row.rule, row.msg
	}
	if v.remaining != nil && row.line != "" && v.remaining[row.line] > 0 {
		v.remaining[row.line]--
		return RuleReversed, "purchase reversed by a cancellation (same customer, stock code, unit price and quantity)"
	}
	if v.dedupe != nil {
		h := fnv64(rec.text)
		if _, dup := v.dedupe[h]; dup {
			return RuleDuplicate, "exact duplicate of an earlier row"
		}
		if len(v.dedupe) < v.maxDedupe {
			v.dedupe[h] = struct{}{}
		} else {
			v.rep.DedupeSaturated = true
		}
	}
	return "", ""
}

// name returns the shared string of the row's customer.
func (v *validator) name(pr *parsedRec) string {
	if pr.cust != "" {
		return pr.cust
	}
	n := int(pr.key / 2)
	if n >= len(v.names) {
		v.names = append(v.names, make([]string, n+1-len(v.names)+len(v.names)/2)...)
	}
	if v.names[n] == "" {
		v.names[n] = strconv.Itoa(n)
	}
	return v.names[n]
}

// count updates the report with an accepted row.
func (v *validator) count(pr *parsedRec) {
	v.countKeys([]int32{pr.key})
	v.widenSpan(pr.time, pr.time)
	v.rep.Accepted++
	v.addAmounts([]float64{pr.amount})
}

// widenSpan extends the report's time span to [lo, hi], the span of rows
// about to be accepted; the first accepted rows set it.
func (v *validator) widenSpan(lo, hi time.Time) {
	if v.rep.Accepted == 0 || lo.Before(v.rep.MinTime) {
		v.rep.MinTime = lo
	}
	if v.rep.Accepted == 0 || hi.After(v.rep.MaxTime) {
		v.rep.MaxTime = hi
	}
}

// emit hands an accepted row to the consumer.
func (v *validator) emit(rec *record, pr *parsedRec) error {
	switch {
	case v.out.batch != nil:
		v.batch.add(pr, rec.line)
	case v.out.tx != nil:
		if err := v.out.tx(Transaction{Customer: v.name(pr), Time: pr.time, Amount: pr.amount, Line: rec.line}); err != nil {
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
	rep.Customers = v.customers
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
