package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// checkpointVersion is the layout version of checkpoint files.
const checkpointVersion = 1

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

// keyColumn is one column of a key or a key prefix, in the checkpoint file's form.
type keyColumn struct {
	Name string `json:"name"`
	// Type is INTEGER, STRING or BINARY.
	Type string `json:"type"`
	// Value is the value's text ([ots.Value.Text]): an INTEGER in decimal, a STRING as it
	// is, a BINARY in hexadecimal.
	Value string `json:"value"`
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

// keyColumnsOf converts a key or a key prefix for the checkpoint file.
func keyColumnsOf(key []ots.PrimaryKeyColumn) []keyColumn {
	columns := make([]keyColumn, len(key))
	for i, col := range key {
		columns[i] = keyColumn{Name: col.ColumnName, Type: col.Value.Kind().String(), Value: col.Value.Text()}
	}
	return columns
}

// keyOf converts a key or a key prefix of the checkpoint file.
func keyOf(columns []keyColumn) ([]ots.PrimaryKeyColumn, error) {
	key := make([]ots.PrimaryKeyColumn, len(columns))
	for i, c := range columns {
		kind, ok := ots.KindNamed(c.Type)
		if !ok || kind.String() != c.Type || !kind.IsPrimaryKeyKind() {
			return nil, fmt.Errorf("column %q: type %q, want INTEGER, STRING or BINARY", c.Name, c.Type)
		}
		v, err := ots.ParseText(kind, c.Value)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		if v.Text() != c.Value {
			return nil, fmt.Errorf("column %q: %s %q is not written as a checkpoint writes it (%q)", c.Name, c.Type, c.Value, v.Text())
		}
		key[i] = ots.PrimaryKeyColumn{ColumnName: c.Name, Value: v}
	}
	return key, nil
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
	all      []*split
	resumed  int // splits a checkpoint had started or finished

	onProgress func(scanned, estimate int64)

	mu           sync.Mutex // guards the splits' progress and what follows
	dirty        bool       // changed since the last save
	lastReported time.Time
}

// identity is what a checkpoint is a checkpoint of: a run resumes only a checkpoint of the
// same tables and rule.
type identity struct {
	Instance        string   `json:"instance"`
	SourceTable     string   `json:"sourceTable"`
	ResultTable     string   `json:"resultTable"`
	DeadLetterTable string   `json:"deadLetterTable,omitempty"`
	Filter          string   `json:"filter"`
	Columns         []string `json:"columns,omitempty"`
}

// checkpointFile is the checkpoint's JSON layout.
type checkpointFile struct {
	Version int               `json:"version"`
	Sync    identity          `json:"sync"`
	Splits  []checkpointSplit `json:"splits"`
}

// checkpointSplit is one split's progress in the file.
type checkpointSplit struct {
	Lower  []keyColumn `json:"lower"`
	Upper  []keyColumn `json:"upper"`
	After  []keyColumn `json:"after,omitempty"`
	Done   bool        `json:"done,omitempty"`
	Counts Counts      `json:"counts"`
}

// loadOrSplit resumes the checkpoint file when there is one, and computes the splits
// otherwise.
func (s *syncer) loadOrSplit(ctx context.Context) (*progress, error) {
	fn := s.cfg.Function
	p := &progress{
		path: s.cfg.Checkpoint,
		identity: identity{Instance: fn.Instance, SourceTable: fn.SourceTable, ResultTable: fn.ResultTable, DeadLetterTable: fn.DeadLetterTable,
			Filter: cmp.Or(fn.Rule.Filter, transform.DefaultFilter), Columns: fn.Rule.Columns},
		onProgress: s.cfg.OnProgress,
	}
	if p.path != "" {
		found, err := p.load()
		if err != nil {
			return nil, err
		}
		if found {
			return p, nil
		}
	}
	splits, err := s.computeSplits(ctx)
	if err != nil {
		return nil, err
	}
	p.all = splits
	if p.path != "" {
		if err := p.save(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// load reads the checkpoint file, reporting false when there is none.
func (p *progress) load() (bool, error) {
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, configError("checkpoint: %w", err)
	}
	var file checkpointFile
	if err := json.Unmarshal(data, &file); err != nil {
		return false, configError("checkpoint %s is not a sync checkpoint: %w", p.path, err)
	}
	if file.Version != checkpointVersion {
		return false, configError("checkpoint %s has version %d; this otsetl writes version %d", p.path, file.Version, checkpointVersion)
	}
	if !sameIdentity(file.Sync, p.identity) {
		return false, configError("checkpoint %s is of another sync (%s); this one is %s: remove the file or give another",
			p.path, file.Sync, p.identity)
	}
	if len(file.Splits) == 0 {
		return false, configError("checkpoint %s holds no splits", p.path)
	}
	for i, fs := range file.Splits {
		sp := &split{done: fs.Done, counts: fs.Counts}
		if sp.lower, err = keyOf(fs.Lower); err == nil {
			sp.upper, err = keyOf(fs.Upper)
		}
		if err == nil && fs.After != nil {
			sp.after, err = keyOf(fs.After)
		}
		if err != nil {
			return false, configError("checkpoint %s, split %d: %w", p.path, i, err)
		}
		if sp.done || sp.after != nil {
			p.resumed++
		}
		p.all = append(p.all, sp)
	}
	return true, nil
}

// sameIdentity reports whether a and b are of the same sync; nil and empty Columns are the
// same.
func sameIdentity(a, b identity) bool {
	return a.Instance == b.Instance && a.SourceTable == b.SourceTable && a.ResultTable == b.ResultTable &&
		a.DeadLetterTable == b.DeadLetterTable && a.Filter == b.Filter && slices.Equal(a.Columns, b.Columns)
}

// String describes the sync an identity is of.
func (id identity) String() string {
	return fmt.Sprintf("instance %s, %s -> %s, filter %q, columns %q, dead letters %q",
		id.Instance, id.SourceTable, id.ResultTable, id.Filter, id.Columns, id.DeadLetterTable)
}

// tempSuffix names the file a checkpoint is written to before it is renamed over the
// checkpoint.
const tempSuffix = ".tmp"

// save writes the checkpoint file atomically: the file with tempSuffix in the same folder,
// synced, then renamed over the checkpoint, so that a run killed at any moment leaves the
// old or the new checkpoint, whole (and at most a temporary file the next save replaces).
func (p *progress) save() error {
	p.mu.Lock()
	file := checkpointFile{Version: checkpointVersion, Sync: p.identity, Splits: make([]checkpointSplit, len(p.all))}
	for i, sp := range p.all {
		file.Splits[i] = checkpointSplit{Lower: keyColumnsOf(sp.lower), Upper: keyColumnsOf(sp.upper), Done: sp.done, Counts: sp.counts}
		if sp.after != nil {
			file.Splits[i].After = keyColumnsOf(sp.after)
		}
	}
	p.dirty = false
	p.mu.Unlock()
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp, err := os.Create(p.path + tempSuffix)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p.path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// saveEvery saves the checkpoint every interval while it changes, until the returned
// function is called; that saves it a last time and returns the first error of a save.
// Without a checkpoint file it does nothing.
func (p *progress) saveEvery(ctx context.Context, interval time.Duration) func() error {
	if p.path == "" {
		return func() error { return nil }
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var saveErr error
	wg.Go(func() {
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			p.mu.Lock()
			dirty := p.dirty
			p.mu.Unlock()
			if dirty && saveErr == nil {
				saveErr = p.save()
			}
		}
	})
	return func() error {
		close(stop)
		wg.Wait()
		if err := p.save(); saveErr == nil {
			saveErr = err
		}
		return saveErr
	}
}

// finish removes the checkpoint file once every split is done: a new run with the same
// file starts afresh.
func (p *progress) finish() error {
	if p.path == "" {
		return nil
	}
	for _, path := range []string{p.path, p.path + tempSuffix} {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
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
