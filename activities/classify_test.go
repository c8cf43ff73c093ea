package activities_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"go.temporal.io/sdk/temporal"
)

// TestClassify pins the error taxonomy: only what cannot succeed on retry
// is non-retryable; everything from the infrastructure is retryable, typed
// Infrastructure, and keeps its cause.
func TestClassify(t *testing.T) {
	storeErr := func(k artifacts.Kind, cause error) error {
		return &artifacts.Error{Op: "get", Bucket: "b", Key: "k", Kind: k, Err: cause, Endpoint: "127.0.0.1:9"}
	}
	refused := storeErr(artifacts.Unreachable, syscall.ECONNREFUSED)
	diskFull := &fs.PathError{Op: "write", Path: "/tmp/clvflow-validate-1/clean.csv", Err: syscall.ENOSPC}
	badData := temporal.NewNonRetryableApplicationError("bad rows", activities.ErrTypeBadData, nil)
	const (
		same  = "unchanged"
		infra = activities.ErrTypeInfrastructure
	)
	for _, tc := range []struct {
		name     string
		err      error
		wantType string // same: returned as it is
		contains []string
	}{
		{"classified application error", badData, same, nil},
		{"wrapped application error", fmt.Errorf("stage: %w", badData), same, nil},
		{"context canceled", context.Canceled, same, nil},
		{"temporal cancellation", temporal.NewCanceledError(), same, nil},
		{"unknown error stays retryable", errors.New("something odd"), same, nil},
		{"store: not found", storeErr(artifacts.NotFound, errors.New("NoSuchKey")), activities.ErrTypeNotFound, []string{"NoSuchKey"}},
		{"store: integrity", storeErr(artifacts.Integrity, errors.New("sha256 mismatch")), activities.ErrTypeIntegrity, []string{"sha256 mismatch"}},
		{"store: bad credentials", storeErr(artifacts.BadCredentials, errors.New("InvalidAccessKeyId")), activities.ErrTypeBadCredential, nil},
		{"store: invalid request", storeErr(artifacts.Invalid, errors.New("bad key")), activities.ErrTypeBadInput, nil},
		{"store: unreachable", refused, infra, []string{"connection refused"}},
		{"store: unreachable, wrapped twice", fmt.Errorf("train ziln: %w", fmt.Errorf("nn: checkpoint: %w", refused)), infra, []string{"train ziln", "connection refused"}},
		{"store: 5xx after its retries", storeErr(artifacts.Transient, errors.New("SlowDown: reduce your request rate")), infra, []string{"SlowDown"}},
		{"disk full on the worker", diskFull, infra, []string{"disk is full", os.TempDir(), "no space left on device"}},
		{"disk full, wrapped", fmt.Errorf("validate: %w", diskFull), infra, []string{"disk is full"}},
		{"quota exceeded", &os.SyscallError{Syscall: "write", Err: syscall.EDQUOT}, infra, []string{"disk is full"}},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, infra, []string{"connection reset"}},
		{"DNS failure", &net.DNSError{Err: "no such host", Name: "minio.internal"}, infra, []string{"no such host"}},
		{"bare errno", syscall.EIO, infra, []string{"input/output error"}},
		{"deadline", fmt.Errorf("put: %w", context.DeadlineExceeded), infra, []string{"deadline exceeded"}},
		{"dataset read error", fmt.Errorf("line 3: %w: unexpected EOF", dataset.ErrRead), infra, []string{"unexpected EOF"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := activities.Classify(tc.err)
			switch tc.wantType {
			case same:
				if got != tc.err {
					t.Fatalf("Classify(%v) = %v, want it unchanged", tc.err, got)
				}
			case infra:
				wantRetryable(t, got, tc.contains...)
				if typ := activities.ErrorType(got); typ != infra {
					t.Errorf("type %q, want %q", typ, infra)
				}
				if !errors.Is(got, tc.err) && !errors.Is(errors.Unwrap(got), tc.err) {
					var ae *temporal.ApplicationError
					if !errors.As(got, &ae) || ae.Unwrap() != tc.err {
						t.Errorf("the cause %v is not kept in %v", tc.err, got)
					}
				}
			default:
				wantNonRetryable(t, got, tc.wantType, tc.contains...)
			}
		})
	}
	if activities.Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
}

// TestClassifyData: an error of reading or modelling data is the data's
// fault unless its cause is the infrastructure.
func TestClassifyData(t *testing.T) {
	refused := &artifacts.Error{Op: "put", Kind: artifacts.Unreachable, Err: syscall.ECONNREFUSED, Endpoint: "127.0.0.1:9"}
	for _, tc := range []struct {
		name     string
		err      error
		wantType string
	}{
		{"a model cannot be fitted", errors.New("models: fit bgnbd on 3 customers: no repeat buyers"), activities.ErrTypeBadData},
		{"checkpoint upload refused", fmt.Errorf("train ziln: nn: checkpoint after member 0 epoch 24: %w", refused), activities.ErrTypeInfrastructure},
		{"clean file write hit a full disk", fmt.Errorf("write clean row: %w", &fs.PathError{Op: "write", Path: "clean.csv", Err: syscall.ENOSPC}), activities.ErrTypeInfrastructure},
		{"integrity", fmt.Errorf("read: %w", &artifacts.Error{Op: "get", Kind: artifacts.Integrity, Err: errors.New("sha256 mismatch")}), activities.ErrTypeIntegrity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := activities.ClassifyData(tc.err)
			if typ := activities.ErrorType(got); typ != tc.wantType {
				t.Fatalf("type %q, want %q: %v", typ, tc.wantType, got)
			}
			if tc.wantType == activities.ErrTypeInfrastructure {
				wantRetryable(t, got)
			} else {
				wantNonRetryable(t, got, tc.wantType)
			}
			if !strings.Contains(got.Error(), tc.err.Error()) {
				t.Errorf("message %q lost the cause %q", got, tc.err)
			}
		})
	}
}
