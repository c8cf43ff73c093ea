package activities

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"

	"github.com/clvflow/clvflow/artifacts"
	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/registry"

	"go.temporal.io/sdk/temporal"
)

// Error types of application errors that retrying cannot fix. They are named
// in one place so workflows list them in their retry policies and tests can
// check for them.
const (
	ErrTypeBadInput      = "BadInput"      // the input file or parameters are wrong
	ErrTypeBadData       = "BadData"       // validation refused the dataset
	ErrTypeGateFailed    = "GateFailed"    // the challenger did not pass the gate
	ErrTypeParityFailed  = "ParityFailed"  // ONNX Runtime disagrees with the trainer
	ErrTypeIntegrity     = "Integrity"     // an artifact's bytes do not match its sha256
	ErrTypeNotFound      = "NotFound"      // a referenced artifact/version/alias does not exist
	ErrTypeConflict      = "Conflict"      // a concurrent registry update won
	ErrTypeCanaryFailed  = "CanaryFailed"  // the promoted champion failed its canary
	ErrTypeBadCredential = "BadCredential" // the object store refused our credentials
	ErrTypePolicy        = "Policy"        // the worker's policy is missing or broken, or refuses the request
)

// NonRetryableErrorTypes lists every error type above; activity retry
// policies name them so Temporal does not retry what cannot succeed.
var NonRetryableErrorTypes = []string{
	ErrTypeBadInput, ErrTypeBadData, ErrTypeGateFailed, ErrTypeParityFailed,
	ErrTypeIntegrity, ErrTypeNotFound, ErrTypeConflict, ErrTypeCanaryFailed, ErrTypeBadCredential,
	ErrTypePolicy,
}

// nonRetryable wraps err as a non-retryable application error of errType.
func nonRetryable(errType string, err error, details ...any) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), errType, err, details...)
}

func nonRetryablef(errType, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return temporal.NewNonRetryableApplicationError(err.Error(), errType, err)
}

// ErrorType returns the application error type inside err ("" if none).
func ErrorType(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

// registryError maps registry errors to activity errors: not-found,
// conflicts and invalid requests cannot succeed on retry.
func registryError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return nonRetryable(ErrTypeNotFound, err)
	case errors.Is(err, registry.ErrConflict):
		return nonRetryable(ErrTypeConflict, err)
	case errors.Is(err, registry.ErrInvalid):
		return nonRetryable(ErrTypeBadInput, err)
	}
	return err
}

// ErrTypeInfrastructure names retryable errors of the infrastructure (the
// object store unreachable or failing, the worker's disk full, the
// network): Temporal retries them with backoff within the run's time budget.
const ErrTypeInfrastructure = "Infrastructure"

// Classify maps an error of an activity to what Temporal should do with it.
// Errors already classified (application errors, cancellation) pass
// unchanged. The store's kinds that retrying cannot fix become their
// non-retryable types (NotFound, Integrity, BadCredential, BadInput); every
// failure of the infrastructure — the store unreachable or failing, a disk
// full, any OS or network error — becomes a retryable Infrastructure error
// that keeps its cause. Anything else is returned as it is, retryable: an
// unknown failure is never assumed to be the data's fault (see ClassifyData).
func Classify(err error) error {
	var ae *temporal.ApplicationError
	switch {
	case err == nil, errors.As(err, &ae), errors.Is(err, context.Canceled):
		return err
	}
	switch artifacts.KindOf(err) {
	case artifacts.NotFound:
		return nonRetryable(ErrTypeNotFound, err)
	case artifacts.Integrity:
		return nonRetryable(ErrTypeIntegrity, err)
	case artifacts.BadCredentials:
		return nonRetryable(ErrTypeBadCredential, err)
	case artifacts.Invalid:
		return nonRetryable(ErrTypeBadInput, err)
	}
	if isInfrastructure(err) {
		return infrastructure(err)
	}
	return err
}

// ClassifyData classifies an error of reading or modelling data: causes in the
// infrastructure are classified as such (see Classify); what remains is the
// data's fault, a non-retryable BadData error.
func ClassifyData(err error) error {
	var ae *temporal.ApplicationError
	switch {
	case err == nil, errors.As(err, &ae), errors.Is(err, context.Canceled):
		return err
	case artifacts.KindOf(err) != artifacts.Other, isInfrastructure(err):
		return Classify(err)
	}
	return nonRetryable(ErrTypeBadData, err)
}

// isInfrastructure reports whether err comes from outside the data: the
// store unreachable or failing, the worker's file system or OS, the
// network, a deadline, or an I/O error of a dataset reader.
func isInfrastructure(err error) bool {
	var (
		pathErr *fs.PathError
		linkErr *os.LinkError
		sysErr  *os.SyscallError
		errno   syscall.Errno
		netErr  net.Error
	)
	switch k := artifacts.KindOf(err); {
	case k == artifacts.Unreachable, k == artifacts.Transient:
		return true
	case errors.As(err, &pathErr), errors.As(err, &linkErr), errors.As(err, &sysErr), errors.As(err, &errno), errors.As(err, &netErr):
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, dataset.ErrRead)
}

// infrastructure wraps an infrastructure failure as a retryable error that
// keeps its cause; a full disk says so and names the worker's temp dir.
func infrastructure(err error) error {
	msg := err.Error()
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		msg = fmt.Sprintf("the worker's disk is full (temporary files under %s; free space or set TMPDIR): %s", os.TempDir(), msg)
	}
	return temporal.NewApplicationErrorWithCause(msg, ErrTypeInfrastructure, err)
}
