// Package dataset reads customer transaction logs, validates and cleans them
// row by row, and streams the accepted transactions to a consumer.
//
// Four input formats are understood; the text formats plain or
// gzip-compressed (detected by the gzip magic bytes, not by the file name):
//
//   - [FormatCDNOW]: the whitespace-separated CDNOW logs, either 4 columns
//     (customer, date YYYYMMDD, number of CDs, dollars; cdnow_master.txt) or 5
//     columns (master id, sample id, date, CDs, dollars; cdnow_sample.txt, where
//     the customer is the sample id), with or without a header line.
//   - [FormatOnlineRetail]: the UCI Online Retail CSV in both of its header
//     variants; the amount is Quantity × UnitPrice.
//   - [FormatCSV]: a generic CSV with a header and a [CSVMapping] from column
//     names to customer, time and amount (or quantity × price), with optional
//     invoice column for cancellations.
//   - [FormatParquet]: a Parquet file (magic bytes "PAR1"; [ReadFile] also
//     takes a file named *.parquet as Parquet) with the columns of a
//     [CSVMapping], default names as for CSV. See "Parquet" below.
//
// [Detect] guesses the format from the first bytes of a file; [Read] does so
// when [Options.Format] is "" or "auto".
//
// # Streaming and memory
//
// [Read] never holds the whole file: it hands each accepted [Transaction] to
// a callback and keeps only per-customer state (a key per customer id, for
// the report and to share one string per customer; ids that are decimal
// numbers below 2²² are their own key, the others are kept in a sharded
// map, so the key tables are bounded by max(2²³, twice the number of
// customers) entries). The optional exact
// duplicate check ([Options.DropDuplicates]) additionally keeps one 64-bit
// FNV-1a hash per distinct accepted row — 8 bytes of key, about 10–20 bytes
// with map overhead — and stops adding hashes after
// [Options.MaxDedupeEntries] entries (default 16,777,216, roughly 300 MiB),
// which the report flags as DedupeSaturated. Two different rows collide with
// probability about n²/2⁶⁵ (3·10⁻⁶ for ten million rows).
//
// Parsing runs in parallel: one goroutine splits the text into records (a
// quoted field may span lines, so this stays sequential), GOMAXPROCS
// workers parse chunks of 256 records and intern the customer ids, and the
// calling goroutine applies the stateful rules and calls the consumer in
// file order. A few chunks are in flight at a time, so the buffers do not
// grow with the input, and the results are the same on any number of
// cores. [ReadBatches] hands the accepted rows over column by column with
// an integer key per customer, for consumers that keep per-customer state.
//
// # Parquet
//
// Mapped columns must be flat (not nested, not repeated). The customer is a
// string or an integer; the time a DATE, a TIMESTAMP (milli-, micro- or
// nanoseconds), a legacy INT96 timestamp, or an integer, float or string
// read by the CSV time rules ([CSVMapping].TimeLayout, else the automatic
// layouts: an 8-digit integer is YYYYMMDD, others Unix seconds); amounts,
// quantities and prices are integers, floats, doubles, DECIMALs or decimal
// strings. A DECIMAL whose unscaled value is below 2⁵³ (scale ≤ 22) becomes
// the quotient unscaled/10^scale, which is the float64 that parsing its
// decimal text gives, so a log reads bit for bit as its CSV rendering. A
// null is rejected like an empty CSV field (missing_customer, bad_time,
// bad_number); NaN and ±Inf are bad_number. Another type, or a missing
// column, fails the read with an [ErrBadHeader] error that names the file
// and the column and never a value.
//
// The file is opened through its footer (it needs an io.ReaderAt): [ReadFile]
// and [Read] of a reader that is an io.ReaderAt and io.Seeker (*os.File,
// *bytes.Reader) read it in place; [Read] of any other stream first copies
// it to a temporary file, removed afterwards. It is then read row group by
// row group and, within one, each mapped column page by page, 4096 rows at
// a time, so memory holds the footer, one page per column and a few chunks,
// never a whole row group. One goroutine decodes and converts; the calling
// goroutine applies the rules, in file order, as for text. The "line" of a
// Parquet row in errors, examples and the quarantine is its 1-based row
// number, and its raw text is the CSV record of its mapped values (customer,
// time, amount or quantity and price, invoice); it is rendered only for
// rows that are rejected or may be, and for all rows with
// [Options.DropDuplicates], which compares those records. The report's
// Bytes is the file size and Header is true (the schema is the header).
// [Options.DropReversed] needs the Online Retail text format.
//
// # Validation rules
//
// Every rejected row counts against exactly one [Rule], the first one that
// fails, checked in the order of [Rules]. The [Report] has the counts per
// rule and the first few examples of each ([Error] values with file, line,
// rule and raw text); rejected rows are also written, when
// [Options.Quarantine] is set, as CSV rows "line,rule,raw". If the rejected
// fraction exceeds [Options.MaxRejectedFraction] (default 0.5), Read returns
// an [*Error] wrapping [ErrTooManyRejected] that names the dominant rule.
// Because rows are streamed, the consumer has already seen the accepted rows
// by then and must discard what it built when Read fails.
//
// The Online Retail data legitimately loses about 27% of its rows (rows
// without a customer id, cancellations, non-positive quantities or prices),
// leaving the 397,884 rows the CLV literature uses. Exact duplicate rows are
// kept by default because the published CDNOW and Online Retail summaries
// count them; set [Options.DropDuplicates] to reject them.
package dataset
