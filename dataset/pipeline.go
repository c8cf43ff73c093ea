package dataset

import (
	"bytes"
	"hash/maphash"
	"io"
	"runtime"
	"sync"
	"time"
)

// Parallel parsing. One goroutine cuts the text into chunks and hands them
// to GOMAXPROCS workers, which parse them and intern the customer ids. A
// chunk is either a block of whole lines taken from the read buffer as
// they are (the common case: no quote where quotes matter, so a line is a
// record; the worker splits it) or records split by the sequential record
// reader (quoted fields may span lines). The workers also apply the rules
// that look at one row alone (rowRules). The calling goroutine applies
// the stateful rules (reversals, duplicates, counters, quarantine,
// examples) and calls the consumer, chunk after chunk in file order, so
// the results do not depend on the number of workers. When every rule is
// a row rule and the consumer takes batches, a chunk whose rows all pass
// goes to the consumer as the batch its worker made, and generic CSV
// blocks of the common shape are parsed straight into it (fastcsv.go).

// Chunk limits: a chunk is full at chunkBytes of text or chunkRecords
// records (a block: chunkBytes). With 8·workers+16 chunks queued for the
// consumer (fewer stall the pipeline whenever the scheduler runs one side
// a while), the chunks in memory hold about (9·workers+18)·(16 KiB of
// text + 700 rows of batch) ≈ 2.5 MiB on two cores, whatever the size of
// the input.
const (
	defaultChunkBytes = 16 << 10
	chunkRecords      = 256
)

// chunkRec locates one record in chunk.text.
type chunkRec struct {
	start, end int
	line       int64
	tooLong    bool
	openQuote  bool
	blank      bool
}

// parsedRec is a parsed record with its interned customer.
type parsedRec struct {
	parsedRow
	cust string // shared customer id; "" for a direct key (see interner.key)
	key  int32  // its key in the interner
}

// chunk is a run of consecutive records. The reader fills text, recs and
// err, or only text for a block (whole lines, the first at firstLine,
// split into recs by the worker); a worker fills rows and closes done.
type chunk struct {
	text      []byte
	recs      []chunkRec
	rows      []parsedRec
	err       error // read error after the last record, at line errLine
	errLine   int64
	block     bool
	firstLine int64
	// clean: every record is blank or passes the row rules; then batch
	// holds the accepted rows (see validator.cleanChunk).
	clean            bool
	batch            Batch
	blanks           int64
	minTime, maxTime time.Time
	done             chan struct{}
}

func (c *chunk) record(i int) record {
	m := &c.recs[i]
	return record{text: c.text[m.start:m.end:m.end], line: m.line, tooLong: m.tooLong, openQuote: m.openQuote, blank: m.blank}
}

// internShards is the number of interner shards (a power of two).
const internShards = 1 << 6

// interner maps customer ids to keys, from any goroutine. Ids that are
// canonical decimal numbers below maxDirect ("17850", not "017850") are
// their own key (2n): no lookup at all. The others get an odd key from a
// sharded map (2·(index in shard·64 + shard) + 1) and one shared string;
// large numbers are looked up by value, sparing string hashing.
type interner struct {
	seed   maphash.Seed
	shards [internShards]internShard
}

type internShard struct {
	mu  sync.Mutex
	num map[uint64]int32 // canonical numeric id → index in ids
	str map[string]int32 // other id → index in ids
	ids []string
	_   [64]byte // keep shards on separate cache lines
}

func newInterner() *interner {
	in := &interner{seed: maphash.MakeSeed()}
	for i := range in.shards {
		in.shards[i].num = map[uint64]int32{}
		in.shards[i].str = map[string]int32{}
	}
	return in
}

// canonicalNumber returns the value of b when b is a decimal number of 1 to
// 18 digits without a leading zero (or "0").
func canonicalNumber(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 18 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// maxDirect bounds the numeric ids whose key is derived from their value
// (2n) instead of the shards, so key-indexed tables stay below 2·maxDirect.
const maxDirect = 1 << 22

// key returns the key of b and, for ids looked up in the shards, their
// shared string. A canonical number n < maxDirect has key 2n and no string
// here (see [interner.name]); other ids have odd keys.
func (in *interner) key(b []byte) (string, int32) {
	n, isNum := canonicalNumber(b)
	if isNum && n < maxDirect {
		return "", int32(2 * n)
	}
	var sh int
	if isNum {
		sh = int((n * 0x9e3779b97f4a7c15) >> (64 - 6))
	} else {
		sh = int(maphash.Bytes(in.seed, b) & (internShards - 1))
	}
	s := &in.shards[sh]
	s.mu.Lock()
	var i int32
	var ok bool
	if isNum {
		i, ok = s.num[n]
	} else {
		i, ok = s.str[string(b)]
	}
	if !ok {
		i = s.add(b, n, isNum)
	}
	str := s.ids[i]
	s.mu.Unlock()
	return str, 2*(i*internShards+int32(sh)) + 1
}

func (s *internShard) add(b []byte, n uint64, isNum bool) int32 {
	i := int32(len(s.ids))
	str := string(b)
	if isNum {
		s.num[n] = i
	} else {
		s.str[str] = i
	}
	s.ids = append(s.ids, str)
	return i
}

// pipeline runs the reader and the workers for one Read.
type pipeline struct {
	rr         *recordReader
	in         *interner
	chunkBytes int
	ordered    chan *chunk // chunks in file order, to the consumer
	work       chan *chunk // chunks to parse, to the workers
	free       chan *chunk // parsed and consumed chunks, for reuse
	quit       chan struct{}
	wg         sync.WaitGroup
	rules      *rowRules // applied by the workers
	batches    bool      // workers make the batches of clean chunks
	fast       *fastCSV  // with batches: the fast path of blocks, if any
}

// startPipeline starts the reader and the workers. Every worker parses
// with its own clone of p, unless p is stateful (then one worker uses p).
// The workers apply rules; with batches they also make the batch of every
// clean chunk.
func startPipeline(rr *recordReader, p rowParser, in *interner, opts Options, rules *rowRules, batches bool) *pipeline {
	workers := opts.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	if !p.cloneable() {
		workers = 1
	}
	inflight := 8*workers + 16 // deep enough that the workers and the consumer rarely wait for each other
	pl := &pipeline{rr: rr, in: in, chunkBytes: opts.chunkBytes, ordered: make(chan *chunk, inflight),
		work: make(chan *chunk, inflight), free: make(chan *chunk, inflight+workers+2), quit: make(chan struct{}),
		rules: rules, batches: batches}
	if batches && fastRecords {
		pl.fast = fastCSVOf(p)
	}
	if pl.chunkBytes <= 0 {
		pl.chunkBytes = defaultChunkBytes
	}
	pl.wg.Add(1 + workers)
	go pl.read()
	for w := 0; w < workers; w++ {
		wp := p
		if workers > 1 {
			wp = p.clone()
		}
		go pl.parse(wp)
	}
	return pl
}

// stop ends the reader and the workers early and waits for them.
func (pl *pipeline) stop() {
	close(pl.quit)
	for range pl.ordered {
	}
	pl.wg.Wait()
}

// wait waits for the goroutines after the consumer has seen every chunk.
func (pl *pipeline) wait() { pl.wg.Wait() }

// recycle hands a consumed chunk back to the reader.
func (pl *pipeline) recycle(c *chunk) {
	select {
	case pl.free <- c:
	default:
	}
}

func (pl *pipeline) newChunk() *chunk {
	select {
	case c := <-pl.free:
		c.text, c.recs, c.err, c.errLine, c.block, c.clean = c.text[:0], c.recs[:0], nil, 0, false, false
		c.done = make(chan struct{})
		return c
	default:
		return &chunk{text: make([]byte, 0, pl.chunkBytes+pl.chunkBytes/4), done: make(chan struct{})}
	}
}

// read splits the text into chunks until EOF, a read error or quit.
func (pl *pipeline) read() {
	defer pl.wg.Done()
	defer close(pl.work)
	defer close(pl.ordered)
	var rec record
	for {
		c := pl.newChunk()
		more := pl.fill(c, &rec)
		if len(c.recs) == 0 && !c.block && c.err == nil {
			return
		}
		select {
		case pl.ordered <- c:
		case <-pl.quit:
			return
		}
		select {
		case pl.work <- c:
		case <-pl.quit:
			return
		}
		if !more {
			return
		}
	}
}

// fill appends records to c until it is full (true) or the input ends
// (false; c.err is set after a read error). Whole lines already buffered
// go as one block, split into records by a worker.
func (pl *pipeline) fill(c *chunk, rec *record) bool {
	if fastRecords {
		switch pl.fillBlock(c) {
		case blockTaken:
			return true
		case blockNoLine: // one record through rr.next refills the buffer
			return pl.fillRecords(c, rec, 1)
		}
	}
	return pl.fillRecords(c, rec, chunkRecords)
}

// fillRecords appends up to maxRecs records to c, as fill does.
func (pl *pipeline) fillRecords(c *chunk, rec *record, maxRecs int) bool {
	for len(c.text) < pl.chunkBytes && len(c.recs) < maxRecs {
		if fastRecords && pl.fillBuffered(c) {
			continue
		}
		if err := pl.rr.next(rec); err != nil {
			if err != io.EOF {
				c.err, c.errLine = err, pl.rr.line
			}
			return false
		}
		start := len(c.text)
		c.text = append(c.text, rec.text...)
		c.recs = append(c.recs, chunkRec{start: start, end: len(c.text), line: rec.line,
			tooLong: rec.tooLong, openQuote: rec.openQuote, blank: rec.blank})
	}
	return true
}

// fastRecords enables fillBlock and fillBuffered (tests compare with
// rr.next alone).
var fastRecords = true

// Outcomes of fillBlock.
const (
	blockTaken  = iota // c holds a block
	blockNoLine        // no whole line is buffered
	blockQuoted        // the first buffered line has a quote where quotes matter
)

// newline is the record separator of a block.
var newline = []byte{'\n'}

// fillBlock makes c a block of the whole lines at the head of the reader's
// buffer, up to chunkBytes and before the first line with a quote where
// quotes matter: copied once, split into records by a worker, as rr.next
// would have split them. It reads nothing, so read errors stay with
// rr.next.
func (pl *pipeline) fillBlock(c *chunk) int {
	rr := pl.rr
	buf, _ := rr.br.Peek(min(rr.br.Buffered(), pl.chunkBytes))
	end := bytes.LastIndexByte(buf, '\n') + 1
	if end == 0 {
		return blockNoLine
	}
	if rr.quoteAware {
		if q := bytes.IndexByte(buf[:end], '"'); q >= 0 {
			if end = bytes.LastIndexByte(buf[:q], '\n') + 1; end == 0 {
				return blockQuoted
			}
		}
	}
	c.text = append(c.text, buf[:end]...)
	c.block, c.firstLine = true, rr.line+1
	rr.line += int64(bytes.Count(c.text, newline))
	_, _ = rr.br.Discard(end)
	return blockTaken
}

// splitBlock splits the text of a block into its records.
func (pl *pipeline) splitBlock(c *chunk) {
	text, maxBytes, line := c.text, pl.rr.maxBytes, c.firstLine
	for start := 0; start < len(text); line++ {
		end, next := lineAt(text, start)
		m := chunkRec{start: start, end: end, line: line}
		if end-start > maxBytes {
			m.end, m.tooLong = start+maxBytes, true
		} else {
			m.blank = isBlank(text[start:end])
		}
		c.recs = append(c.recs, m)
		start = next
	}
}

// lineAt returns the end of the line of a block that starts at start
// (before its "\n" or "\r\n", as rr.next cuts it) and the start of the
// next line.
func lineAt(text []byte, start int) (end, next int) {
	next = start + bytes.IndexByte(text[start:], '\n') + 1
	end = next - 1
	if end > start && text[end-1] == '\r' {
		end--
	}
	return end, next
}

// fillBuffered appends to c the next record when it is a whole line in
// the reader's buffer, short enough and without a quote where quotes
// matter: copied once, straight from the buffer, as rr.next would have
// split it. Anything else (no whole line buffered, a long line, a quote,
// the end of the input) is left to rr.next (false).
func (pl *pipeline) fillBuffered(c *chunk) bool {
	rr := pl.rr
	buf, _ := rr.br.Peek(rr.br.Buffered())
	i := bytes.IndexByte(buf, '\n')
	if i < 0 {
		return false
	}
	line := buf[:i]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	if len(line) > rr.maxBytes || (rr.quoteAware && bytes.IndexByte(line, '"') >= 0) {
		return false
	}
	start := len(c.text)
	c.text = append(c.text, line...)
	rr.line++
	c.recs = append(c.recs, chunkRec{start: start, end: len(c.text), line: rr.line, blank: isBlank(line)})
	_, _ = rr.br.Discard(i + 1)
	return true
}

// parse parses the chunks it receives until the reader is done.
func (pl *pipeline) parse(p rowParser) {
	defer pl.wg.Done()
	for c := range pl.work {
		if c.block && pl.fast != nil && pl.fastBlock(c) {
			close(c.done)
			continue
		}
		if c.block {
			pl.splitBlock(c)
		}
		if cap(c.rows) < len(c.recs) {
			c.rows = make([]parsedRec, len(c.recs), len(c.recs)+len(c.recs)/4)
		}
		c.rows = c.rows[:len(c.recs)]
		for i := range c.recs {
			m := &c.recs[i]
			if m.blank || m.tooLong || m.openQuote {
				continue
			}
			parseRecord(p, pl.in, c.text[m.start:m.end], &c.rows[i])
			pl.rules.apply(&c.rows[i].parsedRow)
		}
		c.clean = pl.batches && c.makeBatch()
		close(c.done)
	}
}

// makeBatch fills the batch, blanks and time range of a chunk whose every
// record is blank or passes the row rules (true).
func (c *chunk) makeBatch() bool {
	b := &c.batch
	b.reset()
	c.blanks = 0
	for i := range c.recs {
		m, pr := &c.recs[i], &c.rows[i]
		switch {
		case m.blank:
			c.blanks++
			continue
		case m.tooLong || m.openQuote || pr.rule != "":
			return false
		}
		if b.Len() == 0 || pr.time.Before(c.minTime) {
			c.minTime = pr.time
		}
		if b.Len() == 0 || pr.time.After(c.maxTime) {
			c.maxTime = pr.time
		}
		b.add(pr, m.line)
	}
	return true
}

// parseRecord parses one non-blank record and interns its customer.
func parseRecord(p rowParser, in *interner, text []byte, out *parsedRec) {
	*out = parsedRec{}
	p.parse(text, &out.parsedRow)
	if out.rule == "" {
		out.cust, out.key = in.key(out.customer)
	}
	out.customer = nil // may point into the parser's scratch
}
