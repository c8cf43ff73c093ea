package main

import (
	"errors"
	"fmt"

	"github.com/clvflow/clvflow/provenance"
	"github.com/spf13/cobra"
)

func (a *app) modelsVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify VERSION|ALIAS",
		Short: "Verify a version's signed chain offline: registry entry, provenance, ONNX file, approval, aliases",
		Long: `Checks, link by link, that the version's registry entry is the one the worker
signed (in-toto statement in a DSSE envelope, key in provenance.trusted_keys),
that the ONNX file in MinIO is the signed one, that its approval is signed by a
key the recorded policy allows for this run and version, and that every alias
pointing at it was moved by a trusted worker. It stops at, and names, the
first link that fails (exit status 1).`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			report, err := a.verifyChain(c, args[0])
			if err != nil {
				return err
			}
			if asJSON, _ := c.Flags().GetBool("json"); asJSON {
				if err := writeJSON(a.out, report); err != nil {
					return err
				}
			} else {
				renderChain(a, report)
			}
			return report.Err()
		},
	}
}

// verifyChain runs provenance.VerifyChain on the version ref names.
func (a *app) verifyChain(c *cobra.Command, ref string) (provenance.Report, error) {
	st, cfg, err := a.openStore(c.Context())
	if err != nil {
		return provenance.Report{}, err
	}
	if cfg.Provenance.TrustedKeys == "" {
		return provenance.Report{}, errors.New("provenance.trusted_keys is not set: nothing to verify signatures with (env CLVFLOW_PROVENANCE_TRUSTED_KEYS)")
	}
	trusted, err := provenance.LoadTrustedKeys(cfg.Provenance.TrustedKeys)
	if err != nil {
		return provenance.Report{}, err
	}
	reg, err := a.openRegistry(c.Context())
	if err != nil {
		return provenance.Report{}, err
	}
	v, err := reg.Lookup(c.Context(), ref)
	if err != nil {
		return provenance.Report{}, err
	}
	return provenance.VerifyChain(c.Context(), provenance.RegistrySource{Registry: reg, Store: st}, trusted, v.ID, provenance.Options{}), nil
}

func renderChain(a *app, r provenance.Report) {
	for _, l := range r.Links {
		mark := "ok  "
		if !l.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(a.out, "%s  %-22s %s\n", mark, l.Name, l.Detail)
	}
	if r.Err() == nil {
		fmt.Fprintf(a.out, "%s: chain verified\n", r.Version)
	}
}
