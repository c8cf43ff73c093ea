package main

import (
	"fmt"

	"github.com/clvflow/clvflow/config"
	"github.com/spf13/cobra"
)

func (a *app) configCmd() *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Inspect the effective configuration"}
	c.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration with secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			b, err := cfg.Redacted()
			if err != nil {
				return err
			}
			_, err = a.out.Write(b)
			return err
		},
	}, &cobra.Command{
		Use:   "keys",
		Short: "List every config key with its environment variable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, k := range config.Keys() {
				fmt.Fprintf(a.out, "%-36s %s\n", k, config.EnvName(k))
			}
			return nil
		},
	})
	return c
}
