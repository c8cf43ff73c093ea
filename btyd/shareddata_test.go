package btyd

import (
	"testing"

	"github.com/clvflow/clvflow/internal/shareddata"
)

func readColumns(t testing.TB, name string, cols ...string) map[string][]float64 {
	t.Helper()
	return shareddata.Columns(t, name, cols...)
}
