package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/registry"
)

const policyYAML = `gate:
  min_gini_lift: 0.01
  max_champion_regression: 0.02
  max_decile_mape: 0.8
  parity_tolerance: 1.0e-4
  min_test_customers: 100
approvals:
  allowed_signers: signers/allowed
  deadline: 48h
  allow_auto_approval: false
`

func writePolicy(t *testing.T, text string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "signers"), 0o700); err != nil {
		t.Fatal(err)
	}
	pub, err := approval.WriteNewKey(filepath.Join(dir, "key"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signers", "allowed"), []byte(approval.AllowedSignersLine("alice", pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func TestLoad(t *testing.T) {
	dir, path := writePolicy(t, policyYAML)
	p, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := registry.GateThresholds{MinGiniLift: 0.01, MaxChampionRegression: 0.02, MaxDecileMAPE: 0.8, ParityTolerance: 1e-4, MinTestCustomers: 100}
	if p.Gate != want || p.ApprovalDeadline != 48*time.Hour || p.AllowAutoApproval || p.Source != path {
		t.Fatalf("policy = %+v", p)
	}
	s, err := p.Signers()
	if err != nil || s.Len() != 1 {
		t.Fatalf("signers: %v, %d", err, s.Len())
	}
	if err := p.Verify(); err != nil {
		t.Fatal(err)
	}
	rec := p.Record(p.Gate)
	if rec.Digest != p.Digest || rec.AllowedSigners != 1 || len(rec.AllowedSignersSHA256) != 64 {
		t.Fatalf("record = %+v", rec)
	}
	// Adding a signer changes the digest; the same content elsewhere does not.
	first := p.Digest
	pub, _ := approval.WriteNewKey(filepath.Join(dir, "key2"), "bob")
	f, _ := os.OpenFile(filepath.Join(dir, "signers", "allowed"), os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(approval.AllowedSignersLine("bob", pub))
	_ = f.Close()
	p2, err := policy.Load(path)
	if err != nil || p2.Digest == first {
		t.Fatalf("a new signer did not change the digest (%v)", err)
	}
	p2.Gate.MinGiniLift = -9
	if p2.Verify() == nil {
		t.Fatal("a policy changed after loading still verifies")
	}
}

func TestLoadRefusesBadFiles(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"unknown key", strings.Replace(policyYAML, "min_gini_lift", "min_gini_lfit", 1), "not found"},
		{"no gate", "approvals:\n  allowed_signers: signers/allowed\n  deadline: 1h\n", "gate section is required"},
		{"no signers", strings.Replace(policyYAML, "  allowed_signers: signers/allowed\n", "", 1), "approvals.allowed_signers and approvals.deadline are required"},
		{"bad deadline", strings.Replace(policyYAML, "48h", "two days", 1), `got "two days"`},
		{"bad threshold", strings.Replace(policyYAML, "parity_tolerance: 1.0e-4", "parity_tolerance: 0", 1), "gate.parity_tolerance must be > 0"},
		{"missing signers file", strings.Replace(policyYAML, "signers/allowed", "nope", 1), "allowed signers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, path := writePolicy(t, c.text)
			_, err := policy.Load(path)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error = %v, want it to name %s and say %q", err, path, c.want)
			}
		})
	}
}

func f64(v float64) *float64 { return &v }
func i(v int) *int           { return &v }

func TestTightenNeverLoosens(t *testing.T) {
	p, err := policy.FromConfig(registry.GateThresholds{MinGiniLift: 0, MaxChampionRegression: 0.02, MaxDecileMAPE: 1, ParityTolerance: 1e-4, MinTestCustomers: 100}, "", 72*time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	loose := &policy.GateRequest{MinGiniLift: f64(-9), MaxChampionRegression: f64(5), MaxDecileMAPE: f64(100), ParityTolerance: f64(1), MinTestCustomers: i(1)}
	applied, ignored := p.Tighten(loose)
	if applied != p.Gate || len(ignored) != 5 {
		t.Fatalf("a loosening request changed the gate: %+v (ignored %q)", applied, ignored)
	}
	strict := &policy.GateRequest{MinGiniLift: f64(0.05), MaxChampionRegression: f64(0), MaxDecileMAPE: f64(0.5), ParityTolerance: f64(1e-5), MinTestCustomers: i(500)}
	applied, ignored = p.Tighten(strict)
	want := registry.GateThresholds{MinGiniLift: 0.05, MaxChampionRegression: 0, MaxDecileMAPE: 0.5, ParityTolerance: 1e-5, MinTestCustomers: 500}
	if applied != want || len(ignored) != 0 {
		t.Fatalf("tightening: %+v, ignored %q", applied, ignored)
	}
	if applied, _ := p.Tighten(&policy.GateRequest{ParityTolerance: f64(0)}); applied.ParityTolerance != 1e-4 {
		t.Fatalf("a zero parity tolerance was applied: %+v", applied)
	}
	if p.Deadline(time.Hour) != time.Hour || p.Deadline(1000*time.Hour) != 72*time.Hour || p.Deadline(0) != 72*time.Hour {
		t.Fatal("deadline may only be shortened")
	}
}

func TestRenderLoadsBack(t *testing.T) {
	dir, _ := writePolicy(t, policyYAML)
	g := registry.GateThresholds{MinGiniLift: 0.01, MaxChampionRegression: 0.03, MaxDecileMAPE: 0.7, ParityTolerance: 1e-5, MinTestCustomers: 50, Confidence: 0.9, BootstrapResamples: 500}
	path := filepath.Join(dir, "rendered.yaml")
	if err := os.WriteFile(path, []byte(policy.Render(g, "signers/allowed", 36*time.Hour, true)), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.Gate != g || p.ApprovalDeadline != 36*time.Hour || !p.AllowAutoApproval {
		t.Fatalf("rendered policy read back as %+v", p)
	}
}
