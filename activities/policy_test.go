package activities_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/policy"
	"go.temporal.io/sdk/temporal"
)

// TestLoadPolicy runs the activity as a worker does: the policy file is read
// at every call (an edit applies to the next run), and a worker without a
// policy or with a broken one fails the run at once, naming the problem.
func TestLoadPolicy(t *testing.T) {
	dir := t.TempDir()
	pub, err := approval.WriteNewKey(filepath.Join(dir, "key"), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "signers"), []byte(approval.AllowedSignersLine("alice", pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "policy.yaml")
	write := func(lift string) {
		text := "gate: {min_gini_lift: " + lift + ", max_champion_regression: 0.02, max_decile_mape: 1, parity_tolerance: 1e-4, min_test_customers: 100}\n" +
			"approvals: {allowed_signers: signers, deadline: 24h}\n"
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	acts := &activities.Activities{Policy: func() (policy.Policy, error) { return policy.Load(file) }}
	env := newEnv(t, acts)
	write("0.01")
	first := mustRun[activities.PolicyResult](t, env, acts.LoadPolicy)
	if first.Policy.Gate.MinGiniLift != 0.01 || first.Policy.Verify() != nil || !strings.Contains(first.Policy.AllowedSigners, "alice") {
		t.Fatalf("policy = %+v", first.Policy)
	}
	write("0.05")
	second := mustRun[activities.PolicyResult](t, env, acts.LoadPolicy)
	if second.Policy.Gate.MinGiniLift != 0.05 || second.Policy.Digest == first.Policy.Digest {
		t.Fatalf("an edited policy did not apply to the next call: %+v", second.Policy)
	}

	if err := os.WriteFile(file, []byte("gate: [not, a, map]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]*activities.Activities{"broken file": acts, "no policy": {}} {
		_, err := run[activities.PolicyResult](t, newEnv(t, a), a.LoadPolicy)
		var ae *temporal.ApplicationError
		if !errors.As(err, &ae) || ae.Type() != activities.ErrTypePolicy || !ae.NonRetryable() {
			t.Errorf("%s: error %v, want a non-retryable %s error", name, err, activities.ErrTypePolicy)
		}
	}
}
