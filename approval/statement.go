// Package approval owns signed decisions: the statement a person signs to
// approve, reject or roll back a model version, the SSHSIG signatures over it
// (the format of `ssh-keygen -Y sign -n clvflow-approval`), and the OpenSSH
// allowed-signers file (the format of git's gpg.ssh.allowedSignersFile) that
// says whose signatures count.
//
// A statement names exactly one decision about one version in one workflow
// run: its workflow id, run id, version, the sha256 of the version's ONNX
// file, the approver's identity, the decision, the comment and the time.
// Its bytes (canonical JSON, one line) are what is signed, so a signature
// cannot be moved to another run or version, and a changed comment no longer
// verifies.
//
// Verification is pure computation over bytes the caller already holds (no
// clock, no I/O), so the pipeline runs it inside its Update validator,
// before anything reaches workflow history.
package approval

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Namespace is the SSHSIG namespace of every clvflow decision; a signature
// made for another namespace (git commits, files) never verifies here.
const Namespace = "clvflow-approval"

// StatementType identifies the statement format.
const StatementType = "https://clvflow.dev/decision/v1"

// Decision kinds.
const (
	Approve  = "approve"
	Reject   = "reject"
	Rollback = "rollback"
)

// Statement is what a person signs.
type Statement struct {
	Type       string `json:"_type"`
	Decision   string `json:"decision"`
	WorkflowID string `json:"workflow_id"`
	// RunID is the Temporal run; empty for a rollback, which is bound to its
	// own workflow id and to the champion it replaces (From).
	RunID      string `json:"run_id,omitempty"`
	Version    string `json:"version"`
	ONNXSHA256 string `json:"onnx_sha256"`
	// From is the champion a rollback moves away from.
	From     string    `json:"from,omitempty"`
	Approver string    `json:"approver"`
	Comment  string    `json:"comment,omitempty"`
	Time     time.Time `json:"time"`
}

// Marshal returns the canonical bytes of s: JSON in field order, no HTML
// escaping, time in UTC to the second, and a final newline (so the file a
// person signs with ssh-keygen ends as text files do).
func (s Statement) Marshal() []byte {
	s.Type = StatementType
	s.Time = s.Time.UTC().Truncate(time.Second)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // cannot fail: strings and a time
	return buf.Bytes()
}

// ParseStatement reads the canonical bytes back. Unknown fields, another
// type, a missing field or bytes that are not exactly the canonical form are
// refused: what was signed is what is read.
func ParseStatement(b []byte) (Statement, error) {
	var s Statement
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Statement{}, fmt.Errorf("decision statement is not valid JSON: %v", err)
	}
	if s.Type != StatementType {
		return Statement{}, fmt.Errorf("decision statement has type %q, want %q", s.Type, StatementType)
	}
	if err := s.check(); err != nil {
		return Statement{}, err
	}
	if !bytes.Equal(s.Marshal(), b) {
		return Statement{}, errors.New("decision statement is not in canonical form (make it with `clvflow approve|reject|rollback --print-statement`)")
	}
	return s, nil
}

func (s Statement) check() error {
	var missing []string
	for _, f := range [][2]string{{"workflow_id", s.WorkflowID}, {"version", s.Version}, {"approver", s.Approver}} {
		if strings.TrimSpace(f[1]) == "" {
			missing = append(missing, f[0])
		}
	}
	if s.Decision != Approve && s.Decision != Reject && s.Decision != Rollback {
		return fmt.Errorf("decision statement: decision must be %s, %s or %s, got %q", Approve, Reject, Rollback, s.Decision)
	}
	if s.Time.IsZero() {
		missing = append(missing, "time")
	}
	if len(missing) > 0 {
		return fmt.Errorf("decision statement lacks %s", strings.Join(missing, ", "))
	}
	return nil
}

// Expect is what a verifier knows independently of the statement: the run
// that waits and what it waits for. Every set field must match.
type Expect struct {
	Decisions  []string
	WorkflowID string
	RunID      string
	Version    string
	ONNXSHA256 string
	From       string
	// NotBefore and NotAfter bound the statement's time (zero: unbounded).
	NotBefore, NotAfter time.Time
}

// Match checks a statement against what the verifier expects and names the
// first field that differs.
func (e Expect) Match(s Statement) error {
	if len(e.Decisions) > 0 && !slices.Contains(e.Decisions, s.Decision) {
		return fmt.Errorf("the statement decides %q; this request may only %s", s.Decision, strings.Join(e.Decisions, " or "))
	}
	fields := []struct{ name, want, got string }{
		{"workflow id", e.WorkflowID, s.WorkflowID}, {"run id", e.RunID, s.RunID}, {"version", e.Version, s.Version},
		{"ONNX sha256", e.ONNXSHA256, s.ONNXSHA256}, {"current champion", e.From, s.From},
	}
	for _, f := range fields {
		if f.want != "" && f.got != f.want {
			return fmt.Errorf("the signed statement is for %s %q, not %q (a signature is valid for one run and one version only)", f.name, f.got, f.want)
		}
	}
	if !e.NotBefore.IsZero() && s.Time.Before(e.NotBefore) {
		return fmt.Errorf("the signed statement is dated %s, before this decision was requested (%s)", s.Time.Format(time.RFC3339), e.NotBefore.UTC().Format(time.RFC3339))
	}
	if !e.NotAfter.IsZero() && s.Time.After(e.NotAfter) {
		return fmt.Errorf("the signed statement is dated %s, in the future (now %s)", s.Time.Format(time.RFC3339), e.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}
