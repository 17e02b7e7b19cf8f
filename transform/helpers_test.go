package transform

import (
	"fmt"
	"testing"

	"github.com/otsetl/otsetl/ots"

	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
)

// Builders for events and mutations of the source table `source_data` (primary key `id`).

func pk(id int64) []ots.PrimaryKeyColumn {
	return []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}}
}

func record(t events.RecordType, id int64, cells ...events.Column) events.Record {
	return events.Record{Type: t, Info: events.RecordInfo{Timestamp: 1506416585740836}, PrimaryKey: pk(id), Columns: cells}
}

func putRow(id int64, cells ...events.Column) events.Record {
	return record(events.PutRow, id, cells...)
}

func updateRow(id int64, cells ...events.Column) events.Record {
	return record(events.UpdateRow, id, cells...)
}

func deleteRow(id int64) events.Record {
	return record(events.DeleteRow, id)
}

// put is a Put cell without a timestamp (the server stamps it: the newest version).
func put(name string, v ots.Value) events.Column {
	return events.Column{Type: events.Put, ColumnName: name, Value: v}
}

// putAt is a Put cell of the version at timestampMs.
func putAt(name string, v ots.Value, timestampMs int64) events.Column {
	return events.Column{Type: events.Put, ColumnName: name, Value: v, Timestamp: &timestampMs}
}

func deleteOne(name string, timestampMs int64) events.Column {
	return events.Column{Type: events.DeleteOneVersion, ColumnName: name, Timestamp: &timestampMs}
}

func deleteAll(name string) events.Column {
	return events.Column{Type: events.DeleteAllVersions, ColumnName: name}
}

func cell(name string, v ots.Value) ots.Cell {
	return ots.Cell{Name: name, Value: v}
}

func change(kind ots.RowChangeKind, id int64, cells ...ots.Cell) ots.RowChange {
	return ots.RowChange{Kind: kind, PrimaryKey: pk(id), Columns: cells}
}

func mutation(kind ots.RowChangeKind, id int64, records []int, cells ...ots.Cell) Mutation {
	return Mutation{RowChange: change(kind, id, cells...), Records: records}
}

// readSource is the mutation of a key whose row must be read from the source table: no
// row change but its primary key, and listed in Plan.Reads (readsOf).
func readSource(id int64, records []int) Mutation {
	return Mutation{RowChange: ots.RowChange{PrimaryKey: pk(id)}, Records: records}
}

// readsOf is Plan.Reads for the mutations want: the indexes of those without a row change.
func readsOf(want []Mutation) []int {
	var reads []int
	for i, m := range want {
		if m.Kind == 0 {
			reads = append(reads, i)
		}
	}
	return reads
}

func compile(t *testing.T, cfg Config) *Rule {
	t.Helper()
	rule, err := Compile(cfg)
	require.NoError(t, err)
	return rule
}

func plan(t *testing.T, cfg Config, records ...events.Record) Plan {
	t.Helper()
	return compile(t, cfg).Plan(&events.Event{Version: events.Version, Records: records})
}

// invalidTexts renders Plan.Invalid as "index: error" lines.
func invalidTexts(invalid []InvalidRecord) []string {
	var texts []string
	for _, rec := range invalid {
		texts = append(texts, fmt.Sprintf("%d: %v", rec.Index, rec.Err))
	}
	return texts
}
