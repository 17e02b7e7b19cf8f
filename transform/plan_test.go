package transform

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/otsetl/otsetl/ots"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
)

var (
	defaultRule     = Config{}
	messageOnly     = Config{Columns: "message"}
	levelOnly       = Config{Columns: "level"}
	levelAndMessage = Config{Columns: "level,message"}
	twoColumns      = Config{Filter: `level > 1 && message != ""`}
	trueOnEmpty     = Config{Filter: "level == nil"}
)

type planCase struct {
	name        string
	cfg         Config
	records     []events.Record
	want        []Mutation
	wantInvalid []string
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := plan(t, tc.cfg, tc.records...)
			assert.Equal(t, tc.want, got.Mutations)
			assert.Equal(t, readsOf(tc.want), got.Reads, "the mutations to read")
			assert.Equal(t, tc.wantInvalid, invalidTexts(got.Invalid))
		})
	}
}

// TestPlanDesignTable has one case per row of the per-key decision table.
func TestPlanDesignTable(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:    "last record a DeleteRow deletes",
			records: []events.Record{putRow(1, put("level", ots.Integer(5))), updateRow(1, deleteOne("level", 7)), deleteRow(1)},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1, 2})},
		},
		{
			name:    "last record a DeleteRow deletes even when the filter passes on an empty row",
			cfg:     trueOnEmpty,
			records: []events.Record{deleteRow(1)},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
		},
		{
			name: "full image passing the filter puts the projected image",
			records: []events.Record{
				putRow(1, put("level", ots.Integer(0)), put("message", ots.String("a"))),
				updateRow(1, put("level", ots.Integer(2)), deleteAll("message"), put("note", ots.String("n"))),
			},
			want: []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(2)), cell("note", ots.String("n")))},
		},
		{
			name:    "full image failing the filter deletes",
			records: []events.Record{putRow(1, put("level", ots.Integer(3))), updateRow(1, put("level", ots.Integer(1)))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
		},
		{
			name:    "UpdateRows off the filter columns update the row if it exists",
			records: []events.Record{updateRow(1, put("message", ots.String("new")))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0}, cell("message", ots.String("new")))},
		},
		{
			name:    "UpdateRows touching no projected column need nothing",
			cfg:     levelOnly,
			records: []events.Record{updateRow(1, put("message", ots.String("new")))},
		},
		{
			name:    "an UpdateRow on a filter column without a full image reads the source",
			records: []events.Record{updateRow(1, put("level", ots.Integer(5)))},
			want:    []Mutation{readSource(1, []int{0})},
		},
		{
			name:    "a DeleteOneVersion on a filter column reads the source",
			records: []events.Record{putRow(1, put("level", ots.Integer(5))), updateRow(1, deleteOne("level", 7))},
			want:    []Mutation{readSource(1, []int{0, 1})},
		},
	})
}

func TestPlanPutRowLevels(t *testing.T) {
	for level, want := range []ots.RowChangeKind{ots.DeleteRow, ots.DeleteRow, ots.PutRow, ots.PutRow} {
		got := plan(t, defaultRule, putRow(1, put("level", ots.Integer(int64(level))), put("message", ots.String("m"))))
		var columns []ots.Cell
		if want == ots.PutRow {
			columns = []ots.Cell{cell("level", ots.Integer(int64(level))), cell("message", ots.String("m"))}
		}
		assert.Equal(t, []Mutation{mutation(want, 1, []int{0}, columns...)}, got.Mutations, "level %d", level)
		assert.Empty(t, got.Invalid)
		assert.Equal(t, 1, got.Keys)
	}
}

func TestPlanUpdateRow(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:    "level raised above the threshold reads the source",
			records: []events.Record{updateRow(1, put("level", ots.Integer(5)))},
			want:    []Mutation{readSource(1, []int{0})},
		},
		{
			name:    "level lowered below the threshold reads the source",
			records: []events.Record{updateRow(1, put("level", ots.Integer(0)))},
			want:    []Mutation{readSource(1, []int{0})},
		},
		{
			name:    "message only, all columns projected",
			records: []events.Record{updateRow(1, put("message", ots.String("hi")))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0}, cell("message", ots.String("hi")))},
		},
		{
			name:    "message only, message projected",
			cfg:     messageOnly,
			records: []events.Record{updateRow(1, put("message", ots.String("hi")), put("note", ots.String("n")))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0}, cell("message", ots.String("hi")))},
		},
		{
			name:    "message only, message not projected",
			cfg:     levelOnly,
			records: []events.Record{updateRow(1, put("message", ots.String("hi")))},
		},
		{
			name: "changes fold per column in the order of each column's first change",
			records: []events.Record{
				updateRow(1, put("message", ots.String("a")), put("note", ots.String("n"))),
				updateRow(1, deleteAll("note"), put("message", ots.String("b"))),
			},
			want: []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0, 1},
				cell("message", ots.String("b")), cell("note", ots.Value{}))},
		},
		{
			name:    "DeleteAllVersions of level alone reads the source",
			records: []events.Record{updateRow(1, deleteAll("level"))},
			want:    []Mutation{readSource(1, []int{0})},
		},
		{
			name:    "a filter true on an empty row reads the source for any UpdateRow",
			cfg:     trueOnEmpty,
			records: []events.Record{updateRow(1, put("message", ots.String("hi")))},
			want:    []Mutation{readSource(1, []int{0})},
		},
	})
}

func TestPlanFullImage(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "Put then UpdateRow of level",
			records: []events.Record{
				putRow(1, put("level", ots.Integer(0)), put("message", ots.String("a"))),
				updateRow(1, put("level", ots.Integer(3))),
			},
			want: []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(3)), cell("message", ots.String("a")))},
		},
		{
			name:    "Delete then Put",
			records: []events.Record{deleteRow(1), putRow(1, put("level", ots.Integer(2)))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(2)))},
		},
		{
			name:    "Put then Delete",
			records: []events.Record{putRow(1, put("level", ots.Integer(2))), deleteRow(1)},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
		},
		{
			name:    "Delete then UpdateRow of level builds the row from empty",
			records: []events.Record{deleteRow(1), updateRow(1, put("level", ots.Integer(4)))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(4)))},
		},
		{
			name:    "Delete then UpdateRow of message leaves a row without level",
			records: []events.Record{deleteRow(1), updateRow(1, put("message", ots.String("m")))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
		},
		{
			name:    "a PutRow replaces the row: earlier unknowns do not matter",
			records: []events.Record{updateRow(1, deleteOne("level", 3), put("level", ots.Integer(9))), putRow(1, put("level", ots.Integer(2)))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(2)))},
		},
		{
			name:    "DeleteOneVersion on level after a PutRow reads the source",
			records: []events.Record{putRow(1, put("level", ots.Integer(3))), updateRow(1, deleteOne("level", 10))},
			want:    []Mutation{readSource(1, []int{0, 1})},
		},
		{
			name:    "DeleteOneVersion on message after a PutRow reads the source",
			records: []events.Record{putRow(1, put("level", ots.Integer(3))), updateRow(1, deleteOne("message", 10))},
			want:    []Mutation{readSource(1, []int{0, 1})},
		},
		{
			name:    "DeleteOneVersion on level after a DeleteRow: there is no row",
			records: []events.Record{deleteRow(1), updateRow(1, deleteOne("level", 10))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
		},
		{
			name:    "DeleteOneVersion on message alone reads the source",
			records: []events.Record{updateRow(1, deleteOne("message", 10))},
			want:    []Mutation{readSource(1, []int{0})},
		},
		{
			name: "DeleteOneVersion on an unprojected column keeps the image",
			cfg:  levelAndMessage,
			records: []events.Record{
				putRow(1, put("level", ots.Integer(3)), put("message", ots.String("a")), put("note", ots.String("n"))),
				updateRow(1, deleteOne("note", 10)),
			},
			want: []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(3)), cell("message", ots.String("a")))},
		},
		{
			name:    "DeleteOneVersion on an unprojected column alone needs nothing",
			cfg:     levelAndMessage,
			records: []events.Record{updateRow(1, deleteOne("note", 10))},
		},
		{
			name:    "DeleteAllVersions on level after a PutRow deletes",
			records: []events.Record{putRow(1, put("level", ots.Integer(3)), put("message", ots.String("a"))), updateRow(1, deleteAll("level"))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
		},
		{
			name:    "a custom projection",
			cfg:     messageOnly,
			records: []events.Record{putRow(1, put("level", ots.Integer(3)), put("message", ots.String("a")), put("note", ots.String("n")))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0}, cell("message", ots.String("a")))},
		},
		{
			name:    "a custom projection of a column the row lacks",
			cfg:     messageOnly,
			records: []events.Record{putRow(1, put("level", ots.Integer(3)))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0})},
		},
	})
}

func TestPlanVersions(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:    "a PutRow with two versions keeps the newest (listed last)",
			records: []events.Record{putRow(1, putAt("level", ots.Integer(5), 10), putAt("level", ots.Integer(0), 20))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
		},
		{
			name:    "a PutRow with two versions keeps the newest (listed first)",
			records: []events.Record{putRow(1, putAt("level", ots.Integer(5), 20), putAt("level", ots.Integer(0), 10))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0}, cell("level", ots.Integer(5)))},
		},
		{
			name:    "an older version written later stays hidden",
			records: []events.Record{putRow(1, putAt("level", ots.Integer(3), 20)), updateRow(1, putAt("level", ots.Integer(0), 10))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(3)))},
		},
		{
			name:    "the same version written again is overwritten",
			records: []events.Record{putRow(1, putAt("level", ots.Integer(0), 10)), updateRow(1, putAt("level", ots.Integer(3), 10))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(3)))},
		},
		{
			name:    "a Put without timestamp is newer than any timestamp",
			records: []events.Record{putRow(1, putAt("level", ots.Integer(3), 10)), updateRow(1, put("level", ots.Integer(0)))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
		},
		{
			name:    "a timestamped Put does not hide a Put without timestamp",
			records: []events.Record{putRow(1, put("level", ots.Integer(3))), updateRow(1, putAt("level", ots.Integer(0), 99))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(3)))},
		},
		{
			name:    "after DeleteAllVersions any version is visible",
			records: []events.Record{putRow(1, putAt("level", ots.Integer(0), 20)), updateRow(1, deleteAll("level"), putAt("level", ots.Integer(3), 5))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(3)))},
		},
		{
			name:    "update changes keep the newest version per column",
			records: []events.Record{updateRow(1, putAt("message", ots.String("new"), 20)), updateRow(1, putAt("message", ots.String("old"), 10))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0, 1}, cell("message", ots.String("new")))},
		},
		{
			name:    "update changes: a later DeleteAllVersions wins",
			records: []events.Record{updateRow(1, putAt("message", ots.String("a"), 20), deleteAll("message"))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0}, cell("message", ots.Value{}))},
		},
		{
			name:    "update changes: a Put after DeleteAllVersions wins",
			records: []events.Record{updateRow(1, deleteAll("message")), updateRow(1, putAt("message", ots.String("b"), 1))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0, 1}, cell("message", ots.String("b")))},
		},
	})
}

func TestPlanValueKinds(t *testing.T) {
	got := plan(t, defaultRule, putRow(1,
		put("string", ots.String("s")),
		put("level", ots.Integer(7)),
		put("double", ots.Double(-1.5)),
		put("boolean", ots.Boolean(true)),
		put("binary", ots.Binary([]byte{0, 0xff})),
	))
	assert.Equal(t, []Mutation{mutation(ots.PutRow, 1, []int{0},
		cell("binary", ots.Binary([]byte{0, 0xff})),
		cell("boolean", ots.Boolean(true)),
		cell("double", ots.Double(-1.5)),
		cell("level", ots.Integer(7)),
		cell("string", ots.String("s")),
	)}, got.Mutations)
}

func TestPlanFilters(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:    "two filter columns: empty message",
			cfg:     twoColumns,
			records: []events.Record{putRow(1, put("level", ots.Integer(3)), put("message", ots.String("")))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
		},
		{
			name:    "two filter columns: both pass",
			cfg:     twoColumns,
			records: []events.Record{putRow(1, put("level", ots.Integer(3)), put("message", ots.String("x")))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0}, cell("level", ots.Integer(3)), cell("message", ots.String("x")))},
		},
		{
			name:    "two filter columns: a missing message is nil, and nil != \"\"",
			cfg:     twoColumns,
			records: []events.Record{putRow(1, put("level", ots.Integer(3)))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0}, cell("level", ots.Integer(3)))},
		},
		{
			name:    "two filter columns: an UpdateRow of message reads the source",
			cfg:     twoColumns,
			records: []events.Record{updateRow(1, put("message", ots.String("x")))},
			want:    []Mutation{readSource(1, []int{0})},
		},
		{
			name:    "two filter columns: an UpdateRow of another column updates",
			cfg:     twoColumns,
			records: []events.Record{updateRow(1, put("note", ots.String("n")))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0}, cell("note", ots.String("n")))},
		},
		{
			name:    "level == nil: a row without level passes",
			cfg:     trueOnEmpty,
			records: []events.Record{putRow(1, put("message", ots.String("a")))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0}, cell("message", ots.String("a")))},
		},
		{
			name:    "level == nil: a row whose columns were all deleted passes",
			cfg:     trueOnEmpty,
			records: []events.Record{putRow(1, put("message", ots.String("a"))), updateRow(1, deleteAll("message"))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1})},
		},
		{
			name:    "level == nil: deletes alone do not create a deleted row",
			cfg:     trueOnEmpty,
			records: []events.Record{deleteRow(1), updateRow(1, deleteAll("message"), deleteOne("level", 4))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
		},
		{
			name:    "level == nil: a Put after a DeleteRow creates the row",
			cfg:     trueOnEmpty,
			records: []events.Record{deleteRow(1), updateRow(1, put("message", ots.String("a"))), updateRow(1, deleteAll("message"))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0, 1, 2})},
		},
		{
			name:    "level == nil: a row with level fails",
			cfg:     trueOnEmpty,
			records: []events.Record{putRow(1, put("level", ots.Integer(3)))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
		},
	})
}

func TestPlanKeysInterleaved(t *testing.T) {
	got := plan(t, defaultRule,
		putRow(2, put("level", ots.Integer(3))),
		updateRow(1, put("message", ots.String("x"))),
		putRow(3, put("level", ots.Integer(0))),
		updateRow(2, put("message", ots.String("y"))),
		deleteRow(1),
		updateRow(3, put("level", ots.Integer(4))),
		updateRow(4, put("note", ots.String("n"))),
	)
	assert.Equal(t, []Mutation{
		mutation(ots.PutRow, 2, []int{0, 3}, cell("level", ots.Integer(3)), cell("message", ots.String("y"))),
		mutation(ots.DeleteRow, 1, []int{1, 4}),
		mutation(ots.PutRow, 3, []int{2, 5}, cell("level", ots.Integer(4))),
		mutation(ots.UpdateRowIfExists, 4, []int{6}, cell("note", ots.String("n"))),
	}, got.Mutations)
	assert.Equal(t, 4, got.Keys)
	assert.Empty(t, got.Invalid)
}

func TestPlanRecordsOfKeysShareNoCapacity(t *testing.T) {
	got := plan(t, defaultRule,
		putRow(1, put("level", ots.Integer(3))),
		putRow(2, put("level", ots.Integer(3))),
		updateRow(1, put("message", ots.String("x"))),
		deleteRow(2),
	)
	require.Len(t, got.Mutations, 2)
	first := append(got.Mutations[0].Records, 99)
	assert.Equal(t, []int{0, 2, 99}, first)
	assert.Equal(t, []int{1, 3}, got.Mutations[1].Records, "appending to one key's Records leaves the next key's alone")
}

// TestPlanWideRows folds rows with more columns than a fold scans for, so that columns are
// found through its index, across PutRows that replace the row.
func TestPlanWideRows(t *testing.T) {
	const columns = 3 * linearColumns
	wide := func(version int64) []events.Column {
		cells := []events.Column{putAt("level", ots.Integer(2), version)}
		for i := range columns {
			cells = append(cells, putAt(fmt.Sprintf("c%02d", i), ots.Integer(version+int64(i)), version))
		}
		return cells
	}
	updates := []events.Column{
		putAt("c40", ots.String("newer"), 20),
		putAt("c41", ots.String("older"), 5),
		deleteAll("c42"),
		putAt("extra", ots.Boolean(true), 20),
	}
	got := plan(t, defaultRule, putRow(1, wide(1)...), putRow(1, wide(10)...), updateRow(1, updates...))

	want := []ots.Cell{}
	for i := range columns {
		value := ots.Integer(10 + int64(i))
		switch i {
		case 40:
			value = ots.String("newer")
		case 42:
			continue
		}
		want = append(want, cell(fmt.Sprintf("c%02d", i), value))
	}
	want = append(want, cell("extra", ots.Boolean(true)), cell("level", ots.Integer(2)))
	require.Len(t, got.Mutations, 1)
	assert.Equal(t, mutation(ots.PutRow, 1, []int{0, 1, 2}, want...), got.Mutations[0])
}

func TestPlanKeysWithoutMutationAreCounted(t *testing.T) {
	got := plan(t, levelOnly,
		updateRow(1, put("message", ots.String("x"))),
		updateRow(2, put("level", ots.Integer(3))),
	)
	assert.Equal(t, []Mutation{readSource(2, []int{1})}, got.Mutations)
	assert.Equal(t, []int{0}, got.Reads)
	assert.Equal(t, 2, got.Keys)
}

func TestPlanKeyIdentity(t *testing.T) {
	key := func(columns ...ots.PrimaryKeyColumn) []ots.PrimaryKeyColumn { return columns }
	rec := func(pk []ots.PrimaryKeyColumn) events.Record {
		return events.Record{Type: events.DeleteRow, PrimaryKey: pk}
	}
	intID := key(ots.PrimaryKeyColumn{ColumnName: "id", Value: ots.Integer(1)})
	stringID := key(ots.PrimaryKeyColumn{ColumnName: "id", Value: ots.String("1")})
	otherName := key(ots.PrimaryKeyColumn{ColumnName: "pk", Value: ots.Integer(1)})
	compound := key(ots.PrimaryKeyColumn{ColumnName: "a", Value: ots.String("x")}, ots.PrimaryKeyColumn{ColumnName: "b", Value: ots.Binary([]byte("y"))})
	// Same bytes split differently between columns must not collide.
	shifted := key(ots.PrimaryKeyColumn{ColumnName: "a", Value: ots.String("xy")}, ots.PrimaryKeyColumn{ColumnName: "b", Value: ots.Binary(nil)})

	got := compile(t, defaultRule).Plan(&events.Event{Records: []events.Record{
		rec(intID), rec(stringID), rec(otherName), rec(compound), rec(shifted), rec(intID), rec(compound),
	}})

	assert.Equal(t, 5, got.Keys)
	assert.Equal(t, []Mutation{
		{RowChange: ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: intID}, Records: []int{0, 5}},
		{RowChange: ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: stringID}, Records: []int{1}},
		{RowChange: ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: otherName}, Records: []int{2}},
		{RowChange: ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: compound}, Records: []int{3, 6}},
		{RowChange: ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: shifted}, Records: []int{4}},
	}, got.Mutations)
}

func TestPlanInvalidRecords(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name: "level holds a STRING: delete, and every record of the key is invalid",
			records: []events.Record{
				putRow(1, put("level", ots.Integer(0))),
				putRow(2, put("level", ots.Integer(5))),
				updateRow(1, put("level", ots.String("3"))),
			},
			want: []Mutation{
				mutation(ots.DeleteRow, 1, []int{0, 2}),
				mutation(ots.PutRow, 2, []int{1}, cell("level", ots.Integer(5))),
			},
			wantInvalid: []string{
				`0: filter "level > 1": column "level" holds STRING "3": invalid operation: string > int (1:7)`,
				`2: filter "level > 1": column "level" holds STRING "3": invalid operation: string > int (1:7)`,
			},
		},
		{
			name:        "level holds a BOOLEAN",
			records:     []events.Record{putRow(1, put("level", ots.Boolean(true)))},
			want:        []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
			wantInvalid: []string{`0: filter "level > 1": column "level" holds BOOLEAN true: invalid operation: bool > int (1:7)`},
		},
		{
			name:    "every filter column is named",
			cfg:     twoColumns,
			records: []events.Record{putRow(1, put("level", ots.String("3")), put("message", ots.String("m")))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
			wantInvalid: []string{
				`0: filter "level > 1 && message != \"\"": column "level" holds STRING "3", column "message" holds STRING "m": invalid operation: string > int (1:7)`,
			},
		},
		{
			name:    "a failure with a filter column missing means the row does not pass",
			cfg:     twoColumns,
			records: []events.Record{putRow(1, put("level", ots.String("3")))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
		},
		{
			name:    "long values are cut in the message",
			records: []events.Record{putRow(1, put("level", ots.String(strings.Repeat("9", 100))))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
			wantInvalid: []string{
				`0: filter "level > 1": column "level" holds STRING "` + strings.Repeat("9", 64) + `"…(100 bytes): invalid operation: string > int (1:7)`,
			},
		},
		{
			name:    "an UpdateRow without image is not evaluated",
			records: []events.Record{updateRow(1, put("level", ots.String("3")))},
			want:    []Mutation{readSource(1, []int{0})},
		},
	})
}

func TestPlanMalformedRecords(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:        "unknown record type",
			records:     []events.Record{record("Upsert", 1, put("level", ots.Integer(3)))},
			want:        []Mutation{readSource(1, []int{0})},
			wantInvalid: []string{`0: events: Type: unknown record type "Upsert" (want PutRow, UpdateRow or DeleteRow)`},
		},
		{
			name:        "unknown cell type",
			records:     []events.Record{putRow(1, put("level", ots.Integer(3))), updateRow(1, events.Column{Type: "Increment", ColumnName: "level"})},
			want:        []Mutation{readSource(1, []int{0, 1})},
			wantInvalid: []string{`1: events: Columns[0] "level".Type: unknown column type "Increment" (want Put, DeleteOneVersion or DeleteAllVersions)`},
		},
		{
			name:        "Put without a value",
			records:     []events.Record{updateRow(1, events.Column{Type: events.Put, ColumnName: "message"})},
			want:        []Mutation{readSource(1, []int{0})},
			wantInvalid: []string{`0: events: Columns[0] "message": a Put needs a Value`},
		},
		{
			name:        "cell without a column name",
			records:     []events.Record{updateRow(1, deleteAll(""))},
			want:        []Mutation{readSource(1, []int{0})},
			wantInvalid: []string{`0: events: Columns[0].ColumnName: empty column name`},
		},
		{
			name:        "no primary key",
			records:     []events.Record{{Type: events.DeleteRow}, putRow(1, put("level", ots.Integer(2)))},
			want:        []Mutation{mutation(ots.PutRow, 1, []int{1}, cell("level", ots.Integer(2)))},
			wantInvalid: []string{`0: record has no primary key`},
		},
		{
			name:        "a later PutRow replaces an unknown row",
			records:     []events.Record{record("Upsert", 1), putRow(1, put("level", ots.Integer(2)))},
			want:        []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(2)))},
			wantInvalid: []string{`0: events: Type: unknown record type "Upsert" (want PutRow, UpdateRow or DeleteRow)`},
		},
		{
			name:    "a malformed record is reported once when its key's image is invalid too",
			records: []events.Record{record("Upsert", 1), putRow(1, put("level", ots.String("x")))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
			wantInvalid: []string{
				`0: events: Type: unknown record type "Upsert" (want PutRow, UpdateRow or DeleteRow)`,
				`1: filter "level > 1": column "level" holds STRING "x": invalid operation: string > int (1:7)`,
			},
		},
	})
}

// TestPlanUnwritableRecords: a record holding what Tablestore refuses in a row, in its
// primary key or in a projected column, is invalid, and its key's row is read from the
// source table, which never holds such values; in a column the projection drops it is
// harmless.
func TestPlanUnwritableRecords(t *testing.T) {
	longKey := []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.String(strings.Repeat("k", ots.MaxPrimaryKeyValueBytes+1))}}
	runPlanCases(t, []planCase{
		{
			name:        "DOUBLE NaN",
			records:     []events.Record{putRow(1, put("level", ots.Integer(3)), put("ratio", ots.Double(math.NaN())))},
			want:        []Mutation{readSource(1, []int{0})},
			wantInvalid: []string{`0: column "ratio" holds DOUBLE NaN; Tablestore stores no NaN or infinity`},
		},
		{
			name: "infinity in an UpdateRow, after a full image",
			records: []events.Record{
				putRow(1, put("level", ots.Integer(3))),
				updateRow(1, put("ratio", ots.Double(math.Inf(-1)))),
				putRow(2, put("level", ots.Integer(2))),
			},
			want: []Mutation{
				readSource(1, []int{0, 1}),
				mutation(ots.PutRow, 2, []int{2}, cell("level", ots.Integer(2))),
			},
			wantInvalid: []string{`1: column "ratio" holds DOUBLE -Inf; Tablestore stores no NaN or infinity`},
		},
		{
			name:        "an attribute value over 2 MB",
			records:     []events.Record{updateRow(1, put("message", ots.Binary(make([]byte, ots.MaxAttributeValueBytes+1))))},
			want:        []Mutation{readSource(1, []int{0})},
			wantInvalid: []string{`0: column "message" holds BINARY 0x` + strings.Repeat("00", ots.MaxQuoted) + `…(2097153 bytes), longer than Tablestore's limit of 2097152 bytes for an attribute value`},
		},
		{
			name:        "a primary key value over 1 KB: no table holds such a key",
			records:     []events.Record{{Type: events.DeleteRow, PrimaryKey: longKey}, putRow(2, put("level", ots.Integer(2)))},
			want:        []Mutation{mutation(ots.PutRow, 2, []int{1}, cell("level", ots.Integer(2)))},
			wantInvalid: []string{`0: primary key column "id" holds STRING "` + strings.Repeat("k", ots.MaxQuoted) + `"…(1025 bytes), longer than Tablestore's limit of 1024 bytes for a primary key value`},
		},
		{
			name:        "a column name over 255 bytes",
			records:     []events.Record{updateRow(1, deleteAll(strings.Repeat("c", 256)))},
			want:        []Mutation{readSource(1, []int{0})},
			wantInvalid: []string{`0: column name "` + strings.Repeat("c", ots.MaxQuoted) + `" (256 bytes) is not 1-255 bytes long`},
		},
		{
			name:        "an attribute named like a primary key column",
			records:     []events.Record{putRow(1, put("level", ots.Integer(3)), put("id", ots.Integer(1)))},
			want:        []Mutation{readSource(1, []int{0})},
			wantInvalid: []string{`0: column "id" has the name of a primary key column`},
		},
		{
			name:        "a primary key column name Tablestore does not allow",
			records:     []events.Record{{Type: events.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "user id", Value: ots.Integer(1)}}}},
			want:        nil,
			wantInvalid: []string{`0: primary key column name "user id" is not a Tablestore name (1-255 bytes of [A-Za-z0-9_], not starting with a digit)`},
		},
		{
			name:    "a NaN the projection drops is never written",
			cfg:     messageOnly,
			records: []events.Record{putRow(1, put("level", ots.Integer(3)), put("message", ots.String("m")), put("ratio", ots.Double(math.NaN())))},
			want:    []Mutation{mutation(ots.PutRow, 1, []int{0}, cell("message", ots.String("m")))},
		},
		{
			name: "a later PutRow replaces the row an unwritable record left unknown",
			records: []events.Record{
				putRow(1, put("level", ots.Integer(3)), put("ratio", ots.Double(math.Inf(1)))),
				putRow(1, put("level", ots.Integer(2)), put("ratio", ots.Double(0.5))),
			},
			want:        []Mutation{mutation(ots.PutRow, 1, []int{0, 1}, cell("level", ots.Integer(2)), cell("ratio", ots.Double(0.5)))},
			wantInvalid: []string{`0: column "ratio" holds DOUBLE +Inf; Tablestore stores no NaN or infinity`},
		},
	})
}

func TestPlanEmptyEvent(t *testing.T) {
	got := compile(t, defaultRule).Plan(&events.Event{Version: events.Version})
	assert.Equal(t, Plan{}, got)
}

func TestPlanNilEvent(t *testing.T) {
	assert.Equal(t, Plan{}, compile(t, defaultRule).Plan(nil))
}
