package rangesync

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/otsetl/otsetl/deadletter"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/keyrange"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
)

// scannedRow is one row of a scan: its primary key, its attribute columns sorted by name and
// their versions (ms), index-aligned.
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

// syncRange merge-joins the source and result rows of r after r.After, fixing the result as
// it goes, and records its progress after every confirmed key.
func (s *syncer) syncRange(ctx context.Context, r Range) error {
	start := r.Lower
	if r.After != nil {
		start = r.After
	}
	source := s.scan(ctx, s.cfg.SourceTable, keyrange.Range{Start: start, End: r.Upper, Columns: s.readColumns}, r.After)
	defer source.stop()
	result := s.scan(ctx, s.cfg.ResultTable, keyrange.Range{Start: start, End: r.Upper}, r.After)
	defer result.stop()

	w := &worker{syncer: s, batch: &batch{}}
	defer w.wait()
	for decided := false; ; decided = true {
		if decided && !s.opts.StopAt.IsZero() && time.Now().After(s.opts.StopAt) {
			return w.drain(ctx)
		}
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
			if err := w.drain(ctx); err != nil {
				return err
			}
			s.mu.Lock()
			s.result.Done = true
			s.mu.Unlock()
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
		if err := w.progress(ctx); err != nil {
			return err
		}
	}
}

// maxBatchesInFlight is how many batches of one range are written and re-checked at a time,
// so that the range's scan and decisions go on while its fixes are on their way.
const maxBatchesInFlight = 2

// worker syncs one range: it decides each key into a batch, and writes and re-checks the
// batches, up to maxBatchesInFlight at a time, recording the range's progress in key order
// as they are confirmed.
type worker struct {
	*syncer
	// batch is the batch being filled; inFlight the batches being written, oldest first.
	batch    *batch
	inFlight []*batch
}

// batch is a run of consecutive keys of a range: the fixes and dead letters they need, and
// what was found and done for them.
type batch struct {
	fixes   []fix
	letters []ots.RowChange
	counts  Counts
	// last is the batch's last key.
	last []ots.PrimaryKeyColumn
	// done is closed when the batch's writes are confirmed, or err is set.
	done chan struct{}
	err  error
}

// fix is one key to write and the source read its decision rests on.
type fix struct {
	write ots.RowChange // a put of the view, or a delete; PrimaryKey is the key
	state rowState
}

// decide compares the view of src with res, one key's rows (either may be nil), counts and
// lists the difference, and queues its fix in the batch.
func (w *worker) decide(src, res *scannedRow) {
	b := w.batch
	var state rowState
	key := res.keyOr(src)
	if src != nil {
		b.counts.SourceRows++
		state = rowState{found: true, cells: src.cells, timestamps: src.timestamps}
	}
	if res != nil {
		b.counts.ResultRows++
	}
	b.last = key
	want := w.view(b, key, state)
	var have []ots.Cell
	if res != nil {
		have = res.cells
	}
	switch {
	case want.Kind == ots.DeleteRow && res == nil:
		return
	case want.Kind == ots.DeleteRow:
		b.counts.Extra++
		w.sample(&w.result.ExtraKeys, key, have, nil, false)
	case res == nil:
		b.counts.Missing++
		w.sample(&w.result.MissingKeys, key, nil, want.Columns, false)
	case sameCells(want.Columns, have):
		return
	default:
		b.counts.Differing++
		w.sample(&w.result.DifferingKeys, key, have, want.Columns, true)
	}
	if !w.cfg.DryRun {
		b.fixes = append(b.fixes, fix{write: want, state: state})
	}
}

// progress starts the batch once it is full; a batch that needs no writes is recorded at
// once when no batch before it is in flight. It records the batches confirmed so far, and
// waits for the oldest when maxBatchesInFlight are in flight.
func (w *worker) progress(ctx context.Context) error {
	b := w.batch
	switch {
	case len(b.fixes) >= writeBatchRows || len(b.letters) >= writeBatchRows:
		w.start(ctx)
	case len(b.fixes) == 0 && len(b.letters) == 0 && len(w.inFlight) == 0:
		err := w.advance(b.last, b.counts)
		b.counts, b.last = Counts{}, nil
		return err
	}
	return w.record(len(w.inFlight) >= maxBatchesInFlight)
}

// start writes and confirms the batch in a goroutine of its own, and begins a new one.
func (w *worker) start(ctx context.Context) {
	b := w.batch
	b.done = make(chan struct{})
	w.inFlight = append(w.inFlight, b)
	w.batch = &batch{}
	go func() {
		defer close(b.done)
		b.err = w.flush(ctx, b)
	}()
}

// record records the range's progress up to each confirmed batch, oldest first: it waits
// for the oldest batch when wait is set, and stops at the first one not done otherwise.
func (w *worker) record(wait bool) error {
	for len(w.inFlight) > 0 {
		oldest := w.inFlight[0]
		if !wait {
			select {
			case <-oldest.done:
			default:
				return nil
			}
		}
		<-oldest.done
		if oldest.err != nil {
			return oldest.err
		}
		if err := w.advance(oldest.last, oldest.counts); err != nil {
			return err
		}
		w.inFlight = w.inFlight[1:]
		wait = false
	}
	return nil
}

// drain writes the batch being filled and waits for every batch, recording the progress up
// to the last key decided.
func (w *worker) drain(ctx context.Context) error {
	if len(w.batch.fixes) > 0 || len(w.batch.letters) > 0 {
		w.start(ctx)
	}
	for len(w.inFlight) > 0 {
		if err := w.record(true); err != nil {
			return err
		}
	}
	if w.batch.last == nil {
		return nil
	}
	last, counts := w.batch.last, w.batch.counts
	w.batch = &batch{}
	return w.advance(last, counts)
}

// wait waits for the batches in flight, when the range stops early.
func (w *worker) wait() {
	for _, b := range w.inFlight {
		<-b.done
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
// it is counted in b, listed and, with a dead-letter table, queued in b as a dead letter.
func (s *syncer) view(b *batch, key []ots.PrimaryKeyColumn, state rowState) ots.RowChange {
	change, err := s.cfg.Rule.Resolve(key, state.cells, state.found)
	if err != nil {
		s.invalid(b, key, state, err)
	}
	return change
}

// invalid counts and lists a source row the rule cannot evaluate, and queues its dead
// letter: the row as the PutRow record that would write it, which is what the function
// dead-letters for a record.
func (s *syncer) invalid(b *batch, key []ots.PrimaryKeyColumn, state rowState, err error) {
	b.counts.Invalid++
	reason := err.Error()
	if !s.cfg.DryRun && s.cfg.DeadLetterTable != "" {
		rec := events.Record{Type: events.PutRow, PrimaryKey: key, Columns: make([]events.Column, len(state.cells))}
		for i, c := range state.cells {
			timestamp := state.timestamps[i]
			rec.Columns[i] = events.Column{Type: events.Put, ColumnName: c.Name, Value: c.Value, Timestamp: &timestamp}
		}
		b.letters = append(b.letters, deadletter.Row(&rec, fmt.Sprintf("sync: row (%s): %v", ots.FormatPrimaryKey(key), err), s.cfg.SourceTable, time.Now()))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.result.InvalidRows) < s.limit(true) {
		s.result.InvalidRows = append(s.result.InvalidRows, InvalidRow{PrimaryKey: ots.FormatPrimaryKey(key), Error: reason})
	}
}

// sample lists one difference, up to the report's limit. onlyDiffering keeps the columns
// whose values differ; otherwise every column of have and want is listed.
func (s *syncer) sample(list *[]Difference, key []ots.PrimaryKeyColumn, have, want []ots.Cell, onlyDiffering bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(*list) >= s.limit(false) {
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

// flush writes b's dead letters and fixes and confirms the fixes (see round), at most
// MaxAttempts rounds; the keys still changing then are unsettled.
func (s *syncer) flush(ctx context.Context, b *batch) error {
	if err := s.writeLetters(ctx, b); err != nil {
		return err
	}
	fixes := b.fixes
	for attempt := 1; len(fixes) > 0; attempt++ {
		if attempt > MaxAttempts {
			s.unsettled(b, fixes)
			break
		}
		var err error
		if fixes, err = s.round(ctx, b, fixes); err != nil {
			return err
		}
		if err := s.writeLetters(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// round writes fixes to the result table, then reads their source rows again and returns
// the keys to write again: those whose row changed since the read their fix rests on
// (cells or versions), decided again, when the new decision differs from what was written.
// A key whose row is unchanged, or whose view did not change, is settled: the result holds
// the view of the row as it is after the write, and every later change of it reaches the
// trigger after the write (docs/design.md, "Sync").
func (s *syncer) round(ctx context.Context, b *batch, fixes []fix) ([]fix, error) {
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	writes := make([]ots.RowChange, len(fixes))
	keys := make([][]ots.PrimaryKeyColumn, len(fixes))
	for i, f := range fixes {
		writes[i], keys[i] = f.write, f.write.PrimaryKey
	}
	stats, err := s.cfg.Client.Write(ctx, s.cfg.ResultTable, writes)
	b.counts.Written += int64(stats.Puts)
	b.counts.Deleted += int64(stats.Deletes)
	if err != nil {
		return nil, fmt.Errorf("writing the result table: %w", err)
	}
	rows, _, err := s.cfg.Client.Read(ctx, s.cfg.SourceTable, keys, s.readColumns)
	if err != nil {
		return nil, fmt.Errorf("reading the source rows written: %w", err)
	}
	b.counts.Rechecked += int64(len(fixes))
	var again []fix
	for i, f := range fixes {
		now := stateOf(rows[i])
		if f.state.equal(now) {
			continue
		}
		b.counts.ChangedDuringSync++
		want := s.view(b, keys[i], now)
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
func sameWrite(a, b ots.RowChange) bool {
	return a.Kind == b.Kind && (a.Kind != ots.PutRow || sameCells(a.Columns, b.Columns))
}

// unsettled counts and lists the keys still changing after MaxAttempts writes.
func (s *syncer) unsettled(b *batch, fixes []fix) {
	b.counts.Unsettled += int64(len(fixes))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range fixes {
		if len(s.result.UnsettledKeys) < s.limit(true) {
			s.result.UnsettledKeys = append(s.result.UnsettledKeys, ots.FormatPrimaryKey(f.write.PrimaryKey))
		}
	}
}

// writeLetters writes b's queued dead letters, one per distinct letter.
func (s *syncer) writeLetters(ctx context.Context, b *batch) error {
	if len(b.letters) == 0 {
		return nil
	}
	letters := slices.CompactFunc(slices.SortedFunc(slices.Values(b.letters), func(x, y ots.RowChange) int {
		return ots.ComparePrimaryKeys(x.PrimaryKey, y.PrimaryKey)
	}), func(x, y ots.RowChange) bool { return ots.ComparePrimaryKeys(x.PrimaryKey, y.PrimaryKey) == 0 })
	ctx, cancel := context.WithTimeout(ctx, roundTimeout)
	defer cancel()
	stats, err := s.cfg.Client.Write(ctx, s.cfg.DeadLetterTable, letters)
	b.counts.DeadLettered += int64(stats.Puts)
	if err != nil {
		return fmt.Errorf("writing dead letters: %w", err)
	}
	b.letters = b.letters[:0]
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

// scanPageRows is the most rows one page of a scan holds (GetRange's limit). Pages smaller
// than GetRange's own bound (5,000 rows or 4 MB) keep the memory of a scan's pages small
// and let a split's fixes start sooner; the next page is read while one is merged.
const scanPageRows = 1000

// scan starts reading r of table, page by page, skipping the rows up to and including after
// (when set).
func (s *syncer) scan(ctx context.Context, table string, r keyrange.Range, after []ots.PrimaryKeyColumn) *cursor {
	ctx, cancel := context.WithCancel(ctx)
	c := &cursor{pages: make(chan scanPage, 1), cancel: cancel, done: make(chan struct{})}
	api := s.cfg.Client.RangeAPI(ctx)
	go func() {
		defer close(c.done)
		defer close(c.pages)
		for {
			page, err := keyrange.ReadPage(ctx, api, table, s.cfg.PrimaryKey, r, scanPageRows)
			if err != nil {
				select {
				case c.pages <- scanPage{err: err}:
				case <-ctx.Done():
				}
				return
			}
			rows := make([]scannedRow, 0, len(page.Rows))
			for _, row := range page.Rows {
				if after != nil && ots.ComparePrimaryKeys(row.PrimaryKey, after) <= 0 {
					continue
				}
				scanned := scannedRow{key: row.PrimaryKey, cells: make([]ots.Cell, len(row.Columns)), timestamps: make([]int64, len(row.Columns))}
				for i, col := range row.Columns {
					scanned.cells[i] = ots.Cell{Name: col.Name, Value: col.Versions[0].Value}
					scanned.timestamps[i] = col.Versions[0].Timestamp
				}
				rows = append(rows, scanned)
			}
			select {
			case c.pages <- scanPage{rows: rows}:
			case <-ctx.Done():
				return
			}
			if page.Next == nil {
				return
			}
			r.Start = page.Next
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
