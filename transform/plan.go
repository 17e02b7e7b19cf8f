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
	// nothing (only UpdateRows that touch no column the filter reads, and no projected
	// column or none a mapping reads) has no Mutation.
	Mutations []Mutation
	// Reads lists, by ascending index into Mutations, the mutations the event does not say
	// enough to decide: their RowChange holds only the PrimaryKey (and no Kind, which is
	// never written) until [Rule.Resolve] decides it from the current source row.
	Reads []int
	// Invalid lists the records the rule could not evaluate or the event could not hold,
	// by ascending index, one entry per record.
	Invalid []InvalidRecord
	// Keys is the number of distinct primary keys in the event that Tablestore takes,
	// counting those that need no Mutation (the records of a key it refuses are invalid).
	Keys int
}

// Plan folds ev's records per primary key, in order, and decides once per key by the table
// of docs/design.md, "Per key": a Mutation for each key that changes the result table, those
// the event cannot decide listed in Reads. Two keys are the same when their column names,
// value kinds and values are equal. A PutRow's Columns are the projected or mapped row,
// sorted by name; an UpdateRowIfExists's are the projected cell changes, one per column in
// the order of its first change, or the changes of the columns a mapping keeps as they are,
// under their entries' names, by name. Records go to Invalid as
// docs/design.md, "Errors" says: every record of a key whose full row the rule cannot
// evaluate (the filter or a mapping entry fails, or a mapped value is one Tablestore refuses;
// the key is deleted); a record that fails events.Record.Validate or holds in a projected
// column what Tablestore refuses (ots.CheckAttribute), whose key is then read unless a later
// PutRow or DeleteRow replaces the row; and a record whose primary key Tablestore refuses
// (ots.CheckPrimaryKeyColumn), which is not folded. A nil ev is an empty event.
func (r *Rule) Plan(ev *events.Event) Plan {
	if ev == nil {
		return Plan{}
	}
	p := planner{rule: r, records: ev.Records, evaluator: r.evaluator()}
	defer p.evaluator.release()
	p.group()
	return p.plan()
}

// planner plans one event in two passes: group chains the records of every key, and plan
// folds and decides one key after the other. It allocates a few arrays, sized by the records
// (which bound the keys), and nothing per key or per record: the keys are numbered once
// (ots.GroupPrimaryKeys), the records of every key are chained through one slice, one fold
// serves every key in turn, pointing at the event's cells, and the Columns of the mutations
// are carved from a few arrays.
type planner struct {
	rule      *Rule
	evaluator *evaluator
	records   []events.Record
	keys      []plannedKey // in order of each key's first record
	// nextRecord chains the records of a key: nextRecord[i] is the index of the key's
	// record after record i, or -1 after its last.
	nextRecord []int
	folded     int     // records folded into a key
	cells      int     // cells of the records folded into a key, which bound a projection's Columns
	invalid    []error // by record index; nil until some record is invalid
	fold       keyFold // the fold of the key being decided
}

// plannedKey is one primary key of the event: the indexes of its first and last record, the
// others being chained between them by planner.nextRecord.
type plannedKey struct {
	firstRecord, lastRecord int
}

// group chains the records of every key. A record without a primary key, or with one that
// Tablestore would refuse, goes to Invalid and is not folded: no table holds a row of that
// key, so there is nothing to read or write.
func (p *planner) group() {
	group, first := ots.GroupPrimaryKeys(len(p.records), func(i int) []ots.PrimaryKeyColumn { return p.records[i].PrimaryKey })
	p.nextRecord = make([]int, len(p.records))
	p.keys = make([]plannedKey, 0, len(first))
	keyOf := make([]int, len(first)) // by key number: 1 + the key's index in keys, 0 for a key refused
	var refused []error              // by key number: why Tablestore would refuse the key
	for i, g := range group {
		if i == first[g] {
			if err := checkPrimaryKey(p.records[i].PrimaryKey); err != nil {
				if refused == nil {
					refused = make([]error, len(first))
				}
				refused[g] = err
			} else {
				keyOf[g] = len(p.keys) + 1
				p.keys = append(p.keys, plannedKey{firstRecord: i, lastRecord: i})
			}
		}
		if keyOf[g] == 0 {
			p.setInvalid(i, refused[g])
			continue
		}
		if key := &p.keys[keyOf[g]-1]; key.lastRecord != i {
			p.nextRecord[key.lastRecord] = i
			key.lastRecord = i
		}
		p.nextRecord[i] = -1
		p.folded++
		p.cells += len(p.records[i].Columns)
	}
}

// checkPrimaryKey returns why Tablestore would refuse a row of primary key pk, or nil: pk is
// empty, or one of its columns is refused (ots.CheckPrimaryKeyColumn).
func checkPrimaryKey(pk []ots.PrimaryKeyColumn) error {
	if len(pk) == 0 {
		return errors.New("record has no primary key")
	}
	for _, col := range pk {
		if err := ots.CheckPrimaryKeyColumn(col); err != nil {
			return err
		}
	}
	return nil
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
		p.invalid = make([]error, len(p.records))
	}
	if p.invalid[i] == nil {
		p.invalid[i] = err
	}
}

// plan folds and decides every key and returns the Plan.
func (p *planner) plan() Plan {
	plan := Plan{Keys: len(p.keys)}
	indexes := make([]int, 0, p.folded) // the Records of every key, one after the other
	var columns []ots.Cell              // the Columns of the last mutations, one after the other
	// room for the Columns of the keys left to decide, and the columns of the mutations so far
	roomLeft, produced := p.room(p.cells, len(p.keys)), 0
	for k, key := range p.keys {
		start, cells := len(indexes), 0
		p.fold.start(p.records[key.firstRecord].PrimaryKey)
		for i := key.firstRecord; i >= 0; i = p.nextRecord[i] {
			indexes = append(indexes, i)
			cells += len(p.records[i].Columns)
			err := p.records[i].Validate()
			if err == nil {
				err = p.rule.unwritable(&p.records[i])
			}
			if err != nil {
				p.setInvalid(i, err)
				p.fold.forgetRow()
				continue
			}
			p.fold.apply(p.rule, &p.records[i])
		}
		records := indexes[start:len(indexes):len(indexes)]
		room := p.room(cells, 1)
		if cap(columns)-len(columns) < room { // a new array, for the keys left at the rate of those decided
			decided := p.room(p.cells, len(p.keys)) - roomLeft
			columns = make([]ots.Cell, 0, max(room, min(roomLeft, roomLeft*produced/max(decided, 1)+16)))
		}
		roomLeft -= room
		m, outcome, err := p.fold.decide(p.evaluator, columns)
		if err != nil {
			for _, i := range records {
				p.setInvalid(i, err)
			}
		}
		switch outcome {
		case keyUnchanged:
			continue
		case keyRead:
			plan.Reads = append(plan.Reads, len(plan.Mutations))
		}
		if plan.Mutations == nil {
			plan.Mutations = make([]Mutation, 0, len(p.keys)-k)
		}
		columns = columns[:len(columns)+len(m.Columns)]
		produced += len(m.Columns)
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

// room bounds the Columns of the mutations of keys whose records hold cells cells: at most
// one per cell with a projection, at most one per entry and key with a mapping.
func (p *planner) room(cells, keys int) int {
	if m := p.rule.mapping; m != nil {
		return keys * len(m.entries)
	}
	return cells
}

// keyFold is the state of one primary key's records so far.
type keyFold struct {
	primaryKey []ots.PrimaryKeyColumn // as the key's first record carried it
	// imageKnown is set by a PutRow or DeleteRow: cells then holds the full row image, and
	// rowExists says whether the row exists.
	imageKnown bool
	rowExists  bool
	// unknown is set when a value the decision needs is not in the event, until a PutRow
	// or DeleteRow replaces the row.
	unknown bool
	// cells is the row image when imageKnown, else the UpdateRows' cell changes.
	cells cellFold
	// image holds the row image a mapping reads, kept from key to key.
	image []ots.Cell
}

// start empties the fold, keeping its memory, for the key primaryKey.
func (f *keyFold) start(primaryKey []ots.PrimaryKeyColumn) {
	f.primaryKey = primaryKey
	f.imageKnown, f.rowExists, f.unknown = false, false, false
	f.cells.reset(0)
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
		f.replaceRow(false, 0)
		return // a DeleteRow carries no cells
	case events.PutRow:
		f.replaceRow(true, len(rec.Columns))
	}
	for i := range rec.Columns {
		f.applyCell(rule, &rec.Columns[i])
	}
}

// replaceRow starts a full, empty row image: the row after a DeleteRow (exists false), or
// before a PutRow's cells (exists true), with room for columns cells.
func (f *keyFold) replaceRow(exists bool, columns int) {
	f.imageKnown = true
	f.rowExists = exists
	f.unknown = false
	f.cells.reset(columns)
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
		if rule.uses(c.ColumnName) {
			f.unknown = true
		}
		return
	}
	if !f.imageKnown && rule.filterReads[c.ColumnName] {
		f.unknown = true
	}
}

// keyOutcome is what a key's records ask of the result table.
type keyOutcome uint8

const (
	keyUnchanged keyOutcome = iota // nothing: no Mutation
	keyWritten                     // a Mutation with its row change
	keyRead                        // a Mutation whose row change is decided from the source row
)

// decide returns the key's Mutation, without its Records, and what it is. A non-nil error
// means the rule could not be evaluated on the key's full image. The Mutation's Columns lie
// in the free capacity of columns, after its length, and have a capacity of their length.
func (f *keyFold) decide(e *evaluator, columns []ots.Cell) (Mutation, keyOutcome, error) {
	rule := e.rule
	m := Mutation{RowChange: ots.RowChange{PrimaryKey: f.primaryKey}}
	free := columns[len(columns):]
	var err error
	switch {
	case f.imageKnown && !f.rowExists:
		m.Kind = ots.DeleteRow
	case f.unknown || (!f.imageKnown && rule.passesEmptyRow):
		return m, keyRead, nil
	case f.imageKnown && rule.mapping == nil:
		m.Kind, m.Columns, err = e.decide(f.primaryKey, f.cells.appendImage(free), nil)
	case f.imageKnown:
		image := f.cells.appendImage(f.image[:0])
		if image != nil {
			f.image = image[:0]
		}
		m.Kind, m.Columns, err = e.decide(f.primaryKey, image, free)
	case rule.mapping == nil:
		m.Kind, m.Columns = ots.UpdateRowIfExists, f.cells.appendProjectedChanges(rule, free)
	default:
		var read bool
		m.Kind = ots.UpdateRowIfExists
		if m.Columns, read = e.mappedChanges(f.primaryKey, &f.cells, free); read {
			return Mutation{RowChange: ots.RowChange{PrimaryKey: f.primaryKey}}, keyRead, nil
		}
	}
	if m.Kind == ots.UpdateRowIfExists && len(m.Columns) == 0 {
		return Mutation{}, keyUnchanged, nil
	}
	m.Columns = m.Columns[:len(m.Columns):len(m.Columns)]
	return m, keyWritten, err
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

// reset empties the fold, keeping its memory, with room for columns cells.
func (f *cellFold) reset(columns int) {
	if f.cells = f.cells[:0]; cap(f.cells) < columns {
		f.cells = slices.Grow(f.cells, columns)
	}
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

// appendImage returns the folded cells as a row image, without removed columns, in the array
// of dst after its length when its capacity holds them (a new one otherwise); nil when none
// is left.
func (f *cellFold) appendImage(dst []ots.Cell) row {
	image := dst[len(dst):]
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

// appendProjectedChanges returns the final change of each projected column, in the order of
// the columns' first change, in the array of dst after its length (dst's capacity must hold
// them); a removed column is a cell without a value.
func (f *cellFold) appendProjectedChanges(rule *Rule, dst []ots.Cell) []ots.Cell {
	changes := dst[len(dst):]
	for _, c := range f.cells {
		if rule.Projects(c.ColumnName) {
			changes = append(changes, ots.Cell{Name: c.ColumnName, Value: c.Value})
		}
	}
	return changes
}
