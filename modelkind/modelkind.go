// Package modelkind owns the names of the model kinds of clvflow: naive,
// bgnbd, pnbd, mbgnbd, ziln and seq (bgnbd, pnbd and mbgnbd are the BTYD
// baselines BG/NBD, Pareto/NBD and MBG/NBD × Gamma-Gamma). Every other
// package (nn, models, backtest, config, the pipeline's activities and
// workflows, the ONNX file contract) takes the kinds, their canonical
// order, the baseline of the promotion gate and the set of neural
// (exported) kinds from here. It imports only the standard library.
//
// The names are part of several wire formats (model artifacts, ONNX
// metadata, `clvflow backtest --json`, the registry) and must not change.
//
// Its errors carry no package prefix; callers add their own.
package modelkind

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Kind names a model kind.
type Kind string

// The model kinds.
const (
	// Naive scales calibration spend to the horizon.
	Naive Kind = "naive"
	// BGNBD is BG/NBD × Gamma-Gamma.
	BGNBD Kind = "bgnbd"
	// PNBD is Pareto/NBD × Gamma-Gamma.
	PNBD Kind = "pnbd"
	// MBGNBD is MBG/NBD × Gamma-Gamma.
	MBGNBD Kind = "mbgnbd"
	// ZILN is the neural network on the tabular features (zero-inflated
	// lognormal head).
	ZILN Kind = "ziln"
	// Seq is ZILN plus a 1-D convolution over the weekly sequence.
	Seq Kind = "seq"
)

// Baseline is the model the promotion gate compares the challenger against.
const Baseline = BGNBD

// all is every kind in the canonical (reporting) order.
var all = [...]Kind{Naive, BGNBD, PNBD, MBGNBD, ZILN, Seq}

// ErrUnknown is wrapped by the errors of [Parse] and [ParseList] about a
// name that is not a model kind.
var ErrUnknown = errors.New("unknown model kind")

// All returns every kind in the canonical (reporting) order: naive, bgnbd,
// pnbd, mbgnbd, ziln, seq. The slice is a fresh copy.
func All() []Kind { return slices.Clone(all[:]) }

// DefaultNames are the kinds trained and compared when none are named:
// naive, bgnbd, ziln, seq. The classic baselines pnbd and mbgnbd are chosen
// explicitly (the Pareto/NBD fit takes seconds to tens of seconds).
func DefaultNames() []string {
	return []string{string(Naive), string(BGNBD), string(ZILN), string(Seq)}
}

// Names returns the names of [All], in the same order.
func Names() []string {
	out := make([]string, len(all))
	for i, k := range all {
		out[i] = string(k)
	}
	return out
}

// Valid reports whether k is exactly one of the kinds (no case folding or
// trimming; see [Parse] for that).
func (k Kind) Valid() bool { return slices.Contains(all[:], k) }

// IsNetwork reports whether k is a neural model (ziln, seq): the kinds that
// are exported to ONNX, served and promoted.
func (k Kind) IsNetwork() bool { return k == ZILN || k == Seq }

// Parse normalises a kind name: case and surrounding space are ignored.
func Parse(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	if k.Valid() {
		return k, nil
	}
	return "", fmt.Errorf("%w %q (want one of %s)", ErrUnknown, s, strings.Join(Names(), ", "))
}

// ParseList normalises a list of kinds: every entry may itself be a
// comma-separated list and blank entries are skipped; duplicates are dropped
// and the result is in the canonical order of [All]. A list without any kind
// is an error.
func ParseList(list []string) ([]Kind, error) {
	seen := map[Kind]bool{}
	for _, item := range list {
		for _, part := range strings.Split(item, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			k, err := Parse(part)
			if err != nil {
				return nil, err
			}
			seen[k] = true
		}
	}
	var out []Kind
	for _, k := range all {
		if seen[k] {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no model requested (want one or more of %s)", strings.Join(Names(), ", "))
	}
	return out, nil
}

// CheckPipeline returns the problems of the model list of a training
// pipeline run, nil if there are none: the list must not be empty, every
// entry must be exactly a kind name (see [Kind.Valid]), at least one must be
// a neural model (only those are exported and promoted) and the [Baseline]
// must be trained because the gate compares against it.
func CheckPipeline(kinds []string) []string {
	var problems []string
	if len(kinds) == 0 {
		problems = append(problems, "no models to train")
	}
	hasNet, hasBaseline := false, false
	for _, s := range kinds {
		k := Kind(s)
		switch {
		case !k.Valid():
			problems = append(problems, fmt.Sprintf("unknown model %q (%s)", s, strings.Join(Names(), ", ")))
		case k.IsNetwork():
			hasNet = true
		}
		hasBaseline = hasBaseline || k == Baseline
	}
	if !hasNet {
		problems = append(problems, fmt.Sprintf("models must include %s or %s: only neural models are exported and promoted", ZILN, Seq))
	}
	if !hasBaseline {
		problems = append(problems, fmt.Sprintf("models must include the %s baseline the gate compares against", Baseline))
	}
	return problems
}
