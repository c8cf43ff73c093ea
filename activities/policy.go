package activities

import (
	"context"
	"errors"
	"fmt"
)

// LoadPolicy reads the worker's promotion policy. The pipeline calls it first
// so the policy a run applies is the worker's (never the input's) and is
// recorded in history. A missing or broken policy is non-retryable: the run
// stops before any work with the file and line to fix.
func (a *Activities) LoadPolicy(ctx context.Context) (PolicyResult, error) {
	if a.Policy == nil {
		return PolicyResult{}, nonRetryable(ErrTypePolicy, errors.New("this worker has no promotion policy (set policy.file, or approvals.allowed_signers and the gate section)"))
	}
	p, err := a.Policy()
	if err != nil {
		return PolicyResult{}, nonRetryable(ErrTypePolicy, fmt.Errorf("load the worker's policy: %w", err))
	}
	a.log().Info("policy loaded", "source", p.Source, "digest", p.Digest)
	return PolicyResult{Policy: p}, nil
}
