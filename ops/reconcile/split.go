package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/ots"
)

// checkpointInterval is how often a run saves its checkpoint while it changes: a run stopped
// by SIGKILL redoes at most this much work (idempotently) when it resumes.
const checkpointInterval = 250 * time.Millisecond

// progressInterval is how often OnProgress is called at most.
const progressInterval = 100 * time.Millisecond

// split is one primary key range of the source table, from lower (inclusive) to upper
// (exclusive), each the leading columns of a primary key with INF_MIN after them (the form
// of ComputeSplitPointsBySize's split points and of tables.Range); an empty lower is the
// table's start and an empty upper its end. Its mutable fields are guarded by the progress
// that holds it.
type split struct {
	lower, upper []ots.PrimaryKeyColumn
	// after is the last key whose every fix was confirmed; keys up to and including it are
	// done. Nil: none yet.
	after []ots.PrimaryKeyColumn
	done  bool
	// counts are what was found and done for the keys up to after.
	counts Counts
}

// prefixOfSDK converts a split bound the SDK decoded: leading columns with values, then
// only INF_MIN (or, for the end of the last split, only INF_MAX), into the leading columns.
func prefixOfSDK(pk *sdk.PrimaryKey) ([]ots.PrimaryKeyColumn, error) {
	if pk == nil || len(pk.PrimaryKeys) == 0 {
		return nil, errors.New("a split without a bound")
	}
	var prefix []ots.PrimaryKeyColumn
	infinite := sdk.NONE
	for _, col := range pk.PrimaryKeys {
		switch {
		case col.PrimaryKeyOption == sdk.MIN || col.PrimaryKeyOption == sdk.MAX:
			if infinite != sdk.NONE && infinite != col.PrimaryKeyOption {
				return nil, fmt.Errorf("split bound (%v): INF_MIN and INF_MAX together", pk)
			}
			infinite = col.PrimaryKeyOption
		case infinite != sdk.NONE:
			return nil, fmt.Errorf("split bound (%v): a value after an infinite column", pk)
		default:
			v, err := ots.ValueOf(col.Value)
			if err != nil {
				return nil, fmt.Errorf("split bound column %q: %w", col.ColumnName, err)
			}
			prefix = append(prefix, ots.PrimaryKeyColumn{ColumnName: col.ColumnName, Value: v})
		}
	}
	if infinite == sdk.MAX && len(prefix) > 0 {
		return nil, fmt.Errorf("split bound (%v): INF_MAX after a value", pk)
	}
	return prefix, nil
}

// computeSplits asks the source table's splits of splitSizeUnit each.
func (s *syncer) computeSplits(ctx context.Context) ([]*split, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	table := s.cfg.Function.SourceTable
	unit, limit := int64(splitSizeUnit), int32(maxSplitPoints)
	resp, err := ots.CallSDK(func() (*sdk.ComputeSplitPointsBySizeResponse, error) {
		return s.api.ComputeSplitPointsBySize(&sdk.ComputeSplitPointsBySizeRequest{
			TableName: table, SplitSize: 1, SplitSizeUnitInByte: &unit, SplitPointLimit: &limit,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("ComputeSplitPointsBySize on table %q: %w", table, err)
	}
	splits := make([]*split, len(resp.Splits))
	for i, sp := range resp.Splits {
		lower, err := prefixOfSDK(sp.LowerBound)
		if err != nil {
			return nil, fmt.Errorf("ComputeSplitPointsBySize on table %q: %w", table, err)
		}
		upper, err := prefixOfSDK(sp.UpperBound)
		if err != nil {
			return nil, fmt.Errorf("ComputeSplitPointsBySize on table %q: %w", table, err)
		}
		splits[i] = &split{lower: lower, upper: upper}
	}
	if len(splits) == 0 {
		return nil, fmt.Errorf("ComputeSplitPointsBySize on table %q: no splits", table)
	}
	return splits, nil
}

// progress holds a run's splits and their progress, and keeps the checkpoint file.
type progress struct {
	path     string // the checkpoint file; empty: none
	identity identity
	// startedAt is when the run that began the checkpoint started (this run's start without
	// one): every key was verified after it.
	startedAt time.Time
	all       []*split
	resumed   int // splits a checkpoint had started or finished

	onProgress func(scanned, estimate int64)

	mu           sync.Mutex // guards the splits' progress and what follows
	dirty        bool       // changed since the last save
	lastReported time.Time
}

// pending returns the splits not done yet.
func (p *progress) pending() []*split {
	p.mu.Lock()
	defer p.mu.Unlock()
	var todo []*split
	for _, sp := range p.all {
		if !sp.done {
			todo = append(todo, sp)
		}
	}
	return todo
}

// start returns where sp's scan starts: its lower bound, or its last done key (which the
// scan skips) when sp was started before.
func (p *progress) start(sp *split) (start, after []ots.PrimaryKeyColumn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if sp.after != nil {
		return sp.after, sp.after
	}
	return sp.lower, nil
}

// advance records that every key of sp up to and including last is done, with counts of
// what was found and done since the last advance.
func (p *progress) advance(sp *split, last []ots.PrimaryKeyColumn, counts Counts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp.after = last
	sp.counts.Add(counts)
	p.dirty = true
	p.report(false)
}

// finishSplit records that sp is done.
func (p *progress) finishSplit(sp *split, counts Counts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sp.counts.Add(counts)
	sp.done, sp.after = true, nil
	p.dirty = true
	p.report(true)
}

// total is the counts of every split.
func (p *progress) total() Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var c Counts
	for _, sp := range p.all {
		c.Add(sp.counts)
	}
	return c
}

// report calls onProgress, at most every progressInterval unless now is set. The caller
// holds p.mu, so calls do not overlap.
func (p *progress) report(now bool) {
	if p.onProgress == nil || (!now && time.Since(p.lastReported) < progressInterval) {
		return
	}
	p.lastReported = time.Now()
	var scanned, doneRows int64
	done := 0
	for _, sp := range p.all {
		scanned += sp.counts.SourceRows
		if sp.done {
			done++
			doneRows += sp.counts.SourceRows
		}
	}
	estimate := int64(-1)
	switch {
	case done == len(p.all):
		estimate = scanned
	case done > 0:
		estimate = max(scanned, doneRows*int64(len(p.all))/int64(done))
	}
	p.onProgress(scanned, estimate)
}
