package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
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
				st, err := queryStatus(cmd.Context(), tc, args[0])
				switch {
				case err != nil && (!waitApproval || !retryableQueryError(err) || time.Now().After(deadline)):
					return fmt.Errorf("status of %s: %s", args[0], rootCause(err))
				case err != nil:
					fmt.Fprintf(a.errOut, "status of %s: %s; retrying\n", args[0], rootCause(err))
				case !waitApproval:
					return writeJSON(a.out, st)
				case st.PendingApproval != nil:
					fmt.Fprintln(a.out, st.PendingApproval.Version)
					return nil
				case st.Stage == "done" || st.Stage == "failed":
					return fmt.Errorf("%s ended (%s: %s) without waiting for an approval", args[0], st.Stage, st.Progress)
				case time.Now().After(deadline):
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

// queryStatus asks a run for its PipelineStatus; one query waits at most
// statusQueryTimeout for a worker to answer.
func queryStatus(ctx context.Context, tc client.Client, id string) (workflows.PipelineStatus, error) {
	var st workflows.PipelineStatus
	ctx, cancel := context.WithTimeout(ctx, statusQueryTimeout)
	defer cancel()
	v, err := tc.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return st, err
	}
	return st, v.Get(&st)
}

// statusQueryTimeout bounds one status query.
const statusQueryTimeout = 30 * time.Second

// retryableQueryError reports whether a failed status query may succeed
// later: the Temporal server or the workers unavailable or slow (as right
// after a server restart, when even the namespace may not be loaded yet),
// not a run that does not exist or a query the workflow refused.
func retryableQueryError(err error) bool {
	var (
		notFound *serviceerror.NotFound
		invalid  *serviceerror.InvalidArgument
		refused  *serviceerror.QueryFailed
	)
	return !errors.As(err, &notFound) && !errors.As(err, &invalid) && !errors.As(err, &refused)
}
