package artifacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestContentKey(t *testing.T) {
	tests := []struct{ prefix, want string }{
		{"", "sha256/" + emptySHA256},
		{"datasets", "datasets/sha256/" + emptySHA256},
		{"/datasets/raw/", "datasets/raw/sha256/" + emptySHA256},
	}
	for _, tc := range tests {
		if got := ContentKey(tc.prefix, emptySHA256); got != tc.want {
			t.Errorf("ContentKey(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestPutOptionsUserMetadata(t *testing.T) {
	tests := []struct {
		name    string
		opts    PutOptions
		want    map[string]string
		wantErr string
	}{
		{"none", PutOptions{}, map[string]string{}, ""},
		{"lower-cased keys and escaped filename", PutOptions{Filename: "Online Retail (2011).csv", Metadata: map[string]string{"Model-Kind": "ziln", "seed": "7"}},
			map[string]string{"model-kind": "ziln", "seed": "7", metaFilename: "Online%20Retail%20%282011%29.csv"}, ""},
		{"bad key", PutOptions{Metadata: map[string]string{"has space": "x"}}, nil, `metadata key "has space"`},
		{"underscore key", PutOptions{Metadata: map[string]string{"a_b": "x"}}, nil, `metadata key "a_b"`},
		{"reserved", PutOptions{Metadata: map[string]string{"Clvflow-Sha256": "x"}}, nil, "reserved"},
		{"duplicate by case", PutOptions{Metadata: map[string]string{"Seed": "1", "seed": "2"}}, nil, "given twice"},
		{"non-ascii value", PutOptions{Metadata: map[string]string{"who": "Zoë"}}, nil, "printable ASCII"},
		{"control char", PutOptions{Metadata: map[string]string{"who": "a\nb"}}, nil, "printable ASCII"},
		{"too large", PutOptions{Metadata: map[string]string{"big": strings.Repeat("x", 2000)}}, nil, "S3 allows 2048"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.opts.userMetadata()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	// The same invalid input gives the same message every time (sorted keys).
	o := PutOptions{Metadata: map[string]string{"b b": "1", "a a": "2", "c c": "3"}}
	for range 5 {
		if _, err := o.userMetadata(); err == nil || !strings.Contains(err.Error(), `"a a"`) {
			t.Fatalf("error %v does not name the first key in order", err)
		}
	}
	if (PutOptions{}).contentType() != DefaultContentType {
		t.Error("default content type")
	}
}

// onlyReader hides every method but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestPrepareSource(t *testing.T) {
	data := prngBytes(3, 3*headSize/2)
	path := filepath.Join(t.TempDir(), "f.bin")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("source broke")
	offsetReader := bytes.NewReader(data)
	if _, err := offsetReader.Seek(100, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() { pw.Write(data[:10]); pw.Close() }()
	defer pr.Close()

	tests := []struct {
		name       string
		r          io.Reader
		size       int64
		wantSize   int64
		wantRewind bool
		wantData   []byte
		wantErr    error
	}{
		{"seeker, size unknown", bytes.NewReader(data), -1, int64(len(data)), true, data, nil},
		{"seeker at an offset", offsetReader, -1, int64(len(data) - 100), true, data[100:], nil},
		{"seeker, size given", bytes.NewReader(data), int64(len(data)), int64(len(data)), true, data, nil},
		{"small stream is read ahead", onlyReader{bytes.NewReader(data[:1000])}, -1, 1000, true, data[:1000], nil},
		{"stream of exactly the head size", onlyReader{bytes.NewReader(data[:headSize])}, -1, headSize, true, data[:headSize], nil},
		{"stream one byte over the head size", onlyReader{bytes.NewReader(data[:headSize+1])}, -1, -1, false, data[:headSize+1], nil},
		{"long stream", onlyReader{bytes.NewReader(data)}, -1, -1, false, data, nil},
		{"stream, size given", onlyReader{bytes.NewReader(data)}, int64(len(data)), int64(len(data)), false, data, nil},
		{"pipe is not seekable", pr, -1, 10, true, data[:10], nil},
		{"failing stream", onlyReader{iotest.ErrReader(boom)}, -1, 0, false, nil, boom},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := prepareSource(tc.r, tc.size)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if src.size != tc.wantSize {
				t.Errorf("size = %d, want %d", src.size, tc.wantSize)
			}
			if (src.rewind != nil) != tc.wantRewind {
				t.Fatalf("rewindable = %v, want %v", src.rewind != nil, tc.wantRewind)
			}
			got, err := io.ReadAll(src.r)
			if err != nil || !bytes.Equal(got, tc.wantData) {
				t.Fatalf("read %d bytes (err %v), want %d", len(got), err, len(tc.wantData))
			}
			if src.rewind != nil {
				if err := src.rewind(); err != nil {
					t.Fatal(err)
				}
				again, _ := io.ReadAll(src.r)
				if !bytes.Equal(again, tc.wantData) {
					t.Fatal("rewind did not restart at the original position")
				}
			}
		})
	}
	// A file is seekable; its size is found without reading it.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := prepareSource(f, -1)
	if err != nil || src.size != int64(len(data)) || src.rewind == nil {
		t.Fatalf("file: size %d rewind %v err %v", src.size, src.rewind != nil, err)
	}
}

func TestRefJSONAndValidate(t *testing.T) {
	r := Ref{Bucket: "clvflow-datasets", Key: "datasets/sha256/" + emptySHA256, VersionID: "v1", SHA256: emptySHA256, Size: 0, ContentType: "text/csv"}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bucket":"clvflow-datasets","key":"datasets/sha256/` + emptySHA256 + `","version_id":"v1","sha256":"` + emptySHA256 + `","size":0,"content_type":"text/csv"}`
	if string(b) != want {
		t.Fatalf("JSON = %s\nwant   %s", b, want)
	}
	var back Ref
	if err := json.Unmarshal(b, &back); err != nil || back != r {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if got := r.String(); got != "clvflow-datasets/datasets/sha256/"+emptySHA256+"@v1 sha256:e3b0c44298fc" {
		t.Errorf("String = %q", got)
	}
	tests := []struct {
		name    string
		ref     Ref
		wantErr string
	}{
		{"ok", r, ""},
		{"latest by key", Ref{Bucket: "b", Key: "k"}, ""},
		{"no bucket", Ref{Key: "k"}, "no bucket"},
		{"no key", Ref{Bucket: "b"}, "no key"},
		{"bad sha", Ref{Bucket: "b", Key: "k", SHA256: "ABC"}, "not 64 lower-case hex"},
		{"negative size", Ref{Bucket: "b", Key: "k", Size: -1}, "negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ref.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestManifestValidate(t *testing.T) {
	sum := sha([]byte("data"))
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ds := DatasetManifest{Ref: Ref{Bucket: "b", Key: ContentKey("datasets", sum), SHA256: sum, Size: 4}, Filename: "x.csv", Format: "csv", Rows: 1, Bytes: 4, CreatedAt: created}
	dsWith := func(f func(*DatasetManifest)) DatasetManifest { m := ds; f(&m); return m }
	am := ArtifactManifest{Name: "clv-ziln", Kind: "onnx-model", Ref: ds.Ref, Parents: []Ref{ds.Ref}, CreatedAt: created}
	amWith := func(f func(*ArtifactManifest)) ArtifactManifest { m := am; f(&m); return m }
	tests := []struct {
		name    string
		v       interface{ Validate() error }
		wantErr string
	}{
		{"dataset ok", ds, ""},
		{"dataset no sha", dsWith(func(m *DatasetManifest) { m.Ref.SHA256 = "" }), "no valid sha256"},
		{"dataset no format", dsWith(func(m *DatasetManifest) { m.Format = "" }), "format is empty"},
		{"dataset bytes differ", dsWith(func(m *DatasetManifest) { m.Bytes = 5 }), "bytes 5 differ from the ref size 4"},
		{"dataset negative rows", dsWith(func(m *DatasetManifest) { m.Rows = -1 }), "rows -1"},
		{"dataset no time", dsWith(func(m *DatasetManifest) { m.CreatedAt = time.Time{} }), "created_at"},
		{"artifact ok", am, ""},
		{"artifact no name", amWith(func(m *ArtifactManifest) { m.Name = "" }), "name is empty"},
		{"artifact slash", amWith(func(m *ArtifactManifest) { m.Name = "a/b" }), "slashes"},
		{"artifact no kind", amWith(func(m *ArtifactManifest) { m.Kind = "" }), "kind is empty"},
		{"artifact bad parent", amWith(func(m *ArtifactManifest) { m.Parents = []Ref{{Bucket: "b"}} }), "parent 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.Validate()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if got := DatasetManifestKey(sum); got != "manifests/datasets/"+sum+".json" {
		t.Errorf("DatasetManifestKey = %q", got)
	}
	if got := ArtifactManifestKey("clv-ziln", sum); got != "manifests/artifacts/clv-ziln/"+sum+".json" {
		t.Errorf("ArtifactManifestKey = %q", got)
	}
}

func TestPutRejectsBadInputWithoutContactingServer(t *testing.T) {
	// The endpoint is never dialled: every case fails validation first.
	s, err := New(Config{Endpoint: "127.0.0.1:1", AccessKey: "ak", SecretKey: "sk"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	missing := filepath.Join(t.TempDir(), "missing.csv")
	tests := []struct {
		name    string
		call    func() error
		wantMsg string
	}{
		{"bad bucket", func() error { _, err := s.PutBytes(ctx, "Bad_Bucket", "p", nil, PutOptions{}); return err }, "bucket name"},
		{"reserved prefix", func() error { _, err := s.PutBytes(ctx, "b-ok", ".clvflow-tmp/x", nil, PutOptions{}); return err }, "reserved for uploads in flight"},
		{"bad metadata", func() error {
			_, err := s.PutBytes(ctx, "b-ok", "p", nil, PutOptions{Metadata: map[string]string{"a b": "x"}})
			return err
		}, `metadata key "a b"`},
		{"nil reader", func() error { _, err := s.Put(ctx, "b-ok", "p", nil, PutOptions{}); return err }, "nil reader"},
		{"missing file", func() error { _, err := s.PutFile(ctx, "b-ok", "p", missing, PutOptions{}); return err }, "open input"},
		{"directory", func() error { _, err := s.PutFile(ctx, "b-ok", "p", t.TempDir(), PutOptions{}); return err }, "not a regular file"},
		{"json key under temp", func() error { _, err := s.PutJSON(ctx, "b-ok", TempPrefix+"x.json", 1); return err }, "reserved prefix"},
		{"bad ref", func() error { _, err := s.GetBytes(ctx, Ref{Bucket: "b-ok"}); return err }, "no key"},
		{"bad ref for stat", func() error { _, err := s.Stat(ctx, Ref{Key: "k"}); return err }, "no bucket"},
		{"bad ref for delete", func() error { return s.Delete(ctx, Ref{Bucket: "b", Key: "k", SHA256: "x"}) }, "not 64 lower-case hex"},
		{"bad list bucket", func() error { _, err := s.List(ctx, "", "p"); return err }, "bucket name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if KindOf(err) != Invalid || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("err = %v (kind %v), want invalid with %q", err, KindOf(err), tc.wantMsg)
			}
		})
	}
}
