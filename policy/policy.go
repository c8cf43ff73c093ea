// Package policy owns the worker's promotion policy: the gate thresholds a
// challenger must pass, whose signed decisions count (an OpenSSH
// allowed-signers file), how long a run waits for a decision, and whether a
// run may approve itself automatically.
//
// The policy belongs to the worker, never to a run's input: the pipeline
// loads it through an activity at the start of every run (so an edited file
// applies to the next run), records it in history and in the registry entry
// by its digest, and lets the input only tighten it ([Policy.Gate]).
//
// A policy file (config policy.file) is YAML:
//
//	gate:
//	  min_gini_lift: 0.0
//	  max_champion_regression: 0.02
//	  max_decile_mape: 1.0
//	  parity_tolerance: 1.0e-4
//	  min_test_customers: 100
//	approvals:
//	  allowed_signers: allowed_signers   # relative to this file
//	  deadline: 72h
//	  allow_auto_approval: false
//
// Without a policy file the worker's own config sections gate and approvals
// are its policy.
package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/registry"
	"go.yaml.in/yaml/v3"
)

// Policy is the worker's promotion policy as a run applies it. It travels
// through workflow history whole (the allowed signers are public keys).
type Policy struct {
	// Source is where it was read: a file path, or "worker config".
	Source string                  `json:"source"`
	Gate   registry.GateThresholds `json:"gate"`
	// AllowedSigners is the content of the allowed-signers file.
	AllowedSigners    string        `json:"allowed_signers"`
	ApprovalDeadline  time.Duration `json:"approval_deadline"`
	AllowAutoApproval bool          `json:"allow_auto_approval"`
	// Digest is the sha256 of the policy's canonical JSON (everything but
	// Source and Digest).
	Digest string `json:"digest"`
}

// FromConfig builds the policy of a worker without a policy file from its
// config: the gate section, the allowed-signers file (may be empty: then no
// decision can be accepted), the approval deadline and the auto-approval
// switch.
func FromConfig(gate registry.GateThresholds, allowedSignersFile string, deadline time.Duration, allowAuto bool) (Policy, error) {
	p := Policy{Source: "worker config", Gate: gate, ApprovalDeadline: deadline, AllowAutoApproval: allowAuto}
	if allowedSignersFile != "" {
		b, err := readSigners(allowedSignersFile)
		if err != nil {
			return Policy{}, err
		}
		p.AllowedSigners = b
	}
	return p.seal()
}

// fileFormat is the YAML of a policy file.
type fileFormat struct {
	Gate      *registry.GateThresholds `yaml:"gate"`
	Approvals struct {
		AllowedSigners    string `yaml:"allowed_signers"`
		Deadline          string `yaml:"deadline"`
		AllowAutoApproval bool   `yaml:"allow_auto_approval"`
	} `yaml:"approvals"`
}

// Load reads a policy file. Every section is required; unknown keys are
// errors (a misspelt threshold must not silently fall back to nothing).
func Load(path string) (Policy, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Policy{}, fmt.Errorf("policy file: %w", err)
	}
	var f fileFormat
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Policy{}, fmt.Errorf("policy file %s: %v", path, yamlErrorWithoutContent(err))
	}
	if f.Gate == nil {
		return Policy{}, fmt.Errorf("policy file %s: the gate section is required", path)
	}
	if f.Approvals.AllowedSigners == "" || f.Approvals.Deadline == "" {
		return Policy{}, fmt.Errorf("policy file %s: approvals.allowed_signers and approvals.deadline are required", path)
	}
	deadline, err := time.ParseDuration(f.Approvals.Deadline)
	if err != nil {
		return Policy{}, fmt.Errorf("policy file %s: approvals.deadline: want a duration like 72h, got %q", path, f.Approvals.Deadline)
	}
	signersPath := f.Approvals.AllowedSigners
	if !filepath.IsAbs(signersPath) {
		signersPath = filepath.Join(filepath.Dir(path), signersPath)
	}
	signers, err := readSigners(signersPath)
	if err != nil {
		return Policy{}, fmt.Errorf("policy file %s: %w", path, err)
	}
	p := Policy{Source: path, Gate: *f.Gate, AllowedSigners: signers, ApprovalDeadline: deadline, AllowAutoApproval: f.Approvals.AllowAutoApproval}
	p, err = p.seal()
	if err != nil {
		return Policy{}, fmt.Errorf("policy file %s: %w", path, err)
	}
	return p, nil
}

// yamlErrorWithoutContent keeps yaml's line numbers but not the quoted
// values some of its messages carry.
func yamlErrorWithoutContent(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "`"); i >= 0 {
		msg = strings.TrimSpace(msg[:i]) + " (value not shown)"
	}
	return msg
}

func readSigners(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("allowed signers: %w", err)
	}
	if _, err := approval.ParseAllowedSigners(b, path); err != nil {
		return "", err
	}
	return string(b), nil
}

// seal validates the policy and sets its digest.
func (p Policy) seal() (Policy, error) {
	if err := p.validate(); err != nil {
		return Policy{}, err
	}
	p.Digest = p.digest()
	return p, nil
}

func (p Policy) validate() error {
	var errs []string
	for _, pr := range p.Gate.Problems() {
		errs = append(errs, "gate."+pr.Key+" "+pr.Msg)
	}
	if p.ApprovalDeadline <= 0 {
		errs = append(errs, fmt.Sprintf("approvals.deadline must be > 0, got %s", p.ApprovalDeadline))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

func (p Policy) digest() string {
	p.Source, p.Digest = "", ""
	b, _ := json.Marshal(p) // cannot fail: numbers, strings, a bool
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Verify reports whether the digest matches the content (a policy read back
// from history or the registry).
func (p Policy) Verify() error {
	if p.Digest == "" || p.digest() != p.Digest {
		return errors.New("policy digest does not match its content")
	}
	return nil
}

// Signers parses the allowed signers.
func (p Policy) Signers() (*approval.AllowedSigners, error) {
	return approval.ParseAllowedSigners([]byte(p.AllowedSigners), "policy allowed signers")
}

// Record is what the registry keeps of the policy, with the thresholds the
// run applied.
func (p Policy) Record(applied registry.GateThresholds) registry.PolicyRecord {
	sum := sha256.Sum256([]byte(p.AllowedSigners))
	signers, _ := p.Signers()
	return registry.PolicyRecord{Digest: p.Digest, Source: p.Source, Gate: applied, ApprovalDeadline: p.ApprovalDeadline,
		AllowAutoApproval: p.AllowAutoApproval, AllowedSignersSHA256: hex.EncodeToString(sum[:]), AllowedSigners: signers.Len(),
		AllowedSignersText: p.AllowedSigners}
}

// Render writes a policy file with the given contents (allowedSigners is the
// path of the allowed-signers file, relative to the policy file's directory
// or absolute); Load reads it back.
func Render(gate registry.GateThresholds, allowedSigners string, deadline time.Duration, allowAuto bool) string {
	return fmt.Sprintf(`gate:
  min_gini_lift: %g
  max_champion_regression: %g
  max_decile_mape: %g
  parity_tolerance: %g
  min_test_customers: %d
  confidence: %g
  bootstrap_resamples: %d
  baseline: %q
approvals:
  allowed_signers: %s
  deadline: %s
  allow_auto_approval: %t
`, gate.MinGiniLift, gate.MaxChampionRegression, gate.MaxDecileMAPE, gate.ParityTolerance, gate.MinTestCustomers,
		gate.Confidence, gate.BootstrapResamples, gate.Baseline, allowedSigners, deadline, allowAuto)
}
