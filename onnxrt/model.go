package onnxrt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ErrModelClosed is returned by Predict on a model that has been closed
// (for example after a hot swap drained it); callers retry on the current one.
var ErrModelClosed = errors.New("onnxrt: model is closed")

// IntegrityError reports that a model file's sha256 differs from the one the
// registry recorded; nothing is loaded or served from such bytes.
type IntegrityError struct {
	Version  string
	Expected string
	Actual   string
}

// Error implements error.
func (e *IntegrityError) Error() string {
	if e.Expected == "" {
		return fmt.Sprintf("onnxrt: model %s: refusing to load without an expected sha256 (file sha256 %s)", e.Version, e.Actual)
	}
	return fmt.Sprintf("onnxrt: model %s failed its integrity check: sha256 %s, expected %s (file corrupted or replaced; re-fetch it from the registry)",
		e.Version, e.Actual, e.Expected)
}

// InputError reports a malformed Predict batch: Input is "features" or
// "sequence", Row the zero-based row (-1 for the batch as a whole).
type InputError struct {
	Input  string
	Row    int
	Reason string
}

// Error implements error.
func (e *InputError) Error() string {
	if e.Row < 0 {
		return fmt.Sprintf("onnxrt: input %s: %s", e.Input, e.Reason)
	}
	return fmt.Sprintf("onnxrt: input %s row %d: %s", e.Input, e.Row, e.Reason)
}

// Outputs holds one value per input row for every model output.
type Outputs struct {
	Expected []float32
	Prob     []float32
	Mu       []float32
	Sigma    []float32
}

// Len returns the number of rows.
func (o Outputs) Len() int { return len(o.Expected) }

// byName returns the slice of the named output (see OutputNames).
func (o Outputs) byName(name string) []float32 {
	switch name {
	case OutputExpectedValue:
		return o.Expected
	case OutputPurchaseProb:
		return o.Prob
	case OutputMu:
		return o.Mu
	case OutputSigma:
		return o.Sigma
	}
	return nil
}

// Model is one loaded model version with its ONNX Runtime session. Predict is
// safe for concurrent use; Close waits for in-flight Predict calls to finish.
type Model struct {
	version string
	sha256  string
	meta    Metadata

	mu      sync.RWMutex // read: Predict in flight; write: Close
	closed  bool
	session *ort.DynamicAdvancedSession
	inputs  []string
	rows    chan *rowScratch // idle one-row tensors (see predictRow)
	// row is the one-row Go path, nil when rowErr says why one-row calls
	// go through ONNX Runtime (see OneRowPath).
	row    *rowGraph
	rowErr error
}

// SHA256Hex returns the lower-case hex sha256 of b.
func SHA256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Load verifies onnxBytes against expectedSHA256 (hex, case-insensitive) and
// returns *IntegrityError on mismatch before anything else happens; then it
// reads the clvflow metadata, initialises ONNX Runtime if needed (see Init)
// and creates the session. version is the registry's model version; it is
// what Version reports (the file's own clvflow.version is in Metadata).
func Load(version string, onnxBytes []byte, expectedSHA256 string) (*Model, error) {
	actual := SHA256Hex(onnxBytes)
	if expectedSHA256 == "" || !strings.EqualFold(strings.TrimSpace(expectedSHA256), actual) {
		return nil, &IntegrityError{Version: version, Expected: expectedSHA256, Actual: actual}
	}
	meta, err := ReadMetadata(onnxBytes)
	if err != nil {
		return nil, fmt.Errorf("onnxrt: model %s: %w", version, err)
	}
	info, err := ensureInit()
	if err != nil {
		return nil, err
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxrt: model %s: session options: %w", version, err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(info.IntraOpThreads); err != nil {
		return nil, fmt.Errorf("onnxrt: model %s: set intra-op threads %d: %w", version, info.IntraOpThreads, err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxrt: model %s: set inter-op threads: %w", version, err)
	}
	inputs := []string{InputFeatures}
	if meta.Schema.HasSequence() {
		inputs = append(inputs, InputSequence)
	}
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(onnxBytes, inputs, OutputNames, opts)
	if err != nil {
		return nil, fmt.Errorf("onnxrt: model %s: create ONNX Runtime session: %w", version, err)
	}
	m := &Model{version: version, sha256: actual, meta: meta, session: sess, inputs: inputs,
		rows: make(chan *rowScratch, rowPoolSize)}
	m.row, m.rowErr = checkRowGraph(m, onnxBytes)
	return m, nil
}

// OneRowPath reports how one-row Predict calls are scored: "go" (the
// graph evaluated in Go, checked against ONNX Runtime at Load within
// DefaultParityTol on the edge rows and a spread of customers) or
// "onnxruntime", with the reason the Go path is not used.
func (m *Model) OneRowPath() (string, error) {
	if m.row != nil {
		return "go", nil
	}
	return "onnxruntime", m.rowErr
}

// Version returns the model version given to Load.
func (m *Model) Version() string { return m.version }

// SHA256 returns the verified sha256 of the model file.
func (m *Model) SHA256() string { return m.sha256 }

// Metadata returns the model's clvflow metadata.
func (m *Model) Metadata() Metadata { return m.meta }

// Schema returns the model's feature schema.
func (m *Model) Schema() FeatureSchema { return m.meta.Schema }

// checkInputs validates the batch shape against the schema.
func checkInputs(s FeatureSchema, features, seq [][]float32) error {
	nf := len(s.TabularColumns)
	for i, row := range features {
		if len(row) != nf {
			return &InputError{Input: InputFeatures, Row: i, Reason: fmt.Sprintf("has %d values, want %d (%s)", len(row), nf, strings.Join(s.TabularColumns, ", "))}
		}
	}
	if !s.HasSequence() {
		if len(seq) != 0 {
			return &InputError{Input: InputSequence, Row: -1, Reason: "given, but the model takes no sequence input"}
		}
		return nil
	}
	if len(seq) != len(features) {
		return &InputError{Input: InputSequence, Row: -1, Reason: fmt.Sprintf("has %d rows, features has %d", len(seq), len(features))}
	}
	sl := s.SequenceLen()
	for i, row := range seq {
		if len(row) != sl {
			return &InputError{Input: InputSequence, Row: i, Reason: fmt.Sprintf("has %d values, want %d (%d channels × %d weeks, channel-major)", len(row), sl, len(s.SequenceChannels), s.SequenceWeeks)}
		}
	}
	return nil
}

// Predict scores a batch of any size. features holds one row of the raw base
// features per customer (order TabularColumns); seq, for kind seq only, holds
// one flattened [2, W] row per customer: the W weekly spend values, then the
// W weekly purchase-day counts (oldest week first). For other kinds seq must
// be empty.
func (m *Model) Predict(features, seq [][]float32) (Outputs, error) {
	return m.predict(features, seq, true)
}

// predict is Predict; with allowGo false every row goes through ONNX
// Runtime (the parity gate's side under test).
func (m *Model) predict(features, seq [][]float32, allowGo bool) (Outputs, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Outputs{}, ErrModelClosed
	}
	if err := checkInputs(m.meta.Schema, features, seq); err != nil {
		return Outputs{}, err
	}
	switch {
	case len(features) == 0:
		return newOutputs(0), nil
	case len(features) == 1:
		var seq0 []float32
		if len(seq) == 1 {
			seq0 = seq[0]
		}
		if allowGo && m.row != nil {
			return m.row.predict(features[0], seq0), nil
		}
		return m.predictRow(features[0], seq0)
	}
	return m.predictBatch(features, seq)
}

// predictBatch scores a validated batch of two or more rows with tensors
// created for the call; the caller holds the read lock.
func (m *Model) predictBatch(features, seq [][]float32) (Outputs, error) {
	s := m.meta.Schema
	n := len(features)
	out := newOutputs(n)
	var values []ort.Value
	defer func() {
		for _, v := range values {
			v.Destroy()
		}
	}()
	ft, err := rowsTensor(features, ort.NewShape(int64(n), int64(len(s.TabularColumns))))
	if err != nil {
		return Outputs{}, fmt.Errorf("onnxrt: model %s: features tensor: %w", m.version, err)
	}
	values = append(values, ft)
	inputs := []ort.Value{ft}
	if s.HasSequence() {
		st, err := rowsTensor(seq, ort.NewShape(int64(n), int64(len(s.SequenceChannels)), int64(s.SequenceWeeks)))
		if err != nil {
			return Outputs{}, fmt.Errorf("onnxrt: model %s: sequence tensor: %w", m.version, err)
		}
		values = append(values, st)
		inputs = append(inputs, st)
	}
	outputs := make([]ort.Value, len(OutputNames))
	for i, name := range OutputNames {
		t, err := ort.NewTensor(ort.NewShape(int64(n), 1), out.byName(name))
		if err != nil {
			return Outputs{}, fmt.Errorf("onnxrt: model %s: %s tensor: %w", m.version, name, err)
		}
		values = append(values, t)
		outputs[i] = t
	}
	if err := m.session.Run(inputs, outputs); err != nil {
		return Outputs{}, fmt.Errorf("onnxrt: model %s: run %d rows: %w", m.version, n, err)
	}
	// ORT read and wrote Go memory through raw pointers: keep it alive.
	runtime.KeepAlive(values)
	runtime.KeepAlive(out)
	return out, nil
}

// rowsTensor flattens rows into a new tensor of the given shape (the tensor
// references the flattened copy).
func rowsTensor(rows [][]float32, shape ort.Shape) (*ort.Tensor[float32], error) {
	flat := make([]float32, 0, shape.FlattenedSize())
	for _, row := range rows {
		flat = append(flat, row...)
	}
	return ort.NewTensor(shape, flat)
}

// Warm runs one prediction on the model's edge rows so the first real
// request does not pay for ONNX Runtime's lazy initialisation, and checks
// that every output is finite.
func (m *Model) Warm() error {
	f, s := EdgeRows(m.meta.Schema)
	out, err := m.Predict(f, s)
	if err != nil {
		return fmt.Errorf("onnxrt: warm model %s: %w", m.version, err)
	}
	for _, name := range OutputNames {
		for i, v := range out.byName(name) {
			if !finite32(v) {
				return fmt.Errorf("onnxrt: warm model %s: output %s is %v on edge row %d (%s)", m.version, name, v, i, EdgeRowNames[i])
			}
		}
	}
	return nil
}

// Close waits for in-flight Predict calls, then releases the session. It is
// idempotent; Predict afterwards returns ErrModelClosed.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.drainRows()
	if err := m.session.Destroy(); err != nil {
		return fmt.Errorf("onnxrt: close model %s: %w", m.version, err)
	}
	return nil
}

// Closed reports whether Close has been called.
func (m *Model) Closed() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.closed
}
