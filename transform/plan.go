package transform

import (
	"errors"
	"slices"

	"github.com/otsetl/otsetl/events"
)

// Plan is what one event asks of the result table: one decision per primary key.
type Plan struct {
	// Mutations holds one Mutation per distinct primary key whose records change the
	// result table, in the order of each key's first record. A key whose records need
	// nothing (only UpdateRows that touch no projected column, and none the filter reads)
	// has no Mutation.
	Mutations []Mutation
	// Invalid lists the records the rule could not evaluate or the event could not hold,
	// by ascending index, one entry per record.
	Invalid []InvalidRecord
	// Keys is the number of distinct primary keys in the event, counting those that need
	// no Mutation.
	Keys int
}

// Plan folds ev's records per primary key, in order, and decides once per key (two keys are
// the same when their column names, value kinds and values are equal):
//
//   - the last record is a DeleteRow, or the records after the last DeleteRow hold no Put
//     (an UpdateRow of deletes only does not create a row; Tablestore Python SDK
//     tests/row_op_test.py, test_all_delete_in_update): MutationDelete.
//   - a PutRow or DeleteRow came first, then only Put and DeleteAllVersions cells, or
//     DeleteOneVersion cells on columns neither filtered nor projected: the full row image
//     is known. A PutRow starts it from its cells, a DeleteRow starts it empty, and later
//     cells fold onto it. The filter decides: true gives a MutationPut of the projected
//     image (Columns sorted by name), false a MutationDelete, since the row may have
//     qualified before. A row whose columns were all deleted still exists (Tablestore
//     UpdateRow API reference) and is evaluated as an empty row.
//   - only UpdateRows, whose Put and DeleteAllVersions cells touch no column the filter
//     reads, under a filter that is false on a row lacking all its columns: the row's
//     membership in the result table is unchanged. A MutationUpdateIfExists carries the
//     projected cell changes, one per column in the order of its first change; no
//     projected column touched means no Mutation.
//   - anything else (an UpdateRow touching a filter column before any full image, a
//     DeleteOneVersion on a filtered or projected column, a filter true on an empty row):
//     MutationReadSource, for [Rule.Resolve].
//
// Folding a column keeps its visible value: a Put replaces it unless the column's current
// version has a larger timestamp, where a Put without timestamp counts as newest (the
// server stamps it with the current time) and an equal timestamp overwrites that version
// (Tablestore "Max versions and TTL", "Version number"); DeleteAllVersions removes the
// column. A PutRow that carries several versions of a column keeps the newest.
//
// A key whose full image the filter cannot evaluate gets a MutationDelete and every record
// of the key goes to Invalid. A malformed record (one that fails events.Record.Validate, as
// events.Decode never lets through) goes to Invalid and leaves its key's row unknown until
// a later PutRow or DeleteRow: MutationReadSource. A nil ev is an empty event.
func (r *Rule) Plan(ev *events.Event) Plan {
	if ev == nil {
		return Plan{}
	}
	planner := planner{rule: r, folds: map[string]*keyFold{}, invalid: map[int]error{}}
	for i := range ev.Records {
		planner.add(i, &ev.Records[i])
	}
	return planner.plan()
}

// planner holds the per-key folds of one event while Plan walks its records.
type planner struct {
	rule    *Rule
	order   []*keyFold          // in order of each key's first record
	folds   map[string]*keyFold // by encodePrimaryKey
	invalid map[int]error       // by record index
}

// add folds the record at index i into its key's fold.
func (p *planner) add(i int, rec *events.Record) {
	if len(rec.PrimaryKey) == 0 {
		p.invalid[i] = errors.New("record has no primary key")
		return
	}
	key := encodePrimaryKey(rec.PrimaryKey)
	fold, ok := p.folds[key]
	if !ok {
		fold = &keyFold{primaryKey: rec.PrimaryKey, cells: newCellFold()}
		p.folds[key] = fold
		p.order = append(p.order, fold)
	}
	fold.records = append(fold.records, i)
	if err := rec.Validate(); err != nil {
		p.invalid[i] = err
		fold.forgetRow()
		return
	}
	fold.apply(p.rule, rec)
}

// plan decides every key and returns the Plan.
func (p *planner) plan() Plan {
	plan := Plan{Keys: len(p.order)}
	for _, fold := range p.order {
		m, ok, err := fold.decide(p.rule)
		if err != nil {
			for _, i := range fold.records {
				if _, seen := p.invalid[i]; !seen {
					p.invalid[i] = err
				}
			}
		}
		if ok {
			plan.Mutations = append(plan.Mutations, m)
		}
	}
	for i, err := range p.invalid {
		plan.Invalid = append(plan.Invalid, InvalidRecord{Index: i, Err: err})
	}
	slices.SortFunc(plan.Invalid, func(a, b InvalidRecord) int { return a.Index - b.Index })
	return plan
}

// keyFold is the state of one primary key's records so far.
type keyFold struct {
	primaryKey []events.PrimaryKeyColumn // as the key's first record carried it
	records    []int
	// imageKnown is set by a PutRow or DeleteRow: cells then holds the full row image, and
	// rowExists says whether the row exists.
	imageKnown bool
	rowExists  bool
	// unknown is set when a value the decision needs is not in the event, until a PutRow
	// or DeleteRow replaces the row.
	unknown bool
	// cells is the row image when imageKnown, else the UpdateRows' cell changes.
	cells *cellFold
}

// forgetRow records that the row is no longer known from the event at all, as after a
// malformed record.
func (f *keyFold) forgetRow() {
	f.imageKnown = false
	f.unknown = true
}

// apply folds one well-formed record.
func (f *keyFold) apply(rule *Rule, rec *events.Record) {
	switch rec.Type {
	case events.DeleteRow:
		f.replaceRow(false)
		return // a DeleteRow carries no cells
	case events.PutRow:
		f.replaceRow(true)
	}
	for _, c := range rec.Columns {
		f.applyCell(rule, c)
	}
}

// replaceRow starts a full, empty row image: the row after a DeleteRow (exists false), or
// before a PutRow's cells (exists true).
func (f *keyFold) replaceRow(exists bool) {
	f.imageKnown = true
	f.rowExists = exists
	f.unknown = false
	f.cells = newCellFold()
}

// applyCell folds one cell change.
func (f *keyFold) applyCell(rule *Rule, c events.Column) {
	switch c.Type {
	case events.Put:
		f.cells.put(c.ColumnName, c.Value, c.Timestamp)
		f.rowExists = true
	case events.DeleteAllVersions:
		f.cells.deleteAllVersions(c.ColumnName)
	case events.DeleteOneVersion:
		// The version underneath is unknown; it only matters on a column the rule uses.
		if rule.readsColumn[c.ColumnName] || rule.Projects(c.ColumnName) {
			f.unknown = true
		}
		return
	}
	if !f.imageKnown && rule.readsColumn[c.ColumnName] {
		f.unknown = true
	}
}

// decide returns the key's Mutation and true, or false when the key needs none. A non-nil
// error means the filter could not be evaluated on the key's full image.
func (f *keyFold) decide(rule *Rule) (Mutation, bool, error) {
	m := Mutation{PrimaryKey: f.primaryKey, Records: f.records}
	var err error
	switch {
	case f.imageKnown && !f.rowExists:
		m.Kind = MutationDelete
	case f.unknown || (!f.imageKnown && rule.passesEmptyRow):
		m.Kind = MutationReadSource
	case f.imageKnown:
		m.Kind, m.Columns, err = rule.decide(f.cells.image())
	default:
		m.Kind, m.Columns = MutationUpdateIfExists, f.cells.projectedChanges(rule)
		if len(m.Columns) == 0 {
			return Mutation{}, false, nil
		}
	}
	return m, true, err
}

// cellFold folds cell changes per column into each column's visible value.
type cellFold struct {
	cells map[string]visibleCell
	order []string // columns in order of their first change
}

// visibleCell is a column's visible value and its version: value is none after
// DeleteAllVersions; timestamp is in ms, nil when the server assigns the time (newest).
type visibleCell struct {
	value     events.Value
	timestamp *int64
}

func newCellFold() *cellFold {
	return &cellFold{cells: map[string]visibleCell{}}
}

// put writes a version of column; it becomes visible unless the visible version is newer.
func (f *cellFold) put(column string, value events.Value, timestamp *int64) {
	current, ok := f.cells[column]
	if ok && !current.value.IsNone() && newer(current.timestamp, timestamp) {
		return
	}
	f.set(column, visibleCell{value: value, timestamp: timestamp})
}

// newer reports whether version a is strictly newer than version b, where nil is the newest.
func newer(a, b *int64) bool {
	switch {
	case b == nil:
		return false
	case a == nil:
		return true
	}
	return *a > *b
}

// deleteAllVersions removes column.
func (f *cellFold) deleteAllVersions(column string) {
	f.set(column, visibleCell{})
}

func (f *cellFold) set(column string, cell visibleCell) {
	if _, ok := f.cells[column]; !ok {
		f.order = append(f.order, column)
	}
	f.cells[column] = cell
}

// image returns the folded cells as a row image, without removed columns.
func (f *cellFold) image() row {
	image := make(row, len(f.cells))
	for name, cell := range f.cells {
		if !cell.value.IsNone() {
			image[name] = cell.value
		}
	}
	return image
}

// projectedChanges returns the final change of each projected column, in the order of the
// columns' first change; a removed column is a Cell without a value.
func (f *cellFold) projectedChanges(rule *Rule) []Cell {
	var changes []Cell
	for _, name := range f.order {
		if rule.Projects(name) {
			changes = append(changes, Cell{Name: name, Value: f.cells[name].value})
		}
	}
	return changes
}
