package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/scoring"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/features"
	"github.com/clvflow/clvflow/onnxrt"
	"github.com/spf13/cobra"
)

// loadModelBytes resolves --model: an ONNX file on disk, or a registry
// version or alias (bytes verified against the registered sha256).
func (a *app) loadModelBytes(ctx context.Context, model string) (version string, data []byte, sha string, err error) {
	if st, statErr := os.Stat(model); statErr == nil && !st.IsDir() {
		data, err = os.ReadFile(model)
		if err != nil {
			return "", nil, "", err
		}
		sha = onnxrt.SHA256Hex(data)
		md, err := onnxrt.ReadMetadata(data)
		if err != nil {
			return "", nil, "", fmt.Errorf("%s: %w", model, err)
		}
		version = md.Version
		if version == "" {
			version = "sha256-" + sha[:12]
		}
		return version, data, sha, nil
	}
	reg, err := a.openRegistry(ctx)
	if err != nil {
		return "", nil, "", err
	}
	v, err := reg.Lookup(ctx, model)
	if err != nil {
		return "", nil, "", fmt.Errorf("--model %q is neither a file nor a registry version or alias: %w", model, err)
	}
	st, _, err := a.openStore(ctx)
	if err != nil {
		return "", nil, "", err
	}
	data, err = st.GetBytes(ctx, artifacts.Ref{Bucket: v.ONNX.Bucket, Key: v.ONNX.Key, VersionID: v.ONNX.VersionID, SHA256: v.ONNX.SHA256, Size: v.ONNX.Size})
	if err != nil {
		return "", nil, "", err
	}
	return v.ID, data, v.ONNX.SHA256, nil
}

// scoringSegments are the segments of config scoring.*.
func scoringSegments(cfg config.Config) (scoring.Segments, error) {
	tiers, err := scoring.ParseTiers(cfg.Scoring.Segments)
	if err != nil {
		return scoring.Segments{}, fmt.Errorf("scoring.segments: %w", err)
	}
	return scoring.Segments{Tiers: tiers, DormantBelow: cfg.Scoring.DormantBelow}, nil
}

// predictFlags are the flags of clvflow predict.
type predictFlags struct {
	model, input, featuresFile, format, cutoff, output string
	asJSON                                             bool
	mapping                                            dataset.CSVMapping
}

func (a *app) predictCmd() *cobra.Command {
	var f predictFlags
	c := &cobra.Command{
		Use:   "predict --model MODEL (--input TRANSACTIONS | --features FEATURES.csv)",
		Short: "Score customers with a model: expected value, purchase probability, value decile and segment",
		Long: `MODEL is an ONNX file, a registry version (v3) or an alias (champion).
From a transaction log, features are computed at --cutoff (default: the last
day in the file) from the purchases up to that day. Output is CSV (default) or
JSON, sorted by expected value, highest first.`,
		Example: "  clvflow predict --model champion --input testdata/demo/cdnow_master.txt.gz --output predictions.csv",
		Args:    cobra.NoArgs,
		RunE:    func(cmd *cobra.Command, _ []string) error { return a.runPredict(cmd.Context(), &f) },
	}
	fs := c.Flags()
	fs.StringVar(&f.model, "model", "", "ONNX file, registry version or alias")
	fs.StringVar(&f.input, "input", "", "transaction log to compute features from")
	fs.StringVar(&f.featuresFile, "features", "", "features CSV (as written by the pipeline's featurize step)")
	fs.StringVar(&f.format, "format", "auto", "transaction format: auto, cdnow, online-retail, csv, parquet")
	fs.StringVar(&f.cutoff, "cutoff", "", "score as of this day YYYY-MM-DD (default: last day in the file)")
	fs.StringVar(&f.output, "output", "", "output file (default stdout)")
	fs.BoolVar(&f.asJSON, "json", false, "write JSON instead of CSV")
	fs.StringVar(&f.mapping.Customer, "customer-col", "", "csv: customer id column")
	fs.StringVar(&f.mapping.Time, "time-col", "", "csv: timestamp column")
	fs.StringVar(&f.mapping.Amount, "amount-col", "", "csv: amount column")
	fs.StringVar(&f.mapping.Quantity, "quantity-col", "", "csv: quantity column")
	fs.StringVar(&f.mapping.Price, "price-col", "", "csv: unit price column")
	return c
}

// runPredict scores the customers and writes the ranked predictions.
func (a *app) runPredict(ctx context.Context, f *predictFlags) error {
	if f.model == "" {
		return errors.New("predict: --model is required (a file, a version like v3, or an alias like champion)")
	}
	if (f.input == "") == (f.featuresFile == "") {
		return errors.New("predict: give exactly one of --input (transactions) or --features (a features CSV)")
	}
	set, err := loadPredictFeatures(f.input, f.featuresFile, f.format, f.cutoff, f.mapping)
	if err != nil {
		return err
	}
	version, preds, err := a.scoreWith(ctx, f.model, set)
	if err != nil {
		return err
	}
	cfg, err := a.config()
	if err != nil {
		return err
	}
	segs, err := scoringSegments(cfg)
	if err != nil {
		return err
	}
	scoring.Rank(preds, segs)
	return a.writePredictions(f, version, preds)
}

// scoreWith loads model (file, version or alias) into ONNX Runtime and
// scores set.
func (a *app) scoreWith(ctx context.Context, model string, set *features.Set) (string, []scoring.Prediction, error) {
	if err := a.initONNX(); err != nil {
		return "", nil, err
	}
	version, data, sha, err := a.loadModelBytes(ctx, model)
	if err != nil {
		return "", nil, err
	}
	m, err := onnxrt.Load(version, data, sha)
	if err != nil {
		return "", nil, err
	}
	defer m.Close()
	preds, err := scoring.Score(m, set)
	return version, preds, err
}

// writePredictions writes preds as CSV or JSON to --output (default stdout).
func (a *app) writePredictions(f *predictFlags, version string, preds []scoring.Prediction) error {
	toFile := f.output != "" && f.output != "-"
	w := a.out
	var file *os.File
	if toFile {
		var err error
		if file, err = os.Create(f.output); err != nil {
			return err
		}
		defer file.Close()
		w = file
	}
	bw := bufio.NewWriter(w)
	var err error
	if f.asJSON {
		err = writeJSON(bw, map[string]any{"model_version": version, "customers": len(preds), "predictions": preds})
	} else {
		err = scoring.WriteCSV(bw, preds)
	}
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if toFile {
		if err := file.Close(); err != nil {
			return fmt.Errorf("predict: writing %s: %w", f.output, err)
		}
		fmt.Fprintf(a.errOut, "scored %d customers with %s → %s\n", len(preds), version, f.output)
	}
	return nil
}

func loadPredictFeatures(input, featuresFile, format, cutoff string, mapping dataset.CSVMapping) (*features.Set, error) {
	if featuresFile != "" {
		f, err := os.Open(featuresFile)
		if err != nil {
			return nil, fmt.Errorf("--features: %w", err)
		}
		defer f.Close()
		return features.ReadCSV(f)
	}
	fmtv, err := dataset.ParseFormat(format)
	if err != nil {
		return nil, err
	}
	opts := dataset.Options{Format: fmtv, CSV: mapping}
	var cut time.Time
	if cutoff != "" {
		cut, err = time.Parse("2006-01-02", cutoff)
		if err != nil {
			return nil, fmt.Errorf("--cutoff %q is not YYYY-MM-DD", cutoff)
		}
	} else {
		// One streaming pass to find the last day, then the features pass.
		rep, err := dataset.ReadFile(input, opts, func(dataset.Transaction) error { return nil })
		if err != nil {
			return nil, err
		}
		cut = rep.MaxTime
	}
	b := features.NewBuilder(features.Split{Cutoff: cut, HorizonDays: 0})
	if _, err := b.ReadFile(input, opts); err != nil {
		return nil, err
	}
	return b.Build()
}
