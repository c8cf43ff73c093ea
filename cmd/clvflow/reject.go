package main

import (
	"errors"
	"strings"

	"github.com/clvflow/clvflow/approval"
	"github.com/spf13/cobra"
)

func (a *app) rejectCmd() *cobra.Command {
	var reason string
	var f signFlags
	c := &cobra.Command{
		Use:   "reject VERSION --approver NAME --key SSHKEY --reason TEXT",
		Short: "Reject, with your SSH signature, a registered version that a pipeline waits on (the champion stays)",
		Long:  "Signs and sends a rejection as `clvflow approve` does an approval (see its help).",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" && f.statementFile == "" {
				return errors.New("--reason is required when rejecting")
			}
			return a.decide(cmd, args[0], approval.Reject, reason, f)
		},
	}
	c.Flags().StringVar(&reason, "reason", "", "why (part of what you sign)")
	f.register(c.Flags())
	return c
}
