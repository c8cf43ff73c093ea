package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

func (a *app) resultCmd() *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "result WORKFLOW_ID",
		Short: "Wait for a pipeline run to finish and print its result",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tc, cfg, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			run := tc.GetWorkflow(cmd.Context(), args[0], "")
			return a.reportRun(cmd.Context(), run, runURL(cfg, args[0], run.GetRunID()), asJSON)
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

// reportRun waits for a pipeline run and prints its result (also the
// result a GateFailed or CanaryFailed error carries), as a table or JSON.
func (a *app) reportRun(ctx context.Context, run client.WorkflowRun, url string, asJSON bool) error {
	var res workflows.PipelineResult
	err := run.Get(ctx, &res)
	if err != nil {
		var ae *temporal.ApplicationError
		if errors.As(err, &ae) && ae.HasDetails() {
			_ = ae.Details(&res)
		}
	}
	if asJSON {
		out := map[string]any{"workflow_id": run.GetID(), "run_id": run.GetRunID(), "ui": url, "result": res}
		if err != nil {
			out["error"] = rootCause(err)
		}
		if jerr := writeJSON(a.out, out); jerr != nil {
			return jerr
		}
	} else {
		printPipelineResult(a.out, &res)
	}
	if err != nil {
		return fmt.Errorf("pipeline failed: %s (see %s)", rootCause(err), url)
	}
	return nil
}
