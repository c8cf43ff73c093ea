package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
				p.logger.Warn("approval signal ignored", "approver", d.Approver, "version", d.Version, "error", err)
				continue
			}
			d.Time = workflow.Now(ctx)
			p.decision = &d
		}
	})
	return nil
}

// validateDecision is the Update validator (and the signal filter). It runs
// before anything is written to history: a refused request leaves no trace.
func (p *pipeline) validateDecision(_ workflow.Context, d Decision) error {
	switch {
	case p.status.PendingApproval == nil:
		return fmt.Errorf("this run is not waiting for an approval (stage %s)", p.status.Stage)
	case p.decision != nil:
		return fmt.Errorf("version %s was already decided by %s", p.decision.Version, p.decision.Approver)
	case d.Version != p.status.PendingApproval.Version:
		return fmt.Errorf("this run awaits approval of version %s, not %q", p.status.PendingApproval.Version, d.Version)
	case strings.TrimSpace(d.Approver) == "":
		return errors.New("approver name is required")
	case len(p.in.Approvers) > 0 && !slices.Contains(p.in.Approvers, d.Approver):
		return fmt.Errorf("approver %q is not in the configured approvers list (approvals.approvers)", d.Approver)
	}
	return nil
}

func (p *pipeline) handleApproval(ctx workflow.Context, d Decision) (Decision, error) {
	d.Time = workflow.Now(ctx)
	p.decision = &d
	return d, nil
}

// awaitApproval waits for a valid decision or the deadline; nil means the
// deadline passed.
func (p *pipeline) awaitApproval(ctx workflow.Context, version string) (*Decision, error) {
	deadline := workflow.Now(ctx).Add(p.in.ApprovalTimeout)
	p.status.PendingApproval = &PendingApproval{Version: version, Approvers: p.in.Approvers, Deadline: deadline}
	defer func() { p.status.PendingApproval = nil }()
	if p.in.AutoApproveAs != "" {
		p.stage(ctx, "approval", "auto-approving as "+p.in.AutoApproveAs)
		p.decision = &Decision{Approve: true, Version: version, Approver: p.in.AutoApproveAs, Auto: true, Time: workflow.Now(ctx)}
		p.status.Decision = p.decision
		return p.decision, nil
	}
	p.stage(ctx, "approval", "waiting for approval of "+version+" until "+deadline.UTC().Format(time.RFC3339))
	ok, err := workflow.AwaitWithTimeout(ctx, p.in.ApprovalTimeout, func() bool { return p.decision != nil })
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
func decisionEvent(d *Decision) (evType registry.EventType, actor, comment string) {
	if d == nil {
		return registry.EventRejected, "clvflow-approval-timeout", "no decision before the approval deadline"
	}
	evType, actor, comment = registry.EventRejected, d.Approver, d.Comment
	if d.Approve {
		evType = registry.EventApproved
	}
	if d.Auto {
		comment = strings.TrimSpace("auto-approved (--auto-approve-as) " + comment)
	}
	return evType, actor, comment
}
