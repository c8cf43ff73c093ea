package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// policyChange marks runs that load the worker's policy; runs recorded
// before it took the gate and approvers from their input and replay so.
const policyChange = "worker-policy"

// maxClockSkew is how far a signed statement's time may lie outside the
// window in which the decision was requested.
const maxClockSkew = 5 * time.Minute

// governance is what a run applies of the worker's policy.
type governance struct {
	// legacy: a run recorded before policies (gate and approvers from its
	// input, unsigned decisions).
	legacy   bool
	policy   policy.Policy
	gate     registry.GateThresholds
	deadline time.Duration
	signers  *approval.AllowedSigners
}

// loadPolicy is the first stage: the worker's policy, tightened by the
// input where it asks; a request for automatic approval the policy does not
// allow stops the run.
func (p *pipeline) loadPolicy(ctx workflow.Context) error {
	if workflow.GetVersion(ctx, policyChange, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		p.gov = governance{legacy: true, gate: p.in.Gate.Thresholds(), deadline: p.in.ApprovalTimeout}
		return nil
	}
	p.stage(ctx, "policy", "loading the worker's promotion policy")
	gov, ignored, err := loadGovernance(ctx, p.in.Gate, p.in.ApprovalTimeout, p.in.RetryBudget)
	if err != nil {
		return err
	}
	p.gov = gov
	rec := gov.policy.Record(gov.gate) //workflowcheck:ignore pure: JSON and sha256 over values in history
	p.res.Policy, p.res.PolicyIgnored = &rec, ignored
	for _, msg := range ignored {
		p.logger.Warn("input request ignored: the worker's policy applies", "request", msg)
	}
	if b := gov.gate.Baseline; b != "" && !slices.Contains(p.in.Models, b) {
		return temporal.NewNonRetryableApplicationError("the worker's gate compares the challenger with "+b+" (gate.baseline): include it in the run's models",
			activities.ErrTypePolicy, nil)
	}
	if p.in.AutoApproveAs != "" && !gov.policy.AllowAutoApproval {
		return temporal.NewNonRetryableApplicationError("automatic approval (auto_approve_as) is not allowed by the worker's policy ("+gov.policy.Source+")",
			activities.ErrTypePolicy, nil)
	}
	return nil
}

// loadGovernance runs the LoadPolicy activity and applies the input's
// requests to what it returns.
func loadGovernance(ctx workflow.Context, gate *policy.GateRequest, deadline, budget time.Duration) (governance, []string, error) {
	actx := workflow.WithActivityOptions(ctx, registryOptions(budget))
	var loaded activities.PolicyResult
	if err := workflow.ExecuteActivity(actx, acts.LoadPolicy).Get(ctx, &loaded); err != nil {
		return governance{}, nil, err
	}
	pol := loaded.Policy
	//workflowcheck:ignore pure: sha256 over the JSON of a value from history
	if err := pol.Verify(); err != nil {
		return governance{}, nil, temporal.NewNonRetryableApplicationError("worker policy: "+err.Error(), activities.ErrTypePolicy, nil)
	}
	signers, err := pol.Signers() //workflowcheck:ignore pure: parses text from history
	if err != nil {
		return governance{}, nil, temporal.NewNonRetryableApplicationError("worker policy: "+err.Error(), activities.ErrTypePolicy, nil)
	}
	applied, ignored := pol.Tighten(gate)
	return governance{policy: pol, gate: applied, deadline: pol.Deadline(deadline), signers: signers}, ignored, nil
}

// verifySigned checks a signed decision against the worker's allowed
// signers and against what this run expects. It is pure computation over
// bytes in history (JSON decoding, SSHSIG signature verification), which
// workflowcheck cannot tell from reflection and crypto with side effects.
//
//workflowcheck:ignore
func (g governance) verifySigned(statement, signature string, exp approval.Expect, narrowTo []string) (approval.Verified, error) {
	if g.signers == nil {
		return approval.Verified{}, errors.New("no worker policy is loaded")
	}
	v, err := approval.Verify([]byte(statement), []byte(signature), g.signers)
	if err != nil {
		return approval.Verified{}, err
	}
	if err := exp.Match(v.Statement); err != nil {
		return approval.Verified{}, err
	}
	if len(narrowTo) > 0 && !slices.Contains(narrowTo, v.Signer.Principal) {
		return approval.Verified{}, fmt.Errorf("%q is an allowed signer but not one of this run's approvers %v", v.Signer.Principal, narrowTo)
	}
	return v, nil
}

// signedRecord is how the registry keeps a verified decision.
func signedRecord(d *Decision) *registry.SignedDecision {
	if d == nil || d.Signer == nil {
		return nil
	}
	return &registry.SignedDecision{Format: "sshsig", Statement: d.Statement, Signature: d.Signature,
		Principal: d.Signer.Principal, Fingerprint: d.Signer.Fingerprint, KeyType: d.Signer.KeyType}
}
