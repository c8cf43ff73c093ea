package activities_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/activities"
	"go.temporal.io/sdk/temporal"
)

func TestErrorType(t *testing.T) {
	app := temporal.NewNonRetryableApplicationError("bad", activities.ErrTypeBadData, nil)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", errors.New("boom"), ""},
		{"context error", context.Canceled, ""},
		{"application error", app, activities.ErrTypeBadData},
		{"wrapped application error", fmt.Errorf("stage validate: %w", app), activities.ErrTypeBadData},
		{"retryable application error", temporal.NewApplicationError("later", "Transient"), "Transient"},
		{"canceled error", temporal.NewCanceledError(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := activities.ErrorType(tc.err); got != tc.want {
				t.Errorf("ErrorType(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

// Every error type the activities declare is listed for retry policies,
// once, and none is empty.
func TestNonRetryableErrorTypes(t *testing.T) {
	all := []string{
		activities.ErrTypeBadInput, activities.ErrTypeBadData, activities.ErrTypeGateFailed, activities.ErrTypeParityFailed,
		activities.ErrTypeIntegrity, activities.ErrTypeNotFound, activities.ErrTypeConflict, activities.ErrTypeCanaryFailed,
		activities.ErrTypeBadCredential, activities.ErrTypePolicy,
	}
	for _, typ := range all {
		if typ == "" {
			t.Error("an error type is empty")
		}
		if !slices.Contains(activities.NonRetryableErrorTypes, typ) {
			t.Errorf("%s is missing from NonRetryableErrorTypes %v", typ, activities.NonRetryableErrorTypes)
		}
	}
	seen := map[string]bool{}
	for _, typ := range activities.NonRetryableErrorTypes {
		if seen[typ] {
			t.Errorf("%s is listed twice", typ)
		}
		seen[typ] = true
	}
	if len(activities.NonRetryableErrorTypes) != len(all) {
		t.Errorf("NonRetryableErrorTypes = %v, want exactly %v", activities.NonRetryableErrorTypes, all)
	}
}

func TestOpenInput(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tx.csv")
	if err := os.WriteFile(good, []byte("customer,date,amount\nc1,2020-01-01,5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.csv")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       []string // substrings of the error; nil = success
	}{
		{"regular file", good, nil},
		{"missing file", filepath.Join(dir, "nope.csv"), []string{"nope.csv", "does not exist"}},
		{"directory", dir, []string{"is a directory"}},
		{"empty file", empty, []string{"empty.csv", "is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := activities.OpenInput(tc.path)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("OpenInput: %v", err)
				}
				defer f.Close()
				b := make([]byte, 8)
				if n, err := f.Read(b); err != nil || string(b[:n]) != "customer" {
					t.Errorf("read %q, %v from the opened file", b[:n], err)
				}
				return
			}
			if err == nil {
				f.Close()
				t.Fatal("OpenInput succeeded, want an error")
			}
			if f != nil {
				t.Error("OpenInput returned a file along with its error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans several lines", err)
			}
		})
	}
}
