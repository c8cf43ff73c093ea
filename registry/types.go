package registry

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/modelkind"
)

// DatasetRef names the data a version was trained on: the raw transaction
// log as ingested (content-addressed: its sha256 is the file's), the clean
// dataset validation made from it, and the ingest manifest. The same two
// hashes are in the ONNX file's metadata (modelfile.MetaRawDatasetSHA256,
// modelfile.MetaCleanDatasetSHA256).
type DatasetRef struct {
	Raw      artifacts.Ref `json:"raw"`
	Clean    artifacts.Ref `json:"clean"`
	Manifest artifacts.Ref `json:"manifest,omitzero"`
}

// UnmarshalJSON also reads the entries registered before the raw dataset
// had its own field: the clean dataset's reference then sat directly in
// "dataset" (and the raw one in artifacts["raw_dataset"], which the
// registry moves when it reads such an entry).
func (d *DatasetRef) UnmarshalJSON(b []byte) error {
	type plain DatasetRef
	var v struct {
		plain
		artifacts.Ref
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*d = DatasetRef(v.plain)
	if d.Clean.IsZero() && v.Ref.Key != "" {
		d.Clean = v.Ref
	}
	return nil
}

// CleaningRef is the validation/cleaning report of the dataset and its
// summary counts.
type CleaningRef struct {
	Report       artifacts.Ref    `json:"report,omitzero"`
	RowsIn       int64            `json:"rows_in"`
	RowsClean    int64            `json:"rows_clean"`
	RowsRejected int64            `json:"rows_rejected"`
	Customers    int64            `json:"customers"`
	RuleCounts   map[string]int64 `json:"rule_counts,omitempty"`
}

// Comparison operators of a gate [Check].
const (
	OpGE = ">="
	OpGT = ">"
	OpLE = "<="
	OpLT = "<"
	OpEQ = "=="
)

var validOps = []string{OpGE, OpGT, OpLE, OpLT, OpEQ}

// Check is one compared number of a gate: Value Op Threshold.
type Check struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	Op        string  `json:"op"`
	Passed    bool    `json:"passed"`
	// Interval is the paired bootstrap interval Value is a bound of (a
	// statistical check; see GateThresholds.Confidence).
	Interval *CheckInterval `json:"interval,omitempty"`
}

// CheckInterval is a bootstrap interval of a difference: the point
// estimate, the bounds at Confidence, and how it was drawn (reproducible
// from Resamples and Seed).
type CheckInterval struct {
	Estimate   float64 `json:"estimate"`
	Lo         float64 `json:"lo"`
	Hi         float64 `json:"hi"`
	Confidence float64 `json:"confidence"`
	Resamples  int     `json:"resamples"`
	Seed       uint64  `json:"seed"`
}

// NewCheck returns the check "value op threshold" with Passed evaluated.
func NewCheck(name string, value float64, op string, threshold float64) Check {
	c := Check{Name: name, Value: value, Threshold: threshold, Op: op}
	c.Passed, _ = c.Evaluate()
	return c
}

// Evaluate computes Value Op Threshold; ok is false for an unknown operator
// or a non-finite operand.
func (c Check) Evaluate() (passed, ok bool) {
	if !finite(c.Value) || !finite(c.Threshold) {
		return false, false
	}
	switch c.Op {
	case OpGE:
		return c.Value >= c.Threshold, true
	case OpGT:
		return c.Value > c.Threshold, true
	case OpLE:
		return c.Value <= c.Threshold, true
	case OpLT:
		return c.Value < c.Threshold, true
	case OpEQ:
		return c.Value == c.Threshold, true
	}
	return false, false
}

// Gate is the promotion gate's verdict with every compared number. Passed is
// true exactly when every check passed.
type Gate struct {
	Passed bool    `json:"passed"`
	Checks []Check `json:"checks"`
}

// NewGate returns a gate over checks, Passed when all of them passed (and
// there is at least one).
func NewGate(checks ...Check) Gate {
	g := Gate{Checks: checks, Passed: len(checks) > 0}
	for _, c := range checks {
		g.Passed = g.Passed && c.Passed
	}
	return g
}

// GateThresholds are the declarative thresholds a challenger must pass (the
// config section gate); a [Gate] verdict records every number compared
// with them.
type GateThresholds struct {
	// MinGiniLift: challenger Gini − baseline Gini must be ≥ this.
	MinGiniLift float64 `mapstructure:"min_gini_lift" yaml:"min_gini_lift" json:"min_gini_lift"`
	// MaxChampionRegression: champion Gini − challenger Gini on the same
	// customers must be ≤ this.
	MaxChampionRegression float64 `mapstructure:"max_champion_regression" yaml:"max_champion_regression" json:"max_champion_regression"`
	// MaxDecileMAPE: the challenger's decile MAPE must be ≤ this.
	MaxDecileMAPE float64 `mapstructure:"max_decile_mape" yaml:"max_decile_mape" json:"max_decile_mape"`
	// ParityTolerance bounds ONNX Runtime vs the Go forward pass.
	ParityTolerance float64 `mapstructure:"parity_tolerance" yaml:"parity_tolerance" json:"parity_tolerance"`
	// MinTestCustomers: refuse to judge on fewer test customers.
	MinTestCustomers int `mapstructure:"min_test_customers" yaml:"min_test_customers" json:"min_test_customers"`
	// Confidence (0 = off) makes the Gini checks statistical: a paired
	// bootstrap of the test customers gives intervals at this confidence;
	// the lift's lower bound must be ≥ MinGiniLift, and the challenger fails
	// only if the champion is better by more than MaxChampionRegression
	// with that confidence.
	Confidence float64 `mapstructure:"confidence" yaml:"confidence" json:"confidence,omitempty"`
	// BootstrapResamples is the number of resamples (0 = 1000).
	BootstrapResamples int `mapstructure:"bootstrap_resamples" yaml:"bootstrap_resamples" json:"bootstrap_resamples,omitempty"`
	// Baseline is the model kind the challenger's lift is measured against
	// (a classic model: naive, bgnbd, pnbd, mbgnbd; empty = bgnbd). A run
	// must train it.
	Baseline string `mapstructure:"baseline" yaml:"baseline" json:"baseline,omitempty"`
}

// GateProblem is one invalid threshold: its key under gate. and what is
// wrong with it.
type GateProblem struct {
	Key, Msg string
}

// Problems lists every invalid threshold (nil when all are valid); config
// and the worker policy both check thresholds with it.
func (g GateThresholds) Problems() []GateProblem {
	var out []GateProblem
	add := func(ok bool, key, format string, args ...any) {
		if !ok {
			out = append(out, GateProblem{Key: key, Msg: fmt.Sprintf(format, args...)})
		}
	}
	add(g.ParityTolerance > 0, "parity_tolerance", "must be > 0, got %g", g.ParityTolerance)
	add(g.MaxDecileMAPE > 0, "max_decile_mape", "must be > 0, got %g", g.MaxDecileMAPE)
	add(g.MaxChampionRegression >= 0, "max_champion_regression", "must be ≥ 0, got %g", g.MaxChampionRegression)
	add(g.MinTestCustomers >= 1, "min_test_customers", "must be ≥ 1, got %d", g.MinTestCustomers)
	add(g.Confidence >= 0 && g.Confidence < 1, "confidence", "must be in [0,1) (0: point estimates), got %g", g.Confidence)
	add(g.BootstrapResamples >= 0, "bootstrap_resamples", "must be ≥ 0 (0 = 1000), got %d", g.BootstrapResamples)
	k, err := modelkind.Parse(g.Baseline)
	add(g.Baseline == "" || (err == nil && !k.IsNetwork() && string(k) == g.Baseline), "baseline",
		"must be a classic model kind (naive, bgnbd, pnbd, mbgnbd), got %q", g.Baseline)
	return out
}

// ParitySummary summarises the ONNX Runtime vs Go reference parity check.
// MaxAbsDiff holds, per output, the largest deviation found (for
// expected_value the relative form |Δ|/max(1,|ref|) used by the parity rule).
type ParitySummary struct {
	Passed     bool               `json:"passed"`
	Tolerance  float64            `json:"tolerance"`
	Rows       int                `json:"rows"`
	MaxAbsDiff map[string]float64 `json:"max_abs_diff,omitempty"`
	Report     artifacts.Ref      `json:"report,omitzero"`
}

// Version is one registered model version. It is immutable once registered;
// status changes are recorded as [Event]s and alias moves as [AliasEntry]s.
type Version struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	ModelName string    `json:"model_name"`
	ModelKind string    `json:"model_kind"`
	// HyperParams is any JSON value (normally an object) of training
	// hyper-parameters.
	HyperParams json.RawMessage `json:"hyper_params,omitempty"`
	Seed        uint64          `json:"seed"`
	Dataset     DatasetRef      `json:"dataset"`
	Cleaning    CleaningRef     `json:"cleaning"`
	// FeatureSchema is the clvflow.feature_schema JSON of the ONNX model.
	FeatureSchema json.RawMessage `json:"feature_schema,omitempty"`
	// Metrics holds the evaluation metrics of every model compared, keyed by
	// model name (e.g. "ziln", "bgnbd", "naive") then metric name.
	Metrics map[string]map[string]float64 `json:"metrics,omitempty"`
	Gate    Gate                          `json:"gate"`
	// ONNX is the exported model artifact (with its SHA-256); it may be unset
	// for a version that failed its gate before export, but such a version
	// cannot be the target of an alias.
	ONNX artifacts.Ref `json:"onnx,omitzero"`
	// Artifacts are further artifacts by role (e.g. "checkpoint").
	Artifacts    map[string]artifacts.Ref `json:"artifacts,omitempty"`
	Parity       ParitySummary            `json:"parity"`
	CodeRevision string                   `json:"code_revision"`
	WorkflowID   string                   `json:"workflow_id"`
	RunID        string                   `json:"run_id"`
	Labels       map[string]string        `json:"labels,omitempty"`
	// Policy is the worker's promotion policy the run applied (absent for
	// versions registered before policies were recorded).
	Policy *PolicyRecord `json:"policy,omitempty"`
}

// PolicyRecord is what a registry entry keeps of the worker's promotion
// policy: its digest (sha256 over the policy's canonical JSON, the allowed
// signers included), where it was read, and the thresholds the run actually
// applied (the policy's, tightened by the run's input where it asked).
type PolicyRecord struct {
	Digest               string         `json:"digest"`
	Source               string         `json:"source"`
	Gate                 GateThresholds `json:"gate"`
	ApprovalDeadline     time.Duration  `json:"approval_deadline"`
	AllowAutoApproval    bool           `json:"allow_auto_approval"`
	AllowedSignersSHA256 string         `json:"allowed_signers_sha256"`
	AllowedSigners       int            `json:"allowed_signers"`
	// AllowedSignersText is the allowed-signers file itself (public keys),
	// so that the approval can be verified offline from the registry.
	AllowedSignersText string `json:"allowed_signers_text,omitempty"`
}

// SignedDecision is a person's signed decision as the pipeline verified it:
// the statement's exact bytes, the armored SSHSIG signature over them, and
// the signer the worker's allowed-signers file names for the key.
type SignedDecision struct {
	Format      string `json:"format"`
	Statement   string `json:"statement"`
	Signature   string `json:"signature"`
	Principal   string `json:"principal"`
	Fingerprint string `json:"fingerprint"`
	KeyType     string `json:"key_type"`
}

// EventType is the kind of a version status event.
type EventType string

// Version status event types.
const (
	EventApproved EventType = "approved"
	EventRejected EventType = "rejected"
	EventOrphaned EventType = "orphaned"
	EventPromoted EventType = "promoted"
	EventDemoted  EventType = "demoted"
	EventNote     EventType = "note"
)

var eventTypes = []EventType{EventApproved, EventRejected, EventOrphaned, EventPromoted, EventDemoted, EventNote}

// Event is one append-only status note about a version.
type Event struct {
	Seq        int64     `json:"seq"`
	Version    string    `json:"version"`
	Type       EventType `json:"type"`
	Actor      string    `json:"actor"`
	Comment    string    `json:"comment,omitempty"`
	WorkflowID string    `json:"workflow_id,omitempty"`
	RunID      string    `json:"run_id,omitempty"`
	Time       time.Time `json:"time"`
	// Signed is the signed decision behind an approval, a rejection or a
	// rollback (absent for events the pipeline records itself).
	Signed *SignedDecision `json:"signed,omitempty"`
}

// StatusOf returns the status a version's events give it: the type of its
// last approved/rejected/orphaned event, or "registered" when it has none.
// Promotion and notes do not change the status.
func StatusOf(events []Event) string {
	for _, e := range slices.Backward(events) {
		switch e.Type {
		case EventApproved, EventRejected, EventOrphaned:
			return string(e.Type)
		}
	}
	return "registered"
}

// AliasEntry is one move of an alias, entry Seq (from 1) of its history.
// From is empty for the first entry.
type AliasEntry struct {
	Seq        int64     `json:"seq"`
	Alias      string    `json:"alias"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Actor      string    `json:"actor"`
	Reason     string    `json:"reason,omitempty"`
	WorkflowID string    `json:"workflow_id,omitempty"`
	RunID      string    `json:"run_id,omitempty"`
	Time       time.Time `json:"time"`
}

// Move asks to point Alias at version To. When ExpectFrom is non-nil the move
// is a compare-and-swap: it fails with [ErrConflict] unless the alias
// currently points at *ExpectFrom ("" meaning the alias does not exist yet).
type Move struct {
	Alias      string
	To         string
	ExpectFrom *string
	Actor      string
	Reason     string
	WorkflowID string
	RunID      string
}

// AliasState is where an alias points now.
type AliasState struct {
	Alias   string    `json:"alias"`
	Version string    `json:"version"`
	Seq     int64     `json:"seq"`
	Since   time.Time `json:"since"`
	Actor   string    `json:"actor"`
}

var (
	versionIDRe = regexp.MustCompile(`^v[1-9][0-9]{0,17}$`)
	aliasRe     = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	versionLike = regexp.MustCompile(`^v[0-9]+$`)
	kindRe      = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
	sha256Re    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// IsVersionID reports whether s is a version id ("v1", "v2", …).
func IsVersionID(s string) bool { return versionIDRe.MatchString(s) }

// versionNumber returns N of "vN".
func versionNumber(id string) (int64, bool) {
	if !IsVersionID(id) {
		return 0, false
	}
	n, err := strconv.ParseInt(id[1:], 10, 64)
	return n, err == nil
}

// ValidateVersionID checks that id is a version id.
func ValidateVersionID(id string) error {
	if !IsVersionID(id) {
		return invalidf("version id %q is malformed (want v1, v2, …)", id)
	}
	return nil
}

// ValidateAlias checks an alias name: [a-z][a-z0-9-]{0,62}, and not shaped
// like a version id (v followed by digits), so "v3" always means the version.
func ValidateAlias(name string) error {
	if !aliasRe.MatchString(name) {
		return invalidf("alias name %q is malformed (want [a-z][a-z0-9-]{0,62})", name)
	}
	if versionLike.MatchString(name) {
		return invalidf("alias name %q looks like a version id", name)
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func validateRef(field string, o artifacts.Ref, needSHA bool) error {
	if o.Bucket == "" || o.Key == "" {
		return invalidf("%s: bucket and key are required (got %q, %q)", field, o.Bucket, o.Key)
	}
	if (needSHA || o.SHA256 != "") && !sha256Re.MatchString(o.SHA256) {
		return invalidf("%s: sha256 %q is not 64 lower-case hex digits", field, o.SHA256)
	}
	if o.Size < 0 {
		return invalidf("%s: negative size %d", field, o.Size)
	}
	return nil
}

func validateOptionalRef(field string, o artifacts.Ref) error {
	if o.IsZero() {
		return nil
	}
	return validateRef(field, o, false)
}

func validateJSON(field string, raw json.RawMessage) error {
	if len(raw) > 0 && !json.Valid(raw) {
		return invalidf("%s is not valid JSON", field)
	}
	return nil
}

// Validate checks a version record before it is registered. The ID may be
// empty (the registry allocates one) or a version id.
func (v *Version) Validate() error {
	if v.ID != "" {
		if err := ValidateVersionID(v.ID); err != nil {
			return err
		}
	}
	if strings.TrimSpace(v.ModelName) == "" {
		return invalidf("version: model_name is required")
	}
	if !kindRe.MatchString(v.ModelKind) {
		return invalidf("version: model_kind %q is malformed (want [a-z][a-z0-9_-]*)", v.ModelKind)
	}
	if err := validateJSON("version: hyper_params", v.HyperParams); err != nil {
		return err
	}
	if err := validateJSON("version: feature_schema", v.FeatureSchema); err != nil {
		return err
	}
	if err := v.validateRefs(); err != nil {
		return err
	}
	if err := v.validateNumbers(); err != nil {
		return err
	}
	if err := v.Gate.validate(); err != nil {
		return err
	}
	for _, k := range sortedKeys(v.Labels) {
		if k == "" {
			return invalidf("version: label with empty key")
		}
	}
	return nil
}

// validateRefs checks every artifact reference of the version: the
// dataset's raw and clean files and the ONNX file (when set) with their
// sha256, the optional reports and every named artifact.
func (v *Version) validateRefs() error {
	refs := []struct {
		what     string
		ref      artifacts.Ref
		optional bool
	}{
		{"dataset.raw", v.Dataset.Raw, false},
		{"dataset.clean", v.Dataset.Clean, false},
		{"dataset.manifest", v.Dataset.Manifest, true},
		{"cleaning.report", v.Cleaning.Report, true},
		{"onnx", v.ONNX, v.ONNX.IsZero()},
		{"parity.report", v.Parity.Report, true},
	}
	for _, r := range refs {
		err := validateRef("version: "+r.what, r.ref, true)
		if r.optional {
			err = validateOptionalRef("version: "+r.what, r.ref)
		}
		if err != nil {
			return err
		}
	}
	for _, role := range sortedKeys(v.Artifacts) {
		if err := validateRef("version: artifacts["+role+"]", v.Artifacts[role], false); err != nil {
			return err
		}
	}
	return nil
}

// validateNumbers checks that the metrics and the parity figures are
// finite (JSON cannot hold the others) and the tolerance ≥ 0.
func (v *Version) validateNumbers() error {
	for _, model := range sortedKeys(v.Metrics) {
		for _, name := range sortedKeys(v.Metrics[model]) {
			if val := v.Metrics[model][name]; !finite(val) {
				return invalidf("version: metrics[%s][%s] = %v is not finite (JSON cannot hold it)", model, name, val)
			}
		}
	}
	for _, out := range sortedKeys(v.Parity.MaxAbsDiff) {
		if val := v.Parity.MaxAbsDiff[out]; !finite(val) {
			return invalidf("version: parity.max_abs_diff[%s] = %v is not finite", out, val)
		}
	}
	if !finite(v.Parity.Tolerance) || v.Parity.Tolerance < 0 {
		return invalidf("version: parity.tolerance %v must be a finite number ≥ 0", v.Parity.Tolerance)
	}
	return nil
}

func (g Gate) validate() error {
	all := len(g.Checks) > 0
	for i, c := range g.Checks {
		if c.Name == "" {
			return invalidf("version: gate.checks[%d]: name is required", i)
		}
		if !slices.Contains(validOps, c.Op) {
			return invalidf("version: gate check %q: op %q is not one of %s", c.Name, c.Op, strings.Join(validOps, " "))
		}
		passed, ok := c.Evaluate()
		if !ok {
			return invalidf("version: gate check %q: value %v or threshold %v is not finite", c.Name, c.Value, c.Threshold)
		}
		if passed != c.Passed {
			return invalidf("version: gate check %q: passed=%t but %v %s %v is %t", c.Name, c.Passed, c.Value, c.Op, c.Threshold, passed)
		}
		all = all && c.Passed
	}
	if g.Passed && !all {
		return invalidf("version: gate.passed is true but not every check passed (or there are none)")
	}
	if !g.Passed && all {
		return invalidf("version: gate.passed is false but every check passed")
	}
	return nil
}

func (e *Event) validate() error {
	if err := ValidateVersionID(e.Version); err != nil {
		return err
	}
	if !slices.Contains(eventTypes, e.Type) {
		return invalidf("event for %s: type %q is not one of approved, rejected, orphaned, promoted, demoted, note", e.Version, e.Type)
	}
	if strings.TrimSpace(e.Actor) == "" {
		return invalidf("event %s for %s: actor is required", e.Type, e.Version)
	}
	return nil
}

func (m *Move) validate() error {
	if err := ValidateAlias(m.Alias); err != nil {
		return err
	}
	if err := ValidateVersionID(m.To); err != nil {
		return fmt.Errorf("move of alias %q: %w", m.Alias, err)
	}
	if m.ExpectFrom != nil && *m.ExpectFrom != "" {
		if err := ValidateVersionID(*m.ExpectFrom); err != nil {
			return fmt.Errorf("move of alias %q: expected source: %w", m.Alias, err)
		}
	}
	if strings.TrimSpace(m.Actor) == "" {
		return invalidf("move of alias %q to %s: actor is required", m.Alias, m.To)
	}
	return nil
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	return slices.Sorted(maps.Keys(m))
}
