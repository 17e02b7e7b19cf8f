package reconcile

import (
	"context"
	"fmt"
	"slices"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tables"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

// scannedRow is one row of a scan: its primary key, its attribute columns sorted by name and,
// for source rows, their versions (ms), index-aligned.
type scannedRow struct {
	key        []ots.PrimaryKeyColumn
	cells      []ots.Cell
	timestamps []int64
}

// rowState is a source row as one read saw it, what a decision rests on: whether it
// exists (holds a column the rule reads) and its cells with their versions.
type rowState struct {
	found      bool
	cells      []ots.Cell
	timestamps []int64
}

// equal reports whether a and b saw the same row: the same columns, values (kind and
// value) and versions.
func (a rowState) equal(b rowState) bool {
	return a.found == b.found && slices.Equal(a.timestamps, b.timestamps) && sameCells(a.cells, b.cells)
}

// sameCells reports whether two rows' cells, sorted by name, hold the same columns with
// the same kinds and values.
func sameCells(a, b []ots.Cell) bool {
	return slices.EqualFunc(a, b, func(x, y ots.Cell) bool { return x.Name == y.Name && x.Value.Equal(y.Value) })
}

// syncSplit merge-joins the source and result rows of sp, fixing the result as it goes,
// and records its progress after every confirmed key.
func (s *syncer) syncSplit(ctx context.Context, sp *split) error {
	start, after, err := s.splits.start(sp)
	if err != nil {
		return err
	}
	end, err := sdkKey(sp.upper)
	if err != nil {
		return err
	}
	fn := s.cfg.Function
	source := s.scan(ctx, tables.Range{Table: fn.SourceTable, Start: start, End: end, Columns: s.readColumns}, after, true)
	defer source.stop()
	result := s.scan(ctx, tables.Range{Table: fn.ResultTable, Start: start, End: end}, after, false)
	defer result.stop()

	w := &worker{syncer: s, split: sp}
	for {
		src, err := source.peek()
		if err != nil {
			return err
		}
		res, err := result.peek()
		if err != nil {
			return err
		}
		var order int
		switch {
		case src == nil && res == nil:
			if err := w.flush(ctx); err != nil {
				return err
			}
			s.splits.finishSplit(sp, w.counts)
			return nil
		case res == nil:
			order = -1
		case src == nil:
			order = 1
		default:
			order = ots.ComparePrimaryKeys(src.key, res.key)
		}
		if order > 0 {
			src = nil
		} else {
			source.next()
		}
		if order < 0 {
			res = nil
		} else {
			result.next()
		}
		w.decide(src, res)
		switch {
		case len(w.batch) >= writeBatchRows || len(w.letters) >= writeBatchRows:
			if err := w.flush(ctx); err != nil {
				return err
			}
		case len(w.batch) == 0 && len(w.letters) == 0:
			w.commit()
		}
	}
}

// worker syncs one split: it decides each key and fixes the result in rounds.
type worker struct {
	*syncer
	split *split
	// last is the last key decided.
	last []ots.PrimaryKeyColumn
	// counts are what was found and done since the split's progress last advanced.
	counts Counts
	// batch holds the fixes not yet confirmed, letters the dead letters not yet written.
	batch   []fix
	letters []transform.Mutation
}

// fix is one key to write and the source read its decision rests on.
type fix struct {
	write transform.Mutation // a put of the view, or a delete; PrimaryKey is the key
	state rowState
}

// decide compares the view of src with res, one key's rows (either may be nil), counts and
// lists the difference, and queues its fix.
func (w *worker) decide(src, res *scannedRow) {
	var state rowState
	key := res.keyOr(src)
	if src != nil {
		w.counts.SourceRows++
		state = rowState{found: true, cells: src.cells, timestamps: src.timestamps}
	}
	if res != nil {
		w.counts.ResultRows++
	}
	w.last = key
	want := w.view(key, state)
	var have []ots.Cell
	if res != nil {
		have = res.cells
	}
	switch {
	case want.Kind == transform.MutationDelete && res == nil:
		return
	case want.Kind == transform.MutationDelete:
		w.counts.Extra++
		w.sample(&w.samples.extra, key, have, nil, false)
	case res == nil:
		w.counts.Missing++
		w.sample(&w.samples.missing, key, nil, want.Columns, false)
	case sameCells(want.Columns, have):
		return
	default:
		w.counts.Differing++
		w.sample(&w.samples.differing, key, have, want.Columns, true)
	}
	if !w.cfg.DryRun {
		w.batch = append(w.batch, fix{write: want, state: state})
	}
}

// keyOr returns the key of r, or of other when r is nil.
func (r *scannedRow) keyOr(other *scannedRow) []ots.PrimaryKeyColumn {
	if r == nil {
		return other.key
	}
	return r.key
}

// view is the function's decision for key on a source row read as state: a put of the
// projected row, or a delete. A row the rule cannot evaluate is not in the view (a delete);
// it is counted, listed and, with a dead-letter table, queued as a dead letter.
func (w *worker) view(key []ots.PrimaryKeyColumn, state rowState) transform.Mutation {
	m, err := w.rule.Resolve(transform.Mutation{Kind: transform.MutationReadSource, PrimaryKey: key}, state.cells, state.found)
	if err != nil {
		w.invalid(key, state, err)
	}
	return m
}

// invalid counts and lists a source row the rule cannot evaluate, and queues its dead
// letter: the row as the PutRow record that would write it, which is what the function
// dead-letters for a record.
func (w *worker) invalid(key []ots.PrimaryKeyColumn, state rowState, err error) {
	w.counts.Invalid++
	reason := err.Error()
	if !w.cfg.DryRun && w.cfg.Function.DeadLetterTable != "" {
		rec := events.Record{Type: events.PutRow, PrimaryKey: key, Columns: make([]events.Column, len(state.cells))}
		for i, c := range state.cells {
			timestamp := state.timestamps[i]
			rec.Columns[i] = events.Column{Type: events.Put, ColumnName: c.Name, Value: c.Value, Timestamp: &timestamp}
		}
		letter, letterErr := handler.DeadLetter(&rec, fmt.Sprintf("sync: row (%s): %v", ots.FormatPrimaryKey(key), err), w.cfg.Function.SourceTable, time.Now())
		if letterErr == nil {
			w.letters = append(w.letters, letter)
		} else {
			// Only a NaN or infinite DOUBLE cannot be rendered, and Tablestore stores none.
			reason += "; not dead-lettered: " + letterErr.Error()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.samples.invalid) < w.limit(true) {
		w.samples.invalid = append(w.samples.invalid, InvalidRow{PrimaryKey: ots.FormatPrimaryKey(key), Error: reason})
	}
}

// sample lists one difference, up to the report's limit. onlyDiffering keeps the columns
// whose values differ; otherwise every column of have and want is listed.
func (w *worker) sample(list *[]Difference, key []ots.PrimaryKeyColumn, have, want []ots.Cell, onlyDiffering bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(*list) >= w.limit(false) {
		return
	}
	d := Difference{PrimaryKey: ots.FormatPrimaryKey(key)}
	i, j := 0, 0
	for i < len(have) || j < len(want) {
		var c ColumnDifference
		switch {
		case j == len(want) || (i < len(have) && have[i].Name < want[j].Name):
			c = ColumnDifference{Column: have[i].Name, Have: describe(have[i].Value)}
			i++
		case i == len(have) || want[j].Name < have[i].Name:
			c = ColumnDifference{Column: want[j].Name, Want: describe(want[j].Value)}
			j++
		default:
			c = ColumnDifference{Column: have[i].Name, Have: describe(have[i].Value), Want: describe(want[j].Value)}
			same := have[i].Value.Equal(want[j].Value)
			i, j = i+1, j+1
			if same && onlyDiffering {
				continue
			}
		}
		d.Columns = append(d.Columns, c)
	}
	*list = append(*list, d)
}

// describe formats a value with its kind: `INTEGER 3`, `STRING "x"`, cut to 64 bytes.
func describe(v ots.Value) string {
	return v.Kind().String() + " " + v.Brief()
}

// commit records that every key up to the last one decided is done.
func (w *worker) commit() {
	if w.last == nil {
		return
	}
	w.splits.advance(w.split, w.last, w.counts)
	w.counts = Counts{}
}

// flush writes the queued dead letters and fixes and confirms the fixes (see recheck), then
// commits.
func (w *worker) flush(ctx context.Context) error {
	if err := w.writeLetters(ctx); err != nil {
		return err
	}
	fixes := w.batch
	for attempt := 1; len(fixes) > 0; attempt++ {
		if attempt > MaxAttempts {
			w.unsettled(fixes)
			break
		}
		var err error
		if fixes, err = w.round(ctx, fixes); err != nil {
			return err
		}
		if err := w.writeLetters(ctx); err != nil {
			return err
		}
	}
	w.batch = w.batch[:0]
	w.commit()
	return nil
}

// round writes fixes to the result table, then reads their source rows again and returns
// the keys to write again: those whose row changed since the read their fix rests on
// (cells or versions), decided again, when the new decision differs from what was written.
// A key whose row is unchanged, or whose view did not change, is settled: the result holds
// the view of the row as it is after the write, and every later change of it reaches the
// trigger after the write (docs/design.md, "Sync").
func (w *worker) round(ctx context.Context, fixes []fix) ([]fix, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	writes := make([]transform.Mutation, len(fixes))
	keys := make([][]ots.PrimaryKeyColumn, len(fixes))
	for i, f := range fixes {
		writes[i], keys[i] = f.write, f.write.PrimaryKey
	}
	fn := w.cfg.Function
	stats, err := w.client.Write(ctx, fn.ResultTable, writes)
	w.counts.Written += int64(stats.Puts)
	w.counts.Deleted += int64(stats.Deletes)
	if err != nil {
		return nil, fmt.Errorf("writing the result table: %w", err)
	}
	rows, _, err := w.client.Read(ctx, fn.SourceTable, keys, w.readColumns)
	if err != nil {
		return nil, fmt.Errorf("reading the source rows written: %w", err)
	}
	w.counts.Rechecked += int64(len(fixes))
	var again []fix
	for i, f := range fixes {
		now := stateOf(rows[i])
		if f.state.equal(now) {
			continue
		}
		w.counts.ChangedDuringSync++
		want := w.view(keys[i], now)
		if !sameWrite(want, f.write) {
			again = append(again, fix{write: want, state: now})
		}
	}
	return again, nil
}

// stateOf is the state of a source row read by primary key.
func stateOf(row tablestore.Row) rowState {
	return rowState{found: row.Found, cells: row.Columns, timestamps: row.Timestamps}
}

// sameWrite reports whether two decisions write the same: both deletes, or puts of the
// same cells.
func sameWrite(a, b transform.Mutation) bool {
	return a.Kind == b.Kind && (a.Kind != transform.MutationPut || sameCells(a.Columns, b.Columns))
}

// unsettled counts and lists the keys still changing after MaxAttempts writes.
func (w *worker) unsettled(fixes []fix) {
	w.counts.Unsettled += int64(len(fixes))
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range fixes {
		if len(w.samples.unsettled) < w.limit(true) {
			w.samples.unsettled = append(w.samples.unsettled, ots.FormatPrimaryKey(f.write.PrimaryKey))
		}
	}
}

// writeLetters writes the queued dead letters, one per distinct letter.
func (w *worker) writeLetters(ctx context.Context) error {
	if len(w.letters) == 0 {
		return nil
	}
	letters := slices.CompactFunc(slices.SortedFunc(slices.Values(w.letters), func(a, b transform.Mutation) int {
		return ots.ComparePrimaryKeys(a.PrimaryKey, b.PrimaryKey)
	}), func(a, b transform.Mutation) bool { return ots.ComparePrimaryKeys(a.PrimaryKey, b.PrimaryKey) == 0 })
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	stats, err := w.client.Write(ctx, w.cfg.Function.DeadLetterTable, letters)
	w.counts.DeadLettered += int64(stats.Puts)
	if err != nil {
		return fmt.Errorf("writing dead letters: %w", err)
	}
	w.letters = w.letters[:0]
	return nil
}

// cursor reads one scan's rows a page ahead of the merge: a goroutine runs the scan and
// hands over converted pages.
type cursor struct {
	pages  chan scanPage
	cancel context.CancelFunc
	done   chan struct{}
	rows   []scannedRow
	at     int
	err    error
	ended  bool
}

// scanPage is one page of a scan, or the error that ended it.
type scanPage struct {
	rows []scannedRow
	err  error
}

// scan starts reading r, skipping the rows up to and including after (when set), with
// the versions of the cells when timestamps is set.
func (s *syncer) scan(ctx context.Context, r tables.Range, after []ots.PrimaryKeyColumn, timestamps bool) *cursor {
	ctx, cancel := context.WithCancel(ctx)
	c := &cursor{pages: make(chan scanPage, 1), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.pages)
		err := tables.ScanRange(ctx, s.api, r, func(rows []*sdk.Row) error {
			page := make([]scannedRow, 0, len(rows))
			for _, row := range rows {
				converted, err := tables.RowOf(row)
				if err != nil {
					return fmt.Errorf("tables: GetRange on table %q: %w", r.Table, err)
				}
				if after != nil && ots.ComparePrimaryKeys(converted.PrimaryKey, after) <= 0 {
					continue
				}
				scanned := scannedRow{key: converted.PrimaryKey, cells: converted.Columns}
				if timestamps {
					scanned.timestamps = ots.TimestampsFromSDK(row.Columns)
				}
				page = append(page, scanned)
			}
			select {
			case c.pages <- scanPage{rows: page}:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		if err != nil {
			select {
			case c.pages <- scanPage{err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return c
}

// peek returns the current row, nil at the end of the scan, or the error that ended it.
func (c *cursor) peek() (*scannedRow, error) {
	for c.at >= len(c.rows) {
		if c.ended {
			return nil, c.err
		}
		page, ok := <-c.pages
		switch {
		case !ok:
			c.ended = true
		case page.err != nil:
			c.ended, c.err = true, page.err
		default:
			c.rows, c.at = page.rows, 0
		}
	}
	return &c.rows[c.at], nil
}

// next moves past the current row.
func (c *cursor) next() { c.at++ }

// stop ends the scan and waits for its goroutine.
func (c *cursor) stop() {
	c.cancel()
	<-c.done
}
