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

func (a *app) predictCmd() *cobra.Command {
	var model, input, featuresFile, format, cutoff, output string
	var asJSON bool
	var mapping dataset.CSVMapping
	c := &cobra.Command{
		Use:   "predict --model MODEL (--input TRANSACTIONS | --features FEATURES.csv)",
		Short: "Score customers with a model: expected value, purchase probability, value decile and segment",
		Long: `MODEL is an ONNX file, a registry version (v3) or an alias (champion).
From a transaction log, features are computed at --cutoff (default: the last
day in the file) from the purchases up to that day. Output is CSV (default) or
JSON, sorted by expected value, highest first.`,
		Example: "  clvflow predict --model champion --input testdata/demo/cdnow_master.txt.gz --output predictions.csv",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" {
				return errors.New("predict: --model is required (a file, a version like v3, or an alias like champion)")
			}
			if (input == "") == (featuresFile == "") {
				return errors.New("predict: give exactly one of --input (transactions) or --features (a features CSV)")
			}
			set, err := loadPredictFeatures(input, featuresFile, format, cutoff, mapping)
			if err != nil {
				return err
			}
			if err := a.initONNX(); err != nil {
				return err
			}
			version, data, sha, err := a.loadModelBytes(cmd.Context(), model)
			if err != nil {
				return err
			}
			m, err := onnxrt.Load(version, data, sha)
			if err != nil {
				return err
			}
			defer m.Close()
			preds, err := scoring.Score(m, set)
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
			w := a.out
			if output != "" && output != "-" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			if asJSON {
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
			if output != "" && output != "-" {
				fmt.Fprintf(a.errOut, "scored %d customers with %s → %s\n", len(preds), version, output)
			}
			return nil
		},
	}
	fs := c.Flags()
	fs.StringVar(&model, "model", "", "ONNX file, registry version or alias")
	fs.StringVar(&input, "input", "", "transaction log to compute features from")
	fs.StringVar(&featuresFile, "features", "", "features CSV (as written by the pipeline's featurize step)")
	fs.StringVar(&format, "format", "auto", "transaction format: auto, cdnow, online-retail, csv, parquet")
	fs.StringVar(&cutoff, "cutoff", "", "score as of this day YYYY-MM-DD (default: last day in the file)")
	fs.StringVar(&output, "output", "", "output file (default stdout)")
	fs.BoolVar(&asJSON, "json", false, "write JSON instead of CSV")
	fs.StringVar(&mapping.Customer, "customer-col", "", "csv: customer id column")
	fs.StringVar(&mapping.Time, "time-col", "", "csv: timestamp column")
	fs.StringVar(&mapping.Amount, "amount-col", "", "csv: amount column")
	fs.StringVar(&mapping.Quantity, "quantity-col", "", "csv: quantity column")
	fs.StringVar(&mapping.Price, "price-col", "", "csv: unit price column")
	return c
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
