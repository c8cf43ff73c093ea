package activities

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
)

// Prefixes of derived dataset artifacts (content-addressed below each).
const (
	CleanPrefix      = "clean"
	QuarantinePrefix = "quarantine"
	ReportPrefix     = "reports"
	FeaturesPrefix   = "features"
)

// ValidateDataset reads the raw dataset once, applies the validation rules
// and writes three artifacts: the clean dataset (canonical CSV: customer,
// timestamp, amount), the quarantined rows (line, rule, raw) and the report
// (counts per rule with the first examples). Rows go to local temporary
// files first, so nothing is uploaded unless the whole dataset passed: a
// dataset with too many rejected rows is a BadData error naming the dominant
// rule, and leaves nothing behind.
func (a *Activities) ValidateDataset(ctx context.Context, in ValidateInput) (ValidateResult, error) {
	var res ValidateResult
	format, err := dataset.ParseFormat(in.Format)
	if err != nil {
		return res, nonRetryable(ErrTypeBadInput, err)
	}
	opts := dataset.Options{Format: format, Name: filepath.Base(in.Dataset.Key), MaxRejectedFraction: dataset.RejectedShare(in.MaxRejectedFraction), DropReversed: in.DropReversed}
	if in.CSV != nil {
		opts.CSV = *in.CSV
	}
	dir, err := os.MkdirTemp("", "clvflow-validate-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	open, err := a.rawOpener(ctx, in.Dataset, format, dir)
	if err != nil {
		return res, err
	}
	if opts.DropReversed {
		if opts.Reversals, err = collectReversals(open, opts); err != nil {
			return res, err
		}
	}
	rep, err := a.cleanToFiles(ctx, open, opts, dir)
	if err != nil {
		return res, err
	}
	if rep.Accepted == 0 {
		return res, nonRetryablef(ErrTypeBadData, "%s: no valid transaction rows (%d rows read)", opts.Name, rep.RowsRead)
	}
	if res, err = a.putValidated(ctx, in.Dataset, dir, rep); err != nil {
		return res, err
	}
	a.log().Info("dataset validated", "rows", rep.RowsRead, "accepted", rep.Accepted, "rejected", rep.Rejected, "rules", slices.Sorted(maps.Keys(res.RuleCounts)))
	return res, nil
}

// rawOpener returns how to open the raw dataset for each pass: from the
// store, or for a Parquet log from one copy in dir (the dataset reader
// reads Parquet in place from a file, where from a stream it would first
// copy it to a temporary file, once per pass).
func (a *Activities) rawOpener(ctx context.Context, ref artifacts.Ref, format dataset.Format, dir string) (func() (io.ReadCloser, error), error) {
	fromStore := func() (io.ReadCloser, error) {
		rc, err := a.Store.Get(ctx, ref)
		if err != nil {
			return nil, Classify(err)
		}
		return rc, nil
	}
	if format != dataset.FormatParquet {
		return fromStore, nil
	}
	path := filepath.Join(dir, "raw.parquet")
	rc, err := fromStore()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return nil, Classify(err)
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return func() (io.ReadCloser, error) { return os.Open(path) }, nil
}

// collectReversals is the first pass of a dataset whose returns are dropped:
// the cancellations that reverse earlier purchases.
func collectReversals(open func() (io.ReadCloser, error), opts dataset.Options) (dataset.Reversals, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	rev, err := dataset.CollectReversals(rc, opts)
	if err != nil {
		return nil, ClassifyData(err)
	}
	return rev, nil
}

// cleanToFiles reads the raw dataset once and writes the clean rows
// (canonical CSV) and the quarantined rows to files in dir.
func (a *Activities) cleanToFiles(ctx context.Context, open func() (io.ReadCloser, error), opts dataset.Options, dir string) (*dataset.Report, error) {
	cleanF, err := os.Create(filepath.Join(dir, "clean.csv"))
	if err != nil {
		return nil, err
	}
	defer cleanF.Close()
	quarF, err := os.Create(filepath.Join(dir, "quarantine.csv"))
	if err != nil {
		return nil, err
	}
	defer quarF.Close()
	qbuf := bufio.NewWriterSize(quarF, 256<<10)
	opts.Quarantine = qbuf
	cw := dataset.NewCanonicalWriter(cleanF)
	raw, err := open()
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	stop := heartbeatEvery(ctx, 10*time.Second, func() any { return map[string]int64{"clean_rows": cw.Rows()} })
	rep, err := dataset.ReadBatches(raw, opts, cw.WriteBatch)
	stop()
	if err != nil {
		return nil, ClassifyData(err)
	}
	if err := cw.Flush(); err != nil {
		return nil, err
	}
	return rep, qbuf.Flush()
}

// putValidated stores the clean dataset, the quarantine file and the report
// (only once the whole dataset passed).
func (a *Activities) putValidated(ctx context.Context, raw artifacts.Ref, dir string, rep *dataset.Report) (ValidateResult, error) {
	clean, err := a.Store.PutFile(ctx, a.Buckets.Datasets, CleanPrefix, filepath.Join(dir, "clean.csv"), artifacts.PutOptions{ContentType: "text/csv", Filename: "clean.csv"})
	if err != nil {
		return ValidateResult{}, Classify(err)
	}
	quar, err := a.Store.PutFile(ctx, a.Buckets.Datasets, QuarantinePrefix, filepath.Join(dir, "quarantine.csv"), artifacts.PutOptions{ContentType: "text/csv", Filename: "quarantine.csv"})
	if err != nil {
		return ValidateResult{}, Classify(err)
	}
	reportRef, err := a.Store.PutJSON(ctx, a.Buckets.Datasets, fmt.Sprintf("%s/validation-%s.json", ReportPrefix, raw.SHA256), rep)
	if err != nil {
		return ValidateResult{}, Classify(err)
	}
	rules := make(map[string]int64, len(rep.Rules))
	for r, n := range rep.Rules {
		rules[string(r)] = n
	}
	return ValidateResult{
		Clean: clean, Quarantine: quar, Report: reportRef,
		Rows: rep.RowsRead, Accepted: rep.Accepted, Rejected: rep.Rejected, Customers: int64(rep.Customers), RuleCounts: rules,
		MinTime: rep.MinTime.UTC().Format(time.RFC3339), MaxTime: rep.MaxTime.UTC().Format(time.RFC3339),
	}, nil
}
