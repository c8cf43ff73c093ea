package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/clvflow/clvflow/approval"
	"github.com/clvflow/clvflow/config"
	"github.com/spf13/pflag"
)

// signFlags are the flags of every signed decision (approve, reject,
// rollback).
type signFlags struct {
	approver, key, statementFile, signatureFile string
	printStatement                              bool
}

func (f *signFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.approver, "approver", "", "the identity you sign as: a principal of the worker's allowed signers (default approvals.approver)")
	fs.StringVar(&f.key, "key", "", "SSH key to sign with: a private key, or a public key whose private half is in ssh-agent or on a FIDO token (default approvals.signing_key)")
	fs.BoolVar(&f.printStatement, "print-statement", false, "print the statement to sign and stop (sign it with ssh-keygen -Y sign -n "+approval.Namespace+", then pass --statement and --signature)")
	fs.StringVar(&f.statementFile, "statement", "", "a statement printed by --print-statement (with --signature)")
	fs.StringVar(&f.signatureFile, "signature", "", "the ssh-keygen signature of --statement")
}

// errPrinted stops a command after --print-statement.
var errPrinted = errors.New("statement printed")

// signed makes the signed statement of a decision: st names the decision,
// the run and the version; the approver, the time and the signature come
// from the flags (or from --statement/--signature made earlier, which must
// name the same decision).
func (a *app) signed(ctx context.Context, cfg config.Config, f signFlags, st approval.Statement) (statement, signature []byte, err error) {
	if f.statementFile != "" || f.signatureFile != "" {
		return readSigned(f, st)
	}
	st.Approver = cmp.Or(f.approver, cfg.Approvals.Approver)
	if strings.TrimSpace(st.Approver) == "" {
		return nil, nil, errors.New("--approver NAME is required (or set approvals.approver): the identity the worker's allowed signers know you by")
	}
	st.Time = time.Now()
	statement = st.Marshal()
	if f.printStatement {
		_, err := a.out.Write(statement)
		if err == nil {
			err = errPrinted
		}
		return nil, nil, err
	}
	key := expandHome(cmp.Or(f.key, cfg.Approvals.SigningKey))
	if key == "" {
		return nil, nil, errors.New("a decision must be signed: give --key ~/.ssh/id_ed25519 (or set approvals.signing_key), or --statement and --signature made with ssh-keygen")
	}
	signature, err = approval.SignWithKey(ctx, statement, key)
	return statement, signature, err
}

// readSigned reads a statement and its signature made earlier and checks
// that the statement is about the decision the command was asked to make.
func readSigned(f signFlags, want approval.Statement) ([]byte, []byte, error) {
	if f.statementFile == "" || f.signatureFile == "" {
		return nil, nil, errors.New("--statement and --signature go together")
	}
	statement, err := os.ReadFile(f.statementFile)
	if err != nil {
		return nil, nil, err
	}
	signature, err := os.ReadFile(f.signatureFile)
	if err != nil {
		return nil, nil, err
	}
	st, err := approval.ParseStatement(statement)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", f.statementFile, err)
	}
	if st.Decision != want.Decision || st.Version != want.Version {
		return nil, nil, fmt.Errorf("%s decides %s %s, not %s %s", f.statementFile, st.Decision, st.Version, want.Decision, want.Version)
	}
	return statement, signature, nil
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}
