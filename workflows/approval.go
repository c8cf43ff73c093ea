package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/registry"
	"go.temporal.io/sdk/workflow"
)

// setApprovalHandlers installs the approval Update (validated before it is
// written to history) and the approval Signal (invalid ones are logged and
// ignored).
func (p *pipeline) setApprovalHandlers(ctx workflow.Context) error {
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApproval, p.handleApproval,
		workflow.UpdateHandlerOptions{Validator: p.validateDecision}); err != nil {
		return err
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		ch := workflow.GetSignalChannel(ctx, SignalApproval)
		for {
			var d Decision
			ch.Receive(ctx, &d)
			if err := p.validateDecision(ctx, d); err != nil {
				p.logger.Warn("approval signal ignored", "version", d.Version, "error", err)
				continue
			}
			p.decision = p.accepted(ctx, d)
		}
	})
	return nil
}

// validateDecision is the Update validator (and the signal filter). It runs
// before anything is written to history: a refused request leaves no trace.
// A decision counts only when it is signed by a key the worker's allowed
// signers list, for this run, this version and this ONNX file.
func (p *pipeline) validateDecision(ctx workflow.Context, d Decision) error {
	pending := p.status.PendingApproval
	switch {
	case pending == nil:
		return fmt.Errorf("this run is not waiting for an approval (stage %s)", p.status.Stage)
	case p.decision != nil:
		return fmt.Errorf("version %s was already decided by %s", p.decision.Version, p.decision.Approver)
	case d.Version != "" && d.Version != pending.Version:
		return fmt.Errorf("this run awaits approval of version %s, not %q", pending.Version, d.Version)
	case p.gov.legacy:
		return p.validateLegacy(d)
	}
	v, err := p.verify(ctx, d)
	if err != nil {
		return fmt.Errorf("decision refused: %w", err)
	}
	if d.Approver != "" && d.Approver != v.Signer.Principal {
		return fmt.Errorf("decision refused: the request names approver %q, the signed statement %q", d.Approver, v.Signer.Principal)
	}
	return nil
}

// verify checks d's signature and statement against the pending approval.
func (p *pipeline) verify(ctx workflow.Context, d Decision) (approval.Verified, error) {
	pending := p.status.PendingApproval
	exp := approval.Expect{Decisions: []string{approval.Approve, approval.Reject}, WorkflowID: p.run.WorkflowID, RunID: p.run.RunID,
		Version: pending.Version, ONNXSHA256: pending.ONNXSHA256,
		NotBefore: pending.Since.Add(-maxClockSkew), NotAfter: workflow.Now(ctx).Add(maxClockSkew)}
	return p.gov.verifySigned(d.Statement, d.Signature, exp, p.in.Approvers)
}

// validateLegacy is the check of runs recorded before signed decisions: a
// named approver from the input's list.
func (p *pipeline) validateLegacy(d Decision) error {
	switch {
	case strings.TrimSpace(d.Approver) == "":
		return errors.New("approver name is required")
	case len(p.in.Approvers) > 0 && !slices.Contains(p.in.Approvers, d.Approver):
		return fmt.Errorf("approver %q is not in the configured approvers list (approvals.approvers)", d.Approver)
	}
	return nil
}

func (p *pipeline) handleApproval(ctx workflow.Context, d Decision) (Decision, error) {
	p.decision = p.accepted(ctx, d)
	return *p.decision, nil
}

// accepted turns a validated request into the decision the run records:
// decision, approver and comment come from the verified statement.
func (p *pipeline) accepted(ctx workflow.Context, d Decision) *Decision {
	d.Time = workflow.Now(ctx)
	if p.gov.legacy {
		return &d
	}
	v, err := p.verify(ctx, d) // validated just before, on the same state
	if err != nil {
		p.logger.Error("a validated decision no longer verifies", "error", err)
	}
	signer := v.Signer
	return &Decision{Approve: v.Statement.Decision == approval.Approve, Version: v.Statement.Version, Approver: signer.Principal,
		Comment: v.Statement.Comment, Time: d.Time, Statement: d.Statement, Signature: d.Signature, Signer: &signer}
}

// awaitApproval waits for a valid decision or the deadline; nil means the
// deadline passed.
func (p *pipeline) awaitApproval(ctx workflow.Context, version string) (*Decision, error) {
	now := workflow.Now(ctx)
	deadline := now.Add(p.gov.deadline)
	p.status.PendingApproval = &PendingApproval{Version: version, WorkflowID: p.run.WorkflowID, RunID: p.run.RunID,
		ONNXSHA256: p.exported.ONNX.SHA256, Approvers: p.in.Approvers, Since: now, Deadline: deadline}
	defer func() { p.status.PendingApproval = nil }()
	if p.in.AutoApproveAs != "" {
		p.stage(ctx, "approval", "auto-approving as "+p.in.AutoApproveAs)
		p.decision = &Decision{Approve: true, Version: version, Approver: p.in.AutoApproveAs, Auto: true, Time: workflow.Now(ctx)}
		p.status.Decision = p.decision
		return p.decision, nil
	}
	p.stage(ctx, "approval", "waiting for approval of "+version+" until "+deadline.UTC().Format(time.RFC3339))
	ok, err := workflow.AwaitWithTimeout(ctx, p.gov.deadline, func() bool { return p.decision != nil })
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	p.status.Decision = p.decision
	return p.decision, nil
}

// decisionEvent is the registry event that records a decision (nil: the
// deadline passed).
func decisionEvent(d *Decision) registry.Event {
	if d == nil {
		return registry.Event{Type: registry.EventRejected, Actor: "clvflow-approval-timeout", Comment: "no decision before the approval deadline"}
	}
	e := registry.Event{Type: registry.EventRejected, Actor: d.Approver, Comment: d.Comment, Signed: signedRecord(d)}
	if d.Approve {
		e.Type = registry.EventApproved
	}
	if d.Auto {
		e.Comment = strings.TrimSpace("auto-approved (--auto-approve-as, allowed by the worker's policy) " + d.Comment)
	}
	return e
}
