package transform

import (
	"errors"
	"slices"

	"github.com/otsetl/otsetl/ots"

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
// events.Decode never lets through), and a record holding in a projected column what
// Tablestore would refuse in a row of the result table (a DOUBLE NaN or infinity, a value or
// a name beyond its limits: ots.CheckAttribute), go to Invalid and leave their key's row
// unknown until a later PutRow or DeleteRow: MutationReadSource, so that the key's row is
// read from the source table, which never holds such values. A record whose primary key
// Tablestore would refuse (ots.CheckPrimaryKeyColumn) goes to Invalid and is not folded: no
// table holds a row of that key. A nil ev is an empty event.
func (r *Rule) Plan(ev *events.Event) Plan {
	if ev == nil {
		return Plan{}
	}
	p := newPlanner(r, ev.Records)
	for i := range ev.Records {
		p.add(i, &ev.Records[i])
	}
	return p.plan()
}

// planner holds the per-key folds of one event while Plan walks its records. Its
// allocations do not grow with the records or the keys: the keys are numbered once
// (ots.GroupPrimaryKeys), the records of every key are chained through one slice, the folds
// point at the event's cells, and every key's cells and row image are carved from two
// arrays sized by the cells of its records.
type planner struct {
	rule  *Rule
	order []keyFold // in order of each key's first record
	// group numbers each record's primary key; foldOf maps a key's number to its index in
	// order, -1 until the key's first record.
	group, foldOf []int
	// cells and images are the arrays the folds' cells and images are carved from; cellsAt
	// is where each key's part of them starts.
	cells   []*events.Column
	images  []ots.Cell
	cellsAt []int
	// nextRecord chains the records of a key: nextRecord[i] is the index of the key's
	// record after record i, or -1 after its last.
	nextRecord []int
	folded     int     // records folded into a key
	invalid    []error // by record index; nil until some record is invalid
}

// newPlanner numbers the primary keys of records and sizes the planner's arrays for them.
func newPlanner(r *Rule, records []events.Record) *planner {
	group, first := ots.GroupPrimaryKeys(len(records), func(i int) []ots.PrimaryKeyColumn { return records[i].PrimaryKey })
	p := &planner{rule: r, order: make([]keyFold, 0, len(first)), group: group, nextRecord: make([]int, len(records))}
	p.foldOf = make([]int, 2*len(first))
	p.cellsAt, p.foldOf = p.foldOf[len(first):], p.foldOf[:len(first)]
	for i := range records {
		p.cellsAt[group[i]] += len(records[i].Columns)
	}
	total := 0
	for g, n := range p.cellsAt {
		p.cellsAt[g], total = total, total+n
		p.foldOf[g] = -1
	}
	p.cells, p.images = make([]*events.Column, total), make([]ots.Cell, total)
	return p
}

// add folds the record at index i into its key's fold.
func (p *planner) add(i int, rec *events.Record) {
	if len(rec.PrimaryKey) == 0 {
		p.setInvalid(i, errors.New("record has no primary key"))
		return
	}
	for _, col := range rec.PrimaryKey {
		if err := ots.CheckPrimaryKeyColumn(col); err != nil {
			// Tablestore holds no row of such a key, in the source table or the result:
			// there is nothing to read or write.
			p.setInvalid(i, err)
			return
		}
	}
	fold := p.fold(i, rec.PrimaryKey)
	err := rec.Validate()
	if err == nil {
		err = p.rule.unwritable(rec)
	}
	if err != nil {
		p.setInvalid(i, err)
		fold.forgetRow()
		return
	}
	fold.apply(p.rule, rec)
}

// fold returns the fold of primaryKey, the key of the record at index i, starting it when
// this is the key's first record, and chains the record to the key's records.
func (p *planner) fold(i int, primaryKey []ots.PrimaryKeyColumn) *keyFold {
	p.nextRecord[i] = -1
	p.folded++
	g := p.group[i]
	if p.foldOf[g] < 0 {
		p.foldOf[g] = len(p.order)
		start := p.cellsAt[g]
		end := len(p.cells)
		if g+1 < len(p.cellsAt) {
			end = p.cellsAt[g+1]
		}
		p.order = append(p.order, keyFold{
			primaryKey: primaryKey, firstRecord: i, lastRecord: i,
			cells: cellFold{cells: p.cells[start:start:end]}, image: p.images[start:start:end],
		})
		return &p.order[len(p.order)-1]
	}
	fold := &p.order[p.foldOf[g]]
	p.nextRecord[fold.lastRecord] = i
	fold.lastRecord = i
	return fold
}

// unwritable returns why rec holds what Tablestore would refuse in a row of the result
// table, or nil: a cell of a projected column beyond Tablestore's limits
// ([ots.CheckAttribute]). A cell the projection drops is never written, and may hold
// anything.
func (r *Rule) unwritable(rec *events.Record) error {
	for i := range rec.Columns {
		c := &rec.Columns[i]
		if r.Projects(c.ColumnName) {
			if err := ots.CheckAttribute(c.ColumnName, c.Value, rec.PrimaryKey); err != nil {
				return err
			}
		}
	}
	return nil
}

// setInvalid records err as the reason record i is invalid, unless it has one already.
func (p *planner) setInvalid(i int, err error) {
	if p.invalid == nil {
		p.invalid = make([]error, len(p.nextRecord))
	}
	if p.invalid[i] == nil {
		p.invalid[i] = err
	}
}

// plan decides every key and returns the Plan.
func (p *planner) plan() Plan {
	plan := Plan{Keys: len(p.order)}
	indexes := make([]int, 0, p.folded) // the Records of every key, one after the other
	for k := range p.order {
		fold := &p.order[k]
		start := len(indexes)
		for i := fold.firstRecord; i >= 0; i = p.nextRecord[i] {
			indexes = append(indexes, i)
		}
		records := indexes[start:len(indexes):len(indexes)]
		m, ok, err := fold.decide(p.rule)
		if err != nil {
			for _, i := range records {
				p.setInvalid(i, err)
			}
		}
		if !ok {
			continue
		}
		if plan.Mutations == nil {
			plan.Mutations = make([]Mutation, 0, len(p.order)-k)
		}
		m.Records = records
		plan.Mutations = append(plan.Mutations, m)
	}
	for i, err := range p.invalid {
		if err != nil {
			plan.Invalid = append(plan.Invalid, InvalidRecord{Index: i, Err: err})
		}
	}
	return plan
}

// keyFold is the state of one primary key's records so far.
type keyFold struct {
	primaryKey []ots.PrimaryKeyColumn // as the key's first record carried it
	// firstRecord and lastRecord are the indexes of the key's first and last record so far;
	// planner.nextRecord links the others.
	firstRecord, lastRecord int
	// imageKnown is set by a PutRow or DeleteRow: cells then holds the full row image, and
	// rowExists says whether the row exists.
	imageKnown bool
	rowExists  bool
	// unknown is set when a value the decision needs is not in the event, until a PutRow
	// or DeleteRow replaces the row.
	unknown bool
	// cells is the row image when imageKnown, else the UpdateRows' cell changes.
	cells cellFold
	// image is where decide builds the key's row image or cell changes; it has room for
	// every cell of the key's records.
	image []ots.Cell
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
	for i := range rec.Columns {
		f.applyCell(rule, &rec.Columns[i])
	}
}

// replaceRow starts a full, empty row image: the row after a DeleteRow (exists false), or
// before a PutRow's cells (exists true).
func (f *keyFold) replaceRow(exists bool) {
	f.imageKnown = true
	f.rowExists = exists
	f.unknown = false
	f.cells.reset()
}

// applyCell folds one cell change, which stays referenced until the key is decided.
func (f *keyFold) applyCell(rule *Rule, c *events.Column) {
	switch c.Type {
	case events.Put:
		f.cells.apply(c)
		f.rowExists = true
	case events.DeleteAllVersions:
		f.cells.apply(c)
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

// decide returns the key's Mutation, without its Records, and true, or false when the key
// needs none. A non-nil error means the filter could not be evaluated on the key's full
// image.
func (f *keyFold) decide(rule *Rule) (Mutation, bool, error) {
	m := Mutation{PrimaryKey: f.primaryKey}
	var err error
	switch {
	case f.imageKnown && !f.rowExists:
		m.Kind = MutationDelete
	case f.unknown || (!f.imageKnown && rule.passesEmptyRow):
		m.Kind = MutationReadSource
	case f.imageKnown:
		m.Kind, m.Columns, err = rule.decide(f.cells.image(f.image))
	default:
		m.Kind, m.Columns = MutationUpdateIfExists, f.cells.projectedChanges(rule, f.image)
		if len(m.Columns) == 0 {
			return Mutation{}, false, nil
		}
	}
	return m, true, err
}

// cellFold folds cell changes per column into each column's visible change.
type cellFold struct {
	// cells holds one change per column, in order of the column's first change: the Put
	// whose value is visible, or the DeleteAllVersions that removed the column. They are
	// the event's own cells.
	cells []*events.Column
	// index finds a column's position in cells once the fold has held more than
	// linearColumns columns; below that, a scan of cells is faster.
	index map[string]int
}

// linearColumns is how many columns a cellFold looks up by scanning.
const linearColumns = 16

// reset empties the fold, keeping its memory.
func (f *cellFold) reset() {
	f.cells = f.cells[:0]
	clear(f.index)
}

// apply folds a Put or DeleteAllVersions cell. A Put becomes visible unless the visible
// version is newer; DeleteAllVersions removes the column.
func (f *cellFold) apply(c *events.Column) {
	at, ok := f.find(c.ColumnName)
	if !ok {
		f.add(c)
		return
	}
	visible := f.cells[at]
	if c.Type == events.Put && !visible.Value.IsNone() && newer(visible.Timestamp, c.Timestamp) {
		return
	}
	f.cells[at] = c
}

// add appends the first change of a column.
func (f *cellFold) add(c *events.Column) {
	f.cells = append(f.cells, c)
	switch at := len(f.cells) - 1; {
	case f.index != nil:
		f.index[c.ColumnName] = at
	case at == linearColumns:
		f.index = make(map[string]int, 2*linearColumns)
		for i, c := range f.cells {
			f.index[c.ColumnName] = i
		}
	}
}

// find returns the position of column's change.
func (f *cellFold) find(column string) (int, bool) {
	if f.index != nil {
		at, ok := f.index[column]
		return at, ok
	}
	for i, c := range f.cells {
		if c.ColumnName == column {
			return i, true
		}
	}
	return 0, false
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

// image returns the folded cells as a row image, without removed columns, in buf's array
// when it has room; nil when no column is left.
func (f *cellFold) image(buf []ots.Cell) row {
	image := row(buf[:0])
	for _, c := range f.cells {
		if !c.Value.IsNone() {
			image = append(image, ots.Cell{Name: c.ColumnName, Value: c.Value})
		}
	}
	if len(image) == 0 {
		return nil
	}
	slices.SortFunc(image, ots.CompareCellNames)
	return image
}

// projectedChanges returns the final change of each projected column, in the order of the
// columns' first change, in buf's array when it has room; a removed column is a cell
// without a value. It is nil when no projected column changed.
func (f *cellFold) projectedChanges(rule *Rule, buf []ots.Cell) []ots.Cell {
	changes := buf[:0]
	for _, c := range f.cells {
		if rule.Projects(c.ColumnName) {
			changes = append(changes, ots.Cell{Name: c.ColumnName, Value: c.Value})
		}
	}
	if len(changes) == 0 {
		return nil
	}
	return changes
}
