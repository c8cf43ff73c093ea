package approval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// SignWithKey signs a statement with the SSH key at keyPath and returns the
// armored signature, byte for byte what `ssh-keygen -Y sign -n
// clvflow-approval -f keyPath` makes. An unencrypted ed25519, ECDSA or RSA
// private key is used in process; anything else (a passphrase-protected or
// FIDO sk- key, or a public key whose private half is in ssh-agent) is
// handed to ssh-keygen, which prompts and talks to the agent or the token
// as it does for git.
func SignWithKey(ctx context.Context, statement []byte, keyPath string) ([]byte, error) {
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	if key, err := ssh.ParseRawPrivateKey(raw); err == nil {
		signer, err := ssh.NewSignerFromKey(key)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %v", keyPath, err)
		}
		return signInProcess(statement, signer)
	}
	return SignWithSSHKeygen(ctx, statement, keyPath)
}

func signInProcess(statement []byte, signer ssh.Signer) ([]byte, error) {
	sig, err := sshsig.Sign(bytes.NewReader(statement), signer, sshsig.HashSHA512, Namespace)
	if err != nil {
		return nil, fmt.Errorf("sign the decision: %v", err)
	}
	return sshsig.Armor(sig), nil
}

// SignWithSSHKeygen runs `ssh-keygen -Y sign -n clvflow-approval -f
// keyPath` on the statement (stdin) and returns its armored signature
// (stdout). ssh-keygen's prompts and errors go to this process's terminal.
func SignWithSSHKeygen(ctx context.Context, statement []byte, keyPath string) ([]byte, error) {
	bin, err := exec.LookPath("ssh-keygen")
	if err != nil {
		return nil, errors.New("signing key: it is not an unencrypted private key clvflow can use itself, and ssh-keygen (OpenSSH) is not installed to sign with it")
	}
	cmd := exec.CommandContext(ctx, bin, "-q", "-Y", "sign", "-n", Namespace, "-f", keyPath)
	cmd.Stdin = bytes.NewReader(statement)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ssh-keygen -Y sign -f %s: %v: %s", keyPath, err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}
