package registry

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Realised is how a version's predictions turned out once their horizon had
// passed: its scores of a BatchScore run against what the customers then
// spent. Records live at realised/<version>/<as-of>-h<horizon>.json.
type Realised struct {
	Version     string `json:"version"`
	AsOf        string `json:"as_of"`
	HorizonDays int    `json:"horizon_days"`
	// ScoresPrefix is the BatchScore output the predictions came from;
	// CleanDataset the sha256 of the data the spend was read from.
	ScoresPrefix   string    `json:"scores_prefix"`
	CleanDataset   string    `json:"clean_dataset_sha256"`
	Customers      int       `json:"customers"`
	PredictedTotal float64   `json:"predicted_total"`
	ActualTotal    float64   `json:"actual_total"`
	NormalizedGini float64   `json:"normalized_gini"`
	DecileMAPE     float64   `json:"decile_mape"`
	RecordedAt     time.Time `json:"recorded_at"`
	WorkflowID     string    `json:"workflow_id,omitempty"`
}

func (r *Registry) realisedKey(rec Realised) string {
	return fmt.Sprintf("%srealised/%s/%s-h%d.json", r.prefix, rec.Version, rec.AsOf, rec.HorizonDays)
}

// PutRealised records a realised evaluation of a version (the version must
// exist). Recording the same scores and horizon again keeps the first
// record when it is identical and is ErrConflict otherwise.
func (r *Registry) PutRealised(ctx context.Context, rec Realised) error {
	if _, err := r.Get(ctx, rec.Version); err != nil {
		return fmt.Errorf("record realised CLV: %w", err)
	}
	if _, err := time.Parse("2006-01-02", rec.AsOf); err != nil || rec.HorizonDays <= 0 {
		return invalidf("realised record: as-of %q / horizon %d", rec.AsOf, rec.HorizonDays)
	}
	rec.RecordedAt = r.now().UTC()
	body, err := encode(rec)
	if err != nil {
		return err
	}
	err = r.putIfAbsent(ctx, r.realisedKey(rec), body)
	if err == nil || !errors.Is(err, errExists) {
		return err
	}
	old, gerr := r.get(ctx, r.realisedKey(rec))
	if gerr != nil {
		return gerr
	}
	var prev Realised
	if json.Unmarshal(old, &prev) == nil {
		prev.RecordedAt, rec.RecordedAt, prev.WorkflowID, rec.WorkflowID = time.Time{}, time.Time{}, "", ""
		if prev == rec {
			return nil
		}
	}
	return conflictf("a different realised record for %s as of %s over %d days exists", rec.Version, rec.AsOf, rec.HorizonDays)
}

// RealisedHistory returns every realised record, of one version or (id
// empty) of all, ordered by version then as-of.
func (r *Registry) RealisedHistory(ctx context.Context, id string) ([]Realised, error) {
	prefix := r.prefix + "realised/"
	if id != "" {
		prefix += id + "/"
	}
	keys, err := r.listKeys(ctx, prefix, true)
	if err != nil {
		return nil, err
	}
	var out []Realised
	for _, k := range keys {
		b, err := r.get(ctx, k)
		if err != nil {
			return nil, err
		}
		var rec Realised
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("registry: decode %s: %w", k, err)
		}
		out = append(out, rec)
	}
	slices.SortFunc(out, func(a, b Realised) int {
		na, _ := versionNumber(a.Version)
		nb, _ := versionNumber(b.Version)
		if c := cmp.Compare(na, nb); c != 0 {
			return c
		}
		return strings.Compare(a.AsOf, b.AsOf)
	})
	return out, nil
}
