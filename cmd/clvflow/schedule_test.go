package main

import (
	"strings"
	"testing"
	"time"
)

// A schedule runs on exactly one calendar: a cron expression or an
// interval of at least a minute.
func TestScheduleSpec(t *testing.T) {
	for _, tc := range []struct {
		cron, every, wantErr string
		wantCron             bool
		wantEvery            time.Duration
	}{
		{cron: "0 3 * * 1", wantCron: true},
		{every: "24h", wantEvery: 24 * time.Hour},
		{cron: "0 3 * * 1", every: "24h", wantErr: "exactly one"},
		{wantErr: "exactly one"},
		{every: "30s", wantErr: "≥ 1m"},
		{every: "daily", wantErr: "≥ 1m"},
	} {
		spec, err := scheduleSpec(tc.cron, tc.every)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("scheduleSpec(%q, %q) error %v, want %q", tc.cron, tc.every, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("scheduleSpec(%q, %q): %v", tc.cron, tc.every, err)
		case tc.wantCron && (len(spec.CronExpressions) != 1 || spec.CronExpressions[0] != tc.cron || len(spec.Intervals) != 0):
			t.Errorf("cron spec %+v", spec)
		case tc.wantEvery > 0 && (len(spec.Intervals) != 1 || spec.Intervals[0].Every != tc.wantEvery || len(spec.CronExpressions) != 0):
			t.Errorf("interval spec %+v", spec)
		}
	}
}
