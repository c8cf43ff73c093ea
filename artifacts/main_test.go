package artifacts

import (
	"testing"

	"github.com/clvflow/clvflow/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
