package main

import (
	"github.com/clvflow/clvflow/approval"
	"github.com/spf13/cobra"
)

func (a *app) approveCmd() *cobra.Command {
	var comment string
	var f signFlags
	c := &cobra.Command{
		Use:   "approve VERSION --approver NAME --key SSHKEY [--comment TEXT]",
		Short: "Approve, with your SSH signature, a registered version that a pipeline waits on (it is then promoted)",
		Long: `Signs a statement naming the run, the version, its ONNX file's sha256, you,
your comment and the time (SSHSIG, namespace clvflow-approval) and sends it to
the run. The worker accepts it only when its policy's allowed-signers file
lets your key sign as --approver. To sign with ssh-keygen yourself:

  clvflow approve v3 --approver alice@example.com --comment ok --print-statement > s
  ssh-keygen -Y sign -n clvflow-approval -f ~/.ssh/id_ed25519 s
  clvflow approve v3 --statement s --signature s.sig`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.decide(cmd, args[0], approval.Approve, comment, f)
		},
	}
	c.Flags().StringVar(&comment, "comment", "", "why (part of what you sign)")
	f.register(c.Flags())
	return c
}
