package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
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
		Long: `Uploads the local file to the datasets bucket (content-addressed: a re-run of
the same file re-uses the stored object) and starts the IngestDataset workflow
with that object, so workers need no access to the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input == "" {
				return fmt.Errorf("ingest: --input FILE is required")
			}
			if _, err := checkedInput(input, dataset.Format(format)); err != nil {
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
			in, err := a.uploadInput(cmd.Context(), input, dataset.Format(format))
			if err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			id := workflowID("ingest", input, time.Now())
			run, err := tc.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true},
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
	c.Flags().StringVar(&input, "input", "", "local transaction log (CSV, CSV.gz, CDNOW text), uploaded first")
	c.Flags().StringVar(&format, "format", "auto", "input format: auto, cdnow, online-retail, csv, parquet")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

// uploadInput uploads the local transaction log at path to the datasets
// bucket, content-addressed under the prefix the ingest activity stores raw
// logs at (so that a re-run of the same file, or the activity's own copy,
// re-uses the object), and returns the ingest input that names it.
func (a *app) uploadInput(ctx context.Context, path string, format dataset.Format) (activities.IngestInput, error) {
	checked, err := checkedInput(path, format)
	if err != nil {
		return checked, err
	}
	st, cfg, err := a.openStore(ctx)
	if err != nil {
		return checked, err
	}
	if err := st.EnsureBucket(ctx, cfg.Storage.DatasetsBucket); err != nil {
		return checked, err
	}
	name := filepath.Base(checked.Path)
	ref, err := st.PutFile(ctx, cfg.Storage.DatasetsBucket, activities.RawPrefix, checked.Path,
		artifacts.PutOptions{ContentType: "application/octet-stream", Filename: name})
	if err != nil {
		return checked, fmt.Errorf("cannot upload %s: %w", checked.Path, err)
	}
	return activities.IngestInput{Source: &ref, Format: string(format), Filename: name}, nil
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
