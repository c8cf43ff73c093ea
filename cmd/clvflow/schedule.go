package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/clvflow/clvflow/activities"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

func parseOverlap(s string) (enumspb.ScheduleOverlapPolicy, error) {
	switch s {
	case "", "skip":
		return enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, nil
	case "buffer-one":
		return enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE, nil
	case "buffer-all":
		return enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL, nil
	case "cancel-other":
		return enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER, nil
	case "terminate-other":
		return enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER, nil
	case "allow-all":
		return enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL, nil
	}
	return 0, fmt.Errorf("unknown --overlap %q (skip, buffer-one, buffer-all, cancel-other, terminate-other, allow-all)", s)
}

func (a *app) scheduleCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "schedule",
		Short: "Manage retraining and scoring schedules (Temporal Schedules)",
		Long: `Each scheduled run trains on the data as of its scheduled time: transactions after
that day are ignored and the cutoff is that day minus the horizon, so a backfill
trains exactly what would have been trained then.`,
	}
	c.AddCommand(a.scheduleCreateCmd(), a.scheduleScoreCmd(), a.scheduleRealiseCmd(), a.scheduleListCmd(), a.schedulePauseCmd(), a.scheduleResumeCmd(),
		a.scheduleTriggerCmd(), a.scheduleBackfillCmd(), a.scheduleDeleteCmd())
	return c
}

// scheduleCreateFlags are the flags of `clvflow schedule create` besides
// the training flags.
type scheduleCreateFlags struct {
	cron, every, overlap string
	catchup              time.Duration
	paused, workerPath   bool
}

func (a *app) scheduleCreateCmd() *cobra.Command {
	var f trainFlags
	var sf scheduleCreateFlags
	create := &cobra.Command{
		Use:   "create ID --input FILE (--cron EXPR | --every DURATION)",
		Short: "Create a schedule that starts TrainingPipeline runs",
		Long: `--input FILE is uploaded once to the datasets bucket and every run trains on
that upload. For a file refreshed in place that each run must re-read, pass
--worker-path: the schedule then keeps the absolute path, which the workers
read at each run and must find under one of their ingest.allowed_dirs.`,
		Example: `  clvflow schedule create weekly-clv --input /data/orders.csv.gz --cron "0 3 * * 1" --horizon-days 90`,
		Args:    cobra.ExactArgs(1),
		RunE:    func(cmd *cobra.Command, args []string) error { return a.createSchedule(cmd, args[0], &f, sf) },
	}
	f.register(create)
	sf.register(create.Flags())
	return create
}

// register adds the flags every schedule has.
func (sf *scheduleCreateFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&sf.cron, "cron", "", "cron expression, e.g. \"0 3 * * 1\" (Mondays 03:00 UTC)")
	fs.StringVar(&sf.every, "every", "", "interval, e.g. 24h")
	fs.StringVar(&sf.overlap, "overlap", "skip", "when a run is still going: skip, buffer-one, buffer-all, cancel-other, terminate-other, allow-all")
	fs.DurationVar(&sf.catchup, "catchup-window", 24*time.Hour, "how late a missed run may still start")
	fs.BoolVar(&sf.paused, "paused", false, "create paused")
	fs.BoolVar(&sf.workerPath, "worker-path", false, "schedule the --input path itself, re-read by the workers at each run (must be under their ingest.allowed_dirs) instead of uploading it once")
}

// createSchedule creates schedule id whose runs train as of their
// scheduled time on the uploaded input (or the worker path).
func (a *app) createSchedule(cmd *cobra.Command, id string, f *trainFlags, sf scheduleCreateFlags) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	if f.cutoff != "" || f.asOf != "" {
		return errors.New("--cutoff/--as-of are set by each scheduled run from its scheduled time")
	}
	in, err := f.pipelineInput(cmd.Flags(), cfg, true)
	if err != nil {
		return fmt.Errorf("schedule create: %w", err)
	}
	in.UseScheduledTime, in.RequestedBy = true, "schedule:"+id
	return a.createScheduleOf(cmd, id, sf, scheduledAction{idPrefix: "train-", workflow: workflows.TrainingPipeline,
		arg: func() any { return in }, input: &in.Input, file: f.input, format: in.Input.Format})
}

// scheduledAction is what a schedule starts: workflow with the value of arg
// (taken after the upload), whose input is replaced by an upload of file
// unless the schedule keeps the worker path.
type scheduledAction struct {
	idPrefix     string
	workflow     any
	arg          func() any
	input        *activities.IngestInput
	file, format string
}

// createScheduleOf creates schedule id that starts act.
func (a *app) createScheduleOf(cmd *cobra.Command, id string, sf scheduleCreateFlags, act scheduledAction) error {
	spec, err := scheduleSpec(sf.cron, sf.every)
	if err != nil {
		return err
	}
	ov, err := parseOverlap(sf.overlap)
	if err != nil {
		return err
	}
	tc, cfg, err := a.temporal(cmd.Context())
	if err != nil {
		return err
	}
	defer tc.Close()
	if !sf.workerPath {
		// Every run works on this upload: the file as it is now.
		if *act.input, err = a.uploadInput(cmd.Context(), act.file, dataset.Format(act.format)); err != nil {
			return fmt.Errorf("schedule create %s: %w", id, err)
		}
	}
	_, err = tc.ScheduleClient().Create(cmd.Context(), client.ScheduleOptions{
		ID: id, Spec: spec, Overlap: ov, CatchupWindow: sf.catchup, Paused: sf.paused, Note: "created by " + currentUser(),
		Action: &client.ScheduleWorkflowAction{ID: act.idPrefix + id, Workflow: act.workflow, Args: []any{act.arg()}, TaskQueue: cfg.Temporal.TaskQueue},
	})
	if err != nil {
		return fmt.Errorf("schedule create %s: %w", id, err)
	}
	fmt.Fprintf(a.out, "schedule %s created (overlap %s, catch-up window %s): %s/namespaces/%s/schedules/%s\n",
		id, sf.overlap, sf.catchup, cfg.Temporal.UIURL, cfg.Temporal.Namespace, id)
	return nil
}

// scheduleSpec is the calendar of a schedule: exactly one of a cron
// expression or an interval of at least a minute.
func scheduleSpec(cron, every string) (client.ScheduleSpec, error) {
	if (cron == "") == (every == "") {
		return client.ScheduleSpec{}, errors.New("give exactly one of --cron or --every")
	}
	if cron != "" {
		return client.ScheduleSpec{CronExpressions: []string{cron}}, nil
	}
	d, err := time.ParseDuration(every)
	if err != nil || d < time.Minute {
		return client.ScheduleSpec{}, fmt.Errorf("--every %q must be a duration ≥ 1m like 24h", every)
	}
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: d}}}, nil
}

// scheduleHandleCmd is a subcommand acting on the schedule named by its
// one argument.
func (a *app) scheduleHandleCmd(use, short string, run func(cmd *cobra.Command, h client.ScheduleHandle) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			tc, _, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			return run(cmd, tc.ScheduleClient().GetHandle(cmd.Context(), args[0]))
		},
	}
}

func (a *app) schedulePauseCmd() *cobra.Command {
	var note string
	c := a.scheduleHandleCmd("pause ID", "Pause a schedule", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		if err := h.Pause(cmd.Context(), client.SchedulePauseOptions{Note: note}); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s paused\n", h.GetID())
		return nil
	})
	c.Flags().StringVar(&note, "note", "", "why")
	return c
}

func (a *app) scheduleResumeCmd() *cobra.Command {
	var note string
	c := a.scheduleHandleCmd("resume ID", "Resume a paused schedule", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		if err := h.Unpause(cmd.Context(), client.ScheduleUnpauseOptions{Note: note}); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s resumed\n", h.GetID())
		return nil
	})
	c.Flags().StringVar(&note, "note", "", "why")
	return c
}

func (a *app) scheduleTriggerCmd() *cobra.Command {
	return a.scheduleHandleCmd("trigger ID", "Start one run now", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		if err := h.Trigger(cmd.Context(), client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s triggered\n", h.GetID())
		return nil
	})
}

func (a *app) scheduleBackfillCmd() *cobra.Command {
	var from, to string
	c := a.scheduleHandleCmd("backfill ID --from YYYY-MM-DD --to YYYY-MM-DD", "Run what the schedule would have run in a past window", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		start, err := time.Parse("2006-01-02", from)
		if err != nil {
			return fmt.Errorf("--from %q is not YYYY-MM-DD", from)
		}
		end, err := time.Parse("2006-01-02", to)
		if err != nil || !end.After(start) {
			return fmt.Errorf("--to %q must be a date YYYY-MM-DD after --from", to)
		}
		if err := h.Backfill(cmd.Context(), client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{
			Start: start, End: end, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL}}}); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s: backfill %s..%s requested (runs queue one after another)\n", h.GetID(), from, to)
		return nil
	})
	c.Flags().StringVar(&from, "from", "", "first day (inclusive)")
	c.Flags().StringVar(&to, "to", "", "last day (exclusive)")
	return c
}

func (a *app) scheduleDeleteCmd() *cobra.Command {
	return a.scheduleHandleCmd("delete ID", "Delete a schedule (runs already started continue)", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		if err := h.Delete(cmd.Context()); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s deleted\n", h.GetID())
		return nil
	})
}

func (a *app) scheduleListCmd() *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List schedules", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tc, _, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			it, err := tc.ScheduleClient().List(cmd.Context(), client.ScheduleListOptions{})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPAUSED\tNEXT RUN\tNOTE")
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					return err
				}
				next := "-"
				if len(e.NextActionTimes) > 0 {
					next = e.NextActionTimes[0].UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", e.ID, e.Paused, next, e.Note)
			}
			return tw.Flush()
		},
	}
}
