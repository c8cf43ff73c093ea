package activities_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/activities"
)

// passwdLike is a copy of an /etc/passwd in spirit: distinctive values
// that must never appear in an error.
const passwdLike = `root:x:0:0:root:/root:/bin/bash
zqsecretuser:x:1000:1000:Zed Quux Secret,,,:/home/zqsecretuser:/usr/bin/zsh
svcbackup:x:998:998:backup operator:/var/lib/svcbackup:/usr/sbin/nologin
`

// wantNoContent fails when msg quotes a line or a field (of 4 or more
// characters) of content.
func wantNoContent(t *testing.T, msg, content string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(content), "\n") {
		if strings.Contains(msg, line) {
			t.Errorf("error quotes the line %q: %s", line, msg)
		}
		for _, field := range strings.FieldsFunc(line, func(r rune) bool { return r == ':' || r == ',' }) {
			if len(field) >= 4 && strings.Contains(msg, field) {
				t.Errorf("error quotes the field %q: %s", field, msg)
			}
		}
	}
}

// A worker refuses /etc/passwd (and anything else outside
// ingest.allowed_dirs) before opening it: the error is bad input, names
// the path, the key and what to do, and quotes nothing of the file. The
// store is unreachable, so an attempt to read and upload the file would
// end in an infrastructure error instead.
func TestIngestRefusesPathsOutsideAllowedDirs(t *testing.T) {
	dir := t.TempDir()
	inside := writeFile(t, "orders.csv", "customer,date,amount\nc1,2020-01-01,5\n")
	link := filepath.Join(dir, "innocent.csv")
	if err := os.Symlink("/etc/passwd", link); err != nil {
		t.Fatal(err)
	}
	passwd, _ := os.ReadFile("/etc/passwd") // only to check the error quotes none of it
	for _, tc := range []struct {
		name    string
		allowed []string
		path    string
		want    []string
	}{
		{"/etc/passwd", nil, "/etc/passwd", []string{"refusing input path /etc/passwd", "ingest.allowed_dirs", "none are configured", "clvflow ingest --input FILE", "clvflow train --input FILE"}},
		{"/etc/passwd with allowed dirs", []string{dir}, "/etc/passwd", []string{"refusing input path /etc/passwd", "allowed: " + dir}},
		{"default allows no path at all", nil, inside, []string{"refusing input path " + inside, "none are configured"}},
		{"dot-dot escape", []string{dir}, filepath.Join(dir, "..", "..", "..", "..", "..", "..", "..", "..", "etc", "passwd"), []string{"refusing input path", "ingest.allowed_dirs"}},
		{"symbolic link out of an allowed dir", []string{dir}, link, []string{"refusing input path " + link, "resolves to /etc/passwd"}},
		{"relative allowed dir is ignored", []string{"."}, inside, []string{"refusing input path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := unreachable(t)
			a.AllowedInputDirs = tc.allowed
			_, err := run[activities.IngestResult](t, newEnv(t, a), a.IngestDataset, activities.IngestInput{Path: tc.path})
			wantNonRetryable(t, err, activities.ErrTypeBadInput, tc.want...)
			if len(passwd) > 0 {
				wantNoContent(t, err.Error(), string(passwd))
			}
		})
	}
}

// A passwd-like file inside an allowed directory is read, but refused as
// an unknown format with an error that describes its first line instead
// of quoting it, and nothing of it is kept.
func TestIngestUnknownFormatQuotesNothing(t *testing.T) {
	f := newFixture(t)
	a := f.acts
	env := newEnv(t, a)
	for _, tc := range []struct{ name, content string }{
		{"passwd copy", passwdLike},
		{"passwd copy after blank lines", "\n\n" + passwdLike},
		{"one long secret line", "zqsecretvalue-" + strings.Repeat("k", 200) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "passwd", tc.content)
			_, err := run[activities.IngestResult](t, env, a.IngestDataset, activities.IngestInput{Path: path})
			wantNonRetryable(t, err, activities.ErrTypeBadInput, "passwd", "unknown format", "the first line (", "--format")
			wantNoContent(t, err.Error(), tc.content)
			if strings.Contains(err.Error(), "zqsecret") || strings.Contains(err.Error(), "kkkk") {
				t.Errorf("error quotes the file: %s", err)
			}
		})
	}
	if k := keys(t, f.store, a.Buckets.Datasets, activities.RawPrefix+"/"); len(k) != 0 {
		t.Errorf("refused inputs left raw objects %v", k)
	}
}
