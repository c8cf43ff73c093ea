package main

import (
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
)

func (a *app) approveCmd() *cobra.Command {
	var approver, comment string
	c := &cobra.Command{
		Use:   "approve VERSION --approver NAME",
		Short: "Approve a registered version that a pipeline waits on (it is then promoted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd, args[0], workflows.Decision{Approve: true, Approver: approver, Comment: comment})
		},
	}
	c.Flags().StringVar(&approver, "approver", "", "who approves (must be in approvals.approvers when that is set)")
	c.Flags().StringVar(&comment, "comment", "", "why")
	return c
}
