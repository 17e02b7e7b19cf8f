// Package rangesync syncs one key range of the result table with the view of the source table
// (the rows that pass the function's filter, projected to its columns): it scans both tables
// of the range in primary key order, page by page, merge-joins them, decides each key with
// the function's own rule ([transform.Rule.Resolve]), fixes what differs with the function's
// writer ([tablestore.Client.Write]) and reads again the source rows it wrote until they
// settle. It is the engine of `otsetl sync`: run on a user's machine for each split (package
// reconcile), and by the deployed function for a task invocation (package task), the same
// code in both places. How, and why the result is correct beside the trigger:
// docs/design.md, "Sync".
package rangesync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

// Bounds of the engine.
const (
	// MaxAttempts bounds the writes of one key: after writing a key, the source row is read
	// again and, if it changed, the key is decided and written again, at most this many
	// times in all; a key still changing then is unsettled.
	MaxAttempts = 5
	// MinListed is how many invalid rows and unsettled keys a result lists at least.
	MinListed = 10
	// writeBatchRows is how many fixes one write round holds: one BatchWriteRow (Tablestore's
	// limit is 200 rows) and two BatchGetRows of the re-check.
	writeBatchRows = 200
	// roundTimeout bounds one round of writes and re-reads, whose retries of transient
	// failures stop before it (tablestore.Client's deadline handling): the trigger's limit on
	// an invocation, which the writer's settings are made for.
	roundTimeout = time.Minute
)

// Config is what the engine syncs, and how.
type Config struct {
	// Client reads the source and the result table and writes the result and the
	// dead-letter table.
	Client *tablestore.Client
	// Rule is the function's compiled rule (FILTER, COLUMNS).
	Rule *transform.Rule
	// SourceTable, ResultTable and DeadLetterTable are the function's tables
	// (DEAD_LETTER_TABLE may be empty: no dead letters).
	SourceTable, ResultTable, DeadLetterTable string
	// PrimaryKey is the primary key of the source and the result table.
	PrimaryKey []ots.PrimaryKeySchema
	// DryRun finds and counts the differences and writes nothing.
	DryRun bool
	// Show is how many keys of each class (missing, extra, differing) a result lists, with
	// what differs. Invalid rows and unsettled keys are listed up to max(Show, MinListed).
	Show int
}

// Range is a key range of the source table: from Lower (inclusive) to Upper (exclusive), each
// the leading columns of a primary key with INF_MIN after them (an empty Lower is the
// table's start, an empty Upper its end), and After, when set, the last key already done:
// the sync starts after it.
type Range struct {
	Lower, Upper, After []ots.PrimaryKeyColumn
}

// Options bound one sync of a range and report its progress.
type Options struct {
	// StopAt, when set, is when the sync takes no more keys: it writes and confirms the keys
	// it has decided, and returns with Done false. At least one key is decided whatever
	// StopAt, so that every sync makes progress.
	StopAt time.Time
	// OnAdvance, when set, is called as keys are confirmed, in key order, from one goroutine
	// at a time: every key up to and including after is done, and counts are what was found
	// and done for the keys since the previous call. An error it returns ends the sync with
	// it.
	OnAdvance func(after []ots.PrimaryKeyColumn, counts Counts) error
}

// Result is what one sync of a range did.
type Result struct {
	// Counts are what was found and done for the keys confirmed.
	Counts
	// After is the last key confirmed, the Range.After of the next sync of the range; the
	// Range.After given when none was.
	After []ots.PrimaryKeyColumn
	// Done is set when the range was synced to its end.
	Done bool
	// Samples are the keys listed.
	Samples
}

// Samples are the keys a result lists, each list up to its limit (Config.Show, or
// max(Show, MinListed)).
type Samples struct {
	MissingKeys   []Difference `json:"missingKeys,omitempty"`
	ExtraKeys     []Difference `json:"extraKeys,omitempty"`
	DifferingKeys []Difference `json:"differingKeys,omitempty"`
	InvalidRows   []InvalidRow `json:"invalidRows,omitempty"`
	UnsettledKeys []string     `json:"unsettledKeys,omitempty"`
}

// Merge appends o's keys to s, each list up to the limits of show (Config.Show).
func (s *Samples) Merge(o Samples, show int) {
	always := max(show, MinListed)
	s.MissingKeys = appendUpTo(s.MissingKeys, o.MissingKeys, show)
	s.ExtraKeys = appendUpTo(s.ExtraKeys, o.ExtraKeys, show)
	s.DifferingKeys = appendUpTo(s.DifferingKeys, o.DifferingKeys, show)
	s.InvalidRows = appendUpTo(s.InvalidRows, o.InvalidRows, always)
	s.UnsettledKeys = appendUpTo(s.UnsettledKeys, o.UnsettledKeys, always)
}

// appendUpTo appends the items of more to list while it holds fewer than limit.
func appendUpTo[T any](list, more []T, limit int) []T {
	return append(list, more[:max(0, min(len(more), limit-len(list)))]...)
}

// Counts is what a sync found and did. Every count is of primary keys or rows. Its Add and
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

// Check returns an error naming the first count below zero, by its JSON name: counts read
// from a file or an answer are 0 or more.
func (c Counts) Check() error {
	for _, count := range []struct {
		name  string
		value int64
	}{
		{"sourceRows", c.SourceRows}, {"resultRows", c.ResultRows}, {"missing", c.Missing}, {"extra", c.Extra},
		{"differing", c.Differing}, {"written", c.Written}, {"deleted", c.Deleted}, {"rechecked", c.Rechecked},
		{"changedDuringSync", c.ChangedDuringSync}, {"invalid", c.Invalid}, {"deadLettered", c.DeadLettered}, {"unsettled", c.Unsettled},
	} {
		if count.value < 0 {
			return fmt.Errorf("its count %s (%d) is negative", count.name, count.value)
		}
	}
	return nil
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

// Sync syncs the keys of r after r.After, up to r.Upper or until opts.StopAt, and returns
// what it did. Keys are confirmed in order: a key is confirmed once its fix (if any) was
// written and its source row read again and settled, and every key before it is. On error
// (a Tablestore failure after the writer's retries, ctx ended) the result counts the keys
// confirmed before it, up to its After; the keys after that are synced again by the next
// sync from After (every write is idempotent).
func Sync(ctx context.Context, cfg Config, r Range, opts Options) (Result, error) {
	switch {
	case cfg.Client == nil || cfg.Rule == nil:
		return Result{}, errors.New("rangesync: no client or no rule")
	case cfg.SourceTable == "" || cfg.ResultTable == "" || cfg.SourceTable == cfg.ResultTable:
		return Result{}, fmt.Errorf("rangesync: source table %q and result table %q: want two tables", cfg.SourceTable, cfg.ResultTable)
	case len(cfg.PrimaryKey) == 0:
		return Result{}, errors.New("rangesync: no primary key schema")
	}
	s := &syncer{cfg: cfg, opts: opts, readColumns: cfg.Rule.ReadColumns(), after: r.After}
	s.result.After = r.After
	err := s.syncRange(ctx, r)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.result, err
}

// syncer is one sync of a range.
type syncer struct {
	cfg         Config
	opts        Options
	readColumns []string // what the rule reads of a source row; nil: every column
	after       []ots.PrimaryKeyColumn

	mu     sync.Mutex // guards result
	result Result
}

// advance records that every key up to and including last is done, with counts of what was
// found and done since the last advance.
func (s *syncer) advance(last []ots.PrimaryKeyColumn, counts Counts) error {
	s.mu.Lock()
	s.result.After = last
	s.result.Counts.Add(counts)
	s.mu.Unlock()
	if s.opts.OnAdvance != nil {
		return s.opts.OnAdvance(last, counts)
	}
	return nil
}

// limit is how many items of a list a result keeps: Show for the classes, at least
// MinListed for invalid rows and unsettled keys.
func (s *syncer) limit(always bool) int {
	if always {
		return max(s.cfg.Show, MinListed)
	}
	return s.cfg.Show
}

// Scanned is the number of source rows scanned, the measure of a sync's progress.
func (c Counts) Scanned() int64 { return c.SourceRows }
