package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Diff sections, in the order changes are reported.
const (
	SectionParams  = "params"
	SectionMetrics = "metrics"
	SectionGate    = "gate"
	SectionParity  = "parity"
	SectionLineage = "lineage"
	SectionLabels  = "labels"
)

var sectionOrder = []string{SectionParams, SectionMetrics, SectionGate, SectionParity, SectionLineage, SectionLabels}

// Change is one leaf value that differs between two versions. A and B are
// the JSON values (json.Number, string, bool) or nil where the leaf is absent
// in that version. Delta is B−A when both are numbers.
type Change struct {
	Section string   `json:"section"`
	Path    string   `json:"path"`
	A       any      `json:"a"`
	B       any      `json:"b"`
	Delta   *float64 `json:"delta,omitempty"`
}

// Diff is the structured comparison of version A with version B. ID and
// creation time are not compared; every other field of [Version] is, leaf by
// leaf (hyper-parameters and the feature schema down into their JSON, gate
// checks matched by name).
type Diff struct {
	A       string   `json:"a"`
	B       string   `json:"b"`
	Changes []Change `json:"changes"`
}

// Equal reports whether the two versions differ in nothing but id and time.
func (d Diff) Equal() bool { return len(d.Changes) == 0 }

// Section returns the changes of one section.
func (d Diff) Section(name string) []Change {
	var out []Change
	for _, c := range d.Changes {
		if c.Section == name {
			out = append(out, c)
		}
	}
	return out
}

// String renders the diff for humans: one line per change, grouped by
// section, "old → new (+delta)".
func (d Diff) String() string {
	var buf bytes.Buffer
	if d.Equal() {
		fmt.Fprintf(&buf, "%s and %s do not differ (apart from id and creation time)\n", d.A, d.B)
		return buf.String()
	}
	fmt.Fprintf(&buf, "%s → %s: %d change(s)\n", d.A, d.B, len(d.Changes))
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	section := ""
	for _, c := range d.Changes {
		if c.Section != section {
			section = c.Section
			fmt.Fprintf(tw, "%s:\n", section)
		}
		delta := ""
		if c.Delta != nil {
			delta = " (" + formatSigned(*c.Delta) + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s → %s%s\n", c.Path, FormatValue(c.A), FormatValue(c.B), delta)
	}
	tw.Flush()
	return buf.String()
}

// FormatValue renders a Change value for humans; nil (absent) is "(none)".
func FormatValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return `""`
		}
		return x
	case json.Number:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

func formatSigned(f float64) string {
	s := strconv.FormatFloat(f, 'g', 6, 64)
	if f >= 0 {
		s = "+" + s
	}
	return s
}

// DiffVersions compares two versions.
func DiffVersions(a, b Version) Diff {
	fa, fb := flattenVersion(a), flattenVersion(b)
	paths := map[string]bool{}
	for p := range fa {
		paths[p] = true
	}
	for p := range fb {
		paths[p] = true
	}
	d := Diff{A: a.ID, B: b.ID, Changes: []Change{}}
	for _, p := range sortedKeys(paths) {
		va, inA := fa[p]
		vb, inB := fb[p]
		if inA && inB && leafEqual(va, vb) {
			continue
		}
		section, path := sectionOf(p)
		c := Change{Section: section, Path: path, A: va, B: vb}
		na, okA := va.(json.Number)
		nb, okB := vb.(json.Number)
		if okA && okB {
			x, errA := na.Float64()
			y, errB := nb.Float64()
			if errA == nil && errB == nil {
				delta := y - x
				c.Delta = &delta
			}
		}
		d.Changes = append(d.Changes, c)
	}
	slices.SortStableFunc(d.Changes, func(x, y Change) int {
		return slices.Index(sectionOrder, x.Section) - slices.Index(sectionOrder, y.Section)
	})
	return d
}

func leafEqual(a, b any) bool {
	na, okA := a.(json.Number)
	nb, okB := b.(json.Number)
	if okA && okB {
		if na == nb {
			return true
		}
		x, errA := na.Float64()
		y, errB := nb.Float64()
		return errA == nil && errB == nil && x == y
	}
	return a == b
}

func sectionOf(path string) (section, rest string) {
	top, rest, _ := strings.Cut(path, ".")
	switch top {
	case "hyper_params":
		return SectionParams, orRoot(rest)
	case "metrics":
		return SectionMetrics, rest
	case "gate":
		return SectionGate, path
	case "parity":
		return SectionParity, path
	case "labels":
		return SectionLabels, rest
	}
	return SectionLineage, path
}

func orRoot(s string) string {
	if s == "" {
		return "(value)"
	}
	return s
}

// flattenVersion maps every leaf of the version's JSON to its dotted path.
func flattenVersion(v Version) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		// Only non-finite floats fail to encode; registered versions are
		// validated, so report the failure as a lineage difference.
		return map[string]any{"encoding_error": err.Error()}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return map[string]any{"encoding_error": err.Error()}
	}
	delete(doc, "id")
	delete(doc, "created_at")
	if g, ok := doc["gate"].(map[string]any); ok {
		if checks, ok := g["checks"].([]any); ok {
			byName := map[string]any{}
			for _, c := range checks {
				cm, _ := c.(map[string]any)
				name, _ := cm["name"].(string)
				key := name
				for i := 2; byName[key] != nil; i++ {
					key = fmt.Sprintf("%s#%d", name, i)
				}
				delete(cm, "name")
				byName[key] = cm
			}
			g["checks"] = byName
		}
	}
	out := map[string]any{}
	flatten("", doc, out)
	return out
}

func flatten(path string, v any, out map[string]any) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 && path != "" {
			out[path] = "{}"
		}
		for k, val := range x {
			flatten(join(k), val, out)
		}
	case []any:
		if len(x) == 0 {
			out[path] = "[]"
		}
		for i, val := range x {
			flatten(fmt.Sprintf("%s[%d]", path, i), val, out)
		}
	default:
		out[path] = x
	}
}
