// Package reconcile is `otsetl sync`: [Run] makes the result table equal to the view of the
// source table (the rows that pass the function's filter, projected to its columns) and
// proves it, while the Tablestore trigger keeps running. It scans both tables by key range
// (GetRange, ComputeSplitPointsBySize), decides each key with the function's own rule
// ([transform.Rule.Resolve]), fixes what differs with the function's writer
// ([tablestore.Client.Write]) and re-reads what it wrote until it settles. How, and why the
// result is correct beside the trigger: docs/design.md, "Sync".
package reconcile

import (
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
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

// Defaults and bounds of a run.
const (
	// DefaultParallel is how many splits a run syncs at a time when Config.Parallel is 0.
	DefaultParallel = 4
	// MaxAttempts bounds the writes of one key: after writing a key, the source row is read
	// again and, if it changed, the key is decided and written again, at most this many
	// times in all; a key still changing then is unsettled.
	MaxAttempts = 5
	// writeBatchRows is how many fixes one write round holds: one BatchWriteRow (Tablestore's
	// limit is 200 rows) and two BatchGetRows of the re-check.
	writeBatchRows = 200
	// roundTimeout bounds one round of writes and re-reads, whose retries of transient
	// failures stop before it (tablestore.Client's deadline handling): the trigger's limit on
	// an invocation, which the writer's settings are made for.
	roundTimeout = time.Minute
	// splitSizeUnit is the unit of the splits asked of ComputeSplitPointsBySize, 1 MiB, the
	// smallest split_size_unit_in_byte the service accepts; a split is one unit.
	splitSizeUnit = 1 << 20
	// maxSplitPoints is the split_point_limit: at most this many splits, whatever the size
	// of the table.
	maxSplitPoints = 1000
	// minListed is how many invalid rows and unsettled keys a report lists at least.
	minListed = 10
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
	// Credentials sign every request.
	Credentials aliyun.Credentials
	// DryRun finds and reports the differences and writes nothing.
	DryRun bool
	// Parallel is how many splits are synced at a time; 0 means DefaultParallel.
	Parallel int
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
}

// Counts is what a run found and did. Every count is of primary keys or rows. Its Add and
// LogValue are generated from the fields.
//
//go:generate go run github.com/otsetl/otsetl/internal/countergen -type Counts
type Counts struct {
	// SourceRows and ResultRows are the rows scanned. With COLUMNS set, source rows
	// holding none of the columns the rule reads are not returned by the scan, and not
	// counted: they are not in the view either.
	SourceRows int64 `json:"sourceRows"`
	ResultRows int64 `json:"resultRows"`
	// Missing, Extra and Differing classify the keys where the result differed from the
	// view when scanned: in the view and not in the result, in the result and not in the
	// view, in both with other columns or values.
	Missing   int64 `json:"missing"`
	Extra     int64 `json:"extra"`
	Differing int64 `json:"differing"`
	// Written and Deleted count the rows put and deleted in the result table, re-decided
	// keys included.
	Written int64 `json:"written"`
	Deleted int64 `json:"deleted"`
	// Rechecked counts the source rows read again after their key was written, and
	// ChangedDuringSync those found changed since the read the write rested on.
	Rechecked         int64 `json:"rechecked"`
	ChangedDuringSync int64 `json:"changedDuringSync"`
	// Invalid counts source rows the rule cannot evaluate; DeadLettered those written to
	// DEAD_LETTER_TABLE.
	Invalid      int64 `json:"invalid"`
	DeadLettered int64 `json:"deadLettered"`
	// Unsettled counts keys whose source row still changed after MaxAttempts writes.
	Unsettled int64 `json:"unsettled"`
}

// Differences is the number of keys where the result differed from the view.
func (c Counts) Differences() int64 { return c.Missing + c.Extra + c.Differing }

// negative names the first count below zero, by its JSON name; "" when there is none.
func (c Counts) negative() string {
	for _, count := range []struct {
		name  string
		value int64
	}{
		{"sourceRows", c.SourceRows}, {"resultRows", c.ResultRows}, {"missing", c.Missing}, {"extra", c.Extra},
		{"differing", c.Differing}, {"written", c.Written}, {"deleted", c.Deleted}, {"rechecked", c.Rechecked},
		{"changedDuringSync", c.ChangedDuringSync}, {"invalid", c.Invalid}, {"deadLettered", c.DeadLettered}, {"unsettled", c.Unsettled},
	} {
		if count.value < 0 {
			return fmt.Sprintf("%s (%d)", count.name, count.value)
		}
	}
	return ""
}

// Report is what a run found and did. With a checkpoint, the counts cover the runs before
// too; a run stopped between a write and the checkpoint's next save finds those keys equal
// when it resumes, so such writes are not counted. The lists hold what this run found.
type Report struct {
	Counts
	// DryRun is set when nothing was written.
	DryRun bool `json:"dryRun"`
	// Splits is the number of key ranges the source table was split into; ResumedSplits
	// how many of them a checkpoint had finished or started.
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
	// MissingKeys, ExtraKeys and DifferingKeys list up to Config.Show keys of each class.
	MissingKeys   []Difference `json:"missingKeys,omitempty"`
	ExtraKeys     []Difference `json:"extraKeys,omitempty"`
	DifferingKeys []Difference `json:"differingKeys,omitempty"`
	// InvalidRows lists source rows the rule cannot evaluate, and UnsettledKeys the keys
	// that kept changing, up to max(Config.Show, 10) each.
	InvalidRows   []InvalidRow `json:"invalidRows,omitempty"`
	UnsettledKeys []string     `json:"unsettledKeys,omitempty"`
}

// Difference is one key where the result differed from the view.
type Difference struct {
	// PrimaryKey is the key formatted as `id=5, sub="a"` (ots.FormatPrimaryKey).
	PrimaryKey string `json:"primaryKey"`
	// Columns are the attribute columns that differ, by name: every column of the row for
	// a missing or an extra key.
	Columns []ColumnDifference `json:"columns"`
}

// ColumnDifference is one attribute column that differs.
type ColumnDifference struct {
	// Column is the column's name.
	Column string `json:"column"`
	// Have is the result's value and Want the view's, as `INTEGER 3` or `STRING "x"`
	// (values cut to 64 bytes); empty when the row lacks the column.
	Have string `json:"have,omitempty"`
	Want string `json:"want,omitempty"`
}

// InvalidRow is a source row the rule cannot evaluate.
type InvalidRow struct {
	// PrimaryKey is the key formatted as ots.FormatPrimaryKey does.
	PrimaryKey string `json:"primaryKey"`
	// Error says why, naming the filter's columns and values.
	Error string `json:"error"`
}

// String is the one-line summary of the report: "100,000 source rows, 0 result rows:
// 50,000 missing, 0 extra, 0 differing; 50,000 written, 0 deleted; 50,000 rechecked, 0
// changed during sync; 0 invalid; 2.1 s". A dry run says what it would write.
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
type ConfigError struct{ Err error }

// Error returns the cause's message.
func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// configError formats a ConfigError.
func configError(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// Run syncs the result table of cfg.Function with the view of its source table, or, with
// DryRun, reports how it differs. It returns the report and, when the run failed, an error:
// a [*ConfigError] (before anything was written), a Tablestore failure (the report counts
// what was done until then; with a checkpoint, a new run resumes), or an error listing the
// keys that never settled or the rows the rule cannot evaluate when DEAD_LETTER_TABLE is
// unset. Without an error, the result table equalled the view when each key was checked (for
// a dry run: it did where the report counts no differences). Cancelling ctx stops the run,
// leaving the checkpoint at the last confirmed key.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	s, err := newSyncer(ctx, cfg, time.Now())
	if err != nil {
		return nil, err
	}
	runErr := s.run(ctx)
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
	cfg         Config
	started     time.Time
	rule        *transform.Rule
	readColumns []string               // what the rule reads of a source row; nil: every column
	schema      []ots.PrimaryKeySchema // the primary key of the source and the result table
	api         *sdk.TableStoreClient
	client      *tablestore.Client
	splits      *progress

	mu      sync.Mutex // guards what follows
	samples samples
}

// samples are the keys a report lists.
type samples struct {
	missing, extra, differing []Difference
	invalid                   []InvalidRow
	unsettled                 []string
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
	case cfg.MaxCheckpointAge < 0:
		return nil, configError("max checkpoint age %s: want a positive duration", cfg.MaxCheckpointAge)
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = DefaultParallel
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
		cfg:         cfg,
		started:     started,
		rule:        rule,
		readColumns: rule.ReadColumns(),
		api:         tableio.NewClient(fn.Endpoint, fn.Instance, cfg.Credentials),
		client:      client,
	}
	if err := s.checkTables(ctx); err != nil {
		return nil, err
	}
	if s.splits, err = s.loadOrSplit(ctx); err != nil {
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
	if err := s.rule.CheckPrimaryKey(source); err != nil {
		return configError("%s: %w", handler.EnvColumns, err)
	}
	s.schema = source
	if fn.DeadLetterTable == "" {
		return nil
	}
	letters, err := s.primaryKey(ctx, fn.DeadLetterTable)
	if err != nil {
		return err
	}
	want := []ots.PrimaryKeySchema{{Name: handler.DeadLetterPrimaryKey, Type: ots.KindString}}
	if !slices.Equal(letters, want) {
		return configError("the dead-letter table %q has the primary key (%s); it needs (%s)", fn.DeadLetterTable, ots.FormatSchema(letters), ots.FormatSchema(want))
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

// run syncs the splits, Parallel at a time, saving the checkpoint as they progress. The
// first error stops the others.
func (s *syncer) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopSaving := s.splits.saveEvery(ctx, checkpointInterval)
	todo := make(chan *split)
	errs := make(chan error, s.cfg.Parallel)
	var wg sync.WaitGroup
	for range s.cfg.Parallel {
		wg.Go(func() {
			for sp := range todo {
				if err := s.syncSplit(ctx, sp); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		})
	}
	for _, sp := range s.splits.pending() {
		select {
		case todo <- sp:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(todo)
	wg.Wait()
	saveErr := stopSaving()
	select {
	case err := <-errs:
		return err
	default:
	}
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if saveErr != nil {
		return saveErr
	}
	return s.splits.finish()
}

// report assembles the report from the splits' counts and the samples.
func (s *syncer) report() *Report {
	r := &Report{Counts: s.splits.total(), DryRun: s.cfg.DryRun, Splits: len(s.splits.all), ResumedSplits: s.splits.resumed,
		VerifiedFrom: s.splits.startedAt}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.MissingKeys, r.ExtraKeys, r.DifferingKeys = s.samples.missing, s.samples.extra, s.samples.differing
	r.InvalidRows, r.UnsettledKeys = s.samples.invalid, s.samples.unsettled
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

// limit is how many items of a list the report keeps: Show for the classes, at least
// minListed for invalid rows and unsettled keys.
func (s *syncer) limit(always bool) int {
	if always {
		return max(s.cfg.Show, minListed)
	}
	return s.cfg.Show
}
