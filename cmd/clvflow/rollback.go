package main

import (
	"fmt"
	"time"

	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
)

func (a *app) rollbackCmd() *cobra.Command {
	var to, actor, reason string
	var asJSON bool
	c := &cobra.Command{
		Use:   "rollback [--to VERSION]",
		Short: "Move the champion back (to the previous one, or --to VERSION) through the Rollback workflow",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if actor == "" {
				actor = currentUser()
			}
			tc, cfg, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			id := "rollback-" + time.Now().UTC().Format("20060102T150405Z")
			run, err := tc.ExecuteWorkflow(cmd.Context(), client.StartWorkflowOptions{ID: id, TaskQueue: cfg.Temporal.TaskQueue},
				workflows.Rollback, workflows.RollbackInput{To: to, Actor: actor, Reason: reason})
			if err != nil {
				return err
			}
			var res workflows.RollbackResult
			if err := run.Get(cmd.Context(), &res); err != nil {
				return fmt.Errorf("rollback failed: %s (see %s)", rootCause(err), runURL(cfg, id, run.GetRunID()))
			}
			if asJSON {
				return writeJSON(a.out, map[string]any{"workflow_id": id, "from": res.From, "to": res.To, "actor": actor})
			}
			fmt.Fprintf(a.out, "champion rolled back from %s to %s by %s (%s)\n", res.From, res.To, actor, runURL(cfg, id, run.GetRunID()))
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "version to roll back to (default: the previous champion)")
	c.Flags().StringVar(&actor, "actor", "", "who asks for it (default: $USER)")
	c.Flags().StringVar(&reason, "reason", "", "why")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}
