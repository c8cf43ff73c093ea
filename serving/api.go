package serving

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clvflow/clvflow/onnxrt"
)

// errorBody is the JSON body of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field is the JSON path of the offending input, e.g. customers[3].features.x.
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.Encode(v) // the client may have gone; nothing useful to do on error
}

func writeError(w http.ResponseWriter, status int, code, field, msg string) {
	writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg, Field: field}})
}

// fieldError is a validation failure of one input field.
type fieldError struct {
	field, msg string
}

func (e *fieldError) Error() string {
	if e.field == "" {
		return e.msg
	}
	return e.field + ": " + e.msg
}

func errf(field, format string, args ...any) *fieldError {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// customer is one parsed, schema-independent request row.
type customer struct {
	id       string
	features []float32 // onnxrt.TabularColumns order
	spend    []float32 // nil when no sequence was sent
	days     []float32
	hasSeq   bool
}

// parsePredictRequest parses and validates the request body up to what does
// not depend on the served model.
func parsePredictRequest(body []byte, maxBatch int) ([]customer, *fieldError) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, errf("", "body is not a JSON object: %v", err)
	}
	if top == nil {
		return nil, errf("", "body is not a JSON object: got null")
	}
	if err := unknownKeys(top, "", "customers"); err != nil {
		return nil, err
	}
	raw, ok := top["customers"]
	if !ok || isNull(raw) {
		return nil, errf("customers", "missing")
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, errf("customers", "must be an array of customer objects")
	}
	if len(rows) == 0 {
		return nil, errf("customers", "empty batch: send at least one customer")
	}
	if len(rows) > maxBatch {
		return nil, errf("customers", "batch of %d customers exceeds the limit of %d; split the request", len(rows), maxBatch)
	}
	out := make([]customer, len(rows))
	for i, r := range rows {
		c, err := parseCustomer(r, fmt.Sprintf("customers[%d]", i))
		if err != nil {
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// parseCustomer reads one customer of a predict request: id, the tabular
// features by name and, optionally, the weekly sequence; path names it in
// errors.
func parseCustomer(raw json.RawMessage, path string) (customer, *fieldError) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return customer{}, errf(path, "must be an object with id, features and (for sequence models) sequence")
	}
	if err := unknownKeys(obj, path+".", "id", "features", "sequence"); err != nil {
		return customer{}, err
	}
	var c customer
	var err *fieldError
	if c.id, err = parseID(obj["id"], path+".id"); err != nil {
		return customer{}, err
	}
	if c.features, err = parseFeatures(obj["features"], path+".features"); err != nil {
		return customer{}, err
	}
	sRaw, ok := obj["sequence"]
	if !ok || isNull(sRaw) {
		return c, nil
	}
	c.hasSeq = true
	if c.spend, c.days, err = parseSequence(sRaw, path+".sequence"); err != nil {
		return customer{}, err
	}
	return c, nil
}

// parseID reads a customer id: a non-empty string.
func parseID(raw json.RawMessage, field string) (string, *fieldError) {
	if raw == nil || isNull(raw) {
		return "", errf(field, "missing")
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil {
		return "", errf(field, "must be a string")
	}
	if id == "" {
		return "", errf(field, "must not be empty")
	}
	return id, nil
}

// parseFeatures reads the tabular features, an object keyed by name, into
// contract order.
func parseFeatures(raw json.RawMessage, path string) ([]float32, *fieldError) {
	if raw == nil || isNull(raw) {
		return nil, errf(path, "missing")
	}
	var feats map[string]json.RawMessage
	if err := json.Unmarshal(raw, &feats); err != nil {
		return nil, errf(path, "must be an object keyed by feature name (%s)", strings.Join(onnxrt.TabularColumns, ", "))
	}
	if err := unknownKeys(feats, path+".", onnxrt.TabularColumns...); err != nil {
		return nil, err
	}
	out := make([]float32, len(onnxrt.TabularColumns))
	for j, name := range onnxrt.TabularColumns {
		v, ok := feats[name]
		field := path + "." + name
		if !ok {
			return nil, errf(field, "missing")
		}
		f, err := parseValue(v, field)
		if err != nil {
			return nil, err
		}
		out[j] = f
	}
	return out, nil
}

// parseSequence reads the weekly sequence: an object with one array of
// numbers per channel, oldest week first.
func parseSequence(raw json.RawMessage, path string) (spend, days []float32, ferr *fieldError) {
	var seq map[string]json.RawMessage
	if err := json.Unmarshal(raw, &seq); err != nil {
		return nil, nil, errf(path, "must be an object with arrays spend and purchase_days")
	}
	if err := unknownKeys(seq, path+".", onnxrt.SequenceChannels...); err != nil {
		return nil, nil, err
	}
	for _, ch := range onnxrt.SequenceChannels {
		vals, err := parseWeeks(seq[ch], path+"."+ch)
		if err != nil {
			return nil, nil, err
		}
		if ch == onnxrt.SequenceChannelSpend {
			spend = vals
		} else {
			days = vals
		}
	}
	return spend, days, nil
}

// parseWeeks reads one channel of the sequence: an array of numbers.
func parseWeeks(raw json.RawMessage, field string) ([]float32, *fieldError) {
	if raw == nil || isNull(raw) {
		return nil, errf(field, "missing")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, errf(field, "must be an array of numbers, one per week, oldest first")
	}
	vals := make([]float32, len(elems))
	for k, e := range elems {
		v, err := parseValue(e, fmt.Sprintf("%s[%d]", field, k))
		if err != nil {
			return nil, err
		}
		vals[k] = v
	}
	return vals, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// unknownKeys rejects keys of obj not in allowed, naming the first in sorted
// order so the message is deterministic.
func unknownKeys(obj map[string]json.RawMessage, prefix string, allowed ...string) *fieldError {
	var bad []string
	for k := range obj {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.Sort(bad)
	return errf(prefix+bad[0], "unknown field (allowed: %s)", strings.Join(allowed, ", "))
}

// parseValue parses one non-negative, finite number that fits float32. JSON
// has no NaN or Infinity literals; clients that send them as strings, or
// numbers too large for float32, get a message naming the problem.
func parseValue(raw json.RawMessage, field string) (float32, *fieldError) {
	s := string(bytes.TrimSpace(raw))
	switch {
	case s == "null":
		return 0, errf(field, "missing (null)")
	case strings.HasPrefix(s, `"`):
		var str string
		json.Unmarshal(raw, &str)
		switch v, err := strconv.ParseFloat(strings.TrimSpace(str), 64); {
		case err == nil && math.IsNaN(v):
			return 0, errf(field, "NaN is not allowed")
		case err == nil && math.IsInf(v, 0), err != nil && errors.Is(err, strconv.ErrRange):
			return 0, errf(field, "Inf is not allowed")
		}
		return 0, errf(field, "must be a number, got string %q", str)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errf(field, "Inf is not allowed (%s overflows)", s)
		}
		return 0, errf(field, "must be a number, got %s", s)
	}
	if math.Abs(v) > math.MaxFloat32 {
		return 0, errf(field, "Inf is not allowed (%s overflows float32)", s)
	}
	if v < 0 {
		return 0, errf(field, "must be ≥ 0, got %s", s)
	}
	return float32(v), nil
}

// modelInputs checks the parsed rows against the served model's schema and
// builds its input batch.
func modelInputs(cs []customer, md onnxrt.Metadata) (features, seq [][]float32, ferr *fieldError) {
	schema := md.Schema
	features = make([][]float32, len(cs))
	if schema.HasSequence() {
		seq = make([][]float32, len(cs))
	}
	w := schema.SequenceWeeks
	for i, c := range cs {
		features[i] = c.features
		path := fmt.Sprintf("customers[%d].sequence", i)
		if !schema.HasSequence() {
			if c.hasSeq {
				return nil, nil, errf(path, "the served model (kind %s) takes no sequence; omit it", md.Kind)
			}
			continue
		}
		if !c.hasSeq {
			return nil, nil, errf(path, "missing: the served model (kind %s) needs %d weeks of spend and purchase_days", md.Kind, w)
		}
		for _, ch := range []struct {
			name string
			vals []float32
		}{{onnxrt.SequenceChannelSpend, c.spend}, {onnxrt.SequenceChannelDays, c.days}} {
			if len(ch.vals) != w {
				return nil, nil, errf(path+"."+ch.name, "has %d weeks, the served model needs %d (oldest first, ending at the cutoff)", len(ch.vals), w)
			}
		}
		row := make([]float32, 0, 2*w)
		seq[i] = append(append(row, c.spend...), c.days...)
	}
	return features, seq, nil
}

// f32 marshals a float32 with the shortest representation that round-trips.
type f32 float32

// MarshalJSON implements json.Marshaler.
func (v f32) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(v), 'g', -1, 32), nil
}

type prediction struct {
	ID                  string `json:"id"`
	ExpectedValue       f32    `json:"expected_value"`
	PurchaseProbability f32    `json:"purchase_probability"`
	Mu                  f32    `json:"mu"`
	Sigma               f32    `json:"sigma"`
}

type predictResponse struct {
	ModelVersion string       `json:"model_version"`
	Predictions  []prediction `json:"predictions"`
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", "", fmt.Sprintf("request body exceeds %d bytes (serving.max_body_bytes); split the batch", mbe.Limit))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_request", "", "read body: "+err.Error())
		return
	}
	cs, ferr := parsePredictRequest(body, s.cfg.MaxBatch)
	if ferr != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", ferr.field, ferr.Error())
		return
	}
	// A request that picked up a model just before a swap may find it closed
	// once drained; it then runs on the new one. Three swaps during one
	// request would be needed to exhaust the retries.
	for attempt := 0; ; attempt++ {
		cur := s.cur.Load()
		if cur == nil {
			writeError(w, http.StatusServiceUnavailable, "no_model", "", "no model loaded yet; see GET /readyz")
			return
		}
		if !s.predictWith(w, cur, cs, attempt) {
			return
		}
	}
}

// predictWith scores cs with cur and writes the response or the error;
// false when it did (true: cur was closed by a swap, try again).
func (s *Server) predictWith(w http.ResponseWriter, cur *served, cs []customer, attempt int) bool {
	features, seq, ferr := modelInputs(cs, cur.model.Metadata())
	if ferr != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", ferr.field, ferr.Error())
		return false
	}
	if s.beforePredict != nil {
		s.beforePredict(attempt)
	}
	out, err := cur.model.Predict(features, seq)
	if errors.Is(err, onnxrt.ErrModelClosed) && attempt < 3 {
		return true
	}
	if err != nil {
		s.log.Error("predict", "version", cur.ref.Version, "rows", len(cs), "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "", "model "+cur.ref.Version+" failed to score the batch")
		return false
	}
	resp := predictResponse{ModelVersion: cur.ref.Version, Predictions: make([]prediction, len(cs))}
	for i, c := range cs {
		resp.Predictions[i] = prediction{ID: c.id, ExpectedValue: f32(out.Expected[i]), PurchaseProbability: f32(out.Prob[i]), Mu: f32(out.Mu[i]), Sigma: f32(out.Sigma[i])}
		for _, v := range []float32{out.Expected[i], out.Prob[i], out.Mu[i], out.Sigma[i]} {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				s.log.Error("non-finite model output", "version", cur.ref.Version, "row", i, "features", c.features)
				writeError(w, http.StatusInternalServerError, "internal", fmt.Sprintf("customers[%d]", i), "model "+cur.ref.Version+" produced a non-finite output for this customer")
				return false
			}
		}
	}
	s.metrics.predictions.Add(float64(len(cs)))
	if dw := cur.drift.Load(); dw != nil {
		dw.observe(features, out.Expected)
	}
	writeJSON(w, http.StatusOK, resp)
	return false
}

type modelResponse struct {
	Version            string               `json:"version"`
	SHA256             string               `json:"sha256"`
	Alias              string               `json:"alias"`
	Kind               string               `json:"kind"`
	Name               string               `json:"name"`
	FileVersion        string               `json:"file_version"`
	Seed               string               `json:"seed"`
	RawDatasetSHA256   string               `json:"raw_dataset_sha256"`
	CleanDatasetSHA256 string               `json:"clean_dataset_sha256"`
	ValueCap           float64              `json:"value_cap"`
	FeatureSchema      onnxrt.FeatureSchema `json:"feature_schema"`
	LoadedAt           time.Time            `json:"loaded_at"`
	Runtime            runtimeInfo          `json:"runtime"`
	// ServedFrom is "source" (the model source's authority: the registry
	// alias or the --model path) or "fallback" (e.g. the local cache).
	ServedFrom     string `json:"served_from"`
	FallbackReason string `json:"fallback_reason,omitempty"`
	// Drift is the drift of the latest predicted customers against the
	// model's training data; absent while drift monitoring is off for it.
	Drift *driftStatus `json:"drift,omitempty"`
}

type runtimeInfo struct {
	ONNXRuntimeVersion string `json:"onnxruntime_version"`
	IntraOpThreads     int    `json:"intra_op_threads"`
	// OneRowPath is onnxrt.Model.OneRowPath: "go" or "onnxruntime", with
	// OneRowFallback the reason for the latter.
	OneRowPath     string `json:"one_row_path"`
	OneRowFallback string `json:"one_row_fallback,omitempty"`
}

func (s *Server) handleModel(w http.ResponseWriter, _ *http.Request) {
	cur := s.cur.Load()
	if cur == nil {
		writeError(w, http.StatusServiceUnavailable, "no_model", "", "no model loaded yet; see GET /readyz")
		return
	}
	md := cur.model.Metadata()
	resp := modelResponse{
		Version: cur.ref.Version, SHA256: cur.ref.SHA256, Alias: s.cfg.ModelAlias,
		Kind: string(md.Kind), Name: md.Name, FileVersion: md.Version, Seed: md.Seed,
		RawDatasetSHA256: md.RawDatasetSHA256, CleanDatasetSHA256: md.CleanDatasetSHA256,
		ValueCap: md.ValueCap, FeatureSchema: md.Schema, LoadedAt: cur.loadedAt,
		ServedFrom: servedFromSource,
	}
	if h := s.health.Load(); h != nil && h.fallback != "" {
		resp.ServedFrom, resp.FallbackReason = servedFromFallback, h.fallback
	}
	if dw := cur.drift.Load(); dw != nil {
		st := dw.status()
		resp.Drift = &st
	}
	if info, err := onnxrt.Info(); err == nil {
		resp.Runtime = runtimeInfo{ONNXRuntimeVersion: info.Version, IntraOpThreads: info.IntraOpThreads}
	}
	path, why := cur.model.OneRowPath()
	resp.Runtime.OneRowPath = path
	if why != nil {
		resp.Runtime.OneRowFallback = why.Error()
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Values of modelResponse.ServedFrom and readyResponse.ServedFrom.
const (
	servedFromSource   = "source"
	servedFromFallback = "fallback"
)

// Values of readyResponse.Status.
const (
	statusReady    = "ready"
	statusDegraded = "degraded"
	statusNotReady = "not_ready"
)

// readyResponse is the body of GET /readyz.
type readyResponse struct {
	// Status is ready, degraded (200: a model answers, but the last reload
	// failed or the model came from the fallback) or not_ready (503).
	Status       string `json:"status"`
	ModelVersion string `json:"model_version,omitempty"`
	ServedFrom   string `json:"served_from,omitempty"`
	// Reason says why the server is degraded or not ready.
	Reason string `json:"reason,omitempty"`
	// LastError is the last reload failure.
	LastError string `json:"last_error,omitempty"`
	// ConsecutiveFailures counts the reloads in a row that failed or fell back.
	ConsecutiveFailures int `json:"consecutive_failures"`
	// DegradedSince is when the first of those reloads happened.
	DegradedSince *time.Time `json:"degraded_since,omitempty"`
}

func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	h := s.health.Load()
	if h == nil {
		h = &health{}
	}
	cur := s.cur.Load()
	if cur == nil {
		reason := "no model loaded yet"
		if h.lastErr != "" {
			reason += "; last reload error: " + h.lastErr
		}
		writeJSON(w, http.StatusServiceUnavailable, readyResponse{Status: statusNotReady, Reason: reason, LastError: h.lastErr, ConsecutiveFailures: h.failures})
		return
	}
	resp := readyResponse{Status: statusReady, ModelVersion: cur.ref.Version, ServedFrom: servedFromSource, LastError: h.lastErr, ConsecutiveFailures: h.failures}
	if h.fallback != "" {
		resp.ServedFrom = servedFromFallback
	}
	if h.failures > 0 || h.fallback != "" {
		since := h.since
		resp.Status, resp.DegradedSince = statusDegraded, &since
		switch {
		case h.fallback != "":
			resp.Reason = h.fallback
		default:
			resp.Reason = fmt.Sprintf("%d reload(s) in a row failed since %s; still serving %s; last error: %s",
				h.failures, h.since.Format(time.RFC3339), cur.ref.Version, h.lastErr)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Write(openAPIDoc)
}
