// Package searchattr names the custom Temporal search attributes that clvflow
// workflows set, so that the dev stack, the test harness and production
// set-up docs register exactly the same list.
package searchattr

// Attribute is one custom search attribute: its name and Temporal type.
type Attribute struct {
	Name string
	// Type is the Temporal indexed value type as the CLI spells it:
	// Keyword, Text, Int, Double, Bool, Datetime or KeywordList.
	Type string
	Doc  string
}

// Names of the attributes, for use in workflow code.
const (
	Dataset      = "ClvDataset"
	ModelVersion = "ClvModelVersion"
	Stage        = "ClvStage"
	GateVerdict  = "ClvGateVerdict"
	Gini         = "ClvGini"
)

// All lists every custom search attribute clvflow uses, in a stable order.
var All = []Attribute{
	{Dataset, "Keyword", "sha256 of the raw dataset artifact the run trains on"},
	{ModelVersion, "Keyword", "model version registered by the run"},
	{Stage, "Keyword", "current pipeline stage (ingest, validate, featurize, train, evaluate, gate, export, register, approval, promote, done, failed)"},
	{GateVerdict, "Keyword", "evaluation gate verdict: pass or fail"},
	{Gini, "Double", "normalized Gini of the challenger on the test customers"},
}

// CLIFlags returns the `--search-attribute NAME=TYPE` flags for
// `temporal server start-dev`.
func CLIFlags() []string {
	out := make([]string, 0, 2*len(All))
	for _, a := range All {
		out = append(out, "--search-attribute", a.Name+"="+a.Type)
	}
	return out
}
