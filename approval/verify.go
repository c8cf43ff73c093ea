package approval

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// Verified is a decision whose signature checked out.
type Verified struct {
	Statement Statement
	Signer    Signer
}

// Verify checks an armored SSHSIG signature over a statement's bytes against
// the allowed signers and returns the statement with its signer. It refuses,
// naming the reason: a missing or malformed signature, a statement that is
// not canonical, a signature that does not verify (the statement was changed
// after signing, or it was signed for another namespace), and a key that the
// allowed-signers file does not let sign as the statement's approver. It does
// not compare the statement with any run: see [Expect.Match].
func Verify(statement, armored []byte, signers *AllowedSigners) (Verified, error) {
	if len(bytes.TrimSpace(armored)) == 0 {
		return Verified{}, errors.New("the decision is not signed (sign it with `clvflow approve|reject --key KEY`, or ssh-keygen -Y sign -n " + Namespace + ")")
	}
	sig, err := sshsig.Unarmor(armored)
	if err != nil {
		return Verified{}, fmt.Errorf("the signature is not an armored SSH signature: %v", err)
	}
	st, err := ParseStatement(statement)
	if err != nil {
		return Verified{}, err
	}
	if sig.Namespace != Namespace {
		return Verified{}, fmt.Errorf("the signature is for namespace %q, not %q", sig.Namespace, Namespace)
	}
	if err := sshsig.Verify(bytes.NewReader(statement), sig, sig.PublicKey, sig.HashAlgorithm, Namespace); err != nil {
		return Verified{}, fmt.Errorf("the signature does not match the statement (changed after signing?): %v", err)
	}
	if signers.Len() == 0 {
		return Verified{}, errors.New("the worker's policy lists no allowed signers (approvals.allowed_signers in the policy file): no decision can be accepted")
	}
	e, err := signers.find(sig.PublicKey, st.Approver, st.Time)
	if err != nil {
		return Verified{}, err
	}
	return Verified{Statement: st, Signer: Signer{Principal: st.Approver, Fingerprint: ssh.FingerprintSHA256(e.key), KeyType: e.key.Type()}}, nil
}
