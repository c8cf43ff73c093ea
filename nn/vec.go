package nn

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
)

// Vec is a float64 slice that serialises to JSON as base64 of its
// little-endian IEEE-754 bytes: exact (NaN/Inf included) and compact.
type Vec []float64

// MarshalJSON implements json.Marshaler.
func (v Vec) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	raw := make([]byte, 8*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(f))
	}
	return json.Marshal(base64.StdEncoding.EncodeToString(raw))
}

// UnmarshalJSON implements json.Unmarshaler.
func (v *Vec) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*v = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("nn: vector: want a base64 string: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("nn: vector: %w", err)
	}
	if len(raw)%8 != 0 {
		return fmt.Errorf("nn: vector: %d bytes is not a multiple of 8", len(raw))
	}
	out := make(Vec, len(raw)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	*v = out
	return nil
}

func cloneVecs(vs []Vec) []Vec {
	out := make([]Vec, len(vs))
	for i, v := range vs {
		out[i] = append(Vec(nil), v...)
	}
	return out
}
