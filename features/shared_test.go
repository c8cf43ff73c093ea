package features

import (
	"testing"

	"github.com/clvflow/clvflow/internal/shareddata"
)

func sharedDataDir(t testing.TB) string { return shareddata.Dir(t) }

func sharedFile(t testing.TB, name string) string { return shareddata.File(t, name) }
