package devstack

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/internal/codec"
	"github.com/clvflow/clvflow/policy"
	"github.com/clvflow/clvflow/provenance"
)

// DevApprover is the identity of the dev signing key.
const DevApprover = "demo@clvflow.dev"

// Governance names the dev stack's policy, signing key and payload key.
type Governance struct {
	PolicyFile     string
	AllowedSigners string
	SigningKey     string
	PayloadKeyFile string
	// WorkerKey signs provenance (provenance.signing_key); TrustedKeys lists
	// its public half (provenance.trusted_keys).
	WorkerKey   string
	TrustedKeys string
}

// Governance returns the paths under the state directory.
func (s *Stack) Governance() Governance {
	dir := filepath.Join(s.StateDir, "governance")
	return Governance{
		PolicyFile:     filepath.Join(dir, "policy.yaml"),
		AllowedSigners: filepath.Join(dir, "allowed_signers"),
		SigningKey:     filepath.Join(dir, "approver_ed25519"),
		PayloadKeyFile: filepath.Join(dir, "payload.key"),
		WorkerKey:      filepath.Join(dir, "worker_ed25519"),
		TrustedKeys:    filepath.Join(dir, "trusted_keys"),
	}
}

// ensureGovernance writes, once, what the dev worker and `make demo` need to
// govern promotion for real: an ed25519 signing key for DevApprover, an
// allowed-signers file with it, a policy with the config's gate thresholds
// and approval deadline (no automatic approval), and a payload key so the
// dev stack's workflow histories hold only ciphertext. Existing files are
// kept, so keys survive restarts.
func (s *Stack) ensureGovernance() error {
	g := s.Governance()
	if err := os.MkdirAll(filepath.Dir(g.PolicyFile), 0o700); err != nil {
		return err
	}
	if err := ensureSigningKey(g); err != nil {
		return err
	}
	if err := ensureWorkerKey(g); err != nil {
		return err
	}
	if err := writeOnce(g.PolicyFile, devPolicy(s.Cfg)); err != nil {
		return err
	}
	key, err := codec.NewKey("dev-" + time.Now().UTC().Format("20060102"))
	if err != nil {
		return err
	}
	return writeOnce(g.PayloadKeyFile, codec.KeyFileLine(key))
}

func ensureSigningKey(g Governance) error {
	if _, err := os.Stat(g.SigningKey); errors.Is(err, fs.ErrNotExist) {
		pub, err := approval.WriteNewKey(g.SigningKey, DevApprover)
		if err != nil {
			return err
		}
		return os.WriteFile(g.AllowedSigners, []byte(approval.AllowedSignersLine(DevApprover, pub)), 0o600)
	} else if err != nil {
		return err
	}
	if _, err := os.Stat(g.AllowedSigners); err != nil {
		return fmt.Errorf("dev signing key %s exists but %s does not: remove the key to make both anew", g.SigningKey, g.AllowedSigners)
	}
	return nil
}

// ensureWorkerKey makes the worker's provenance key and the trusted-keys
// file that lists it.
func ensureWorkerKey(g Governance) error {
	if _, err := os.Stat(g.WorkerKey); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, err := approval.WriteNewKey(g.WorkerKey, "clvflow-dev-worker"); err != nil {
		return err
	}
	s, err := provenance.LoadSigner(g.WorkerKey)
	if err != nil {
		return err
	}
	return os.WriteFile(g.TrustedKeys, []byte(s.PublicKeyLine("clvflow-dev-worker")), 0o600)
}

func devPolicy(cfg config.Config) string {
	return "# clvflow dev stack policy, written by `clvflow dev up` (edit it: the worker reads it at every run)\n" +
		policy.Render(cfg.Gate, "allowed_signers", cfg.Approvals.Timeout, false)
}

// writeOnce creates path with content (0600) unless it exists.
func writeOnce(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
