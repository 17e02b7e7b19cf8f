package transform

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

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

// referenceDecision applies a filter on `level` and the projection to row, by hand.
func referenceDecision(row *referenceRow, filter func(level ots.Value, present bool) (pass, invalid bool), projection []string) (kind ots.RowChangeKind, columns []ots.Cell, invalid bool) {
	if !row.exists {
		return ots.DeleteRow, nil, false
	}
	pass, invalid := filter(row.visible("level"))
	if !pass {
		return ots.DeleteRow, nil, invalid
	}
	for name := range row.versions {
		if projection == nil || slices.Contains(projection, name) {
			value, _ := row.visible(name)
			columns = append(columns, cell(name, value))
		}
	}
	slices.SortFunc(columns, ots.CompareCellNames)
	return ots.PutRow, columns, false
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
	rules := []struct {
		rule       *Rule
		filter     func(level ots.Value, present bool) (pass, invalid bool)
		projection []string
	}{
		{compile(t, defaultRule), levelAboveOne, nil},
		{compile(t, levelAndMessage), levelAboveOne, []string{"level", "message"}},
		{compile(t, Config{Filter: "level == nil", Columns: "message"}), levelIsNil, []string{"message"}},
	}
	for i := range 6000 {
		r := rules[i%len(rules)]
		records := randomSequence(rng, r.projection != nil)

		var reference referenceRow
		for _, rec := range records {
			reference.apply(rec)
		}
		wantKind, wantColumns, wantInvalid := referenceDecision(&reference, r.filter, r.projection)

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
