package approval_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvflow/clvflow/approval"
)

var t0 = time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC)

func statement(approver, comment string) approval.Statement {
	return approval.Statement{Decision: approval.Approve, WorkflowID: "clvflow-train-1", RunID: "run-1", Version: "v3",
		ONNXSHA256: strings.Repeat("ab", 32), Approver: approver, Comment: comment, Time: t0}
}

func needSSHKeygen(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen (OpenSSH client) is not installed: apt-get install openssh-client")
	}
}

// keygen makes a key pair with the real ssh-keygen and returns its path.
func keygen(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	return path
}

func signersFile(t *testing.T, lines ...string) *approval.AllowedSigners {
	t.Helper()
	s, err := approval.ParseAllowedSigners([]byte(strings.Join(lines, "\n")), "allowed_signers")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pubLine(t *testing.T, keyPath string) string {
	t.Helper()
	b, err := os.ReadFile(keyPath + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// sshKeygenSign signs a file with the real ssh-keygen -Y sign.
func sshKeygenSign(t *testing.T, keyPath string, msg []byte) []byte {
	t.Helper()
	f := filepath.Join(t.TempDir(), "statement.json")
	if err := os.WriteFile(f, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", approval.Namespace, "-f", keyPath, f).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y sign: %v: %s", err, out)
	}
	sig, err := os.ReadFile(f + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestSSHKeygenSignatureVerifies(t *testing.T) {
	needSSHKeygen(t)
	dir := t.TempDir()
	alice := keygen(t, dir, "alice")
	signers := signersFile(t, "# team", "alice@example.com "+pubLine(t, alice))
	msg := statement("alice@example.com", "metrics reviewed").Marshal()
	v, err := approval.Verify(msg, sshKeygenSign(t, alice, msg), signers)
	if err != nil {
		t.Fatalf("a signature made by ssh-keygen with an allowed key was refused: %v", err)
	}
	if v.Signer.Principal != "alice@example.com" || !strings.HasPrefix(v.Signer.Fingerprint, "SHA256:") || v.Signer.KeyType != "ssh-ed25519" {
		t.Fatalf("signer = %+v", v.Signer)
	}
	if v.Statement.Comment != "metrics reviewed" || !v.Statement.Time.Equal(t0) {
		t.Fatalf("statement read back = %+v", v.Statement)
	}
}

// TestInProcessSignatureVerifiesWithSSHKeygen proves the in-process signer
// makes what OpenSSH accepts (ssh-keygen -Y verify with the same file).
func TestInProcessSignatureVerifiesWithSSHKeygen(t *testing.T) {
	needSSHKeygen(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "dev")
	pub, err := approval.WriteNewKey(key, "dev")
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(dir, "allowed_signers")
	if err := os.WriteFile(allowed, []byte(approval.AllowedSignersLine("dev@clvflow", pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := statement("dev@clvflow", "").Marshal()
	sig, err := approval.SignWithKey(context.Background(), msg, key)
	if err != nil {
		t.Fatal(err)
	}
	sigFile := filepath.Join(dir, "sig")
	if err := os.WriteFile(sigFile, sig, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ssh-keygen", "-Y", "verify", "-f", allowed, "-I", "dev@clvflow", "-n", approval.Namespace, "-s", sigFile)
	cmd.Stdin = bytes.NewReader(msg)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -Y verify refused clvflow's signature: %v: %s", err, out)
	}
	// ssh-keygen's signing path (used for agent and FIDO keys) gives the same verdict.
	sig2, err := approval.SignWithSSHKeygen(context.Background(), msg, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := approval.Verify(msg, sig2, signersFile(t, approval.AllowedSignersLine("dev@clvflow", pub))); err != nil {
		t.Fatal(err)
	}
}

func TestRefusals(t *testing.T) {
	needSSHKeygen(t)
	dir := t.TempDir()
	alice, mallory := keygen(t, dir, "alice"), keygen(t, dir, "mallory")
	signers := signersFile(t, "alice@example.com "+pubLine(t, alice))
	msg := statement("alice@example.com", "ok").Marshal()
	good := sshKeygenSign(t, alice, msg)
	tampered := bytes.Replace(msg, []byte(`"ok"`), []byte(`"OK"`), 1)
	impostor := statement("alice@example.com", "ok").Marshal()
	otherName := statement("mallory@example.com", "ok").Marshal()
	cases := []struct {
		name      string
		msg, sig  []byte
		wantError string
	}{
		{"unsigned", msg, nil, "not signed"},
		{"garbage signature", msg, []byte("-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"), "not an armored SSH signature"},
		{"tampered comment", tampered, good, "does not match the statement"},
		{"key not in the file", impostor, sshKeygenSign(t, mallory, impostor), "not in the worker's allowed signers"},
		{"allowed key, another name", otherName, sshKeygenSign(t, alice, otherName), `does not let it sign as "mallory@example.com"`},
		{"no signers at all", msg, good, "lists no allowed signers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := signers
			if c.name == "no signers at all" {
				s = signersFile(t)
			}
			_, err := approval.Verify(c.msg, c.sig, s)
			if err == nil || !strings.Contains(err.Error(), c.wantError) {
				t.Fatalf("error = %v, want it to contain %q", err, c.wantError)
			}
		})
	}
}

func TestOtherNamespaceIsRefused(t *testing.T) {
	needSSHKeygen(t)
	dir := t.TempDir()
	alice := keygen(t, dir, "alice")
	msg := statement("alice@example.com", "").Marshal()
	f := filepath.Join(dir, "m")
	if err := os.WriteFile(f, msg, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ssh-keygen", "-Y", "sign", "-n", "git", "-f", alice, f).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sig, _ := os.ReadFile(f + ".sig")
	_, err := approval.Verify(msg, sig, signersFile(t, "alice@example.com "+pubLine(t, alice)))
	if err == nil || !strings.Contains(err.Error(), `namespace "git"`) {
		t.Fatalf("a git signature was not refused as such: %v", err)
	}
}

func TestSignerOptions(t *testing.T) {
	dir := t.TempDir()
	pub, err := approval.WriteNewKey(filepath.Join(dir, "k"), "k")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "k")
	line := strings.TrimSpace(string(approval.AllowedSignersLine("x", pub)))
	keyPart := line[strings.Index(line, "ssh-ed25519"):]
	msg := statement("carol@example.com", "").Marshal()
	sig, err := approval.SignWithKey(context.Background(), msg, key)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		line string
		ok   bool
	}{
		{"*@example.com " + keyPart, true},
		{"*@example.com,!carol@example.com " + keyPart, false},
		{`"carol@example.com" ` + keyPart, true},
		{`carol@example.com namespaces="git,file" ` + keyPart, false},
		{`carol@example.com namespaces="git,clvflow-approval" ` + keyPart, true},
		{`carol@example.com valid-before="20261130" ` + keyPart, false},
		{`carol@example.com valid-after="20261130Z",valid-before="20261202" ` + keyPart, true},
		{`carol@example.com valid-after="20261202" ` + keyPart, false},
	}
	for _, c := range cases {
		_, err := approval.Verify(msg, sig, signersFile(t, c.line))
		if (err == nil) != c.ok {
			t.Errorf("line %q: err = %v, want ok=%v", c.line, err, c.ok)
		}
	}
}

func TestParseAllowedSignersErrorsNameTheLine(t *testing.T) {
	for _, c := range []struct{ text, want string }{
		{"# c\n\nalice ssh-ed25519 notbase64", "allowed_signers:3: no valid public key"},
		{"alice", "allowed_signers:1: a line needs principals and a key"},
		{"alice cert-authority ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0Lq3uYwQxOlFz0hV3n8b9b5mQ2d8eQ1W0yQd8Qk7G", "cert-authority keys are not supported"},
		{`alice frobnicate ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0Lq3uYwQxOlFz0hV3n8b9b5mQ2d8eQ1W0yQd8Qk7G`, `unknown option "frobnicate"`},
	} {
		_, err := approval.ParseAllowedSigners([]byte(c.text), "allowed_signers")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error = %v, want %q", c.text, err, c.want)
		}
	}
}

func TestStatementMatch(t *testing.T) {
	st := statement("alice", "")
	exp := approval.Expect{Decisions: []string{approval.Approve, approval.Reject}, WorkflowID: "clvflow-train-1", RunID: "run-1",
		Version: "v3", ONNXSHA256: st.ONNXSHA256, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Minute)}
	if err := exp.Match(st); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*approval.Statement){
		"run id":      func(s *approval.Statement) { s.RunID = "run-2" },
		"version":     func(s *approval.Statement) { s.Version = "v4" },
		"ONNX sha256": func(s *approval.Statement) { s.ONNXSHA256 = strings.Repeat("cd", 32) },
		"before":      func(s *approval.Statement) { s.Time = t0.Add(-2 * time.Hour) },
		"future":      func(s *approval.Statement) { s.Time = t0.Add(time.Hour) },
		"may only":    func(s *approval.Statement) { s.Decision = approval.Rollback },
	} {
		s := st
		mutate(&s)
		if err := exp.Match(s); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}

func TestParseStatementIsStrict(t *testing.T) {
	canonical := statement("alice", "a <b> & c").Marshal()
	if _, err := approval.ParseStatement(canonical); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"canonical form": bytes.Replace(canonical, []byte(`{"_type"`), []byte(`{ "_type"`), 1),
		"unknown field":  bytes.Replace(canonical, []byte(`{"_type"`), []byte(`{"extra":1,"_type"`), 1),
		"lacks":          statement("", "").Marshal(),
		"not valid":      []byte("approve v3"),
	} {
		if _, err := approval.ParseStatement(b); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error = %v", name, err)
		}
	}
}
