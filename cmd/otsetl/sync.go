package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ops/reconcile"
	"github.com/otsetl/otsetl/tablestore"
)

// english formats the numbers of sync's output as English text does: 48,870.
var english = message.NewPrinter(language.English)

// syncFlags are the flags of `otsetl sync`.
type syncFlags struct {
	endpoint, instance string
	file               string
	dryRun, json       bool
	parallel, show     int
	checkpoint         string
	maxCheckpointAge   time.Duration
	resumeStale        bool
	onFC               bool
	function           string
	fcEndpoint         string
	taskBudget         time.Duration
}

// envFCEndpoint is the environment variable `otsetl sync --on-fc` reads FC's endpoint from
// when --fc-endpoint is not given.
const envFCEndpoint = "FC_ENDPOINT"

func syncCommand(env environment) *cobra.Command {
	var flags syncFlags
	cmd := &cobra.Command{
		Use:   "sync --endpoint URL --instance NAME [-f s.yaml] [--on-fc [--function NAME] [--fc-endpoint URL]] [--dry-run] [--json] [--parallel N] [--checkpoint FILE [--max-checkpoint-age D] [--resume-stale-checkpoint]] [--show N]",
		Short: "Make the result table equal to the view of the source table: backfill, verify and repair, beside the live trigger",
		Long: `Make the result table equal to the rows of the source table that pass the function's
filter, projected to its columns, and prove it.

The trigger only delivers the changes made after it was bound: after binding it to a table
that already has rows, after changing FILTER or COLUMNS, after an outage longer than the
Stream's retention, or after a hand edit of the result table, run sync.

The tables and the rule come from the function's environment variables (SOURCE_TABLE,
RESULT_TABLE, FILTER, COLUMNS, DEAD_LETTER_TABLE), or, with -f, from the environmentVariables
of the function in s.yaml bound to a Tablestore trigger: the rule that is deployed. The rule
in force is printed first. Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID,
ALIBABA_CLOUD_ACCESS_KEY_SECRET and ALIBABA_CLOUD_SECURITY_TOKEN.

sync splits the source table (ComputeSplitPointsBySize), scans the source and the result
table of each split in primary key order, --parallel splits at a time, and compares each
key's result row with the view of its source row: missing, extra or differing keys are
fixed with the function's own writer. After writing a key it reads the source row again and
decides again if the row changed meanwhile, so it is safe while the trigger runs: once the
trigger has processed every change made before sync finished, the result table equals the
view. Keys that never settle are listed and fail the run.

--dry-run writes nothing and reports what sync would fix; --show N lists up to N keys of
each class with what differs. --checkpoint FILE records each split's progress: a run stopped
at any point resumes from the same file, which is removed when the run is through. The splits
a checkpoint marks done are not checked again, so a checkpoint is for resuming one run, soon:
one begun more than --max-checkpoint-age ago (default 24h) is refused unless
--resume-stale-checkpoint is given, and so is one changed by hand. The report says when the
keys were verified.

--on-fc runs the splits as task invocations of the deployed function (FC's InvokeFunction
API, FC_ENDPOINT or --fc-endpoint, https://<account>.<region>.fc.aliyuncs.com), --parallel
at a time, each for at most --task-budget and then again from the last key it confirmed; the
function syncs with its own deployed rule and tables, and refuses a task made from another
s.yaml. The report adds the invocations, the instances and the billed time.

Exit status: 0 when the result table equals the view (after the repair, or a dry run that
found nothing to fix); 1 when a dry run found differences or the sync failed; 2 for usage
and configuration errors (a missing table, tables with different primary keys, credentials
the endpoint refuses, a checkpoint that cannot be resumed or written).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := newSyncConfig(flags, env)
			if err != nil {
				return usageError{err}
			}
			return runSync(cmd.Context(), cfg, flags, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&flags.endpoint, "endpoint", "", "the Tablestore endpoint, e.g. https://myinstance.cn-hangzhou.ots.aliyuncs.com (required)")
	f.StringVar(&flags.instance, "instance", "", "the instance name (required)")
	f.StringVarP(&flags.file, "file", "f", "", "take the tables and the rule from the function in this s.yaml instead of the environment")
	f.BoolVar(&flags.dryRun, "dry-run", false, "write nothing; report what a sync would fix")
	f.BoolVar(&flags.json, "json", false, "print the report as one JSON object on standard output")
	f.IntVar(&flags.parallel, "parallel", reconcile.DefaultParallel, "splits synced at a time")
	f.StringVar(&flags.checkpoint, "checkpoint", "", "record progress in this file, and resume from it")
	f.DurationVar(&flags.maxCheckpointAge, "max-checkpoint-age", reconcile.DefaultMaxCheckpointAge, "refuse to resume a checkpoint begun longer ago than this")
	f.BoolVar(&flags.resumeStale, "resume-stale-checkpoint", false, "resume a checkpoint older than --max-checkpoint-age all the same")
	f.IntVar(&flags.show, "show", 0, "list up to N keys of each class (missing, extra, differing) with what differs")
	f.BoolVar(&flags.onFC, "on-fc", false, "run the splits as task invocations of the deployed function")
	f.StringVar(&flags.function, "function", "", "with --on-fc: the function's name (default: functionName in -f s.yaml)")
	f.StringVar(&flags.fcEndpoint, "fc-endpoint", "", "with --on-fc: FC's endpoint, https://<account>.<region>.fc.aliyuncs.com (default $"+envFCEndpoint+")")
	f.DurationVar(&flags.taskBudget, "task-budget", reconcile.DefaultTaskBudget, "how long one task syncs a split before it is run again from where it stopped (at most 1m with --on-fc)")
	return cmd
}

// newSyncConfig checks the flags and reads the function's configuration: from the
// environment, or from s.yaml with -f. Every error is a usage or configuration error.
func newSyncConfig(flags syncFlags, env environment) (reconcile.Config, error) {
	if flags.endpoint == "" || flags.instance == "" {
		return reconcile.Config{}, errors.New("--endpoint and --instance are required")
	}
	if flags.parallel < 1 || flags.show < 0 {
		return reconcile.Config{}, fmt.Errorf("--parallel %d --show %d: want at least one split at a time, and 0 or more keys", flags.parallel, flags.show)
	}
	if flags.maxCheckpointAge <= 0 {
		return reconcile.Config{}, fmt.Errorf("--max-checkpoint-age %s: want a positive duration, e.g. 2h", flags.maxCheckpointAge)
	}
	if flags.taskBudget <= 0 || (flags.onFC && flags.taskBudget > time.Minute) {
		return reconcile.Config{}, fmt.Errorf("--task-budget %s: want a positive duration, at most 1m with --on-fc", flags.taskBudget)
	}
	if !flags.onFC && (flags.function != "" || flags.fcEndpoint != "") {
		return reconcile.Config{}, errors.New("--function and --fc-endpoint go with --on-fc")
	}
	endpoint, err := tablestore.CheckEndpoint(flags.endpoint)
	if err != nil {
		return reconcile.Config{}, fmt.Errorf("--endpoint: %w", err)
	}
	creds, err := requireCredentials(env.get, "sync")
	if err != nil {
		return reconcile.Config{}, err
	}
	functionEnv := env
	var deployed triggeredFunction
	if flags.file != "" {
		if deployed, err = loadTriggeredFunction(flags.file, env.get); err != nil {
			return reconcile.Config{}, err
		}
		functionEnv = deployed.lookupEnv
	}
	function, err := handler.ConfigFromEnv(pointedAt(functionEnv, endpoint, flags.instance))
	if err != nil {
		if flags.file != "" {
			err = fmt.Errorf("%s: %w", flags.file, err)
		}
		return reconcile.Config{}, err
	}
	cfg := reconcile.Config{
		Function:              function,
		Credentials:           creds,
		DryRun:                flags.dryRun,
		Parallel:              flags.parallel,
		TaskBudget:            flags.taskBudget,
		Checkpoint:            flags.checkpoint,
		MaxCheckpointAge:      flags.maxCheckpointAge,
		ResumeStaleCheckpoint: flags.resumeStale,
		Show:                  flags.show,
	}
	if flags.onFC {
		fc := &reconcile.FCConfig{Endpoint: firstNonEmpty(flags.fcEndpoint, env.get(envFCEndpoint)), Function: firstNonEmpty(flags.function, deployed.FunctionName), MemoryMB: deployed.MemoryMB}
		switch {
		case fc.Endpoint == "":
			return reconcile.Config{}, fmt.Errorf("--on-fc needs FC's endpoint: --fc-endpoint or %s, https://<account>.<region>.fc.aliyuncs.com", envFCEndpoint)
		case fc.Function == "":
			return reconcile.Config{}, errors.New("--on-fc needs the function's name: --function, or -f s.yaml")
		}
		cfg.OnFC = fc
	}
	return cfg, nil
}

// runSync prints the rule in force, runs the sync with a progress bar when out is a
// terminal (and the report is not JSON), and prints the report.
func runSync(ctx context.Context, cfg reconcile.Config, flags syncFlags, out, errOut io.Writer) error {
	info := out
	if flags.json {
		info = errOut // standard output holds the JSON object alone
	}
	fmt.Fprintf(info, "otsetl sync: %s\n", describeRule(cfg))
	var bar *progressbar.ProgressBar
	if !flags.json && isTerminal(out) {
		bar = newSyncBar(out)
		cfg.OnProgress = func(scanned, estimate int64) {
			if estimate >= 0 && estimate != bar.GetMax64() {
				bar.ChangeMax64(estimate)
			}
			_ = bar.Set64(scanned)
		}
	}
	report, err := reconcile.Run(ctx, cfg)
	if bar != nil {
		_ = bar.Exit()
		fmt.Fprintln(out)
	}
	var configErr *reconcile.ConfigError
	if errors.As(err, &configErr) {
		return usageError{err}
	}
	if flags.json {
		return printSyncJSON(out, report, err, cfg.Function.ResultTable)
	}
	if report != nil {
		fmt.Fprintf(out, "otsetl sync: %s\n", report)
		printDifferences(out, report)
	}
	switch {
	case err != nil && cfg.Checkpoint != "" && ctx.Err() != nil:
		return fmt.Errorf("%w; run again with --checkpoint %s to resume", err, cfg.Checkpoint)
	case err != nil:
		return err
	}
	if err := dryRunFinding(report, cfg.Function.ResultTable); err != nil {
		return err
	}
	fmt.Fprintf(out, "otsetl sync: %s equals the view of %s, as verified %s\n", cfg.Function.ResultTable, cfg.Function.SourceTable, report.Verified())
	return nil
}

// describeRule is the rule in force, on one line: `source_data -> result on instance x at
// https://...: filter "level > 1", columns all, dead letters unset`.
func describeRule(cfg reconcile.Config) string {
	fn := cfg.Function
	columns := cmp.Or(strings.TrimSpace(fn.Rule.Columns), "all")
	letters := "unset"
	if fn.DeadLetterTable != "" {
		letters = "to " + fn.DeadLetterTable
	}
	line := fmt.Sprintf("%s -> %s on instance %s at %s: filter %q, columns %s, dead letters %s",
		fn.SourceTable, fn.ResultTable, fn.Instance, aliyun.RedactEndpoint(fn.Endpoint), fn.Rule.Filter, columns, letters)
	if cfg.DryRun {
		line += "; dry run, nothing will be written"
	}
	if cfg.OnFC != nil {
		line += fmt.Sprintf("; on FC: function %s at %s", cfg.OnFC.Function, cfg.OnFC.Endpoint)
	}
	return line
}

// newSyncBar is the progress bar of a sync: source rows scanned of the estimate, rows/s
// and the time left.
func newSyncBar(out io.Writer) *progressbar.ProgressBar {
	return progressbar.NewOptions64(-1,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription("scanning source rows"),
		progressbar.OptionShowCount(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionShowIts(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionFullWidth(),
		progressbar.OptionSetRenderBlankState(true),
	)
}

// dryRunFinding is the error a dry run that found differences in resultTable exits with;
// nil for a run that wrote, or found nothing.
func dryRunFinding(report *reconcile.Report, resultTable string) error {
	if !report.DryRun || report.Differences() == 0 {
		return nil
	}
	return fmt.Errorf("dry run: %s key(s) of %s differ from the view; run without --dry-run to fix them", english.Sprint(report.Differences()), resultTable)
}

// printSyncJSON prints the report as one JSON object, with the error's message under
// "error" when the run failed; it returns the run's error, to set the exit status, or the
// dry run's finding in resultTable.
func printSyncJSON(out io.Writer, report *reconcile.Report, runErr error, resultTable string) error {
	object := struct {
		*reconcile.Report
		Error string `json:"error,omitempty"`
	}{Report: report}
	if runErr != nil {
		object.Error = runErr.Error()
	}
	if err := json.NewEncoder(out).Encode(object); err != nil {
		return err
	}
	if runErr != nil {
		return runErr
	}
	return dryRunFinding(report, resultTable)
}

// printDifferences lists the report's keys with what differs, the invalid rows and the
// unsettled keys.
func printDifferences(out io.Writer, r *reconcile.Report) {
	for _, class := range []struct {
		name  string
		total int64
		keys  []reconcile.Difference
	}{{"missing", r.Missing, r.MissingKeys}, {"extra", r.Extra, r.ExtraKeys}, {"differing", r.Differing, r.DifferingKeys}} {
		if len(class.keys) == 0 {
			continue
		}
		english.Fprintf(out, "%s (%d of %d):\n", class.name, len(class.keys), class.total)
		for _, d := range class.keys {
			fmt.Fprintf(out, "  %s: %s\n", d.PrimaryKey, describeColumns(d.Columns))
		}
	}
	if len(r.InvalidRows) > 0 {
		english.Fprintf(out, "invalid (%d of %d):\n", len(r.InvalidRows), r.Invalid)
		for _, row := range r.InvalidRows {
			fmt.Fprintf(out, "  %s: %s\n", row.PrimaryKey, row.Error)
		}
	}
	if len(r.UnsettledKeys) > 0 {
		english.Fprintf(out, "unsettled (%d of %d): %s\n", len(r.UnsettledKeys), r.Unsettled, strings.Join(r.UnsettledKeys, "; "))
	}
}

// describeColumns renders the columns of a difference: `level: have INTEGER 1, want
// INTEGER 3; message: want STRING "x"`.
func describeColumns(columns []reconcile.ColumnDifference) string {
	if len(columns) == 0 {
		return "(no attribute columns)"
	}
	parts := make([]string, len(columns))
	for i, c := range columns {
		var sides []string
		if c.Have != "" {
			sides = append(sides, "have "+c.Have)
		}
		if c.Want != "" {
			sides = append(sides, "want "+c.Want)
		}
		parts[i] = c.Column + ": " + strings.Join(sides, ", ")
	}
	return strings.Join(parts, "; ")
}
