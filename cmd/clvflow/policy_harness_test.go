package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/provenance"
	"github.com/clvflow/clvflow/registry"
	"github.com/clvflow/clvflow/workflows"
	"go.temporal.io/sdk/client"
)

// The integration stacks' worker policy: a policy file the tests may
// rewrite (the worker reads it at the start of every run), signing keys for
// alice, bob and carol (allowed signers) and mallory (not), and the CLI set
// to sign as alice with her key.

var testSigners = []string{"alice", "bob", "carol"}

// defaultTestGate is the config's default gate.
var defaultTestGate = registry.GateThresholds{MinGiniLift: 0, MaxChampionRegression: 0.02, MaxDecileMAPE: 1, ParityTolerance: 1e-4, MinTestCustomers: 100}

// looseTestGate lets any challenger through (runs that test what happens
// after the gate).
var looseTestGate = registry.GateThresholds{MinGiniLift: -1, MaxChampionRegression: 1, MaxDecileMAPE: 100, ParityTolerance: 1e-4, MinTestCustomers: 10}

// setupTestPolicy writes the keys and a policy with gate into a temp dir
// and points the worker (policy.file) and the CLI (approvals.approver,
// approvals.signing_key) at them.
func setupTestPolicy(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	var lines string
	for _, name := range append(testSigners, "mallory") {
		pub, err := approval.WriteNewKey(filepath.Join(dir, "keys", name), name)
		if err != nil {
			t.Fatal(err)
		}
		if name != "mallory" {
			lines += approval.AllowedSignersLine(name, pub)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "allowed_signers"), []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	writeProvenanceKeys(t, dir)
	t.Setenv("CLVFLOW_POLICY_FILE", filepath.Join(dir, "policy.yaml"))
	t.Setenv("CLVFLOW_APPROVALS_APPROVER", "alice")
	t.Setenv("CLVFLOW_APPROVALS_SIGNING_KEY", keyOf(t, "alice"))
	setTestGate(t, defaultTestGate)
}

// writeProvenanceKeys makes the worker's provenance key and a trusted-keys
// file with its public half, and points the worker and verifiers at them.
func writeProvenanceKeys(t *testing.T, dir string) {
	t.Helper()
	key := filepath.Join(dir, "keys", "worker")
	if _, err := approval.WriteNewKey(key, "worker"); err != nil {
		t.Fatal(err)
	}
	signer, err := provenance.LoadSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	trusted := filepath.Join(dir, "trusted_keys")
	if err := os.WriteFile(trusted, []byte(signer.PublicKeyLine("worker")), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CLVFLOW_PROVENANCE_SIGNING_KEY", key)
	t.Setenv("CLVFLOW_PROVENANCE_TRUSTED_KEYS", trusted)
}

// setTestGate rewrites the test policy with gate; the next run applies it.
func setTestGate(t *testing.T, g registry.GateThresholds) {
	t.Helper()
	text := policy.Render(g, "allowed_signers", time.Hour, true)
	if err := os.WriteFile(os.Getenv("CLVFLOW_POLICY_FILE"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// keyOf is the private key of a test signer.
func keyOf(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(filepath.Dir(os.Getenv("CLVFLOW_POLICY_FILE")), "keys", name)
}

// pendingApproval queries what a run waits for.
func pendingApproval(t *testing.T, tc client.Client, workflowID string) workflows.PendingApproval {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	v, err := tc.QueryWorkflow(ctx, workflowID, "", workflows.QueryStatus)
	if err != nil {
		t.Fatalf("status of %s: %v", workflowID, err)
	}
	var st workflows.PipelineStatus
	if err := v.Get(&st); err != nil || st.PendingApproval == nil {
		t.Fatalf("%s is not waiting for an approval (%v): %+v", workflowID, err, st)
	}
	return *st.PendingApproval
}

// signedApproval is an approval of the pending version signed by signer's
// key as approver (edit changes the statement before signing).
func signedApproval(t *testing.T, p workflows.PendingApproval, approver, signer string, edit func(*approval.Statement)) workflows.Decision {
	t.Helper()
	st := approval.Statement{Decision: approval.Approve, WorkflowID: p.WorkflowID, RunID: p.RunID, Version: p.Version,
		ONNXSHA256: p.ONNXSHA256, Approver: approver, Comment: "reviewed", Time: time.Now()}
	if edit != nil {
		edit(&st)
	}
	sig, err := approval.SignWithKey(context.Background(), st.Marshal(), keyOf(t, signer))
	if err != nil {
		t.Fatal(err)
	}
	return workflows.Decision{Statement: string(st.Marshal()), Signature: string(sig)}
}
