package main

import (
	"github.com/clvflow/clvflow/registry"
	"github.com/spf13/cobra"
)

func (a *app) modelsCmd() *cobra.Command { return registry.NewModelsCommand(a.openRegistry) }
