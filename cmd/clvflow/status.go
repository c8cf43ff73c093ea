package main

import (
	"fmt"
	"time"

	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
)

func (a *app) statusCmd() *cobra.Command {
	var waitApproval bool
	var timeout time.Duration
	c := &cobra.Command{
		Use:   "status WORKFLOW_ID",
		Short: "Show a pipeline run's stage, progress and pending approval (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tc, _, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			deadline := time.Now().Add(timeout)
			for {
				v, err := tc.QueryWorkflow(cmd.Context(), args[0], "", workflows.QueryStatus)
				if err != nil {
					return fmt.Errorf("status of %s: %s", args[0], rootCause(err))
				}
				var st workflows.PipelineStatus
				if err := v.Get(&st); err != nil {
					return err
				}
				if !waitApproval {
					return writeJSON(a.out, st)
				}
				if st.PendingApproval != nil {
					fmt.Fprintln(a.out, st.PendingApproval.Version)
					return nil
				}
				if st.Stage == "done" || st.Stage == "failed" {
					return fmt.Errorf("%s ended (%s: %s) without waiting for an approval", args[0], st.Stage, st.Progress)
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("%s still at stage %s after %s", args[0], st.Stage, timeout)
				}
				select {
				case <-cmd.Context().Done():
					return cmd.Context().Err()
				case <-time.After(time.Second):
				}
			}
		},
	}
	c.Flags().BoolVar(&waitApproval, "wait-for-approval", false, "block until the run waits for an approval, then print the version")
	c.Flags().DurationVar(&timeout, "timeout", time.Hour, "give up waiting after this long")
	return c
}
