package otslocal_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newRowTable starts a server with table "t" (pk "id" INTEGER, one version) and
// returns a client for it.
func newRowTable(t *testing.T) *tablestore.TableStoreClient {
	client, _ := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	return client
}

func TestPutRowThenGetRow(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)),
		"s", "héllo", "i", int64(-7), "d", 2.5, "b", true, "bin", []byte{0, 1, 255}, "empty", "")

	got := getRow(t, client, "t", key("id", int64(1)))
	assert.Equal(t, []*tablestore.PrimaryKeyColumn{{ColumnName: "id", Value: int64(1)}}, got.PrimaryKey.PrimaryKeys)
	names := make([]string, len(got.Columns))
	for i, c := range got.Columns {
		names[i] = c.ColumnName
		assert.NotZero(t, c.Timestamp, "column %s carries its version", c.ColumnName)
	}
	assert.Equal(t, []string{"b", "bin", "d", "empty", "i", "s"}, names, "columns come sorted by name")
	assert.Equal(t, map[string]any{
		"s": "héllo", "i": int64(-7), "d": 2.5, "b": true, "bin": []byte{0, 1, 255}, "empty": "",
	}, columnValues(got.Columns))
}

func TestGetRowOfAMissingRow(t *testing.T) {
	client := newRowTable(t)
	got := getRow(t, client, "t", key("id", int64(404)))
	assert.Empty(t, got.PrimaryKey.PrimaryKeys)
	assert.Empty(t, got.Columns)
}

func TestPutRowReplacesTheWholeRow(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)), "a", int64(1), "b", int64(2))
	putRow(t, client, "t", key("id", int64(1)), "c", int64(3))
	assert.Equal(t, map[string]any{"c": int64(3)}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))
}

func TestGetRowSelectsColumns(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)), "a", int64(1), "b", int64(2), "c", int64(3))
	read := func(criteria tablestore.SingleRowQueryCriteria) *tablestore.GetRowResponse {
		criteria.TableName, criteria.PrimaryKey, criteria.MaxVersion = "t", key("id", int64(1)), 1
		resp, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &criteria})
		require.NoError(t, err)
		return resp
	}

	got := read(tablestore.SingleRowQueryCriteria{ColumnsToGet: []string{"c", "a", "a", "unknown"}})
	assert.Equal(t, map[string]any{"a": int64(1), "c": int64(3)}, columnValues(got.Columns))

	got = read(tablestore.SingleRowQueryCriteria{ColumnsToGet: []string{"unknown"}})
	assert.Empty(t, got.PrimaryKey.PrimaryKeys, "no selected column: no row")

	got = read(tablestore.SingleRowQueryCriteria{ColumnsToGet: []string{"id"}})
	assert.Equal(t, []*tablestore.PrimaryKeyColumn{{ColumnName: "id", Value: int64(1)}}, got.PrimaryKey.PrimaryKeys)
	assert.Empty(t, got.Columns)

	got = read(tablestore.SingleRowQueryCriteria{StartColumn: proto.String("b"), EndColumn: proto.String("c")})
	assert.Equal(t, map[string]any{"b": int64(2)}, columnValues(got.Columns))
}

func TestUpdateRowAppliesEveryCellType(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)), "keep", "k", "gone", int64(1), "counter", int64(40))

	change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_EXPECT_EXIST)
	change.PutColumn("added", "new")
	change.DeleteColumn("gone")
	change.IncrementColumn("counter", 2)
	change.IncrementColumn("fresh_counter", 5)
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	require.NoError(t, err)

	assert.Equal(t, map[string]any{"keep": "k", "added": "new", "counter": int64(42), "fresh_counter": int64(5)},
		columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))
}

func TestUpdateRowCreatesTheRow(t *testing.T) {
	client := newRowTable(t)
	change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST)
	change.PutColumn("a", int64(1))
	change.DeleteColumn("b")
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"a": int64(1)}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))
}

func TestUpdateRowOfOnlyDeletesOnAMissingRowCreatesNothing(t *testing.T) {
	client := newRowTable(t)
	change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.DeleteColumn("a")
	change.DeleteColumnWithTimestamp("b", 1)
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	require.NoError(t, err)
	assert.Empty(t, getRow(t, client, "t", key("id", int64(1))).PrimaryKey.PrimaryKeys)
}

func TestRowExistsAfterAllItsColumnsAreDeleted(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)), "a", int64(1))
	change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.DeleteColumn("a")
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	require.NoError(t, err)

	got := getRow(t, client, "t", key("id", int64(1)))
	assert.Equal(t, []*tablestore.PrimaryKeyColumn{{ColumnName: "id", Value: int64(1)}}, got.PrimaryKey.PrimaryKeys)
	assert.Empty(t, got.Columns)

	again := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	again.SetCondition(tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST)
	_, err = client.PutRow(&tablestore.PutRowRequest{PutRowChange: again})
	requireOTSError(t, err, http.StatusForbidden, "OTSConditionCheckFail", "Condition check failed.")
}

func TestDeleteRow(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)), "a", int64(1))
	remove := func(expectation tablestore.RowExistenceExpectation) error {
		change := &tablestore.DeleteRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
		change.SetCondition(expectation)
		_, err := client.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: change})
		return err
	}
	require.NoError(t, remove(tablestore.RowExistenceExpectation_EXPECT_EXIST))
	assert.Empty(t, getRow(t, client, "t", key("id", int64(1))).PrimaryKey.PrimaryKeys)
	require.NoError(t, remove(tablestore.RowExistenceExpectation_IGNORE), "deleting a missing row with IGNORE succeeds")
	requireOTSError(t, remove(tablestore.RowExistenceExpectation_EXPECT_EXIST),
		http.StatusForbidden, "OTSConditionCheckFail", "Condition check failed.")
}

func TestRowExistenceExpectations(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)), "v", "before")
	tests := []struct {
		name        string
		id          int64
		update      bool
		expectation tablestore.RowExistenceExpectation
		fails       bool
	}{
		{"put expecting a missing row on an existing one", 1, false, tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST, true},
		{"put expecting an existing row on a missing one", 2, false, tablestore.RowExistenceExpectation_EXPECT_EXIST, true},
		{"update expecting an existing row on a missing one", 2, true, tablestore.RowExistenceExpectation_EXPECT_EXIST, true},
		{"update expecting a missing row on an existing one", 1, true, tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST, true},
		{"put expecting an existing row on an existing one", 1, false, tablestore.RowExistenceExpectation_EXPECT_EXIST, false},
		{"update expecting a missing row on a missing one", 3, true, tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.update {
				change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", tt.id)}
				change.SetCondition(tt.expectation)
				change.PutColumn("v", tt.name)
				_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
			} else {
				change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("id", tt.id)}
				change.SetCondition(tt.expectation)
				change.AddColumn("v", tt.name)
				_, err = client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
			}
			values := columnValues(getRow(t, client, "t", key("id", tt.id)).Columns)
			if tt.fails {
				requireOTSError(t, err, http.StatusForbidden, "OTSConditionCheckFail", "Condition check failed.")
				assert.NotEqual(t, tt.name, values["v"], "a failed condition writes nothing")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.name, values["v"])
		})
	}
}

func TestInvalidPrimaryKeys(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 1,
		primaryKeyColumn{"region", tablestore.PrimaryKeyType_STRING}, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	tests := []struct {
		name    string
		pk      *tablestore.PrimaryKey
		message string
	}{
		{"too few columns", key("region", "r"), "Validate PK size fail. Input: 1, Meta: 2."},
		{"too many columns", key("region", "r", "id", int64(1), "x", int64(2)), "Validate PK size fail. Input: 3, Meta: 2."},
		{"wrong name", key("region", "r", "idx", int64(1)), "Validate PK name fail. Input: idx, Meta: id."},
		{"wrong order", key("id", int64(1), "region", "r"), "Validate PK name fail. Input: id, Meta: region."},
		{"wrong type", key("region", int64(1), "id", int64(1)), "Validate PK type fail. Input: VT_INTEGER, Meta: VT_STRING."},
		{"binary for integer", key("region", "r", "id", []byte{1}), "Validate PK type fail. Input: VT_BLOB, Meta: VT_INTEGER."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
				TableName: "t", PrimaryKey: tt.pk, MaxVersion: 1,
			}})
			requireOTSError(t, err, http.StatusBadRequest, "OTSInvalidPK", tt.message)

			put := &tablestore.PutRowChange{TableName: "t", PrimaryKey: tt.pk}
			put.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
			put.AddColumn("a", int64(1))
			_, err = client.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
			requireOTSError(t, err, http.StatusBadRequest, "OTSInvalidPK", tt.message)

			update := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: tt.pk}
			update.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
			update.PutColumn("a", int64(1))
			_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: update})
			requireOTSError(t, err, http.StatusBadRequest, "OTSInvalidPK", tt.message)

			remove := &tablestore.DeleteRowChange{TableName: "t", PrimaryKey: tt.pk}
			remove.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
			_, err = client.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: remove})
			requireOTSError(t, err, http.StatusBadRequest, "OTSInvalidPK", tt.message)
		})
	}
}

func TestRowOperationsOnAMissingTable(t *testing.T) {
	client, _ := newClient(t)
	_, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: "nope", PrimaryKey: key("id", int64(1)), MaxVersion: 1,
	}})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")

	put := &tablestore.PutRowChange{TableName: "nope", PrimaryKey: key("id", int64(1))}
	put.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	_, err = client.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")
}

func TestAutoIncrementPrimaryKey(t *testing.T) {
	client, _ := newClient(t)
	meta := &tablestore.TableMeta{TableName: "t"}
	meta.AddPrimaryKeyColumn("shop", tablestore.PrimaryKeyType_STRING)
	meta.AddPrimaryKeyColumnOption("seq", tablestore.PrimaryKeyType_INTEGER, tablestore.AUTO_INCREMENT)
	_, err := client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta: meta, TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1}, ReservedThroughput: &tablestore.ReservedThroughput{},
	})
	require.NoError(t, err)

	insert := func(expectation tablestore.RowExistenceExpectation) (*tablestore.PutRowResponse, error) {
		pk := key("shop", "s")
		pk.AddPrimaryKeyColumnWithAutoIncrement("seq")
		change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: pk}
		change.SetCondition(expectation)
		change.AddColumn("item", "x")
		change.SetReturnPk()
		return client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	}
	first, err := insert(tablestore.RowExistenceExpectation_IGNORE)
	require.NoError(t, err)
	second, err := insert(tablestore.RowExistenceExpectation_IGNORE)
	require.NoError(t, err)
	require.Len(t, first.PrimaryKey.PrimaryKeys, 2)
	assert.Equal(t, "s", first.PrimaryKey.PrimaryKeys[0].Value)
	firstSeq, secondSeq := first.PrimaryKey.PrimaryKeys[1].Value.(int64), second.PrimaryKey.PrimaryKeys[1].Value.(int64)
	assert.Greater(t, secondSeq, firstSeq)
	assert.Equal(t, map[string]any{"item": "x"}, columnValues(getRow(t, client, "t", key("shop", "s", "seq", secondSeq)).Columns))

	_, err = insert(tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST)
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid",
		"Invalid expect: EXPECT_NOT_EXIST when modify row with pk auto increment.")

	pk := key("shop", "s")
	pk.AddPrimaryKeyColumnWithAutoIncrement("seq")
	_, err = client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: "t", PrimaryKey: pk, MaxVersion: 1,
	}})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "PKAutoIncr can't be used for read operations.")
}

func TestWriteLimits(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"pk", tablestore.PrimaryKeyType_STRING})
	put := func(pk string, columns ...any) error {
		change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("pk", pk)}
		change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		for i := 0; i < len(columns); i += 2 {
			change.AddColumn(columns[i].(string), columns[i+1])
		}
		_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
		return err
	}

	require.NoError(t, put(strings.Repeat("k", 1024), "a", strings.Repeat("v", 2<<20)))
	requireOTSError(t, put(strings.Repeat("k", 1025)), http.StatusBadRequest, "OTSParameterInvalid",
		"The length of primary key column: 'pk' exceeds the MaxLength:1024 with CurrentLength:1025.")
	requireOTSError(t, put("k", "a", make([]byte, 2<<20+1)), http.StatusBadRequest, "OTSParameterInvalid",
		"The length of attribute column: 'a' exceeds the MaxLength:2097152 with CurrentLength:2097153.")
	requireOTSError(t, put("k", "a", "\xff"), http.StatusBadRequest, "OTSParameterInvalid",
		"Value of column a must be UTF8 encoding.")

	var columns []any
	for i := range 1025 {
		columns = append(columns, "c"+strconv.Itoa(i), int64(i))
	}
	requireOTSError(t, put("k", columns...), http.StatusBadRequest, "OTSParameterInvalid",
		"The number of attribute columns exceeds the limit, limit count:1024, column count: 1025.")
}

func TestUpdateRowReturnsIncrementedValues(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)), "price", int64(10))
	change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.IncrementColumn("price", 5)
	change.IncrementColumn("stock", -1)
	change.SetReturnIncrementValue()
	change.AppendIncrementColumnToReturn("price")
	resp, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"price": int64(15)}, columnValues(resp.Columns))

	change = &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.IncrementColumn("price", 5)
	change.PutColumn("name", "n")
	change.SetReturnIncrementValue()
	change.AppendIncrementColumnToReturn("name")
	_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid",
		"Return column must be an increment column of the request, column name:name.")
	assert.Equal(t, map[string]any{"price": int64(15), "stock": int64(-1)},
		columnValues(getRow(t, client, "t", key("id", int64(1))).Columns), "a refused update writes nothing")
}

func TestIncrementOfANonIntegerColumnFails(t *testing.T) {
	client := newRowTable(t)
	putRow(t, client, "t", key("id", int64(1)), "name", "n")
	change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.IncrementColumn("name", 1)
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid",
		"Column type mismatch, column name:name, increment needs VT_INTEGER but the value is VT_STRING.")
}

// The Go SDK refuses a read without max versions or time range before sending it.
func TestGetRowRequiresAVersionCondition(t *testing.T) {
	client, srv := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	status, body := postMessage(t, srv, "GetRow", &otsprotocol.GetRowRequest{
		TableName: proto.String("t"), PrimaryKey: key("id", int64(1)).Build(false),
	})
	requireErrorBody(t, status, body, 400, "OTSParameterInvalid", "No version condition is specified while querying row.")
}

func TestConcurrentIncrementsAreAtomic(t *testing.T) {
	client := newRowTable(t)
	const writers, incrementsEach = 8, 25
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range incrementsEach {
				change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
				change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
				change.IncrementColumn("n", 1)
				_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, map[string]any{"n": int64(writers * incrementsEach)}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))
}
