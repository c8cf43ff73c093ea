package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// samples are the per-run values of one measurement; NaN marks a run that
// failed or was skipped.
type samples []float64

// median is the median of the finite samples; NaN when there is none.
func (s samples) median() float64 {
	var v []float64
	for _, x := range s {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// String lists the samples, e.g. "12.1, 12.5, 13.0".
func (s samples) format(f func(float64) string) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = f(x)
	}
	return strings.Join(parts, ", ")
}

// direction says which way a measurement is better.
type direction int

const (
	lowerBetter direction = iota
	higherBetter
)

// row is one line of the table.
type row struct {
	Work   string
	Unit   string // printed after the values
	Better direction
	Go     samples
	Peer   samples
	// PeerName names the peer column's command; PeerSkip, when set, is why
	// the peer did not run (the peer cell says so).
	PeerName, PeerSkip string
	// Target describes the goal; Met reports whether the medians meet it
	// (nil: no target).
	Target string
	Met    func(goMed, ratio float64) bool
	// NeedsPeer marks a target on the ratio: without a peer it is n/a.
	NeedsPeer bool
	Digits    int // decimals of the values
}

// ratio is clvflow's advantage over the peer: peer/clvflow for times and
// sizes, clvflow/peer for rates; > 1 means clvflow is better. NaN without
// a peer.
func (r row) ratio() float64 {
	g, p := r.Go.median(), r.Peer.median()
	if r.PeerSkip != "" || math.IsNaN(g) || math.IsNaN(p) || g == 0 || p == 0 {
		return math.NaN()
	}
	if r.Better == lowerBetter {
		return p / g
	}
	return g / p
}

func (r row) value(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f", r.Digits, v)
}

// render writes the markdown table: the medians, the ratio (clvflow's
// advantage, ×), the target and whether it is met, then the per-run
// samples below.
func render(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| work | clvflow | peer in the same run | ratio (clvflow advantage) | target | met |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, r := range rows {
		g := r.value(r.Go.median()) + " " + r.Unit
		p := "—"
		switch {
		case r.PeerSkip != "":
			p = "skipped: " + r.PeerSkip
		case r.PeerName != "":
			p = r.value(r.Peer.median()) + " " + r.Unit + " (" + r.PeerName + ")"
		}
		ratio := r.ratio()
		rs := "—"
		if !math.IsNaN(ratio) {
			rs = fmt.Sprintf("%.2f×", ratio)
		}
		met := "—"
		if r.Met != nil {
			gm := r.Go.median()
			switch {
			case math.IsNaN(gm):
				met = "n/a"
			case r.NeedsPeer && math.IsNaN(ratio):
				met = "n/a (no peer)"
			case r.Met(gm, ratio):
				met = "yes"
			default:
				met = "**no**"
			}
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.Work, g, p, rs, orDash(r.Target), met)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Per-run samples (medians above):")
	for _, r := range rows {
		fmt.Fprintf(w, "- %s: clvflow [%s]", r.Work, r.Go.format(r.value))
		if r.PeerSkip == "" && r.PeerName != "" {
			fmt.Fprintf(w, ", peer [%s]", r.Peer.format(r.value))
		}
		fmt.Fprintln(w)
	}
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// atLeastRatio returns a Met that holds when the ratio is known and ≥ x.
func atLeastRatio(x float64) func(_, ratio float64) bool {
	return func(_, ratio float64) bool { return !math.IsNaN(ratio) && ratio >= x }
}

// atMost returns a Met that holds when clvflow's median is ≤ x.
func atMost(x float64) func(goMed, _ float64) bool {
	return func(goMed, _ float64) bool { return goMed <= x }
}
