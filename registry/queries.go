package registry

import (
	"cmp"
	"context"
	"slices"
)

// VersionSummary is a version with its current status and the aliases
// pointing at it (one row of `clvflow models list`).
type VersionSummary struct {
	Version
	Status  string   `json:"status"`
	Aliases []string `json:"aliases"`
}

// VersionDetail is a version with how it was named (Ref: the id or alias
// given), its status, aliases and events (what `clvflow models show` prints).
type VersionDetail struct {
	Ref     string   `json:"ref"`
	Version Version  `json:"version"`
	Status  string   `json:"status"`
	Aliases []string `json:"aliases"`
	Events  []Event  `json:"events"`
}

// aliasesByVersion maps version id → alias names pointing at it (sorted).
func (r *Registry) aliasesByVersion(ctx context.Context) (map[string][]string, error) {
	states, err := r.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	m := map[string][]string{}
	for _, s := range states { // sorted by alias name
		m[s.Version] = append(m[s.Version], s.Alias)
	}
	return m, nil
}

// Summaries returns every version with its status and aliases, sorted by id.
func (r *Registry) Summaries(ctx context.Context) ([]VersionSummary, error) {
	versions, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	byVersion, err := r.aliasesByVersion(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]VersionSummary, 0, len(versions))
	for _, v := range versions {
		events, err := r.Events(ctx, v.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, VersionSummary{Version: v, Status: StatusOf(events), Aliases: nonNil(byVersion[v.ID])})
	}
	return out, nil
}

// Detail returns a version (by id or alias) with status, aliases and events.
func (r *Registry) Detail(ctx context.Context, ref string) (VersionDetail, error) {
	v, err := r.Lookup(ctx, ref)
	if err != nil {
		return VersionDetail{}, err
	}
	events, err := r.Events(ctx, v.ID)
	if err != nil {
		return VersionDetail{}, err
	}
	byVersion, err := r.aliasesByVersion(ctx)
	if err != nil {
		return VersionDetail{}, err
	}
	return VersionDetail{Ref: ref, Version: v, Status: StatusOf(events), Aliases: nonNil(byVersion[v.ID]), Events: nonNil(events)}, nil
}

// AllHistory returns the histories of every alias merged, ordered by time
// (then alias name and sequence number).
func (r *Registry) AllHistory(ctx context.Context) ([]AliasEntry, error) {
	states, err := r.Aliases(ctx)
	if err != nil {
		return nil, err
	}
	var all []AliasEntry
	for _, s := range states {
		h, err := r.History(ctx, s.Alias)
		if err != nil {
			return nil, err
		}
		all = append(all, h...)
	}
	slices.SortStableFunc(all, func(a, b AliasEntry) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Alias, b.Alias), cmp.Compare(a.Seq, b.Seq))
	})
	return nonNil(all), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
