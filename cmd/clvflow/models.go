package main

import (
	"context"
	"io"
	"strings"

	"github.com/clvflow/clvflow/registry"
	"github.com/spf13/cobra"
)

// registryOpener opens the model registry; `models` calls it once per run.
type registryOpener func(ctx context.Context) (*registry.Registry, error)

func (a *app) modelsCmd() *cobra.Command {
	c := newModelsCmd(a.openRegistry)
	c.AddCommand(a.modelsVerifyCmd())
	return c
}

// newModelsCmd returns `models` with the subcommands list, show
// VERSION|ALIAS, history [ALIAS] and diff A B. Each prints a table, or JSON
// with --json.
func newModelsCmd(open registryOpener) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Inspect the model registry: versions, aliases and their history",
	}
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	cmd.AddCommand(
		registryQueryCmd(open, &asJSON, "list", "List model versions with status, gate verdict and aliases", cobra.NoArgs,
			func(ctx context.Context, r *registry.Registry, _ []string) ([]registry.VersionSummary, error) {
				return r.Summaries(ctx)
			}, renderList),
		registryQueryCmd(open, &asJSON, "show VERSION|ALIAS", "Show one version's lineage, metrics, gate checks and events", cobra.ExactArgs(1),
			func(ctx context.Context, r *registry.Registry, args []string) (registry.VersionDetail, error) {
				return r.Detail(ctx, args[0])
			}, renderShow),
		registryQueryCmd(open, &asJSON, "history [ALIAS]", "Show the move history of one alias, or of all aliases", cobra.MaximumNArgs(1),
			aliasHistory, renderHistory),
		registryQueryCmd(open, &asJSON, "decay [VERSION]", "Show how past champions' predictions turned out (recorded by clvflow realise)", cobra.MaximumNArgs(1),
			func(ctx context.Context, r *registry.Registry, args []string) ([]registry.Realised, error) {
				return r.RealisedHistory(ctx, strings.Join(args, ""))
			}, renderDecay),
		registryQueryCmd(open, &asJSON, "diff A B", "Compare two versions (ids or aliases): params, metrics, gate, lineage", cobra.ExactArgs(2),
			func(ctx context.Context, r *registry.Registry, args []string) (registry.Diff, error) {
				return r.Diff(ctx, args[0], args[1])
			}, renderDiff),
	)
	return cmd
}

// registryQueryCmd is a subcommand that runs query on the registry and
// prints its answer as JSON (with --json) or with render.
func registryQueryCmd[T any](open registryOpener, asJSON *bool, use, short string, args cobra.PositionalArgs,
	query func(ctx context.Context, r *registry.Registry, args []string) (T, error), render func(io.Writer, T) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(c *cobra.Command, args []string) error {
			ctx := c.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			r, err := open(ctx)
			if err != nil {
				return err
			}
			answer, err := query(ctx, r, args)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(c.OutOrStdout(), answer)
			}
			return render(c.OutOrStdout(), answer)
		},
	}
}

// aliasHistory is the history of the alias in args, or of every alias.
func aliasHistory(ctx context.Context, r *registry.Registry, args []string) ([]registry.AliasEntry, error) {
	if len(args) == 1 {
		return r.History(ctx, args[0])
	}
	return r.AllHistory(ctx)
}
