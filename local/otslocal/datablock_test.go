package otslocal_test

import (
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// matrixRow is a row as a GetRange response holds it, without timestamps (SimpleRowMatrix
// carries none).
type matrixRow struct {
	primaryKey []any // name, value, name, value, …
	columns    []any // name, value, … in response order
}

func matrixRows(rows []*tablestore.Row) []matrixRow {
	var got []matrixRow
	for _, r := range rows {
		var m matrixRow
		for _, c := range r.PrimaryKey.PrimaryKeys {
			m.primaryKey = append(m.primaryKey, c.ColumnName, c.Value)
		}
		for _, c := range r.Columns {
			m.columns = append(m.columns, c.ColumnName, c.Value)
		}
		got = append(got, m)
	}
	return got
}

// newDataBlockTable starts a server with table "d" (region STRING, id INTEGER; two
// versions) holding three rows: every value type, a column with two versions, and a row
// with one column.
func newDataBlockTable(t *testing.T) *tablestore.TableStoreClient {
	client, _ := newClient(t)
	createTable(t, client, "d", 2,
		primaryKeyColumn{"region", tablestore.PrimaryKeyType_STRING}, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	putRow(t, client, "d", key("region", "a", "id", int64(1)),
		"i", int64(-7), "f", 1.5, "b", true, "s", "text", "bin", []byte{0, 1, 0xff})
	update := &tablestore.UpdateRowChange{TableName: "d", PrimaryKey: key("region", "a", "id", int64(2))}
	update.SetCondition(ignore)
	update.PutColumnWithTimestamp("s", "old", time.Now().UnixMilli()-60_000)
	update.PutColumn("s", "new")
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: update})
	require.NoError(t, err)
	putRow(t, client, "d", key("region", "b", "id", int64(3)), "b", false)
	return client
}

// dataBlockRange reads table "d" from (region, INF_MIN) to (INF_MAX, INF_MAX) in the
// given data block type.
func dataBlockRange(t *testing.T, client *tablestore.TableStoreClient, region string, criteria tablestore.RangeRowQueryCriteria) *tablestore.GetRangeResponse {
	t.Helper()
	criteria.TableName = "d"
	criteria.StartPrimaryKey = &tablestore.PrimaryKey{}
	criteria.StartPrimaryKey.AddPrimaryKeyColumn("region", region)
	criteria.StartPrimaryKey.AddPrimaryKeyColumnWithMinValue("id")
	criteria.EndPrimaryKey = &tablestore.PrimaryKey{}
	criteria.EndPrimaryKey.AddPrimaryKeyColumnWithMaxValue("region")
	criteria.EndPrimaryKey.AddPrimaryKeyColumnWithMaxValue("id")
	criteria.Direction = tablestore.FORWARD
	resp, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &criteria})
	require.NoError(t, err)
	return resp
}

func TestGetRangeAnswersInTheDataBlockTypeAsked(t *testing.T) {
	client := newDataBlockTable(t)
	want := []matrixRow{
		{[]any{"region", "a", "id", int64(1)}, []any{"b", true, "bin", []byte{0, 1, 0xff}, "f", 1.5, "i", int64(-7), "s", "text"}},
		{[]any{"region", "a", "id", int64(2)}, []any{"s", "new"}},
		{[]any{"region", "b", "id", int64(3)}, []any{"b", false}},
	}

	plain := dataBlockRange(t, client, "a", tablestore.RangeRowQueryCriteria{MaxVersion: 1})
	assert.Equal(t, tablestore.PlainBuffer, plain.DataBlockType, "PlainBuffer unless asked otherwise")
	assert.Equal(t, want, matrixRows(plain.Rows))

	matrix := dataBlockRange(t, client, "a", tablestore.RangeRowQueryCriteria{MaxVersion: 1, DataBlockType: tablestore.SimpleRowMatrix})
	assert.Equal(t, tablestore.SimpleRowMatrix, matrix.DataBlockType)
	assert.Equal(t, want, matrixRows(matrix.Rows), "the same rows; a column a row lacks is left out")

	twoVersions := dataBlockRange(t, client, "a", tablestore.RangeRowQueryCriteria{MaxVersion: 2, DataBlockType: tablestore.SimpleRowMatrix})
	assert.Equal(t, want, matrixRows(twoVersions.Rows), "one value per column: the newest version read")

	onlyS := dataBlockRange(t, client, "a", tablestore.RangeRowQueryCriteria{
		MaxVersion: 1, DataBlockType: tablestore.SimpleRowMatrix, ColumnsToGet: []string{"id", "s"}, ReturnSpecifiedPkOnly: true,
	})
	assert.Equal(t, []matrixRow{
		{[]any{"id", int64(1)}, []any{"s", "text"}},
		{[]any{"id", int64(2)}, []any{"s", "new"}},
		{[]any{"id", int64(3)}, nil},
	}, matrixRows(onlyS.Rows), "the primary key columns asked for, and the columns asked for")

	page := dataBlockRange(t, client, "a", tablestore.RangeRowQueryCriteria{MaxVersion: 1, DataBlockType: tablestore.SimpleRowMatrix, Limit: 2})
	assert.Equal(t, want[:2], matrixRows(page.Rows))
	require.NotNil(t, page.NextStartPrimaryKey)
	assert.Equal(t, []any{"region", "b", "id", int64(3)}, primaryKeyValues(page.NextStartPrimaryKey))

	empty := dataBlockRange(t, client, "c", tablestore.RangeRowQueryCriteria{MaxVersion: 1, DataBlockType: tablestore.SimpleRowMatrix})
	assert.Equal(t, tablestore.SimpleRowMatrix, empty.DataBlockType, "an empty page is a block with no row")
	assert.Empty(t, empty.Rows)
}
