package modeltest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

// Version is one version of an attribute column.
type Version struct {
	// Timestamp is the version, in ms.
	Timestamp int64
	Value     ots.Value
}

// Row is a source row: attribute column name → versions, newest first. A row with no
// columns left still exists.
type Row map[string][]Version

// Image is a row's visible values: attribute column name → the latest version's value.
type Image map[string]ots.Value

// SourceModel is the tests' own model of the source table, keyed by `id`, following
// Tablestore's documented semantics: PutRow replaces the row; UpdateRow changes the cells
// it lists and creates the row only if it puts a value; DeleteRow removes the row; a Put at
// an existing timestamp replaces that version; at most SourceMaxVersions are kept.
type SourceModel struct {
	// Rows are the rows by id.
	Rows map[int64]Row
}

// NewSourceModel returns the model of an empty table.
func NewSourceModel() *SourceModel {
	return &SourceModel{Rows: map[int64]Row{}}
}

// Apply performs one generated record's operation.
func (m *SourceModel) Apply(rec events.Record) {
	id, _ := rec.PrimaryKey[0].Value.Int()
	switch rec.Type {
	case events.DeleteRow:
		delete(m.Rows, id)
	case events.PutRow:
		row := Row{}
		for _, c := range rec.Columns {
			row.put(c.ColumnName, Version{*c.Timestamp, c.Value})
		}
		m.Rows[id] = row
	case events.UpdateRow:
		row, exists := m.Rows[id]
		if !exists {
			if !slices.ContainsFunc(rec.Columns, func(c events.Column) bool { return c.Type == events.Put }) {
				return
			}
			row = Row{}
			m.Rows[id] = row
		}
		for _, c := range rec.Columns {
			switch c.Type {
			case events.Put:
				row.put(c.ColumnName, Version{*c.Timestamp, c.Value})
			case events.DeleteAllVersions:
				delete(row, c.ColumnName)
			case events.DeleteOneVersion:
				row.deleteVersion(c.ColumnName, *c.Timestamp)
			}
		}
	}
}

// put adds a version, replacing one at the same timestamp, and keeps the newest
// SourceMaxVersions.
func (r Row) put(column string, v Version) {
	versions := slices.DeleteFunc(r[column], func(old Version) bool { return old.Timestamp == v.Timestamp })
	versions = append(versions, v)
	slices.SortFunc(versions, func(a, b Version) int { return cmp.Compare(b.Timestamp, a.Timestamp) })
	r[column] = versions[:min(len(versions), SourceMaxVersions)]
}

// deleteVersion removes the version at timestamp, if any; a column without versions is gone.
func (r Row) deleteVersion(column string, timestamp int64) {
	versions := slices.DeleteFunc(r[column], func(v Version) bool { return v.Timestamp == timestamp })
	if len(versions) == 0 {
		delete(r, column)
		return
	}
	r[column] = versions
}

// Image returns the row's latest values.
func (r Row) Image() Image {
	image := Image{}
	for column, versions := range r {
		image[column] = versions[0].Value
	}
	return image
}

// View is what the result table must hold under rule: the result row (the projection or
// the mapping) of every row that passes and that the rule can compute.
func (m *SourceModel) View(rule RuleCase) map[int64]Image {
	view := map[int64]Image{}
	for id, row := range m.Rows {
		if image := row.Image(); rule.Passes(image) {
			if result, ok := rule.Result(image); ok {
				view[id] = result
			}
		}
	}
	return view
}

// LatestImages returns the latest values of scanned rows.
func LatestImages(rows map[int64]Row) map[int64]Image {
	images := make(map[int64]Image, len(rows))
	for id, row := range rows {
		images[id] = row.Image()
	}
	return images
}

// WriteSource applies a record's operation to the source table with the SDK, as the
// application that owns the table would: row condition IGNORE, explicit timestamps.
func WriteSource(client *sdk.TableStoreClient, table string, rec events.Record) error {
	pk := new(sdk.PrimaryKey)
	for _, col := range rec.PrimaryKey {
		pk.AddPrimaryKeyColumn(col.ColumnName, col.Value.Any())
	}
	var err error
	switch rec.Type {
	case events.PutRow:
		change := &sdk.PutRowChange{TableName: table, PrimaryKey: pk}
		change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		for _, c := range rec.Columns {
			change.AddColumnWithTimestamp(c.ColumnName, c.Value.Any(), *c.Timestamp)
		}
		_, err = client.PutRow(&sdk.PutRowRequest{PutRowChange: change})
	case events.UpdateRow:
		change := &sdk.UpdateRowChange{TableName: table, PrimaryKey: pk}
		change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		for _, c := range rec.Columns {
			switch c.Type {
			case events.Put:
				change.PutColumnWithTimestamp(c.ColumnName, c.Value.Any(), *c.Timestamp)
			case events.DeleteAllVersions:
				change.DeleteColumn(c.ColumnName)
			case events.DeleteOneVersion:
				change.DeleteColumnWithTimestamp(c.ColumnName, *c.Timestamp)
			}
		}
		_, err = client.UpdateRow(&sdk.UpdateRowRequest{UpdateRowChange: change})
	case events.DeleteRow:
		change := &sdk.DeleteRowChange{TableName: table, PrimaryKey: pk}
		change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		_, err = client.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: change})
	default:
		err = fmt.Errorf("record type %q", rec.Type)
	}
	return err
}

// ScanTable reads every row of table with up to SourceMaxVersions+1 versions of every
// column (newest first; a version kept beyond max versions would show), with GetRange from
// INF_MIN to INF_MAX, page by page.
func ScanTable(client *sdk.TableStoreClient, table string) (map[int64]Row, error) {
	start, end := new(sdk.PrimaryKey), new(sdk.PrimaryKey)
	start.AddPrimaryKeyColumnWithMinValue(PrimaryKeyName)
	end.AddPrimaryKeyColumnWithMaxValue(PrimaryKeyName)
	rows := map[int64]Row{}
	for start != nil {
		resp, err := client.GetRange(&sdk.GetRangeRequest{RangeRowQueryCriteria: &sdk.RangeRowQueryCriteria{
			TableName: table, StartPrimaryKey: start, EndPrimaryKey: end, MaxVersion: scanMaxVersions, Direction: sdk.FORWARD,
		}})
		if err != nil {
			return nil, err
		}
		for _, row := range resp.Rows {
			if row.PrimaryKey == nil || len(row.PrimaryKey.PrimaryKeys) != 1 {
				return nil, fmt.Errorf("row with primary key %v, want one column %q", row.PrimaryKey, PrimaryKeyName)
			}
			id, ok := row.PrimaryKey.PrimaryKeys[0].Value.(int64)
			if !ok {
				return nil, fmt.Errorf("primary key %T %v, want INTEGER", row.PrimaryKey.PrimaryKeys[0].Value, row.PrimaryKey.PrimaryKeys[0].Value)
			}
			scanned := Row{}
			for _, col := range row.Columns {
				value, err := ots.ValueOf(col.Value)
				if err != nil {
					return nil, fmt.Errorf("row id=%d column %q: %w", id, col.ColumnName, err)
				}
				scanned[col.ColumnName] = append(scanned[col.ColumnName], Version{col.Timestamp, value})
			}
			rows[id] = scanned
		}
		start = resp.NextStartPrimaryKey
	}
	return rows, nil
}

// RenderVersions renders rows with every version, one line per row, by id, columns by
// name: `id=2: level=[INTEGER 3 @1767225600123, INTEGER 1 @1767225600101]`.
func RenderVersions(rows map[int64]Row) []string {
	return renderRows(rows, func(versions []Version) string {
		texts := make([]string, len(versions))
		for i, v := range versions {
			texts[i] = fmt.Sprintf("%s @%d", renderValue(v.Value), v.Timestamp)
		}
		return "[" + strings.Join(texts, ", ") + "]"
	})
}

// RenderImages renders row images, one line per row, by id, columns by name:
// `id=2: level=INTEGER 3, message=STRING "a"`.
func RenderImages(rows map[int64]Image) []string {
	return renderRows(rows, renderValue)
}

func renderRows[R ~map[string]C, C any](rows map[int64]R, render func(C) string) []string {
	lines := []string{}
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		row := rows[id]
		cells := make([]string, 0, len(row))
		for _, column := range slices.Sorted(maps.Keys(row)) {
			cells = append(cells, column+"="+render(row[column]))
		}
		lines = append(lines, fmt.Sprintf("id=%d: %s", id, strings.Join(cells, ", ")))
	}
	return lines
}

// renderValue renders a value exactly, with its kind: DOUBLE in the shortest form that
// reads back as the same bits (-0 included).
func renderValue(v ots.Value) string {
	if f, ok := v.Float(); ok {
		return "DOUBLE " + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return v.Kind().String() + " " + v.String()
}
