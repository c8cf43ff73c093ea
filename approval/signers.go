package approval

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// AllowedSigners is a parsed OpenSSH allowed-signers file (ssh-keygen(1),
// "ALLOWED SIGNERS"): one key per line with the principals that may sign
// with it,
//
//	alice@example.com,alice ssh-ed25519 AAAAC3Nza… alice's laptop
//	bob@example.com namespaces="clvflow-approval",valid-before="20271231" sk-ssh-ed25519@openssh.com AAAA…
//
// Principals are comma-separated patterns (* and ? wildcards, ! negates).
// The options namespaces, valid-after and valid-before are honoured;
// cert-authority lines are refused when the file is read (certificates are
// not supported). Blank lines and lines starting with # are ignored.
type AllowedSigners struct {
	entries []allowedSigner
}

type allowedSigner struct {
	line        int
	principals  []string
	namespaces  []string
	validAfter  time.Time
	validBefore time.Time
	key         ssh.PublicKey
}

// Signer is who signed a decision, as the allowed-signers file knows them.
type Signer struct {
	Principal string `json:"principal"`
	// Fingerprint is the key's SHA256 fingerprint as ssh-keygen -l prints it.
	Fingerprint string `json:"fingerprint"`
	KeyType     string `json:"key_type"`
}

// ParseAllowedSigners reads an allowed-signers file; name is used in errors,
// which cite the line number but never the line's content.
func ParseAllowedSigners(b []byte, name string) (*AllowedSigners, error) {
	var out AllowedSigners
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		e, err := parseSignerLine(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		e.line = n
		out.entries = append(out.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return &out, nil
}

// Len is the number of keys in the file.
func (a *AllowedSigners) Len() int {
	if a == nil {
		return 0
	}
	return len(a.entries)
}

func parseSignerLine(line string) (allowedSigner, error) {
	principals, rest, err := cutPrincipals(line)
	if err != nil {
		return allowedSigner{}, err
	}
	key, _, options, _, err := ssh.ParseAuthorizedKey([]byte(rest))
	if err != nil {
		return allowedSigner{}, errors.New("no valid public key after the principals (want: PRINCIPALS [OPTIONS] KEYTYPE BASE64KEY [COMMENT])")
	}
	e := allowedSigner{principals: principals, key: key}
	for _, opt := range options {
		if err := e.applyOption(opt); err != nil {
			return allowedSigner{}, err
		}
	}
	return e, nil
}

// cutPrincipals splits off the first field (optionally double-quoted).
func cutPrincipals(line string) ([]string, string, error) {
	var field, rest string
	if strings.HasPrefix(line, `"`) {
		end := strings.IndexByte(line[1:], '"')
		if end < 0 {
			return nil, "", errors.New("unterminated quoted principals")
		}
		field, rest = line[1:end+1], line[end+2:]
	} else {
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return nil, "", errors.New("a line needs principals and a key")
		}
		field, rest = line[:i], line[i:]
	}
	var principals []string
	for _, p := range strings.Split(field, ",") {
		if p = strings.TrimSpace(p); p != "" {
			principals = append(principals, p)
		}
	}
	if len(principals) == 0 {
		return nil, "", errors.New("no principals")
	}
	return principals, strings.TrimSpace(rest), nil
}

func (e *allowedSigner) applyOption(opt string) error {
	name, value, _ := strings.Cut(opt, "=")
	value = strings.Trim(value, `"`)
	var err error
	switch strings.ToLower(name) {
	case "namespaces":
		e.namespaces = strings.Split(value, ",")
	case "valid-after":
		e.validAfter, err = parseSignerTime(value)
	case "valid-before":
		e.validBefore, err = parseSignerTime(value)
	case "cert-authority":
		return errors.New("cert-authority keys are not supported; list the signers' own keys")
	default:
		return fmt.Errorf("unknown option %q", name)
	}
	if err != nil {
		return fmt.Errorf("option %s: %v", name, err)
	}
	return nil
}

// parseSignerTime reads YYYYMMDD[HHMM[SS]][Z] (local time unless Z, as
// OpenSSH; clvflow reads it as UTC in both cases so that every worker agrees).
func parseSignerTime(v string) (time.Time, error) {
	v = strings.TrimSuffix(v, "Z")
	for _, layout := range []string{"20060102", "200601021504", "20060102150405"} {
		if len(v) == len(layout) {
			if t, err := time.Parse(layout, v); err == nil {
				return t, nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("want YYYYMMDD[HHMM[SS]][Z], got %q", v)
}

// find returns the entry that lets key sign as principal at time t in the
// clvflow namespace, or an error that says which condition failed.
func (a *AllowedSigners) find(key ssh.PublicKey, principal string, t time.Time) (*allowedSigner, error) {
	fp := ssh.FingerprintSHA256(key)
	var reasons []string
	for i := range a.entries {
		e := &a.entries[i]
		if ssh.FingerprintSHA256(e.key) != fp {
			continue
		}
		switch {
		case !matchPatternList(e.principals, principal):
			reasons = append(reasons, fmt.Sprintf("line %d does not let it sign as %q", e.line, principal))
		case len(e.namespaces) > 0 && !slices.Contains(e.namespaces, Namespace):
			reasons = append(reasons, fmt.Sprintf("line %d does not allow namespace %s", e.line, Namespace))
		case !e.validAfter.IsZero() && t.Before(e.validAfter), !e.validBefore.IsZero() && t.After(e.validBefore):
			reasons = append(reasons, fmt.Sprintf("line %d is not valid at %s", e.line, t.UTC().Format(time.RFC3339)))
		default:
			return e, nil
		}
	}
	if len(reasons) == 0 {
		return nil, fmt.Errorf("key %s is not in the worker's allowed signers", fp)
	}
	return nil, fmt.Errorf("key %s is not allowed: %s", fp, strings.Join(reasons, "; "))
}

// matchPatternList reports whether s matches the list as OpenSSH's
// match_pattern_list does: a negated match (!pattern) refuses outright,
// otherwise any positive match accepts.
func matchPatternList(patterns []string, s string) bool {
	ok := false
	for _, p := range patterns {
		if neg, found := strings.CutPrefix(p, "!"); found {
			if wildcardMatch(neg, s) {
				return false
			}
			continue
		}
		if wildcardMatch(p, s) {
			ok = true
		}
	}
	return ok
}

// wildcardMatch matches * (any run) and ? (one byte); nothing else is special.
func wildcardMatch(p, s string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(s); i >= 0; i-- {
				if wildcardMatch(p[1:], s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
		}
		p, s = p[1:], s[1:]
	}
	return s == ""
}
