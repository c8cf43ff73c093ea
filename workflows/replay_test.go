package workflows

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayRecordedHistories replays event histories recorded from real
// runs (testdata/histories, written by the integration tests with
// CLVFLOW_RECORD_HISTORIES set) against the current workflow code. A
// non-deterministic change to a workflow makes it fail: such a change needs
// workflow.GetVersion, or a new workflow type, before it may ship.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories in testdata/histories")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			Register(r)
			h := loadHistory(t, f)
			if err := r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{OriginalExecution: recordedExecution(t, f, h)}); err != nil {
				t.Fatalf("replay of %s: %v", f, err)
			}
		})
	}
}

func loadHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// recordedExecution is the workflow id recorded next to a history (file
// NAME.workflow-id), which runs that verify signed decisions need: a
// decision is signed for one workflow. Histories recorded without one replay
// under the replayer's placeholder id.
func recordedExecution(t *testing.T, path string, h *historypb.History) workflow.Execution {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".workflow-id")
	if errors.Is(err, fs.ErrNotExist) {
		return workflow.Execution{}
	}
	if err != nil {
		t.Fatal(err)
	}
	runID := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId()
	return workflow.Execution{ID: strings.TrimSpace(string(b)), RunID: runID}
}
