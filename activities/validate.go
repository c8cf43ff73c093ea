package activities

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
	opts := dataset.Options{Format: format, Name: filepath.Base(in.Dataset.Key), MaxRejectedFraction: in.MaxRejectedFraction, DropReversed: in.DropReversed}
	if in.CSV != nil {
		opts.CSV = *in.CSV
	}

	dir, err := os.MkdirTemp("", "clvflow-validate-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	cleanF, err := os.Create(filepath.Join(dir, "clean.csv"))
	if err != nil {
		return res, err
	}
	defer cleanF.Close()
	quarF, err := os.Create(filepath.Join(dir, "quarantine.csv"))
	if err != nil {
		return res, err
	}
	defer quarF.Close()
	qbuf := bufio.NewWriterSize(quarF, 256<<10)
	opts.Quarantine = qbuf
	cw := dataset.NewCanonicalWriter(cleanF)

	if opts.DropReversed {
		// First pass: the cancellations that reverse earlier purchases.
		rc, err := a.Store.Get(ctx, in.Dataset)
		if err != nil {
			return res, storeError(err)
		}
		rev, err := dataset.CollectReversals(rc, opts)
		rc.Close()
		if err != nil {
			if artifacts.KindOf(err) != artifacts.Other || errors.Is(err, dataset.ErrRead) {
				return res, storeError(err)
			}
			return res, nonRetryable(ErrTypeBadData, err)
		}
		opts.Reversals = rev
	}
	raw, err := a.Store.Get(ctx, in.Dataset)
	if err != nil {
		return res, storeError(err)
	}
	defer raw.Close()
	stop := heartbeatEvery(ctx, 10*time.Second, func() any { return map[string]int64{"clean_rows": cw.Rows()} })
	rep, err := dataset.Read(raw, opts, cw.Write)
	stop()
	if err != nil {
		if artifacts.KindOf(err) != artifacts.Other || errors.Is(err, dataset.ErrRead) {
			return res, storeError(err)
		}
		return res, nonRetryable(ErrTypeBadData, err)
	}
	if err := cw.Flush(); err != nil {
		return res, err
	}
	if err := qbuf.Flush(); err != nil {
		return res, err
	}
	if rep.Accepted == 0 {
		return res, nonRetryablef(ErrTypeBadData, "%s: no valid transaction rows (%d rows read)", opts.Name, rep.RowsRead)
	}
	clean, err := a.Store.PutFile(ctx, a.Buckets.Datasets, CleanPrefix, cleanF.Name(), artifacts.PutOptions{ContentType: "text/csv", Filename: "clean.csv"})
	if err != nil {
		return res, storeError(err)
	}
	quar, err := a.Store.PutFile(ctx, a.Buckets.Datasets, QuarantinePrefix, quarF.Name(), artifacts.PutOptions{ContentType: "text/csv", Filename: "quarantine.csv"})
	if err != nil {
		return res, storeError(err)
	}
	reportRef, err := a.Store.PutJSON(ctx, a.Buckets.Datasets, fmt.Sprintf("%s/validation-%s.json", ReportPrefix, in.Dataset.SHA256), rep)
	if err != nil {
		return res, storeError(err)
	}
	rules := make(map[string]int64, len(rep.Rules))
	keys := make([]string, 0, len(rep.Rules))
	for r, n := range rep.Rules {
		rules[string(r)] = n
		keys = append(keys, string(r))
	}
	sort.Strings(keys)
	a.log().Info("dataset validated", "rows", rep.RowsRead, "accepted", rep.Accepted, "rejected", rep.Rejected, "rules", keys)
	return ValidateResult{
		Clean: clean, Quarantine: quar, Report: reportRef,
		Rows: rep.RowsRead, Accepted: rep.Accepted, Rejected: rep.Rejected, Customers: int64(rep.Customers), RuleCounts: rules,
		MinTime: rep.MinTime.UTC().Format(time.RFC3339), MaxTime: rep.MaxTime.UTC().Format(time.RFC3339),
	}, nil
}
