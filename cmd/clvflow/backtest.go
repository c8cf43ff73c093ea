package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clvflow/clvflow/backtest"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/metrics"
	"github.com/clvflow/clvflow/modelkind"
	"github.com/clvflow/clvflow/nn"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// backtestFlags are the flags of `clvflow backtest`.
type backtestFlags struct {
	input, format, cutoff string
	maxEpochs             int
	repeats, resamples    int
	reportDir             string
	csv                   dataset.CSVMapping
	asJSON                bool
	config                configFlags // training.* overrides
}

func (f *backtestFlags) register(c *cobra.Command) {
	fs := c.Flags()
	fs.StringVar(&f.input, "input", "", "transaction log (CSV or CDNOW text, plain or gzip)")
	fs.StringVar(&f.format, "format", "auto", "input format: auto, cdnow, online-retail, csv, parquet")
	fs.StringVar(&f.cutoff, "cutoff", "", "last calibration day YYYY-MM-DD (default: last day of data minus the horizon)")
	bindTrainingFlags(&f.config, fs)
	fs.IntVar(&f.maxEpochs, "max-epochs", 0, "epoch budget per ensemble member of the neural models (default: the model's own)")
	bindConfigFlag(&f.config, fs.Float64Var, "max-rejected-fraction", "training.max_rejected_fraction", "largest share of rows validation may reject",
		func(c *config.Config) *float64 { return &c.Training.MaxRejectedFraction },
		checkValue(func(v float64) bool { return v >= 0 && v <= 1 }, "want a share in [0,1]"))
	fs.BoolVar(&f.asJSON, "json", false, "print one JSON object")
	fs.StringVar(&f.reportDir, "report", "", "also write an HTML evaluation report with plots to DIR/report.html (of the first split with --repeats)")
	fs.IntVar(&f.repeats, "repeats", 1, "number K of seeded customer splits (seeds --seed, --seed+1, …, --seed+K-1), run in parallel; K > 1 adds mean, sd and intervals per metric and paired model comparisons")
	fs.IntVar(&f.resamples, "resamples", metrics.DefaultResamples, "paired bootstrap resamples per split for the model comparisons of --repeats (seed 1)")
	bindConfigFlag(&f.config, fs.IntVar, "snapshot-step-days", "training.snapshot_step_days", "days between training snapshots",
		func(c *config.Config) *int { return &c.Training.SnapshotStepDays },
		checkValue(func(d int) bool { return d >= 1 }, "want a number of days ≥ 1"))
	bindKeepReversedFlag(&f.config, fs)
	fs.StringVar(&f.csv.Customer, "customer-col", "", "csv: customer id column")
	fs.StringVar(&f.csv.Time, "time-col", "", "csv: timestamp column")
	fs.StringVar(&f.csv.Amount, "amount-col", "", "csv: amount column")
	fs.StringVar(&f.csv.Quantity, "quantity-col", "", "csv: quantity column (with --price-col; amount = quantity × price)")
	fs.StringVar(&f.csv.Price, "price-col", "", "csv: unit price column (with --quantity-col)")
}

// bindKeepReversedFlag defines --keep-reversed-orders, the negation of
// training.drop_reversed_orders.
func bindKeepReversedFlag(cf *configFlags, fs *pflag.FlagSet) {
	const name, key = "keep-reversed-orders", "training.drop_reversed_orders"
	keep := fs.Bool(name, false, fmt.Sprintf("keep purchases that a later cancellation reverses (default: the opposite of config key %s, built-in %v)",
		key, config.Default().Training.DropReversedOrders))
	*cf = append(*cf, configFlag{name: name, key: key, set: func(cfg *config.Config) error {
		cfg.Training.DropReversedOrders = !*keep
		return nil
	}})
}

// options applies the given flags over the configuration that load
// returns and checks the options they make.
func (f *backtestFlags) options(fs *pflag.FlagSet, load func() (config.Config, error)) (backtest.Options, error) {
	if f.input == "" {
		return backtest.Options{}, errors.New("--input FILE is required")
	}
	cfg, err := load()
	if err != nil {
		return backtest.Options{}, err
	}
	if err := f.config.apply(fs, &cfg); err != nil {
		return backtest.Options{}, err
	}
	o := f.optionsFromConfig(cfg.Training)
	if f.maxEpochs < 0 {
		return o, fmt.Errorf("--max-epochs %d: want a number of epochs >= 0", f.maxEpochs)
	}
	if f.repeats < 1 || f.repeats > backtest.MaxRepeats {
		return o, fmt.Errorf("--repeats %d: want a number of splits in [1, %d]", f.repeats, backtest.MaxRepeats)
	}
	if f.resamples < 1 {
		return o, fmt.Errorf("--resamples %d: want a number of resamples >= 1", f.resamples)
	}
	o.Repeats, o.Bootstrap = f.repeats, metrics.BootstrapOptions{Resamples: f.resamples}
	if f.cutoff != "" {
		t, err := time.Parse(backtest.DateLayout, f.cutoff)
		if err != nil {
			return o, fmt.Errorf("--cutoff %q is not a date YYYY-MM-DD", f.cutoff)
		}
		o.Cutoff = t
	}
	if o.Format, o.CSV, err = f.inputFormat(); err != nil {
		return o, err
	}
	if _, err := modelkind.ParseList(o.Models); err != nil {
		return o, err
	}
	return o, nil
}

// optionsFromConfig are the options of the effective training
// configuration and the flags that are no config keys.
func (f *backtestFlags) optionsFromConfig(tr config.Training) backtest.Options {
	o := backtest.Options{Input: f.input, HorizonDays: tr.HorizonDays, Models: tr.Models, Seed: tr.Seed,
		TestFraction: tr.TestFraction, SeqWeeks: tr.SeqWeeks, MaxRejectedFraction: dataset.RejectedShare(tr.MaxRejectedFraction), MaxEpochs: f.maxEpochs,
		DropReversed: tr.DropReversedOrders, Snapshots: tr.Snapshots, SnapshotStepDays: tr.SnapshotStepDays}
	return o
}

// inputFormat checks --format and the --*-col flags.
func (f *backtestFlags) inputFormat() (dataset.Format, dataset.CSVMapping, error) {
	format, err := dataset.ParseFormat(f.format)
	if err != nil {
		return format, f.csv, fmt.Errorf("--format: %w", err)
	}
	if f.csv == (dataset.CSVMapping{}) {
		return format, f.csv, nil
	}
	if format != dataset.FormatCSV && format != dataset.FormatAuto && format != dataset.FormatParquet {
		return format, f.csv, fmt.Errorf("--*-col flags need --format csv or parquet, not %s", format)
	}
	if (f.csv.Quantity == "") != (f.csv.Price == "") {
		return format, f.csv, errors.New("--quantity-col and --price-col go together")
	}
	if f.csv.Amount != "" && f.csv.Quantity != "" {
		return format, f.csv, errors.New("give either --amount-col or --quantity-col with --price-col, not both")
	}
	if format == dataset.FormatParquet {
		return format, f.csv, nil
	}
	return dataset.FormatCSV, f.csv, nil
}

func (a *app) backtestCmd() *cobra.Command {
	var f backtestFlags
	c := &cobra.Command{
		Use:   "backtest --input FILE",
		Short: "Fit and score the CLV models locally on a calibration/holdout split (no Temporal)",
		Long: `backtest reads and cleans a transaction log, builds per-customer features at the
cutoff, holds out a seeded random share of the customers, fits every requested model
(naive; bgnbd, pnbd, mbgnbd = BG/NBD, Pareto/NBD, MBG/NBD × Gamma-Gamma; ziln, seq) on the others and prints the holdout
metrics on the held-out customers. Nothing is stored and no server is needed.

--repeats K repeats this on K seeded splits (seeds --seed, --seed+1, …, --seed+K-1; the
neural models use the split's seed too) in parallel on the available cores, and reports
per model and metric the mean, the standard deviation and a 95% t-interval of the mean
over the splits, then paired comparisons of every two models on the same test customers:
the mean difference of Gini and decile MAPE over the splits, a paired percentile bootstrap
interval of that mean (--resamples per split, the per-split differences averaged per
resample) and the number of splits each model wins. Progress goes to stderr.`,
		Example: `  clvflow backtest --input cdnow_sample.txt --format cdnow --cutoff 1997-09-30 --horizon-days 273 --models bgnbd --json
  clvflow backtest --input online_retail.csv.gz --cutoff 2011-09-08 --horizon-days 92 --repeats 11
  clvflow backtest --input orders.csv --format csv --customer-col user --time-col ts --quantity-col qty --price-col price
  clvflow backtest --input cdnow_sample.txt --format cdnow --report out/   # also writes out/report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runBacktest(cmd, &f) },
	}
	f.register(c)
	return c
}

// runBacktest runs `clvflow backtest` with the parsed flags.
func (a *app) runBacktest(cmd *cobra.Command, f *backtestFlags) error {
	o, err := f.options(cmd.Flags(), a.config)
	if err != nil {
		return oneLine(fmt.Errorf("backtest: %w", err))
	}
	log := a.logger()
	o.Progress = func(model string, r nn.EpochReport) {
		log.Debug("epoch", "model", model, "member", r.Member+1, "members", r.Members, "epoch", r.Epoch,
			"train_loss", r.TrainLoss, "val_loss", r.ValLoss, "val_gini", r.ValMetric)
	}
	br, err := startBacktestReport(f.reportDir, &o)
	if err != nil {
		return oneLine(fmt.Errorf("backtest: %w", err))
	}
	start := time.Now()
	o.SplitDone = func(done, total int, seed uint64) {
		fmt.Fprintf(a.errOut, "split %d/%d done (seed %d, %s elapsed)\n", done, total, seed, time.Since(start).Round(time.Second))
	}
	res, err := backtest.Run(cmd.Context(), o)
	if err != nil {
		return oneLine(err)
	}
	if err := br.write(a.errOut, res); err != nil {
		return oneLine(err)
	}
	if f.asJSON {
		return writeJSON(a.out, res)
	}
	printBacktest(a.out, filepath.Base(o.Input), res, time.Since(start))
	return nil
}

// oneLine flattens multi-line errors (errors.Join) into one line.
func oneLine(err error) error {
	if s := err.Error(); strings.Contains(s, "\n") {
		return errors.New(strings.ReplaceAll(s, "\n", "; "))
	}
	return err
}

// fmtMetric prints a metric with 4 decimals, "-" when undefined.
func fmtMetric(v float64, decimals int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", decimals, v)
}

// printBacktest writes the human-readable report: one split's metrics
// or, for a --repeats run, their summary and the paired comparisons.
func printBacktest(w io.Writer, file string, r *backtest.Result, elapsed time.Duration) {
	printBacktestHeader(w, file, r)
	fmt.Fprintln(w)
	if r.Summary != nil {
		printSummary(w, r.Summary)
	} else {
		printModelTable(w, r)
		printModelNotes(w, r)
	}
	printWarnings(w, r)
	if r.Summary != nil {
		fmt.Fprintf(w, "\nmetrics on the test customers of %d splits (%d each); total time %.1fs\n", r.Summary.Splits, r.Split.TestCustomers, elapsed.Seconds())
		return
	}
	fmt.Fprintf(w, "\nmetrics on the %d test customers; total time %.1fs\n", r.Split.TestCustomers, elapsed.Seconds())
}

// printBacktestHeader writes the dataset, split and snapshot lines.
func printBacktestHeader(w io.Writer, file string, r *backtest.Result) {
	d, s := r.Dataset, r.Split
	fmt.Fprintf(w, "dataset  %s (%s): %d rows, %d rejected, %d customers, %s .. %s\n",
		file, d.Format, d.Rows, d.RejectedRows, d.Customers, d.FirstDay, d.LastDay)
	seed := fmt.Sprintf("seed %d", s.Seed)
	if r.Summary != nil {
		seed = fmt.Sprintf("%d splits, seeds %d..%d", r.Summary.Splits, r.Summary.Seeds[0], r.Summary.Seeds[len(r.Summary.Seeds)-1])
	}
	fmt.Fprintf(w, "split    cutoff %s, horizon %d days: %d train / %d test customers (%s, test fraction %g)",
		s.Cutoff, s.HorizonDays, s.TrainCustomers, s.TestCustomers, seed, s.TestFraction)
	if s.HoldoutOnlyCustomers > 0 {
		fmt.Fprintf(w, "; %d customers first bought after the cutoff and are not scored", s.HoldoutOnlyCustomers)
	}
	fmt.Fprintln(w)
	if len(s.TrainingSnapshots) > 0 {
		var parts []string
		rows := s.TrainCustomers
		for _, sn := range s.TrainingSnapshots {
			parts = append(parts, fmt.Sprintf("%s (%d)", sn.Cutoff, sn.TrainCustomers))
			rows += sn.TrainCustomers
		}
		fmt.Fprintf(w, "nets     also learn from %d earlier snapshots of the training customers: %s; %d rows in all\n",
			len(parts), strings.Join(parts, ", "), rows)
	}
}

// printModelTable writes one split's metrics.
func printModelTable(w io.Writer, r *backtest.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tfit s\tgini\tspearman\tdecile MAPE\tMAE\tRMSE\tAUC\tprecision\trecall\tF1\tpredicted\tactual\t")
	for _, name := range r.ModelNames() {
		mr := r.Models[name]
		m := mr.Metrics
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", name, mr.FitSeconds,
			fmtMetric(m.NormalizedGini, 4), fmtMetric(m.Spearman, 4), fmtMetric(m.DecileMAPE, 4),
			fmtMetric(m.MAE, 2), fmtMetric(m.RMSE, 2), fmtMetric(m.AUC, 4), fmtMetric(m.Precision, 4),
			fmtMetric(m.Recall, 4), fmtMetric(m.F1, 4), fmtMetric(m.TotalPredicted, 0), fmtMetric(m.TotalActual, 0))
	}
	tw.Flush()
}

// printModelNotes writes the BG/NBD parameters and the networks' epochs.
func printModelNotes(w io.Writer, r *backtest.Result) {
	if mr, ok := r.Models[string(modelkind.BGNBD)]; ok {
		p := mr.Params
		var parts []string
		for _, k := range []string{"r", "alpha", "a", "b", "p", "q", "v", "loglik"} {
			if v, ok := p[k].(float64); ok {
				parts = append(parts, fmt.Sprintf("%s %.4g", k, v))
			}
		}
		fmt.Fprintf(w, "\nbgnbd    %s\n", strings.Join(parts, "  "))
	}
	for _, name := range r.ModelNames() {
		if e, ok := r.Models[name].Params["epochs"].([]int); ok {
			fmt.Fprintf(w, "%-8s epochs per ensemble member %v\n", name, e)
		}
	}
}

// printWarnings writes the data warnings and the models' warnings (of the
// first split).
func printWarnings(w io.Writer, r *backtest.Result) {
	var warnings []string
	warnings = append(warnings, r.Warnings...)
	for _, name := range r.ModelNames() {
		if ws, ok := r.Models[name].Params["warnings"].([]string); ok {
			for _, s := range ws {
				if !strings.HasPrefix(s, name+": ") {
					s = name + ": " + s
				}
				warnings = append(warnings, s)
			}
		}
	}
	if len(warnings) > 0 {
		fmt.Fprintln(w)
		for _, s := range warnings {
			fmt.Fprintln(w, "warning: "+s)
		}
	}
}
