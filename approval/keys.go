package approval

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/ssh"
)

// WriteNewKey creates an ed25519 SSH key pair as ssh-keygen -t ed25519 does:
// the private key in OpenSSH format at path (0600, unencrypted) and the
// public key at path+".pub". It refuses to overwrite an existing key.
func WriteNewKey(path, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("new signing key: %w", err)
	}
	if _, err := f.Write(pem.EncodeToMemory(block)); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return sshPub, os.WriteFile(path+".pub", []byte(AuthorizedKeyLine(sshPub, comment)), 0o644)
}

// AuthorizedKeyLine is a public key as an authorized_keys line with a
// comment (what a .pub file and a trusted-keys file hold).
func AuthorizedKeyLine(key ssh.PublicKey, comment string) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key))) + " " + comment + "\n"
}

// AllowedSignersLine is the allowed-signers line that lets key sign clvflow
// decisions as principal.
func AllowedSignersLine(principal string, key ssh.PublicKey) string {
	return fmt.Sprintf("%s namespaces=%q %s", principal, Namespace, ssh.MarshalAuthorizedKey(key))
}
