package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/internal/testenv"
	"github.com/clvflow/clvflow/workflows"
	"github.com/minio/minio-go/v7"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// TestIntegrationSignedApprovals is the must-show of signed approvals on the
// real stack: an unsigned approval, one signed by a key outside the allowed
// signers, a valid signature for another run, and a raw `temporal workflow
// update` with a made-up approver are all refused and leave no event in the
// run's history; a statement signed with the real `ssh-keygen -Y sign` by
// an allowed key is accepted, recorded with its signature in the registry
// and shown by `models show`.
func TestIntegrationSignedApprovals(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen (OpenSSH client) is not installed: apt-get install openssh-client")
	}
	s := newStack(t, true)
	pipelineEnv(t)
	fast := []string{"--models", "bgnbd,ziln", "--max-epochs", "1", "--snapshots", "0"}
	runA, runB := startTrain(t, 42, fast...), startTrain(t, 43, fast...)
	vA, vB := waitApproval(t, runA.WorkflowID), waitApproval(t, runB.WorkflowID)
	tc := dialTest(t, s)
	pA, pB := pendingApproval(t, tc, runA.WorkflowID), pendingApproval(t, tc, runB.WorkflowID)
	if pA.Version != vA || pB.Version != vB || vA == vB {
		t.Fatalf("pending approvals %+v, %+v for %s, %s", pA, pB, vA, vB)
	}
	before := historyLength(t, tc, runA.WorkflowID)

	refusals := []struct {
		name string
		d    workflows.Decision
		want string
	}{
		{"unsigned", workflows.Decision{Approve: true, Version: vA, Approver: "alice"}, "not signed"},
		{"key outside the allowed signers", signedApproval(t, pA, "mallory", "mallory", nil), "not in the worker's allowed signers"},
		{"alice's valid signature for the other run", signedApproval(t, pB, "alice", "alice", nil), "valid for one run and one version only"},
		{"a tampered comment", tamper(signedApproval(t, pA, "alice", "alice", nil)), "does not match the statement"},
	}
	for _, r := range refusals {
		err := sendUpdate(tc, runA.WorkflowID, r.d)
		if err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("%s: error = %v, want %q", r.name, err, r.want)
		}
	}
	raw := rawTemporalUpdate(t, s, runA.WorkflowID, `{"approve":true,"version":"`+vA+`","approver":"ceo@example.com","comment":"trust me"}`)
	if !strings.Contains(raw, "not signed") {
		t.Errorf("raw temporal workflow update with a made-up approver was not refused as unsigned: %s", raw)
	}
	if after := historyLength(t, tc, runA.WorkflowID); after != before {
		t.Fatalf("refused decisions left %d events in history", after-before)
	}

	// The person's way: print the statement, sign it with ssh-keygen, send both.
	dir := t.TempDir()
	stmt := filepath.Join(dir, "statement")
	out, _, err := clvflow(t, "approve", vA, "--approver", "bob", "--comment", "holdout reviewed", "--print-statement")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stmt, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", approval.Namespace, "-f", keyOf(t, "bob"), stmt).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v: %s", err, b)
	}
	if out, _, err := clvflow(t, "approve", vA, "--statement", stmt, "--signature", stmt+".sig"); err != nil || !strings.Contains(out, "approved by bob (key SHA256:") {
		t.Fatalf("ssh-keygen-signed approval: %v %s", err, out)
	}
	res := result(t, runA.WorkflowID)
	if res.Outcome != workflows.OutcomePromoted || res.Decision == nil || res.Decision.Signer == nil || res.Decision.Signer.Principal != "bob" {
		t.Fatalf("run A: %+v", res)
	}
	checkSignedInRegistry(t, vA, "bob", res.Decision.Statement)
	checkReport(t, vA, res)
	if out, _, err := clvflow(t, "reject", vB, "--reason", "superseded"); err != nil || !strings.Contains(out, "rejected by alice") {
		t.Fatalf("reject with alice's configured key: %v %s", err, out)
	}
	checkServeRequiresSignedChain(t, s, vA, fast)
}

// checkServeRequiresSignedChain: the champion vA's chain verifies and
// `serve` with serving.require_signed serves it; then a new run registers vC,
// one byte of vC's registry entry is changed in MinIO and vC is approved and
// promoted: `models verify vC` names the broken link, and serve refuses vC
// and keeps vA.
func checkServeRequiresSignedChain(t *testing.T, s *stack, vA string, trainFlags []string) {
	t.Helper()
	if out, _, err := clvflow(t, "models", "verify", vA); err != nil || !strings.Contains(out, "chain verified") {
		t.Fatalf("models verify %s: %v\n%s", vA, err, out)
	}
	srv := startServe(t, []string{"CLVFLOW_SERVING_REQUIRE_SIGNED=true", "CLVFLOW_SERVING_RELOAD_INTERVAL=200ms", "CLVFLOW_SERVING_CACHE_DIR=" + t.TempDir()})
	base, logs := srv.base, srv.logs
	waitUntil(t, "serve to load "+vA, logs, func() bool { return servedVersionAt(base) == vA })

	runC := startTrain(t, 44, trainFlags...)
	vB := waitApproval(t, runC.WorkflowID)
	flipRegistryByte(t, s, "versions/"+vB+".json", `"seed": 4`)
	if out, _, err := clvflow(t, "approve", vB, "--comment", "after the tampering"); err != nil {
		t.Fatalf("approve %s: %v %s", vB, err, out)
	}
	if r := result(t, runC.WorkflowID); r.Outcome != workflows.OutcomePromoted {
		t.Fatalf("run B: %+v", r)
	}
	out, _, err := clvflow(t, "models", "verify", vB)
	if err == nil || !strings.Contains(err.Error(), `link "registry entry digest"`) || !strings.Contains(out, "FAIL") {
		t.Fatalf("models verify %s after tampering: %v\n%s", vB, err, out)
	}
	waitUntil(t, "serve to refuse "+vB, logs, func() bool { return strings.Contains(logs.String(), "refusing "+vB) })
	if got := servedVersionAt(base); got != vA {
		t.Fatalf("serve answers with %q after refusing %s, want the last good %s", got, vB, vA)
	}
}

// flipRegistryByte rewrites a registry object with one digit changed after
// find, as someone with write access to the bucket could.
func flipRegistryByte(t *testing.T, s *stack, key, find string) {
	t.Helper()
	ctx := context.Background()
	c := s.store(t).Client()
	obj, err := c.GetObject(ctx, s.buckets[2], key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(obj)
	obj.Close()
	i := bytes.Index(b, []byte(find))
	if err != nil || i < 0 {
		t.Fatalf("%s: %v (%q at %d)", key, err, find, i)
	}
	b[i+len(find)-1]++
	if _, err := c.PutObject(ctx, s.buckets[2], key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitUntil polls cond for up to a minute.
func waitUntil(t *testing.T, what string, logs *syncBuffer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; serve log:\n%s", what, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tamper(d workflows.Decision) workflows.Decision {
	d.Statement = strings.Replace(d.Statement, `"reviewed"`, `"reviewed, ship it"`, 1)
	return d
}

// checkSignedInRegistry reads the version back through `models show --json`.
func checkSignedInRegistry(t *testing.T, version, principal, statement string) {
	t.Helper()
	out, _, err := clvflow(t, "models", "show", version, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Events []struct {
			Type   string `json:"type"`
			Signed *struct {
				Statement, Signature, Principal, Fingerprint string
			} `json:"signed"`
		} `json:"events"`
		Version struct {
			Policy *struct{ Digest string } `json:"policy"`
		} `json:"version"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range d.Events {
		if e.Type == "approved" && e.Signed != nil && e.Signed.Principal == principal && e.Signed.Statement == statement &&
			strings.HasPrefix(e.Signed.Signature, "-----BEGIN SSH SIGNATURE-----") && strings.HasPrefix(e.Signed.Fingerprint, "SHA256:") {
			found = true
		}
	}
	if !found || d.Version.Policy == nil || len(d.Version.Policy.Digest) != 64 {
		t.Fatalf("models show %s: no signed approval by %s or no policy: %s", version, principal, out)
	}
	human, _, err := clvflow(t, "models", "show", version)
	if err != nil || !strings.Contains(human, "signed by "+principal) {
		t.Fatalf("models show %s does not show the signer: %v\n%s", version, err, human)
	}
}

func dialTest(t *testing.T, s *stack) client.Client {
	t.Helper()
	tc, err := client.Dial(client.Options{HostPort: s.temporal.Address, Namespace: s.temporal.Namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	return tc
}

func sendUpdate(tc client.Client, workflowID string, d workflows.Decision) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflowID, UpdateName: workflows.UpdateApproval,
		Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}

// historyLength counts the events of a run's history.
func historyLength(t *testing.T, tc client.Client, workflowID string) int {
	t.Helper()
	it := tc.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		if _, err := it.Next(); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// rawTemporalUpdate sends an approval Update with the Temporal CLI, as
// anyone who reaches the frontend could, and returns what it printed.
func rawTemporalUpdate(t *testing.T, s *stack, workflowID, input string) string {
	t.Helper()
	bin, err := testenv.Binary("temporal", "CLVFLOW_TEMPORAL_BIN")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "workflow", "update", "execute", "--address", s.temporal.Address, "--namespace", s.temporal.Namespace,
		"--workflow-id", workflowID, "--name", workflows.UpdateApproval, "--input", input).CombinedOutput()
	if err == nil {
		t.Fatalf("temporal workflow update with a made-up approver succeeded: %s", out)
	}
	return string(out)
}

// checkReport: the run names its evaluation report and `clvflow report`
// writes the page with one image per plot.
func checkReport(t *testing.T, version string, res workflows.PipelineResult) {
	t.Helper()
	if res.Report == nil {
		t.Fatal("the run result names no evaluation report")
	}
	dir := t.TempDir()
	if out, _, err := clvflow(t, "report", version, "--output", dir); err != nil {
		t.Fatalf("report: %v %s", err, out)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), "<img src=\"data:image/png;base64,"); n < 3 || !strings.Contains(string(page), "champion") && !strings.Contains(string(page), "ziln") {
		t.Fatalf("report of %s has %d embedded plots", version, n)
	}
}
