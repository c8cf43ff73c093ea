package main

import (
	"context"
	"strings"
	"testing"

	"github.com/clvflow/clvflow/config"
	"github.com/clvflow/clvflow/serving"
)

// TestServeDriftConfig: serving.drift_window and drift.psi_threshold reach
// the server; 0 turns drift monitoring off (the server's own 0 would mean
// its default).
func TestServeDriftConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Serving.DriftWindow, cfg.Drift.PSIThreshold = 500, 0.3
	if sc := servingConfig(cfg); sc.DriftWindow != 500 || sc.DriftThreshold != 0.3 {
		t.Fatalf("drift_window 500, psi_threshold 0.3: %d, %g", sc.DriftWindow, sc.DriftThreshold)
	}
	cfg.Serving.DriftWindow = 0
	if sc := servingConfig(cfg); sc.DriftWindow != serving.DriftDisabled {
		t.Fatalf("drift_window 0: server window %d, want DriftDisabled", sc.DriftWindow)
	}
}

// TestServeCacheDriftReferenceNeedsTheRegistry: the caching source asks its
// registry side; one that keeps no references is an error (drift off), not
// a panic or a silent empty reference.
func TestServeCacheDriftReferenceNeedsTheRegistry(t *testing.T) {
	cs := newTestCachingSource(t, t.TempDir(), &fakeRegistry{})
	var _ serving.DriftReferenceSource = cs
	var _ serving.DriftReferenceSource = (*registrySource)(nil)
	if ref, err := cs.DriftReference(context.Background(), serving.ModelRef{Version: "v1", SHA256: "x"}, nil); ref != nil || err == nil || !strings.Contains(err.Error(), "no drift references") {
		t.Fatalf("DriftReference = %v, %v; want an error", ref, err)
	}
}
