// Package reconcile is `otsetl sync`: [Run] makes the result table equal to the view of the
// source table (the rows that pass the function's filter, projected to its columns) and
// proves it, while the Tablestore trigger keeps running. It splits the source table
// (package splits: ComputeSplitPointsBySize, the checkpoint, N tasks in flight) and syncs
// each split with the engine of package rangesync: in this process, or, with Config.OnFC, as
// task invocations of the deployed function, which runs the same engine (package task). How,
// and why the result is correct beside the trigger: docs/design.md, "Sync" and "Task
// invocations".
package reconcile

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/deadletter"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ops/splits"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/rangesync"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

// Defaults and bounds of a run.
const (
	// DefaultParallel is how many splits a run syncs at a time when Config.Parallel is 0.
	DefaultParallel = splits.DefaultParallel
	// DefaultMaxCheckpointAge is how old a checkpoint a run resumes at most unless told
	// otherwise (Config.MaxCheckpointAge).
	DefaultMaxCheckpointAge = splits.DefaultMaxCheckpointAge
	// DefaultTaskBudget is how long one task syncs a split when Config.TaskBudget is 0:
	// within the minute a function invocation may run, with room to confirm its writes.
	DefaultTaskBudget = 45 * time.Second
	// MaxAttempts bounds the writes of one key (rangesync.MaxAttempts).
	MaxAttempts = rangesync.MaxAttempts
	// codeAuthFailed is the code Tablestore refuses an access key or a signature with.
	codeAuthFailed = "OTSAuthFailed"
	// codeObjectNotExist answers a request on a table that does not exist.
	codeObjectNotExist = "OTSObjectNotExist"
)

// Config is what a run syncs, and how.
type Config struct {
	// Function is the function's configuration, as handler.ConfigFromEnv reads it: the
	// instance and endpoint, SOURCE_TABLE, RESULT_TABLE, DEAD_LETTER_TABLE and the rule
	// (FILTER, COLUMNS). The run applies exactly this rule.
	Function handler.Config
	// Credentials sign every request, Tablestore's and FC's.
	Credentials aliyun.Credentials
	// DryRun finds and reports the differences and writes nothing.
	DryRun bool
	// Parallel is how many splits are synced at a time (tasks in flight); 0 means
	// DefaultParallel.
	Parallel int
	// TaskBudget is how long one task syncs a split before it confirms what it did and
	// returns, to be run again from there; 0 means DefaultTaskBudget.
	TaskBudget time.Duration
	// Checkpoint, when set, is a file that records each split's progress, so that a run
	// stopped at any point (even by SIGKILL) and started again with the same file resumes
	// where it stopped. The file is removed once every split is done. It is not allowed
	// with DryRun. A file that is not a checkpoint of this sync, unchanged since a run wrote
	// it, is refused; so is one begun more than MaxCheckpointAge ago, unless
	// ResumeStaleCheckpoint is set. Its folder must be writable.
	Checkpoint string
	// MaxCheckpointAge is how long after it began a checkpoint is resumed; 0 means
	// DefaultMaxCheckpointAge.
	MaxCheckpointAge time.Duration
	// ResumeStaleCheckpoint resumes a checkpoint older than MaxCheckpointAge all the same.
	ResumeStaleCheckpoint bool
	// Show is how many keys of each class (missing, extra, differing) the report lists,
	// with what differs. Invalid rows and unsettled keys are listed up to max(Show, 10).
	Show int
	// OnProgress, when set, is called as source rows are scanned with how many were scanned
	// so far and an estimate of the total (-1 until one split is done: the splits are of
	// about equal size). Calls do not overlap.
	OnProgress func(scanned, estimate int64)
	// OnFC, when set, runs every task as a task invocation of the deployed function (FC's
	// InvokeFunction API) instead of in this process.
	OnFC *FCConfig
	// RetryInterval is the first pause before a task invocation that failed is sent again;
	// 0 means splits.DefaultRetryInterval.
	RetryInterval time.Duration
}

// Counts is what a run found and did (rangesync.Counts).
type Counts = rangesync.Counts

// Report is what a run found and did. With a checkpoint, the counts cover the runs before
// too; a run stopped between a write and the checkpoint's next save finds those keys equal
// when it resumes, so such writes are not counted. The lists hold what this run found.
type Report struct {
	Counts
	// DryRun is set when nothing was written.
	DryRun bool `json:"dryRun"`
	// Splits is the number of key ranges the source table was split into (splits cut during
	// the run included); ResumedSplits how many of them a checkpoint had finished or started.
	Splits        int `json:"splits"`
	ResumedSplits int `json:"resumedSplits"`
	// VerifiedFrom and VerifiedTo bound when the keys were compared: from the start of the
	// run that began the checkpoint (of this run, without one) to the end of this run. A
	// resumed split was verified by an earlier run; what changed in the result table since
	// then, other than by the trigger, is not seen.
	VerifiedFrom time.Time `json:"verifiedFrom"`
	VerifiedTo   time.Time `json:"verifiedTo"`
	// DurationMs is the run's duration in milliseconds.
	DurationMs int64 `json:"durationMs"`
	// The keys listed: up to Config.Show keys of each class, and up to max(Show, 10)
	// invalid rows and unsettled keys.
	rangesync.Samples
	// FC is what the task invocations of a run on FC did; nil for a run in this process.
	FC *FCReport `json:"fc,omitempty"`
}

// Difference is one key where the result differed from the view (rangesync.Difference).
type Difference = rangesync.Difference

// ColumnDifference is one attribute column that differs (rangesync.ColumnDifference).
type ColumnDifference = rangesync.ColumnDifference

// String is the one-line summary of the report: "100,000 source rows, 0 result rows:
// 50,000 missing, 0 extra, 0 differing; 50,000 written, 0 deleted; 50,000 rechecked, 0
// changed during sync; 0 invalid; 2.1 s". A dry run says what it would write; a run on FC
// adds its invocations.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s source rows, %s result rows: %s missing, %s extra, %s differing; ",
		grouped(r.SourceRows), grouped(r.ResultRows), grouped(r.Missing), grouped(r.Extra), grouped(r.Differing))
	if r.DryRun {
		fmt.Fprintf(&b, "dry run, nothing written; ")
	} else {
		fmt.Fprintf(&b, "%s written, %s deleted; %s rechecked, %s changed during sync; ",
			grouped(r.Written), grouped(r.Deleted), grouped(r.Rechecked), grouped(r.ChangedDuringSync))
	}
	fmt.Fprintf(&b, "%s invalid", grouped(r.Invalid))
	if r.DeadLettered > 0 {
		fmt.Fprintf(&b, " (%s dead-lettered)", grouped(r.DeadLettered))
	}
	if r.Unsettled > 0 {
		fmt.Fprintf(&b, ", %s unsettled", grouped(r.Unsettled))
	}
	fmt.Fprintf(&b, "; %s splits", grouped(int64(r.Splits)))
	if r.ResumedSplits > 0 {
		fmt.Fprintf(&b, " (%d resumed)", r.ResumedSplits)
	}
	if r.FC != nil {
		fmt.Fprintf(&b, "; %s", r.FC)
	}
	fmt.Fprintf(&b, "; %.1f s", float64(r.DurationMs)/1000)
	return b.String()
}

// Verified says when the keys were compared: "between 2026-12-07 07:23:00 and 07:25:10 UTC",
// the day repeated when it differs.
func (r *Report) Verified() string {
	from, to := r.VerifiedFrom.UTC(), r.VerifiedTo.UTC()
	layout := "15:04:05 UTC"
	if from.Format(time.DateOnly) != to.Format(time.DateOnly) {
		layout = time.DateTime + " UTC"
	}
	return fmt.Sprintf("between %s and %s", from.Format(time.DateTime), to.Format(layout))
}

// grouped formats n with commas between groups of three digits: 1234567 → "1,234,567".
func grouped(n int64) string { return english.Sprint(n) }

// english formats numbers as English text does.
var english = message.NewPrinter(language.English)

// ConfigError is an error in what a run was asked to do, found before anything is
// written: an invalid rule, RESULT_TABLE equal to SOURCE_TABLE, a missing table, source and
// result tables with different primary keys, credentials the endpoint refuses, a checkpoint
// of another configuration. Errors.As finds it; its message names the problem.
type ConfigError = splits.ConfigError

// configError formats a ConfigError.
func configError(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// Run syncs the result table of cfg.Function with the view of its source table, or, with
// DryRun, reports how it differs. It returns the report and, when the run failed, an error:
// a [*ConfigError] (before anything was written), a Tablestore or FC failure (the report
// counts what was done until then; with a checkpoint, a new run resumes), or an error
// listing the keys that never settled or the rows the rule cannot evaluate when
// DEAD_LETTER_TABLE is unset. Without an error, the result table equalled the view when
// each key was checked (for a dry run: it did where the report counts no differences).
// Cancelling ctx stops the run, leaving the checkpoint at the last confirmed key.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	s, err := newSyncer(ctx, cfg, time.Now())
	if err != nil {
		return nil, err
	}
	runErr := s.plan.Run(ctx, s.runner)
	report := s.report()
	report.VerifiedTo = time.Now()
	report.DurationMs = report.VerifiedTo.Sub(s.started).Milliseconds()
	if runErr != nil {
		return report, runErr
	}
	return report, s.outcomeError(report)
}

// syncer is one run.
type syncer struct {
	cfg     Config
	started time.Time
	engine  rangesync.Config // the engine's configuration, Client unset on FC
	api     *sdk.TableStoreClient
	plan    *splits.Plan[Counts, *Counts, identity]
	runner  splits.Runner[Counts]
	fc      *fcRunner // the runner on FC, nil in this process

	mu      sync.Mutex // guards samples
	samples rangesync.Samples
}

// newSyncer checks the configuration and the tables, and computes or resumes the splits, for
// a run that started at started.
func newSyncer(ctx context.Context, cfg Config, started time.Time) (*syncer, error) {
	fn := cfg.Function
	switch {
	case fn.SourceTable == "":
		return nil, configError("the source table must be named")
	case fn.ResultTable == "":
		return nil, configError("%s is empty: an export-only function keeps no result table to sync", handler.EnvResultTable)
	case fn.SourceTable == fn.ResultTable:
		return nil, configError("%s and %s are both %q: the result table must be another table", handler.EnvResultTable, handler.EnvSourceTable, fn.SourceTable)
	case cfg.Parallel < 0:
		return nil, configError("parallel %d: want a positive number of splits at a time", cfg.Parallel)
	case cfg.Show < 0:
		return nil, configError("show %d: want a number of keys, 0 or more", cfg.Show)
	case cfg.DryRun && cfg.Checkpoint != "":
		return nil, configError("a dry run writes nothing, so it has no checkpoint to keep")
	case cfg.TaskBudget < 0:
		return nil, configError("task budget %s: want a positive duration", cfg.TaskBudget)
	}
	rule, err := transform.Compile(fn.Rule)
	if err != nil {
		return nil, configError("%s/%s: %w", handler.EnvFilter, handler.EnvColumns, err)
	}
	client, err := tablestore.NewClient(tablestore.Config{Endpoint: fn.Endpoint, Instance: fn.Instance}, cfg.Credentials)
	if err != nil {
		return nil, configError("%w", err)
	}
	s := &syncer{
		cfg:     cfg,
		started: started,
		engine: rangesync.Config{Client: client, Rule: rule, SourceTable: fn.SourceTable, ResultTable: fn.ResultTable,
			DeadLetterTable: fn.DeadLetterTable, DryRun: cfg.DryRun, Show: cfg.Show},
		api: tableio.NewClient(fn.Endpoint, fn.Instance, cfg.Credentials),
	}
	if err := s.checkTables(ctx); err != nil {
		return nil, err
	}
	budget := cmp.Or(cfg.TaskBudget, DefaultTaskBudget)
	if cfg.OnFC != nil {
		if s.fc, err = newFCRunner(*cfg.OnFC, cfg, s.engine.PrimaryKey, budget, s.merge); err != nil {
			return nil, err
		}
		s.runner = s.fc
	} else {
		s.runner = &localRunner{engine: s.engine, merge: s.merge}
	}
	s.plan, err = splits.Open[Counts, *Counts](ctx, splits.Config[Counts, identity]{
		Kind:     "sync",
		Identity: identityOf(cfg, rule.Config()),
		Schema:   s.engine.PrimaryKey,
		Started:  started,
		Compute: func(ctx context.Context) ([]splits.Bounds, error) {
			return splits.Compute(ctx, s.api, fn.SourceTable, splits.MaxSplits)
		},
		Points: func(ctx context.Context) ([][]ots.PrimaryKeyColumn, error) {
			return splits.Points(ctx, s.api, fn.SourceTable)
		},
		Checkpoint:            cfg.Checkpoint,
		MaxCheckpointAge:      cfg.MaxCheckpointAge,
		ResumeStaleCheckpoint: cfg.ResumeStaleCheckpoint,
		Parallel:              cfg.Parallel,
		Budget:                budget,
		RetryInterval:         cfg.RetryInterval,
		OnProgress:            cfg.OnProgress,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// checkTables checks that the tables exist and that the result table has the source
// table's primary key, which the mapping must not write as an attribute column, and the
// dead-letter table the function's (id STRING).
func (s *syncer) checkTables(ctx context.Context) error {
	fn := s.cfg.Function
	source, err := s.primaryKey(ctx, fn.SourceTable)
	if err != nil {
		return err
	}
	result, err := s.primaryKey(ctx, fn.ResultTable)
	if err != nil {
		return err
	}
	if !slices.Equal(source, result) {
		return configError("the result table %q has the primary key (%s), the source table %q (%s): they must be the same",
			fn.ResultTable, ots.FormatSchema(result), fn.SourceTable, ots.FormatSchema(source))
	}
	if err := s.engine.Rule.CheckPrimaryKey(source); err != nil {
		return configError("%s: %w", handler.EnvColumns, err)
	}
	s.engine.PrimaryKey = source
	if fn.DeadLetterTable == "" {
		return nil
	}
	letters, err := s.primaryKey(ctx, fn.DeadLetterTable)
	if err != nil {
		return err
	}
	if !slices.Equal(letters, deadletter.Schema) {
		return configError("the dead-letter table %q has the primary key (%s); it needs (%s)", fn.DeadLetterTable, ots.FormatSchema(letters), ots.FormatSchema(deadletter.Schema))
	}
	return nil
}

// primaryKey describes table, turning the answers that mean a wrong configuration (no such
// table, credentials refused) into a ConfigError.
func (s *syncer) primaryKey(ctx context.Context, table string) ([]ots.PrimaryKeySchema, error) {
	pk, err := tableio.PrimaryKey(ctx, s.api, table)
	var otsErr *sdk.OtsError
	switch {
	case err == nil:
		return pk, nil
	case errors.As(err, &otsErr) && otsErr.Code == codeObjectNotExist:
		return nil, configError("table %q does not exist in instance %q", table, s.cfg.Function.Instance)
	case errors.As(err, &otsErr) && otsErr.Code == codeAuthFailed:
		return nil, configError("%s refused the credentials: %s %s", aliyun.RedactEndpoint(s.cfg.Function.Endpoint), otsErr.Code, otsErr.Message)
	}
	return nil, err
}

// merge adds the keys a task listed to the report's, up to the limits.
func (s *syncer) merge(found rangesync.Samples) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.samples.Merge(found, s.cfg.Show)
}

// report assembles the report from the splits' counts and the samples.
func (s *syncer) report() *Report {
	r := &Report{Counts: s.plan.Total(), DryRun: s.cfg.DryRun, Splits: s.plan.Len(), ResumedSplits: s.plan.Resumed(),
		VerifiedFrom: s.plan.StartedAt()}
	s.mu.Lock()
	r.Samples = s.samples
	s.mu.Unlock()
	if s.fc != nil {
		r.FC = s.fc.report()
	}
	return r
}

// outcomeError is the error of a run that went through but did not make the result equal
// to the view: keys that never settled, or rows the rule cannot evaluate with nowhere to
// put them.
func (s *syncer) outcomeError(r *Report) error {
	var problems []string
	if r.Unsettled > 0 {
		problems = append(problems, fmt.Sprintf("%d key(s) kept changing through %d writes each and may differ from the view: %s",
			r.Unsettled, MaxAttempts, listed(r.UnsettledKeys, r.Unsettled)))
	}
	if r.Invalid > 0 && s.cfg.Function.DeadLetterTable == "" {
		keys := make([]string, len(r.InvalidRows))
		for i, row := range r.InvalidRows {
			keys[i] = fmt.Sprintf("(%s): %s", row.PrimaryKey, row.Error)
		}
		problems = append(problems, fmt.Sprintf("%d source row(s) cannot be evaluated by the rule and %s is unset (their keys are not in the view): %s",
			r.Invalid, handler.EnvDeadLetterTable, listed(keys, r.Invalid)))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// listed joins the items shown of total, saying how many more there are.
func listed(items []string, total int64) string {
	text := strings.Join(items, "; ")
	if more := total - int64(len(items)); more > 0 {
		text += fmt.Sprintf("; and %d more", more)
	}
	return text
}

// localRunner runs the tasks of a run in this process, with the engine.
type localRunner struct {
	engine rangesync.Config
	merge  func(rangesync.Samples)
}

// Run syncs the task's range with the engine, recording each confirmed batch.
func (r *localRunner) Run(ctx context.Context, t splits.Task, record func([]ots.PrimaryKeyColumn, Counts, bool) error) error {
	res, err := rangesync.Sync(ctx, r.engine, rangesync.Range{Lower: t.Lower, Upper: t.Upper, After: t.After}, rangesync.Options{
		StopAt:    time.Now().Add(t.Budget),
		OnAdvance: func(after []ots.PrimaryKeyColumn, counts Counts) error { return record(after, counts, false) },
	})
	r.merge(res.Samples)
	if err != nil || !res.Done {
		return err
	}
	return record(nil, Counts{}, true)
}

// Retryable is false: the engine's writer already retried what Tablestore reports as
// transient, so a run in this process fails with the error, as it always has.
func (r *localRunner) Retryable(error) bool { return false }

// Throttled is false: nothing limits the tasks of this process but Parallel.
func (r *localRunner) Throttled(error) bool { return false }
