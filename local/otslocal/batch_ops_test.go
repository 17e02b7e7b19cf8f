package otslocal_test

import (
	"net/http"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newBatchTables starts a server with tables "a" and "b" (pk "id" INTEGER).
func newBatchTables(t *testing.T) *tablestore.TableStoreClient {
	client, _ := newClient(t)
	createTable(t, client, "a", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	createTable(t, client, "b", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	return client
}

func putChange(table string, pk *tablestore.PrimaryKey, expectation tablestore.RowExistenceExpectation, columns ...any) *tablestore.PutRowChange {
	change := &tablestore.PutRowChange{TableName: table, PrimaryKey: pk}
	change.SetCondition(expectation)
	for i := 0; i < len(columns); i += 2 {
		change.AddColumn(columns[i].(string), columns[i+1])
	}
	return change
}

// rowOutcome is what a batch reports for one row.
type rowOutcome struct {
	ok      bool
	code    string
	message string
}

func outcomes(results []tablestore.RowResult) []rowOutcome {
	var got []rowOutcome
	for i, r := range results {
		if int(r.Index) != i {
			panic("rows out of order")
		}
		got = append(got, rowOutcome{r.IsSucceed, r.Error.Code, r.Error.Message})
	}
	return got
}

var (
	rowOK            = rowOutcome{ok: true}
	conditionFailed  = rowOutcome{code: "OTSConditionCheckFail", message: "Condition check failed."}
	ignore           = tablestore.RowExistenceExpectation_IGNORE
	expectExist      = tablestore.RowExistenceExpectation_EXPECT_EXIST
	expectNotExist   = tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST
	pkSizeMismatched = rowOutcome{code: "OTSInvalidPK", message: "Validate PK size fail. Input: 2, Meta: 1."}
)

func TestBatchWriteRowReportsEachRowInOrder(t *testing.T) {
	client := newBatchTables(t)
	putRow(t, client, "a", key("id", int64(2)), "v", "existing")
	putRow(t, client, "a", key("id", int64(4)), "v", "to delete")

	update := &tablestore.UpdateRowChange{TableName: "a", PrimaryKey: key("id", int64(3), "extra", int64(0))}
	update.SetCondition(ignore)
	update.PutColumn("v", "x")
	remove := &tablestore.DeleteRowChange{TableName: "a", PrimaryKey: key("id", int64(4))}
	remove.SetCondition(expectExist)

	request := &tablestore.BatchWriteRowRequest{}
	request.AddRowChange(putChange("a", key("id", int64(1)), ignore, "v", "one"))
	request.AddRowChange(putChange("a", key("id", int64(2)), expectNotExist, "v", "two"))
	request.AddRowChange(update)
	request.AddRowChange(remove)
	request.AddRowChange(putChange("b", key("id", int64(1)), expectExist, "v", "b1"))
	request.AddRowChange(putChange("b", key("id", int64(2)), ignore, "v", "b2"))
	resp, err := client.BatchWriteRow(request)
	require.NoError(t, err)

	assert.Equal(t, []rowOutcome{rowOK, conditionFailed, pkSizeMismatched, rowOK}, outcomes(resp.TableToRowsResult["a"]))
	assert.Equal(t, []rowOutcome{conditionFailed, rowOK}, outcomes(resp.TableToRowsResult["b"]))
	assert.Equal(t, map[string]any{"v": "one"}, columnValues(getRow(t, client, "a", key("id", int64(1))).Columns))
	assert.Equal(t, map[string]any{"v": "existing"}, columnValues(getRow(t, client, "a", key("id", int64(2))).Columns))
	assert.Empty(t, getRow(t, client, "a", key("id", int64(4))).PrimaryKey.PrimaryKeys)
	assert.Empty(t, getRow(t, client, "b", key("id", int64(1))).PrimaryKey.PrimaryKeys)
	assert.Equal(t, map[string]any{"v": "b2"}, columnValues(getRow(t, client, "b", key("id", int64(2))).Columns))
}

// The Go SDK lists tables in map order and maps results by position, so tables must
// come back in request order; a raw request pins that order down.
func TestBatchWriteRowAnswersTablesInRequestOrder(t *testing.T) {
	client, srv := newClient(t)
	for _, name := range []string{"a", "b", "c"} {
		createTable(t, client, name, 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	}
	row := func() *otsprotocol.RowInBatchWriteRowRequest {
		change := putChange("", key("id", int64(1)), ignore, "v", int64(1))
		return &otsprotocol.RowInBatchWriteRowRequest{
			Type:      otsprotocol.OperationType_PUT.Enum(),
			RowChange: change.Serialize(),
			Condition: &otsprotocol.Condition{RowExistence: otsprotocol.RowExistenceExpectation_IGNORE.Enum()},
		}
	}
	request := &otsprotocol.BatchWriteRowRequest{}
	for _, name := range []string{"c", "a", "b"} {
		request.Tables = append(request.Tables, &otsprotocol.TableInBatchWriteRowRequest{
			TableName: proto.String(name), Rows: []*otsprotocol.RowInBatchWriteRowRequest{row(), row()},
		})
	}
	status, body := postMessage(t, srv, "BatchWriteRow", request)
	require.Equal(t, http.StatusOK, status)
	var resp otsprotocol.BatchWriteRowResponse
	require.NoError(t, proto.Unmarshal(body, &resp))
	var names []string
	for _, table := range resp.Tables {
		names = append(names, table.GetTableName())
		require.Len(t, table.Rows, 2)
		for _, r := range table.Rows {
			assert.True(t, r.GetIsOk())
			assert.NotNil(t, r.GetConsumed().GetCapacityUnit().Read)
			assert.NotNil(t, r.GetConsumed().GetCapacityUnit().Write)
		}
	}
	assert.Equal(t, []string{"c", "a", "b"}, names)
}

func TestBatchWriteRowAppliesRepeatedRowsInOrder(t *testing.T) {
	client := newBatchTables(t)
	update := &tablestore.UpdateRowChange{TableName: "a", PrimaryKey: key("id", int64(1))}
	update.SetCondition(ignore)
	update.IncrementColumn("n", 5)
	update.DeleteColumn("gone")
	remove := &tablestore.DeleteRowChange{TableName: "a", PrimaryKey: key("id", int64(2))}
	remove.SetCondition(ignore)

	request := &tablestore.BatchWriteRowRequest{}
	request.AddRowChange(putChange("a", key("id", int64(1)), ignore, "n", int64(10), "gone", "x"))
	request.AddRowChange(update)
	request.AddRowChange(putChange("a", key("id", int64(2)), ignore, "v", "short lived"))
	request.AddRowChange(remove)
	resp, err := client.BatchWriteRow(request)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK, rowOK, rowOK, rowOK}, outcomes(resp.TableToRowsResult["a"]))
	assert.Equal(t, map[string]any{"n": int64(15)}, columnValues(getRow(t, client, "a", key("id", int64(1))).Columns))
	assert.Empty(t, getRow(t, client, "a", key("id", int64(2))).PrimaryKey.PrimaryKeys)
}

func TestBatchWriteRowRefusesRepeatedRowsWithAnExpectation(t *testing.T) {
	client := newBatchTables(t)
	request := &tablestore.BatchWriteRowRequest{}
	request.AddRowChange(putChange("a", key("id", int64(1)), ignore, "v", int64(1)))
	request.AddRowChange(putChange("a", key("id", int64(1)), expectExist, "v", int64(2)))
	request.AddRowChange(putChange("a", key("id", int64(9)), ignore, "v", int64(9)))
	_, err := client.BatchWriteRow(request)
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid",
		"Repeated rows do not support row exist expectation check in BatchModify.")
	assert.Empty(t, getRow(t, client, "a", key("id", int64(9))).PrimaryKey.PrimaryKeys, "nothing is written")
}

// The rows of an atomic batch share one partition key ("region"), as the service
// requires.
func TestAtomicBatchWriteRowIsAllOrNothing(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "a", 1, primaryKeyColumn{"region", tablestore.PrimaryKeyType_STRING}, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	putRow(t, client, "a", key("region", "eu", "id", int64(2)), "v", "existing")

	request := &tablestore.BatchWriteRowRequest{IsAtomic: true}
	request.AddRowChange(putChange("a", key("region", "eu", "id", int64(1)), ignore, "v", "one"))
	request.AddRowChange(putChange("a", key("region", "eu", "id", int64(2)), expectNotExist, "v", "two"))
	request.AddRowChange(putChange("a", key("region", "eu", "id", int64(3)), ignore, "v", "three"))
	resp, err := client.BatchWriteRow(request)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{conditionFailed, conditionFailed, conditionFailed}, outcomes(resp.TableToRowsResult["a"]))
	assert.Empty(t, getRow(t, client, "a", key("region", "eu", "id", int64(1))).PrimaryKey.PrimaryKeys)
	assert.Equal(t, map[string]any{"v": "existing"}, columnValues(getRow(t, client, "a", key("region", "eu", "id", int64(2))).Columns))
	assert.Empty(t, getRow(t, client, "a", key("region", "eu", "id", int64(3))).PrimaryKey.PrimaryKeys)

	request = &tablestore.BatchWriteRowRequest{IsAtomic: true}
	request.AddRowChange(putChange("a", key("region", "eu", "id", int64(1)), ignore, "v", "one"))
	request.AddRowChange(putChange("a", key("region", "eu", "id", int64(3)), ignore, "v", "three"))
	resp, err = client.BatchWriteRow(request)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK, rowOK}, outcomes(resp.TableToRowsResult["a"]))
	assert.Equal(t, map[string]any{"v": "three"}, columnValues(getRow(t, client, "a", key("region", "eu", "id", int64(3))).Columns))
}

func TestBatchWriteRowRequestErrors(t *testing.T) {
	client := newBatchTables(t)

	tooMany := &tablestore.BatchWriteRowRequest{}
	for i := range 201 {
		tooMany.AddRowChange(putChange("a", key("id", int64(i)), ignore, "v", int64(i)))
	}
	_, err := client.BatchWriteRow(tooMany)
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Rows count exceeds the upper limit: 200.")

	tooLarge := &tablestore.BatchWriteRowRequest{}
	for i := range 3 {
		tooLarge.AddRowChange(putChange("a", key("id", int64(i)), ignore, "v", make([]byte, 1500_000)))
	}
	_, err = client.BatchWriteRow(tooLarge)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "The total data size of BatchWriteRow request exceeds the limit, limit size: 4194304, data size: 45")

	unknownTable := &tablestore.BatchWriteRowRequest{}
	unknownTable.AddRowChange(putChange("nope", key("id", int64(1)), ignore, "v", int64(1)))
	_, err = client.BatchWriteRow(unknownTable)
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")

	_, err = client.BatchWriteRow(&tablestore.BatchWriteRowRequest{})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "No row is specified in BatchWriteRow.")
}

func TestBatchGetRow(t *testing.T) {
	client := newBatchTables(t)
	putRow(t, client, "a", key("id", int64(1)), "v", "a1")
	putRow(t, client, "a", key("id", int64(3)), "v", "a3", "w", "extra")
	putRow(t, client, "b", key("id", int64(1)), "v", "b1")

	request := &tablestore.BatchGetRowRequest{MultiRowQueryCriteria: []*tablestore.MultiRowQueryCriteria{
		{TableName: "a", MaxVersion: 1, ColumnsToGet: []string{"v"},
			PrimaryKey: []*tablestore.PrimaryKey{key("id", int64(3)), key("id", int64(2)), key("id", int64(1), "x", int64(0)), key("id", int64(1))}},
		{TableName: "b", MaxVersion: 1, PrimaryKey: []*tablestore.PrimaryKey{key("id", int64(1))}},
	}}
	resp, err := client.BatchGetRow(request)
	require.NoError(t, err)

	a := resp.TableToRowsResult["a"]
	assert.Equal(t, []rowOutcome{rowOK, rowOK, pkSizeMismatched, rowOK}, outcomes(a))
	assert.Equal(t, map[string]any{"v": "a3"}, columnValues(a[0].Columns))
	assert.Equal(t, []*tablestore.PrimaryKeyColumn{{ColumnName: "id", Value: int64(3)}}, a[0].PrimaryKey.PrimaryKeys)
	assert.Empty(t, a[1].PrimaryKey.PrimaryKeys, "a missing row succeeds with no row")
	assert.Equal(t, map[string]any{"v": "a1"}, columnValues(a[3].Columns))
	assert.Equal(t, map[string]any{"v": "b1"}, columnValues(resp.TableToRowsResult["b"][0].Columns))
}

func TestBatchGetRowRequestErrors(t *testing.T) {
	client := newBatchTables(t)
	var keys []*tablestore.PrimaryKey
	for i := range 101 {
		keys = append(keys, key("id", int64(i)))
	}
	_, err := client.BatchGetRow(&tablestore.BatchGetRowRequest{MultiRowQueryCriteria: []*tablestore.MultiRowQueryCriteria{
		{TableName: "a", MaxVersion: 1, PrimaryKey: keys},
	}})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Rows count exceeds the upper limit: 100.")

	_, err = client.BatchGetRow(&tablestore.BatchGetRowRequest{MultiRowQueryCriteria: []*tablestore.MultiRowQueryCriteria{
		{TableName: "nope", MaxVersion: 1, PrimaryKey: keys[:1]},
	}})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")

	_, err = client.BatchGetRow(&tablestore.BatchGetRowRequest{MultiRowQueryCriteria: []*tablestore.MultiRowQueryCriteria{
		{TableName: "a", MaxVersion: 1},
	}})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "No row specified in the request of BatchGetRow.")
}
