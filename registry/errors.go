package registry

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package that falls in one of
// these classes wraps the sentinel, so callers test with errors.Is; the
// message names the version, alias or field concerned.
var (
	// ErrNotFound reports a version, alias or event log that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports a lost race or a failed compare-and-swap: the
	// object to create already exists, or an alias is no longer where the
	// caller expected it to be.
	ErrConflict = errors.New("conflict")
	// ErrInvalid reports a request that can never succeed as given: a
	// malformed id or alias name, a version record failing validation, a
	// move to the alias's current target.
	ErrInvalid = errors.New("invalid")
)

func notFoundf(format string, args ...any) error {
	return fmt.Errorf("registry: "+format+": %w", append(args, ErrNotFound)...)
}

func conflictf(format string, args ...any) error {
	return fmt.Errorf("registry: "+format+": %w", append(args, ErrConflict)...)
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("registry: "+format+": %w", append(args, ErrInvalid)...)
}
