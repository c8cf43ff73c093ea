package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
)

// FileName is the name of the file WriteDir writes.
const FileName = "report.html"

//go:embed report.html.tmpl
var pageSource string

var pageTemplate = template.Must(template.New("report").Parse(pageSource))

// Render writes the report of d as one self-contained HTML page. Nothing is
// written when d is invalid or a plot fails. The output depends only on d.
func Render(w io.Writer, d Data) error {
	if err := d.validate(); err != nil {
		return err
	}
	pg, err := buildPage(d)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, pg); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// WriteDir renders d into dir/report.html (creating dir) and returns the
// file's path. The file is written to a temporary name and renamed, so a
// reader never sees a partial report.
func WriteDir(dir string, d Data) (string, error) {
	var buf bytes.Buffer
	if err := Render(&buf, d); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	path := filepath.Join(dir, FileName)
	tmp, err := os.CreateTemp(dir, "."+FileName+".*")
	if err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return "", fmt.Errorf("report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("report: %w", err)
	}
	return path, nil
}
