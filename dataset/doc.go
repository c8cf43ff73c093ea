// Package dataset reads customer transaction logs, validates and cleans them
// row by row, and streams the accepted transactions to a consumer.
//
// Three input formats are understood, plain or gzip-compressed (detected by
// the gzip magic bytes, not by the file name):
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
