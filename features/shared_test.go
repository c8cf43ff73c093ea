package features

import (
	"testing"

	"github.com/clvflow/clvflow/internal/shareddata"
)

func sharedFile(t testing.TB, name string) string { return shareddata.File(t, name) }
