package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

func (a *app) ingestCmd() *cobra.Command {
	var input, format string
	var asJSON bool
	c := &cobra.Command{
		Use:   "ingest --input FILE",
		Short: "Upload a transaction log into MinIO through the IngestDataset workflow",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return fmt.Errorf("ingest: --input FILE is required")
			}
			in, err := checkedInput(input, dataset.Format(format))
			if err != nil {
				return err
			}
			if _, err := dataset.ParseFormat(format); err != nil {
				return err
			}
			tc, cfg, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			id := workflowID("ingest", in.Path, time.Now())
			run, err := tc.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue},
				workflows.IngestDataset, in)
			if err != nil {
				return fmt.Errorf("ingest: cannot start workflow: %w", err)
			}
			if !asJSON {
				fmt.Fprintf(a.out, "workflow %s started: %s\n", id, runURL(cfg, id, run.GetRunID()))
			}
			var res activities.IngestResult
			if err := run.Get(cmd.Context(), &res); err != nil {
				return fmt.Errorf("ingest failed: %s (details: %s)", rootCause(err), runURL(cfg, id, run.GetRunID()))
			}
			if asJSON {
				return writeJSON(a.out, map[string]any{"workflow_id": id, "run_id": run.GetRunID(), "ui": runURL(cfg, id, run.GetRunID()), "result": res})
			}
			fmt.Fprintf(a.out, "dataset: s3://%s/%s (version %s)\nsha256:  %s\nbytes:   %d, lines: %d, format: %s\nmanifest: s3://%s/%s\n",
				res.Dataset.Bucket, res.Dataset.Key, res.Dataset.VersionID, res.Dataset.SHA256, res.Bytes, res.Lines, res.Format, res.Manifest.Bucket, res.Manifest.Key)
			return nil
		},
	}
	c.Flags().StringVar(&input, "input", "", "transaction log (CSV, CSV.gz, CDNOW text)")
	c.Flags().StringVar(&format, "format", "auto", "input format: auto, cdnow, online-retail, csv")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

// checkedInput is the ingest input of a transaction log the workers read
// from path: absolute, and openable here.
func checkedInput(path string, format dataset.Format) (activities.IngestInput, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return activities.IngestInput{}, err
	}
	fh, err := activities.OpenInput(abs)
	if err != nil {
		return activities.IngestInput{}, err
	}
	fh.Close()
	return activities.IngestInput{Path: abs, Format: string(format)}, nil
}
