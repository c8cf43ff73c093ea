package activities

import (
	"errors"
	"fmt"

	"github.com/clvflow/clvflow/artifacts"
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
)

// NonRetryableErrorTypes lists every error type above; activity retry
// policies name them so Temporal does not retry what cannot succeed.
var NonRetryableErrorTypes = []string{
	ErrTypeBadInput, ErrTypeBadData, ErrTypeGateFailed, ErrTypeParityFailed,
	ErrTypeIntegrity, ErrTypeNotFound, ErrTypeConflict, ErrTypeCanaryFailed, ErrTypeBadCredential,
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

// storeError maps artifact store errors to retryable or non-retryable
// activity errors.
func storeError(err error) error {
	switch artifacts.KindOf(err) {
	case artifacts.NotFound:
		return nonRetryable(ErrTypeNotFound, err)
	case artifacts.Integrity:
		return nonRetryable(ErrTypeIntegrity, err)
	case artifacts.BadCredentials:
		return nonRetryable(ErrTypeBadCredential, err)
	case artifacts.Invalid:
		return nonRetryable(ErrTypeBadInput, err)
	default:
		return err // transient or unreachable: Temporal retries with backoff
	}
}
