package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// TestIntegrationScheduleLifecycle drives `clvflow schedule` against the
// real Temporal server: create (paused), list, backfill a past window,
// trigger, pause/resume, delete. The runs it starts carry the scheduled
// time that becomes their as-of date.
func TestIntegrationScheduleLifecycle(t *testing.T) {
	s := newStack(t, false) // no worker: only the runs' starts are checked
	pipelineEnv(t)
	tc, err := client.Dial(client.Options{HostPort: s.temporal.Address, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	waitForScheduler(t, tc, s.queue)
	id := "weekly-" + strings.ToLower(strings.ReplaceAll(time.Now().UTC().Format("150405.000"), ".", ""))
	out, _, err := clvflow(t, "schedule", "create", id, "--input", demoFile(t), "--format", "cdnow", "--horizon-days", "273",
		"--cron", "0 3 * * 1", "--paused")
	if err != nil {
		t.Fatalf("create: %v %s", err, out)
	}
	if _, _, err := clvflow(t, "schedule", "create", id+"-x", "--input", demoFile(t), "--cron", "0 3 * * 1", "--cutoff", "2020-01-01"); err == nil {
		t.Fatal("--cutoff must be refused for schedules (each run derives it)")
	}
	// Schedule listing goes through Temporal's visibility store, which is
	// eventually consistent: poll it (bounded).
	for deadline := time.Now().Add(30 * time.Second); ; {
		out, _, err = clvflow(t, "schedule", "list")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("schedule %s not listed:\n%s", id, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, _, err := clvflow(t, "schedule", "backfill", id, "--from", "1998-03-02", "--to", "1998-03-03"); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	if _, _, err := clvflow(t, "schedule", "resume", id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := clvflow(t, "schedule", "trigger", id); err != nil {
		t.Fatal(err)
	}

	h := tc.ScheduleClient().GetHandle(context.Background(), id)
	// A fresh Temporal server starts the per-namespace scheduler worker
	// with a delay; schedules act once it runs.
	started := time.Now()
	deadline := started.Add(90 * time.Second) // generous: a loaded 2-core machine delays the scheduler
	var desc *client.ScheduleDescription
	for {
		desc, err = h.Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(desc.Info.RecentActions) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("schedule acted after %s", time.Since(started).Round(time.Second))
	// Pause only once both runs started: the scheduler drops a buffered
	// trigger that a pause overtakes.
	if _, _, err := clvflow(t, "schedule", "pause", id, "--note", "maintenance"); err != nil {
		t.Fatal(err)
	}
	if state, err := h.Describe(context.Background()); err != nil {
		t.Fatal(err)
	} else if !state.Schedule.State.Paused || state.Schedule.State.Note != "maintenance" {
		t.Errorf("schedule state after pause %+v", state.Schedule.State)
	}
	if len(desc.Info.RecentActions) < 2 {
		sd, err := tc.DescribeWorkflow(context.Background(), "temporal-sys-scheduler:"+id, "")
		if err == nil {
			t.Logf("scheduler workflow: %+v pending=%v", sd.RawResponse.GetWorkflowExecutionInfo().GetStatus(), sd.RawResponse.GetPendingWorkflowTask())
		} else {
			t.Logf("scheduler workflow: %v", err)
		}
		t.Fatalf("want the backfilled and the triggered run, got %d actions; info %+v", len(desc.Info.RecentActions), desc.Info)
	}
	var backfilled bool
	for _, a := range desc.Info.RecentActions {
		run := a.StartWorkflowResult
		if run == nil || !strings.HasPrefix(run.WorkflowID, "train-"+id) {
			t.Errorf("action started %+v", run)
			continue
		}
		d, err := tc.DescribeWorkflow(context.Background(), run.WorkflowID, run.FirstExecutionRunID)
		if err != nil {
			t.Fatal(err)
		}
		when, ok := d.TypedSearchAttributes.GetTime(temporal.NewSearchAttributeKeyTime("TemporalScheduledStartTime"))
		if ok && when.UTC().Format("2006-01-02") == "1998-03-02" {
			backfilled = true
		}
	}
	if !backfilled {
		t.Error("no run carries the backfilled scheduled time 1998-03-02")
	}
	if _, _, err := clvflow(t, "schedule", "delete", id); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Describe(context.Background()); err == nil {
		t.Error("deleted schedule still exists")
	}
}

// waitForScheduler blocks until the server's scheduler acts on a probe
// schedule: a freshly started dev server starts its per-namespace
// scheduler worker a little after it reports healthy.
func waitForScheduler(t *testing.T, tc client.Client, queue string) {
	t.Helper()
	ctx := context.Background()
	started := time.Now()
	h, err := tc.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID: "probe-" + queue, Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: 24 * time.Hour}}}, Paused: true,
		Action: &client.ScheduleWorkflowAction{ID: "probe-" + queue, Workflow: "NoSuchWorkflow", TaskQueue: queue},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = h.Delete(ctx) }()
	for {
		_ = h.Trigger(ctx, client.ScheduleTriggerOptions{})
		d, err := h.Describe(ctx)
		if err == nil && d.Info.NumActions > 0 {
			t.Logf("scheduler ready after %s", time.Since(started).Round(100*time.Millisecond))
			return
		}
		if time.Since(started) > 2*time.Minute {
			t.Fatal("the Temporal scheduler never acted on a probe schedule")
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestIntegrationScoreSchedule: a scoring schedule's backfilled run is a
// BatchScore run whose input scores as of its scheduled day.
func TestIntegrationScoreSchedule(t *testing.T) {
	s := newStack(t, false) // no worker: only the run's start is checked
	tc := dialTest(t, s)
	waitForScheduler(t, tc, s.queue)
	id := "nightly-" + strings.ToLower(strings.ReplaceAll(time.Now().UTC().Format("150405.000"), ".", ""))
	if out, _, err := clvflow(t, "schedule", "create-score", id, "--input", demoFile(t), "--format", "cdnow", "--cron", "0 4 * * *", "--paused", "--shards", "2"); err != nil {
		t.Fatalf("create-score: %v %s", err, out)
	}
	if _, _, err := clvflow(t, "schedule", "backfill", id, "--from", "1998-03-02", "--to", "1998-03-03"); err != nil {
		t.Fatalf("backfill: %v", err)
	}
	h := tc.ScheduleClient().GetHandle(context.Background(), id)
	t.Cleanup(func() { _ = h.Delete(context.Background()) })
	if out, _, err := clvflow(t, "schedule", "create-realise", id+"-r", "--input", demoFile(t), "--format", "cdnow", "--horizon-days", "90", "--cron", "0 5 1 * *", "--paused"); err != nil {
		t.Fatalf("create-realise: %v %s", err, out)
	}
	rd, err := tc.ScheduleClient().GetHandle(context.Background(), id+"-r").Describe(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if act, ok := rd.Schedule.Action.(*client.ScheduleWorkflowAction); !ok || act.Workflow != "RealiseDue" {
		t.Fatalf("the realise schedule starts %+v", rd.Schedule.Action)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		desc, err := h.Describe(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(desc.Info.RecentActions) > 0 {
			run := tc.GetWorkflow(context.Background(), desc.Info.RecentActions[0].StartWorkflowResult.WorkflowID, "")
			d, err := tc.DescribeWorkflow(context.Background(), run.GetID(), "")
			if err != nil || d.RawResponse.GetWorkflowExecutionInfo().GetType().GetName() != "BatchScore" {
				t.Fatalf("the scheduled run is not a BatchScore run: %v %v", err, d)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the scoring schedule started no run")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
