package otslocal_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
)

// newFilterTable starts a server with table "t" (pk "id" INTEGER, 3 versions) and rows
// 1..n, row i holding {level: i, name: "row<i>"}.
func newFilterTable(t *testing.T, n int) (*tablestore.TableStoreClient, *otslocal.Server) {
	t.Helper()
	client, srv := newClient(t)
	createTable(t, client, "t", 3, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	for first := 1; first <= n; first += 200 {
		request := &tablestore.BatchWriteRowRequest{}
		for i := first; i <= min(n, first+199); i++ {
			request.AddRowChange(putChange("t", key("id", int64(i)), ignore, "level", int64(i), "name", fmt.Sprintf("row%d", i)))
		}
		_, err := client.BatchWriteRow(request)
		require.NoError(t, err)
	}
	return client, srv
}

// getFiltered reads row id with the filter and returns its columns by name (latest
// version), or nil when the row came back empty.
func getFiltered(t *testing.T, client *tablestore.TableStoreClient, id int64, filter tablestore.ColumnFilter, columnsToGet ...string) map[string]any {
	t.Helper()
	criteria := &tablestore.SingleRowQueryCriteria{TableName: "t", PrimaryKey: key("id", id), MaxVersion: 1, ColumnsToGet: columnsToGet}
	criteria.SetFilter(filter)
	resp, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: criteria})
	require.NoError(t, err)
	if len(resp.PrimaryKey.PrimaryKeys) == 0 {
		require.Empty(t, resp.Columns)
		return nil
	}
	return columnValues(resp.Columns)
}

// rangeIDs reads rows [from, to) with the filter and limit (0: none) and returns the ids
// of one response and its next start id (0: none).
func rangeIDs(t *testing.T, client *tablestore.TableStoreClient, from, to int64, limit int32, filter tablestore.ColumnFilter) ([]int64, int64) {
	t.Helper()
	criteria := &tablestore.RangeRowQueryCriteria{
		TableName: "t", StartPrimaryKey: key("id", from), EndPrimaryKey: key("id", to),
		Direction: tablestore.FORWARD, MaxVersion: 1, Limit: limit, Filter: filter,
	}
	resp, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: criteria})
	require.NoError(t, err)
	ids := []int64{}
	for _, r := range resp.Rows {
		ids = append(ids, r.PrimaryKey.PrimaryKeys[0].Value.(int64))
	}
	if resp.NextStartPrimaryKey == nil {
		return ids, 0
	}
	return ids, resp.NextStartPrimaryKey.PrimaryKeys[0].Value.(int64)
}

func TestGetRowFilter(t *testing.T) {
	client, _ := newFilterTable(t, 2)
	levelAbove1 := condition("level", tablestore.CT_GREATER_THAN, int64(1), true, true)
	assert.Nil(t, getFiltered(t, client, 1, levelAbove1), "a row that fails the filter comes back empty")
	assert.Equal(t, map[string]any{"level": int64(2), "name": "row2"}, getFiltered(t, client, 2, levelAbove1))
	assert.Equal(t, map[string]any{"level": int64(1), "name": "row1"},
		getFiltered(t, client, 1, composite(tablestore.LO_OR, levelAbove1, condition("name", tablestore.CT_EQUAL, "row1", true, true))))
	assert.Nil(t, getFiltered(t, client, 3, condition("level", tablestore.CT_GREATER_THAN, int64(1), false, true)), "no row, whatever the filter")
}

// The filter sees the row as the read selected it: a column left out of columns_to_get
// is missing to it.
func TestFilterSeesOnlyTheColumnsToGet(t *testing.T) {
	client, _ := newFilterTable(t, 2)
	assert.Equal(t, map[string]any{"level": int64(2), "name": "row2"},
		getFiltered(t, client, 2, condition("level", tablestore.CT_GREATER_THAN, int64(1), true, true), "name", "level"))
	assert.Nil(t, getFiltered(t, client, 2, condition("level", tablestore.CT_GREATER_THAN, int64(1), true, true), "name"),
		"level is missing to the filter, and filter_if_missing drops the row")
	assert.Equal(t, map[string]any{"name": "row1"},
		getFiltered(t, client, 1, condition("level", tablestore.CT_GREATER_THAN, int64(1), false, true), "name"),
		"level is missing to the filter, and the row passes without it")
}

// The filter sees the versions that max_versions and the time range select.
func TestFilterSeesTheSelectedVersions(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 3, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	now := putTwoLevelVersions(t, client)

	read := func(criteria tablestore.SingleRowQueryCriteria) []int64 {
		criteria.TableName, criteria.PrimaryKey = "t", key("id", int64(1))
		criteria.SetFilter(condition("level", tablestore.CT_EQUAL, int64(1), true, false))
		resp, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &criteria})
		require.NoError(t, err)
		levels := []int64{}
		for _, c := range resp.Columns {
			levels = append(levels, c.Value.(int64))
		}
		return levels
	}
	assert.Empty(t, read(tablestore.SingleRowQueryCriteria{MaxVersion: 1}), "only level 9 is selected")
	assert.Equal(t, []int64{9, 1}, read(tablestore.SingleRowQueryCriteria{MaxVersion: 2}), "level 1 is selected; every selected version comes back")
	assert.Equal(t, []int64{1}, read(tablestore.SingleRowQueryCriteria{TimeRange: &tablestore.TimeRange{Start: now - 2000, End: now - 1000}}))
	assert.Empty(t, read(tablestore.SingleRowQueryCriteria{TimeRange: &tablestore.TimeRange{Specific: now - 1000}}))
}

func TestColumnPaginationFilter(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 2, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	now := time.Now().UnixMilli()
	change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	for i, name := range []string{"e", "a", "c", "b", "d"} {
		change.AddColumnWithTimestamp(name, int64(name[0]-'a'+1), now-2000+int64(i))
	}
	change.AddColumnWithTimestamp("b", int64(20), now-1000) // a second version of b only
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)

	page := func(offset, limit int32, maxVersions int, columnsToGet ...string) []string {
		criteria := &tablestore.SingleRowQueryCriteria{TableName: "t", PrimaryKey: key("id", int64(1)), MaxVersion: int32(maxVersions), ColumnsToGet: columnsToGet}
		criteria.SetFilter(&tablestore.PaginationFilter{Offset: offset, Limit: limit})
		resp, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: criteria})
		require.NoError(t, err)
		require.NotEmpty(t, resp.PrimaryKey.PrimaryKeys)
		cells := []string{}
		for _, c := range resp.Columns {
			cells = append(cells, fmt.Sprintf("%s=%d", c.ColumnName, c.Value))
		}
		return cells
	}
	assert.Equal(t, []string{"b=20", "c=3"}, page(1, 2, 1))
	assert.Equal(t, []string{"b=20", "b=2", "c=3"}, page(1, 2, 2), "a column comes with all its selected versions")
	assert.Equal(t, []string{"d=4", "e=5"}, page(3, 10, 1))
	assert.Equal(t, []string{}, page(5, 1, 1), "past the last column the row keeps its primary key only")
	assert.Equal(t, []string{"c=3", "e=5"}, page(1, 5, 1, "a", "c", "e"), "the page is taken from the columns to get")
}

func TestBatchGetRowFilter(t *testing.T) {
	client, _ := newFilterTable(t, 3)
	criteria := &tablestore.MultiRowQueryCriteria{TableName: "t", MaxVersion: 1}
	for id := range int64(3) {
		criteria.AddRow(key("id", id+1))
	}
	criteria.SetFilter(condition("level", tablestore.CT_NOT_EQUAL, int64(2), true, true))
	resp, err := client.BatchGetRow(&tablestore.BatchGetRowRequest{MultiRowQueryCriteria: []*tablestore.MultiRowQueryCriteria{criteria}})
	require.NoError(t, err)
	var got []map[string]any
	for _, r := range resp.TableToRowsResult["t"] {
		require.True(t, r.IsSucceed)
		if r.PrimaryKey.PrimaryKeys == nil {
			got = append(got, nil)
			continue
		}
		got = append(got, columnValues(r.Columns))
	}
	assert.Equal(t, []map[string]any{{"level": int64(1), "name": "row1"}, nil, {"level": int64(3), "name": "row3"}}, got)
}

func TestGetRangeFilter(t *testing.T) {
	client, _ := newFilterTable(t, 10)
	even := composite(tablestore.LO_OR,
		condition("level", tablestore.CT_EQUAL, int64(2), true, true),
		condition("level", tablestore.CT_EQUAL, int64(4), true, true),
		condition("level", tablestore.CT_GREATER_EQUAL, int64(8), true, true))
	ids, next := rangeIDs(t, client, 1, 11, 0, even)
	assert.Equal(t, []int64{2, 4, 8, 9, 10}, ids)
	assert.Zero(t, next)

	ids, next = rangeIDs(t, client, 1, 11, 2, even)
	assert.Equal(t, []int64{2, 4}, ids, "the limit counts returned rows")
	assert.Equal(t, int64(5), next)

	ids, _ = rangeIDs(t, client, 1, 11, 0, condition("id", tablestore.CT_GREATER_THAN, int64(7), true, true))
	assert.Equal(t, []int64{8, 9, 10}, ids, "a filter may test a primary key column")

	ids, _ = rangeIDs(t, client, 1, 11, 0, &tablestore.PaginationFilter{Offset: 1, Limit: 1})
	assert.Len(t, ids, 10, "a column page keeps every row")
}

// Rows the filter drops still count toward the 5000 rows one GetRange scans, so a
// response may hold no rows and still a next start key.
func TestGetRangeFilterScansAtMost5000Rows(t *testing.T) {
	client, _ := newFilterTable(t, 5003)
	last3 := condition("level", tablestore.CT_GREATER_THAN, int64(5000), true, true)
	ids, next := rangeIDs(t, client, 1, 6000, 0, last3)
	assert.Empty(t, ids)
	assert.Equal(t, int64(5001), next)
	ids, next = rangeIDs(t, client, next, 6000, 0, last3)
	assert.Equal(t, []int64{5001, 5002, 5003}, ids)
	assert.Zero(t, next)
}

// getRowWithFilter sends a GetRow with raw filter bytes, as an SDK would without its
// own encoding, and returns the status and body.
func getRowWithFilter(t *testing.T, srv *otslocal.Server, filter []byte) (int, []byte) {
	t.Helper()
	return postMessage(t, srv, "GetRow", &otsprotocol.GetRowRequest{
		TableName: proto.String("t"), PrimaryKey: key("id", int64(1)).Build(false), MaxVersions: proto.Int32(1), Filter: filter,
	})
}

// rawFilter serializes a Filter of the given type holding message.
func rawFilter(t *testing.T, filterType otsprotocol.FilterType, message proto.Message) []byte {
	t.Helper()
	inner, err := proto.Marshal(message)
	require.NoError(t, err)
	data, err := proto.Marshal(&otsprotocol.Filter{Type: filterType.Enum(), Filter: inner})
	require.NoError(t, err)
	return data
}

func TestFilterRequestErrors(t *testing.T) {
	client, srv := newFilterTable(t, 1)
	single := func(comparator otsprotocol.ComparatorType, value []byte) *otsprotocol.SingleColumnValueFilter {
		return &otsprotocol.SingleColumnValueFilter{
			Comparator: comparator.Enum(), ColumnName: proto.String("level"), ColumnValue: value,
			FilterIfMissing: proto.Bool(true), LatestVersionOnly: proto.Bool(true),
		}
	}
	integer7 := []byte{0x00, 7, 0, 0, 0, 0, 0, 0, 0} // VT_INTEGER 7, without a length prefix
	levelIs7 := &otsprotocol.Filter{Type: otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE.Enum(), Filter: mustMarshal(t, single(otsprotocol.ComparatorType_CT_EQUAL, integer7))}
	page := &otsprotocol.Filter{Type: otsprotocol.FilterType_FT_COLUMN_PAGINATION.Enum(),
		Filter: mustMarshal(t, &otsprotocol.ColumnPaginationFilter{Offset: proto.Int32(0), Limit: proto.Int32(1)})}
	and := func(subs ...*otsprotocol.Filter) *otsprotocol.CompositeColumnValueFilter {
		return &otsprotocol.CompositeColumnValueFilter{Combinator: otsprotocol.LogicalOperator_LO_AND.Enum(), SubFilters: subs}
	}
	var eleven []*otsprotocol.Filter
	for range 11 {
		eleven = append(eleven, levelIs7)
	}
	withRule := single(otsprotocol.ComparatorType_CT_EQUAL, integer7)
	withRule.ValueTransRule = &otsprotocol.ValueTransferRule{Regex: proto.String("(\\d+)")}
	cases := []struct {
		name    string
		filter  []byte
		message string
	}{
		{"not a filter", []byte{0xff, 0xff}, "Deserialize filter failed."},
		{"unknown type", rawFilter(t, otsprotocol.FilterType(9), single(otsprotocol.ComparatorType_CT_EQUAL, integer7)), "Invalid type of filter: 9."},
		{"broken single", mustMarshal(t, &otsprotocol.Filter{Type: otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE.Enum(), Filter: []byte{0xff}}), "Deserialize relation filter failed."},
		{"unknown comparator", rawFilter(t, otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE, single(otsprotocol.ComparatorType(7), integer7)), "Invalid relation operator: 7."},
		{"truncated value", rawFilter(t, otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE, single(otsprotocol.ComparatorType_CT_EQUAL, integer7[:5])), "Deserialize relation filter failed."},
		{"INF_MIN value", rawFilter(t, otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE, single(otsprotocol.ComparatorType_CT_EQUAL, []byte{0x09})), "Deserialize relation filter failed."},
		{"regular expression", rawFilter(t, otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE, withRule), "Unsupported operation: value_trans_rule."},
		{"broken composite", mustMarshal(t, &otsprotocol.Filter{Type: otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE.Enum(), Filter: []byte{0xff}}), "Deserialize composite filter failed."},
		{"NOT of two", rawFilter(t, otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE,
			&otsprotocol.CompositeColumnValueFilter{Combinator: otsprotocol.LogicalOperator_LO_NOT.Enum(), SubFilters: []*otsprotocol.Filter{levelIs7, levelIs7}}),
			"Invalid NOT operator: the number of sub-filters must be 1."},
		{"AND of one", rawFilter(t, otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE, and(levelIs7)), "Invalid AND/OR operator: the number of sub-filters must be 2."},
		{"unknown operator", rawFilter(t, otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE,
			&otsprotocol.CompositeColumnValueFilter{Combinator: otsprotocol.LogicalOperator(4).Enum(), SubFilters: []*otsprotocol.Filter{levelIs7, levelIs7}}),
			"Invalid logical operator: 4."},
		{"page in a composite", rawFilter(t, otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE, and(levelIs7, page)), "Invalid type of sub-filter: FT_COLUMN_PAGINATION."},
		{"eleven conditions", rawFilter(t, otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE, and(eleven...)), "The count of filter exceeds the max:10."},
		{"broken page", mustMarshal(t, &otsprotocol.Filter{Type: otsprotocol.FilterType_FT_COLUMN_PAGINATION.Enum(), Filter: []byte{0xff}}), "Deserialize column pagination filter failed."},
		{"negative offset", rawFilter(t, otsprotocol.FilterType_FT_COLUMN_PAGINATION, &otsprotocol.ColumnPaginationFilter{Offset: proto.Int32(-1), Limit: proto.Int32(1)}),
			"Offset in ColumnPaginationFilter must be greater than or equal to 0."},
		{"zero limit", rawFilter(t, otsprotocol.FilterType_FT_COLUMN_PAGINATION, &otsprotocol.ColumnPaginationFilter{Offset: proto.Int32(0), Limit: proto.Int32(0)}),
			"Limit in ColumnPaginationFilter must be greater than 0."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, body := getRowWithFilter(t, srv, c.filter)
			requireErrorBody(t, status, body, http.StatusBadRequest, "OTSParameterInvalid", c.message)
		})
	}

	deep := levelIs7
	for range 40 {
		deep = &otsprotocol.Filter{Type: otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE.Enum(), Filter: mustMarshal(t,
			&otsprotocol.CompositeColumnValueFilter{Combinator: otsprotocol.LogicalOperator_LO_NOT.Enum(), SubFilters: []*otsprotocol.Filter{deep}})}
	}
	status, body := getRowWithFilter(t, srv, mustMarshal(t, deep))
	requireErrorBody(t, status, body, http.StatusBadRequest, "OTSParameterInvalid", "The depth of filter exceeds the max:32.")

	status, body = getRowWithFilter(t, srv, mustMarshal(t, levelIs7))
	require.Equal(t, http.StatusOK, status, "a well-formed filter over the wire: %s", body)

	// The SDK's own encoding of the same limits.
	tooMany := tablestore.NewCompositeColumnCondition(tablestore.LO_AND)
	for range 11 {
		tooMany.AddFilter(condition("level", tablestore.CT_EQUAL, int64(1), true, true))
	}
	criteria := &tablestore.SingleRowQueryCriteria{TableName: "t", PrimaryKey: key("id", int64(1)), MaxVersion: 1}
	criteria.SetFilter(tooMany)
	_, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: criteria})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "The count of filter exceeds the max:10.")
}

func mustMarshal(t *testing.T, message proto.Message) []byte {
	t.Helper()
	data, err := proto.Marshal(message)
	require.NoError(t, err)
	return data
}
