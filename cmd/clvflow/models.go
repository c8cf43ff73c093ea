package main

import (
	"context"

	"github.com/clvflow/clvflow/registry"
	"github.com/spf13/cobra"
)

func init() {
	extraCommands = append(extraCommands, func(a *app) *cobra.Command {
		return registry.NewModelsCommand(func(ctx context.Context) (*registry.Registry, error) { return a.openRegistry(ctx) })
	})
}
