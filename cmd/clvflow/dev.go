package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/devstack"
	"github.com/spf13/cobra"
)

func (a *app) stack() (*devstack.Stack, error) {
	cfg, err := a.config()
	if err != nil {
		return nil, err
	}
	root, ok := repoRoot()
	if !ok {
		return nil, fmt.Errorf("dev stack: run clvflow from inside the clvflow checkout (go.mod not found above the working directory or the executable)")
	}
	return devstack.New(cfg, root, a.errOut)
}

func (a *app) devCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run the local dev stack (Temporal dev server + Web UI, MinIO, a worker) on 127.0.0.1",
		Long: `The dev stack keeps its state under ./.clvflow/ (Temporal's file database, MinIO
data, generated MinIO credentials with 0600 permissions, logs, pid files) and
its governance under ./.clvflow/governance/: the worker's policy file, an SSH
signing key for demo@clvflow.dev with the allowed-signers file that lists it,
and the payload key the dev worker encrypts workflow payloads with.
Tools are installed into ./.tools/ on first use (pinned versions).`,
	}
	var noWorker bool
	up := &cobra.Command{
		Use:   "up",
		Short: "Install missing tools, start the stack and wait until it is healthy",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return a.runDevUp(cmd, !noWorker) },
	}
	up.Flags().BoolVar(&noWorker, "no-worker", false, "start Temporal and MinIO only")
	c.AddCommand(up,
		&cobra.Command{
			Use:   "down",
			Short: "Stop exactly the processes `dev up` started",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				s, err := a.stack()
				if err != nil {
					return err
				}
				return s.Down(cmd.Context())
			},
		},
		&cobra.Command{
			Use:   "status",
			Short: "Show what runs and where",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				s, err := a.stack()
				if err != nil {
					return err
				}
				if !a.printStackStatus(cmd, s) {
					return exitError{code: 3, msg: "dev stack is not fully up (start it with `clvflow dev up`)"}
				}
				return nil
			},
		})
	return c
}

// printStackStatus prints a table of the stack's components and reports
// whether all of them are healthy.
func (a *app) printStackStatus(cmd *cobra.Command, s *devstack.Stack) bool {
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tSTATE\tPID\tADDRESS\tDETAIL")
	all := true
	for _, c := range s.Status(cmd.Context()) {
		state := "stopped"
		switch {
		case c.Running && c.Healthy:
			state = "healthy"
		case c.Running:
			state = "unhealthy"
		case c.Healthy:
			state = "foreign" // something answers but not started by dev up
		}
		if state != "healthy" {
			all = false
		}
		pid := "-"
		if c.PID > 0 && c.Running {
			pid = fmt.Sprint(c.PID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Name, state, pid, c.Address, c.Detail)
	}
	tw.Flush()
	return all
}

// exitError is an error with its own exit status.
type exitError struct {
	code int
	msg  string
}

func (e exitError) Error() string { return e.msg }
func (e exitError) ExitCode() int { return e.code }

// runDevUp starts the stack, creates the buckets and says where everything
// is and how to talk to the stack.
func (a *app) runDevUp(cmd *cobra.Command, withWorker bool) error {
	s, err := a.stack()
	if err != nil {
		return err
	}
	if err := s.Up(cmd.Context(), withWorker); err != nil {
		return err
	}
	if err := a.ensureBuckets(cmd); err != nil {
		return err
	}
	a.printStackStatus(cmd, s)
	g := s.Governance()
	fmt.Fprintf(a.out, "\nTemporal Web UI: %s\nMinIO credentials: %s (0600)\n", s.UIURL(), s.CredentialsFile())
	fmt.Fprintf(a.out, "Worker policy: %s (allowed signers %s)\nDev signing key: %s (signs as %s)\n", g.PolicyFile, g.AllowedSigners, g.SigningKey, devstack.DevApprover)
	fmt.Fprintf(a.out, "Worker provenance key: %s (trusted keys %s)\n", g.WorkerKey, g.TrustedKeys)
	fmt.Fprintf(a.out, "Workflow payloads are encrypted; talk to this stack with\n  export %s=%s %s=%s\n",
		config.EnvName("temporal.payload_key_file"), g.PayloadKeyFile, config.EnvName("provenance.trusted_keys"), g.TrustedKeys)
	return nil
}
