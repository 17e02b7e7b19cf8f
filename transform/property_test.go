package transform

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/otsetl/otsetl/ots"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
)

// referenceRow is the simplest model of a source row: every version ever written of every
// column, in write order. A Put without timestamp is stored at math.MaxInt64 (the server
// stamps it with the current time, newer than anything in the event). A row exists after a
// PutRow or a Put, until a DeleteRow.
type referenceRow struct {
	exists   bool
	versions map[string][]referenceVersion
}

type referenceVersion struct {
	timestamp int64
	value     ots.Value
}

func (row *referenceRow) apply(rec events.Record) {
	switch rec.Type {
	case events.DeleteRow:
		*row = referenceRow{}
		return
	case events.PutRow:
		*row = referenceRow{}
	}
	if rec.Type == events.PutRow {
		row.exists = true
	}
	if row.versions == nil {
		row.versions = map[string][]referenceVersion{}
	}
	for _, c := range rec.Columns {
		switch c.Type {
		case events.Put:
			row.exists = true
			timestamp := int64(math.MaxInt64)
			if c.Timestamp != nil {
				timestamp = *c.Timestamp
			}
			row.versions[c.ColumnName] = append(row.versions[c.ColumnName], referenceVersion{timestamp, c.Value})
		case events.DeleteAllVersions:
			delete(row.versions, c.ColumnName)
		case events.DeleteOneVersion:
			row.versions[c.ColumnName] = slices.DeleteFunc(row.versions[c.ColumnName], func(v referenceVersion) bool { return v.timestamp == *c.Timestamp })
			if len(row.versions[c.ColumnName]) == 0 {
				delete(row.versions, c.ColumnName)
			}
		}
	}
}

// visible returns the value of the newest version of column; of equal versions, the last
// written.
func (row *referenceRow) visible(column string) (ots.Value, bool) {
	versions := row.versions[column]
	if len(versions) == 0 {
		return ots.Value{}, false
	}
	newest := versions[0]
	for _, v := range versions[1:] {
		if v.timestamp >= newest.timestamp {
			newest = v
		}
	}
	return newest.value, true
}

// levelAboveOne is `level > 1` by hand: a missing level fails, a non-number is invalid.
func levelAboveOne(level ots.Value, present bool) (pass, invalid bool) {
	if !present {
		return false, false
	}
	switch level.Kind() {
	case ots.KindInteger:
		i, _ := level.Int()
		return i > 1, false
	case ots.KindDouble:
		f, _ := level.Float()
		return f > 1, false
	}
	return false, true
}

// levelIsNil is `level == nil` by hand.
func levelIsNil(_ ots.Value, present bool) (pass, invalid bool) {
	return !present, false
}

// referenceDecision applies a filter on `level` and the result row's columns to row, by hand.
func referenceDecision(row *referenceRow, r referenceRule) (kind ots.RowChangeKind, columns []ots.Cell, invalid bool) {
	if !row.exists {
		return ots.DeleteRow, nil, false
	}
	pass, invalid := r.filter(row.visible("level"))
	if !pass {
		return ots.DeleteRow, nil, invalid
	}
	if columns, invalid = r.result(row); invalid {
		return ots.DeleteRow, nil, true
	}
	slices.SortFunc(columns, ots.CompareCellNames)
	return ots.PutRow, columns, false
}

// referenceRule is a rule and its reading by hand: the filter on `level`, and the result row
// of a row that passes (invalid when the rule cannot compute it).
type referenceRule struct {
	rule   *Rule
	filter func(level ots.Value, present bool) (pass, invalid bool)
	result func(row *referenceRow) (columns []ots.Cell, invalid bool)
	// usesNote: the rule uses `note`, so that randomSequence must not delete one of its
	// versions (the version underneath is unknown to a fold from a full image).
	usesNote bool
}

// projected is the result of a projection: the visible cells of the columns listed, or all.
func projected(projection []string) func(row *referenceRow) ([]ots.Cell, bool) {
	return func(row *referenceRow) ([]ots.Cell, bool) {
		var columns []ots.Cell
		for name := range row.versions {
			if projection == nil || slices.Contains(projection, name) {
				value, _ := row.visible(name)
				columns = append(columns, cell(name, value))
			}
		}
		return columns, false
	}
}

// referenceRules are the rules of the property tests, each with its reading by hand.
func referenceRules(t *testing.T) []referenceRule {
	return []referenceRule{
		{compile(t, defaultRule), levelAboveOne, projected(nil), true},
		{compile(t, levelAndMessage), levelAboveOne, projected([]string{"level", "message"}), false},
		{compile(t, Config{Filter: "level == nil", Columns: "message"}), levelIsNil, projected([]string{"message"}), false},
		// renamed: {"lvl": level, "text": message, "note_length": len(note)}
		{compile(t, renamed), levelAboveOne, func(row *referenceRow) ([]ots.Cell, bool) {
			level, _ := row.visible("level")
			columns := []ots.Cell{cell("lvl", level)}
			if message, ok := row.visible("message"); ok {
				columns = append(columns, cell("text", message))
			}
			if note, ok := row.visible("note"); ok {
				text, isString := note.Str()
				if !isString {
					return nil, true // len of what is not a string
				}
				columns = append(columns, cell("note_length", ots.Integer(int64(utf8.RuneCountInString(text)))))
			}
			return columns, false
		}, true},
		// logCleaning: {"level": level, "severity": level >= 3 ? "error" : "warn", "message": trim(message ?? "")}
		{compile(t, logCleaning), levelAboveOne, func(row *referenceRow) ([]ots.Cell, bool) {
			level, _ := row.visible("level")
			severity := "warn"
			if i, ok := level.Int(); ok && i >= 3 {
				severity = "error"
			} else if f, ok := level.Float(); ok && f >= 3 {
				severity = "error"
			}
			message := ots.String("")
			if value, ok := row.visible("message"); ok {
				text, isString := value.Str()
				if !isString {
					return nil, true // trim of what is not a string
				}
				message = ots.String(strings.TrimSpace(text))
			}
			return []ots.Cell{cell("level", level), cell("message", message), cell("severity", ots.String(severity))}, false
		}, false},
	}
}

// randomSequence returns records of one key that start with a PutRow or a DeleteRow and
// then hold only Put and DeleteAllVersions cells, plus DeleteOneVersion cells on `note`
// when the projection leaves it out.
func randomSequence(rng *rand.Rand, noteIrrelevant bool) []events.Record {
	columns := []string{"level", "message", "note"}
	levels := []ots.Value{
		ots.Integer(-1), ots.Integer(0), ots.Integer(1), ots.Integer(2), ots.Integer(3),
		ots.Double(1.5), ots.Double(0.5), ots.String("3"),
	}
	randomCell := func(putOnly bool) events.Column {
		name := columns[rng.IntN(len(columns))]
		switch n := rng.IntN(10); {
		case putOnly:
		case n == 0:
			return deleteAll(name)
		case n == 1 && noteIrrelevant:
			return deleteOne("note", rng.Int64N(4))
		}
		var value ots.Value
		if name == "level" {
			value = levels[rng.IntN(len(levels))]
		} else {
			value = ots.String(string(rune('a' + rng.IntN(3))))
		}
		if rng.IntN(4) == 0 {
			return put(name, value)
		}
		return putAt(name, value, rng.Int64N(4))
	}
	// randomCells returns 1 to 3 cells; a PutRow's (putOnly) are all Put cells.
	randomCells := func(putOnly bool) []events.Column {
		cells := make([]events.Column, 1+rng.IntN(3))
		for i := range cells {
			cells[i] = randomCell(putOnly)
		}
		return cells
	}

	records := []events.Record{deleteRow(1)}
	if rng.IntN(3) > 0 {
		records[0] = putRow(1, randomCells(true)...)
	}
	for range rng.IntN(5) {
		switch rng.IntN(6) {
		case 0:
			records = append(records, deleteRow(1))
		case 1:
			records = append(records, putRow(1, randomCells(true)...))
		default:
			records = append(records, updateRow(1, randomCells(false)...))
		}
	}
	return records
}

func TestPlanMatchesReferenceFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240601, 1))
	rules := referenceRules(t)
	for i := range 10000 {
		r := rules[i%len(rules)]
		records := randomSequence(rng, !r.usesNote)

		var reference referenceRow
		for _, rec := range records {
			reference.apply(rec)
		}
		wantKind, wantColumns, wantInvalid := referenceDecision(&reference, r)

		got := r.rule.Plan(&events.Event{Version: events.Version, Records: records})
		require.Len(t, got.Mutations, 1, "records %+v", records)
		want := Mutation{RowChange: ots.RowChange{Kind: wantKind, PrimaryKey: pk(1), Columns: wantColumns}, Records: got.Mutations[0].Records}
		require.Equal(t, want, got.Mutations[0], "records %+v", records)
		assert.Len(t, got.Mutations[0].Records, len(records))
		if wantInvalid {
			require.Len(t, got.Invalid, len(records), "records %+v", records)
		} else {
			require.Empty(t, got.Invalid, "records %+v", records)
		}
	}
}

// TestPlanAppliedToTheViewGivesTheView: for a random source row (or none) and a random event
// of its key, mostly UpdateRows, the event's plan applied to the result row of the source row
// before the event gives the result row of the source row after it, under every rule of
// referenceRules: a put replaces the result row, a delete removes it, an UpdateRowIfExists
// changes the cells of a result row that exists, and a read of the source row resolves the
// row after the event. This is what lets the planner write deltas. The event puts no version
// older than one the row holds (such a put is shown as the newest; docs/design.md, "Per key").
func TestPlanAppliedToTheViewGivesTheView(t *testing.T) {
	rng := rand.New(rand.NewPCG(20240602, 2))
	rules := referenceRules(t)
	var deltas, reads int
	for i := range 20000 {
		r := rules[i%len(rules)]
		var before referenceRow
		var records []events.Record
		if rng.IntN(4) > 0 {
			prior := putRow(1, randomCells(rng, 0, true)...)
			before.apply(prior)
		}
		for range 1 + rng.IntN(3) {
			switch n := rng.IntN(10); {
			case n == 0:
				records = append(records, deleteRow(1))
			case n == 1:
				records = append(records, putRow(1, randomCells(rng, 10, true)...))
			default:
				records = append(records, updateRow(1, randomCells(rng, 10, false)...))
			}
		}
		after := referenceRow{exists: before.exists, versions: maps.Clone(before.versions)}
		for _, rec := range records {
			after.apply(rec)
		}
		viewOf := func(row *referenceRow) (ots.RowChange, bool) {
			kind, columns, invalid := referenceDecision(row, r)
			return change(kind, 1, columns...), invalid
		}
		result, _ := viewOf(&before)
		want, wantInvalid := viewOf(&after)

		plan := r.rule.Plan(&events.Event{Version: events.Version, Records: records})
		gotInvalid := len(plan.Invalid) > 0
		if len(plan.Mutations) > 0 {
			m := plan.Mutations[0]
			switch {
			case len(plan.Reads) > 0:
				reads++
				var cells []ots.Cell
				for name := range after.versions {
					value, _ := after.visible(name)
					cells = append(cells, cell(name, value))
				}
				var err error
				result, err = r.rule.Resolve(pk(1), cells, after.exists)
				gotInvalid = gotInvalid || err != nil
			case m.Kind == ots.UpdateRowIfExists:
				deltas++
				if result.Kind == ots.PutRow {
					result.Columns = applyCells(result.Columns, m.Columns)
				}
			default:
				result = m.RowChange
			}
		}
		if len(result.Columns) == 0 {
			result.Columns = nil
		}
		require.Equal(t, want, result, "rule %d, before %+v, records %+v", i%len(rules), before, records)
		if gotInvalid {
			require.True(t, wantInvalid, "rule %d, before %+v, records %+v: invalid records %v", i%len(rules), before, records, invalidTexts(plan.Invalid))
		}
	}
	t.Logf("%d conditional updates, %d source reads", deltas, reads)
	assert.Positive(t, deltas)
	assert.Positive(t, reads)
}

// applyCells applies an UpdateRowIfExists's cells to the columns of a row: a value replaces
// or adds its column, a cell without one removes it. The result is sorted by name.
func applyCells(columns, changes []ots.Cell) []ots.Cell {
	columns = slices.Clone(columns)
	for _, c := range changes {
		columns = slices.DeleteFunc(columns, func(old ots.Cell) bool { return old.Name == c.Name })
		if !c.Value.IsNone() {
			columns = append(columns, c)
		}
	}
	slices.SortFunc(columns, ots.CompareCellNames)
	return columns
}

// randomCells returns 1 to 3 cells of the columns level, message and note: Puts, and unless
// putOnly also DeleteAllVersions and DeleteOneVersion cells. Every Put is at a version newer
// than after (ms), or, when after is not 0, without one (the newest); a DeleteOneVersion
// names a version up to after.
func randomCells(rng *rand.Rand, after int64, putOnly bool) []events.Column {
	columns := []string{"level", "message", "note"}
	values := map[string][]ots.Value{
		"level":   {ots.Integer(0), ots.Integer(2), ots.Integer(3), ots.Double(2.5), ots.String("3")},
		"message": {ots.String(" a "), ots.String("b"), ots.String(""), ots.Integer(7)},
		"note":    {ots.String("n"), ots.String("héllo"), ots.Boolean(true)},
	}
	cells := make([]events.Column, 1+rng.IntN(3))
	for i := range cells {
		name := columns[rng.IntN(len(columns))]
		switch n := rng.IntN(10); {
		case !putOnly && n == 0:
			cells[i] = deleteAll(name)
		case !putOnly && n == 1:
			cells[i] = deleteOne(name, rng.Int64N(after+1))
		case n == 2 && after > 0:
			cells[i] = put(name, values[name][rng.IntN(len(values[name]))])
		default:
			cells[i] = putAt(name, values[name][rng.IntN(len(values[name]))], after+1+rng.Int64N(5))
		}
	}
	return cells
}
