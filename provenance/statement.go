package provenance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/clvflow/clvflow/registry"
	v1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// PayloadType is the DSSE payload type of an in-toto statement.
const PayloadType = "application/vnd.in-toto+json"

// Predicate types.
const (
	LineagePredicate   = "https://clvflow.dev/lineage/v1"
	AliasMovePredicate = "https://clvflow.dev/alias-move/v1"
)

// Subject names.
const (
	SubjectONNX          = "onnx"
	SubjectRegistryEntry = "registry-entry"
	SubjectAliasEntry    = "alias-entry"
)

// Lineage is the predicate of a version's statement: what it was made from
// and how it was judged (the registry entry, whose bytes are a subject,
// holds the rest).
type Lineage struct {
	Version            string             `json:"version"`
	ModelKind          string             `json:"model_kind"`
	RawDatasetSHA256   string             `json:"raw_dataset_sha256"`
	CleanDatasetSHA256 string             `json:"clean_dataset_sha256"`
	CodeRevision       string             `json:"code_revision"`
	HyperParams        json.RawMessage    `json:"hyper_params,omitempty"`
	Seed               uint64             `json:"seed"`
	Metrics            map[string]float64 `json:"metrics,omitempty"`
	GatePassed         bool               `json:"gate_passed"`
	PolicyDigest       string             `json:"policy_digest,omitempty"`
	WorkflowID         string             `json:"workflow_id"`
	RunID              string             `json:"run_id"`
}

// AliasMove is the predicate of an alias move's statement.
type AliasMove struct {
	Alias string `json:"alias"`
	Seq   int64  `json:"seq"`
	From  string `json:"from"`
	To    string `json:"to"`
	Actor string `json:"actor"`
	// DecisionSHA256 is the sha256 of the signed decision statement behind
	// the move (an approval or a rollback), empty for moves without one.
	DecisionSHA256 string `json:"decision_sha256,omitempty"`
}

// SignVersion signs the statement of a registered version: subjects its
// ONNX file and the exact bytes of its registry entry.
func SignVersion(ctx context.Context, s *Signer, entry registry.Object, v registry.Version) ([]byte, error) {
	lin := Lineage{Version: v.ID, ModelKind: v.ModelKind, RawDatasetSHA256: v.Dataset.Raw.SHA256, CleanDatasetSHA256: v.Dataset.Clean.SHA256,
		CodeRevision: v.CodeRevision, HyperParams: v.HyperParams, Seed: v.Seed, Metrics: v.Metrics[v.ModelKind], GatePassed: v.Gate.Passed,
		WorkflowID: v.WorkflowID, RunID: v.RunID}
	if v.Policy != nil {
		lin.PolicyDigest = v.Policy.Digest
	}
	subjects := []*v1.ResourceDescriptor{
		{Name: SubjectONNX, Uri: "s3://" + v.ONNX.Bucket + "/" + v.ONNX.Key, Digest: map[string]string{"sha256": v.ONNX.SHA256}},
		{Name: SubjectRegistryEntry, Uri: entry.Key, Digest: map[string]string{"sha256": SHA256(entry.Bytes)}},
	}
	return sign(ctx, s, subjects, LineagePredicate, lin)
}

// SignAliasMove signs the statement of an alias move: subjects the exact
// bytes of the alias entry and the target's ONNX file.
func SignAliasMove(ctx context.Context, s *Signer, entry registry.Object, e registry.AliasEntry, target registry.Version, decision *registry.SignedDecision) ([]byte, error) {
	move := AliasMove{Alias: e.Alias, Seq: e.Seq, From: e.From, To: e.To, Actor: e.Actor}
	if decision != nil {
		move.DecisionSHA256 = SHA256([]byte(decision.Statement))
	}
	subjects := []*v1.ResourceDescriptor{
		{Name: SubjectAliasEntry, Uri: entry.Key, Digest: map[string]string{"sha256": SHA256(entry.Bytes)}},
		{Name: SubjectONNX, Uri: "s3://" + target.ONNX.Bucket + "/" + target.ONNX.Key, Digest: map[string]string{"sha256": target.ONNX.SHA256}},
	}
	return sign(ctx, s, subjects, AliasMovePredicate, move)
}

func sign(ctx context.Context, s *Signer, subjects []*v1.ResourceDescriptor, predicateType string, predicate any) ([]byte, error) {
	raw, err := json.Marshal(predicate)
	if err != nil {
		return nil, err
	}
	var pred structpb.Struct
	if err := protojson.Unmarshal(raw, &pred); err != nil {
		return nil, err
	}
	st := &v1.Statement{Type: v1.StatementTypeUri, Subject: subjects, PredicateType: predicateType, Predicate: &pred}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("in-toto statement: %w", err)
	}
	payload, err := protojson.Marshal(st)
	if err != nil {
		return nil, err
	}
	return signEnvelope(ctx, s, PayloadType, payload)
}

// opened is a verified statement.
type opened struct {
	statement *v1.Statement
	keyID     string
}

// subject returns the sha256 of the named subject ("" when absent).
func (o opened) subject(name string) string {
	for _, s := range o.statement.GetSubject() {
		if s.GetName() == name {
			return s.GetDigest()["sha256"]
		}
	}
	return ""
}

// predicate decodes the predicate into v.
func (o opened) predicate(v any) error {
	raw, err := protojson.Marshal(o.statement.GetPredicate())
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// open verifies an envelope and parses its statement of predicateType.
func open(ctx context.Context, t *TrustedKeys, envelope []byte, predicateType string) (opened, error) {
	payload, keyID, err := openEnvelope(ctx, t, PayloadType, envelope)
	if err != nil {
		return opened{}, err
	}
	var st v1.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		return opened{}, fmt.Errorf("signed payload is not an in-toto statement: %v", err)
	}
	if err := st.Validate(); err != nil {
		return opened{}, fmt.Errorf("signed in-toto statement: %v", err)
	}
	if st.GetPredicateType() != predicateType {
		return opened{}, fmt.Errorf("signed statement has predicate type %q, want %q", st.GetPredicateType(), predicateType)
	}
	return opened{statement: &st, keyID: keyID}, nil
}

// SHA256 is the lower-case hex sha256 of b.
func SHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
