package main

import (
	"errors"
	"strings"

	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
)

func (a *app) rejectCmd() *cobra.Command {
	var approver, reason string
	c := &cobra.Command{
		Use:   "reject VERSION --approver NAME --reason TEXT",
		Short: "Reject a registered version that a pipeline waits on (the champion stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is required when rejecting")
			}
			return a.decide(cmd, args[0], workflows.Decision{Approve: false, Approver: approver, Comment: reason})
		},
	}
	c.Flags().StringVar(&approver, "approver", "", "who rejects (must be in approvals.approvers when that is set)")
	c.Flags().StringVar(&reason, "reason", "", "why")
	return c
}
