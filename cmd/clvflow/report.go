package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

func (a *app) reportCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "report VERSION|ALIAS --output DIR",
		Short: "Write a version's evaluation report (one HTML page with the gain, calibration and other plots) to DIR/report.html",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return fmt.Errorf("report: --output DIR is required")
			}
			reg, err := a.openRegistry(cmd.Context())
			if err != nil {
				return err
			}
			v, err := reg.Lookup(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			ref, ok := v.Artifacts["report"]
			if !ok {
				return fmt.Errorf("version %s has no evaluation report (registered before reports were made)", v.ID)
			}
			st, _, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			page, err := st.GetBytes(cmd.Context(), ref) // sha256-checked against the registry entry
			if err != nil {
				return err
			}
			if err := os.MkdirAll(output, 0o755); err != nil {
				return err
			}
			path := filepath.Join(output, "report.html")
			if err := os.WriteFile(path, page, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%s: evaluation report written to %s\n", v.ID, path)
			return nil
		},
	}
	c.Flags().StringVar(&output, "output", "", "directory to write report.html into")
	return c
}
