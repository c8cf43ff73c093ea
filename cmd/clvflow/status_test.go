package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/api/serviceerror"
)

// Waiting for an approval rides out a Temporal restart (unavailable server,
// slow or absent workers, namespace not loaded yet) but not a missing run
// or a refused query.
func TestRetryableQueryError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{serviceerror.NewUnavailable("connection refused"), true},
		{serviceerror.NewDeadlineExceeded("query timed out"), true},
		{context.DeadlineExceeded, true},
		{serviceerror.NewNamespaceNotFound("default"), true},
		{fmt.Errorf("query: %w", serviceerror.NewUnavailable("restarting")), true},
		{serviceerror.NewNotFound("workflow not found"), false},
		{serviceerror.NewInvalidArgument("bad id"), false},
		{serviceerror.NewQueryFailed("unknown query type"), false},
		{fmt.Errorf("status: %w", serviceerror.NewNotFound("gone")), false},
		{errors.New("something else"), true},
	} {
		if got := retryableQueryError(tc.err); got != tc.want {
			t.Errorf("retryableQueryError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
