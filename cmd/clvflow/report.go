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
		RunE:  func(cmd *cobra.Command, args []string) error { return a.writeReport(cmd, args[0], output) },
	}
	c.Flags().StringVar(&output, "output", "", "directory to write report.html into")
	return c
}

// writeReport fetches a version's report (sha256-checked against its
// registry entry) into dir/report.html.
func (a *app) writeReport(cmd *cobra.Command, ref, dir string) error {
	if dir == "" {
		return fmt.Errorf("report: --output DIR is required")
	}
	reg, err := a.openRegistry(cmd.Context())
	if err != nil {
		return err
	}
	v, err := reg.Lookup(cmd.Context(), ref)
	if err != nil {
		return err
	}
	art, ok := v.Artifacts["report"]
	if !ok {
		return fmt.Errorf("version %s has no evaluation report (registered before reports were made)", v.ID)
	}
	st, _, err := a.openStore(cmd.Context())
	if err != nil {
		return err
	}
	page, err := st.GetBytes(cmd.Context(), art)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, page, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "%s: evaluation report written to %s\n", v.ID, path)
	return nil
}
