package main

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/clvflow/clvflow/dataset"
	"github.com/clvflow/clvflow/workflows"
	"github.com/spf13/cobra"
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
		Short: "Manage retraining schedules (Temporal Schedules)",
		Long: `Each scheduled run trains on the data as of its scheduled time: transactions after
that day are ignored and the cutoff is that day minus the horizon, so a backfill
trains exactly what would have been trained then.`,
	}
	var f trainFlags
	var cron, every, overlap string
	var catchup time.Duration
	var paused, workerPath bool
	create := &cobra.Command{
		Use:   "create ID --input FILE (--cron EXPR | --every DURATION)",
		Short: "Create a schedule that starts TrainingPipeline runs",
		Long: `--input FILE is uploaded once to the datasets bucket and every run trains on
that upload. For a file refreshed in place that each run must re-read, pass
--worker-path: the schedule then keeps the absolute path, which the workers
read at each run and must find under one of their ingest.allowed_dirs.`,
		Example: `  clvflow schedule create weekly-clv --input /data/orders.csv.gz --cron "0 3 * * 1" --horizon-days 90`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (cron == "") == (every == "") {
				return errors.New("give exactly one of --cron or --every")
			}
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
			in.UseScheduledTime = true
			in.RequestedBy = "schedule:" + args[0]
			ov, err := parseOverlap(overlap)
			if err != nil {
				return err
			}
			spec := client.ScheduleSpec{}
			if cron != "" {
				spec.CronExpressions = []string{cron}
			} else {
				d, err := time.ParseDuration(every)
				if err != nil || d < time.Minute {
					return fmt.Errorf("--every %q must be a duration ≥ 1m like 24h", every)
				}
				spec.Intervals = []client.ScheduleIntervalSpec{{Every: d}}
			}
			tc, cfg, err := a.temporal(cmd.Context())
			if err != nil {
				return err
			}
			defer tc.Close()
			if !workerPath {
				// Every run trains on this upload: the file as it is now.
				if in.Input, err = a.uploadInput(cmd.Context(), f.input, dataset.Format(in.Input.Format)); err != nil {
					return fmt.Errorf("schedule create: %w", err)
				}
			}
			_, err = tc.ScheduleClient().Create(cmd.Context(), client.ScheduleOptions{
				ID:            args[0],
				Spec:          spec,
				Overlap:       ov,
				CatchupWindow: catchup,
				Paused:        paused,
				Note:          "created by " + currentUser(),
				Action: &client.ScheduleWorkflowAction{
					ID: "train-" + args[0], Workflow: workflows.TrainingPipeline, Args: []any{in}, TaskQueue: cfg.Temporal.TaskQueue,
				},
			})
			if err != nil {
				return fmt.Errorf("schedule create %s: %w", args[0], err)
			}
			fmt.Fprintf(a.out, "schedule %s created (overlap %s, catch-up window %s): %s/namespaces/%s/schedules/%s\n",
				args[0], overlap, catchup, cfg.Temporal.UIURL, cfg.Temporal.Namespace, args[0])
			return nil
		},
	}
	f.register(create)
	create.Flags().StringVar(&cron, "cron", "", "cron expression, e.g. \"0 3 * * 1\" (Mondays 03:00 UTC)")
	create.Flags().StringVar(&every, "every", "", "interval, e.g. 24h")
	create.Flags().StringVar(&overlap, "overlap", "skip", "when a run is still going: skip, buffer-one, buffer-all, cancel-other, terminate-other, allow-all")
	create.Flags().DurationVar(&catchup, "catchup-window", 24*time.Hour, "how late a missed run may still start")
	create.Flags().BoolVar(&paused, "paused", false, "create paused")
	create.Flags().BoolVar(&workerPath, "worker-path", false, "schedule the --input path itself, re-read by the workers at each run (must be under their ingest.allowed_dirs) instead of uploading it once")

	handle := func(use, short string, run func(cmd *cobra.Command, h client.ScheduleHandle) error) *cobra.Command {
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
	var note string
	pause := handle("pause ID", "Pause a schedule", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		if err := h.Pause(cmd.Context(), client.SchedulePauseOptions{Note: note}); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s paused\n", h.GetID())
		return nil
	})
	pause.Flags().StringVar(&note, "note", "", "why")
	resume := handle("resume ID", "Resume a paused schedule", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		if err := h.Unpause(cmd.Context(), client.ScheduleUnpauseOptions{Note: note}); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s resumed\n", h.GetID())
		return nil
	})
	resume.Flags().StringVar(&note, "note", "", "why")
	trigger := handle("trigger ID", "Start one run now", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		if err := h.Trigger(cmd.Context(), client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s triggered\n", h.GetID())
		return nil
	})
	var from, to string
	backfill := handle("backfill ID --from YYYY-MM-DD --to YYYY-MM-DD", "Run what the schedule would have run in a past window", func(cmd *cobra.Command, h client.ScheduleHandle) error {
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
	backfill.Flags().StringVar(&from, "from", "", "first day (inclusive)")
	backfill.Flags().StringVar(&to, "to", "", "last day (exclusive)")
	del := handle("delete ID", "Delete a schedule (runs already started continue)", func(cmd *cobra.Command, h client.ScheduleHandle) error {
		if err := h.Delete(cmd.Context()); err != nil {
			return err
		}
		fmt.Fprintf(a.out, "schedule %s deleted\n", h.GetID())
		return nil
	})
	list := &cobra.Command{
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
	c.AddCommand(create, list, pause, resume, trigger, backfill, del)
	return c
}
