package otslocal_test

import (
	"net/http"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newConditionTable starts a server with table "t" (pk "id" INTEGER, 3 versions) holding
// row 1 {level: 5, name: "x"}.
func newConditionTable(t *testing.T) *tablestore.TableStoreClient {
	t.Helper()
	client, _ := newClient(t)
	createTable(t, client, "t", 3, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	putRow(t, client, "t", key("id", int64(1)), "level", int64(5), "name", "x")
	return client
}

// condition builds a single column condition with the given missing and version flags.
func condition(column string, comparator tablestore.ComparatorType, value any, filterIfMissing, latestVersionOnly bool) *tablestore.SingleColumnCondition {
	c := tablestore.NewSingleColumnCondition(column, comparator, value)
	c.FilterIfMissing = filterIfMissing
	c.LatestVersionOnly = latestVersionOnly
	return c
}

// composite combines conditions with a logical operator.
func composite(operator tablestore.LogicalOperator, filters ...tablestore.ColumnFilter) *tablestore.CompositeColumnValueFilter {
	c := tablestore.NewCompositeColumnCondition(operator)
	for _, f := range filters {
		c.AddFilter(f)
	}
	return c
}

// incrementIf increments column "writes" of row id under the column condition.
func incrementIf(client *tablestore.TableStoreClient, id int64, columnCondition tablestore.ColumnFilter) error {
	change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", id)}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.SetColumnCondition(columnCondition)
	change.IncrementColumn("writes", 1)
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	return err
}

// requireConditionResult checks that a conditional write succeeded (holds) or failed
// with 403 OTSConditionCheckFail.
func requireConditionResult(t *testing.T, err error, holds bool) {
	t.Helper()
	if holds {
		require.NoError(t, err)
		return
	}
	requireOTSError(t, err, http.StatusForbidden, "OTSConditionCheckFail", "Condition check failed.")
}

func TestColumnConditionComparators(t *testing.T) {
	client := newConditionTable(t)
	cases := []struct {
		comparator tablestore.ComparatorType
		operand    int64
		holds      bool
	}{
		{tablestore.CT_EQUAL, 5, true}, {tablestore.CT_EQUAL, 4, false},
		{tablestore.CT_NOT_EQUAL, 4, true}, {tablestore.CT_NOT_EQUAL, 5, false},
		{tablestore.CT_GREATER_THAN, 4, true}, {tablestore.CT_GREATER_THAN, 5, false},
		{tablestore.CT_GREATER_EQUAL, 5, true}, {tablestore.CT_GREATER_EQUAL, 6, false},
		{tablestore.CT_LESS_THAN, 6, true}, {tablestore.CT_LESS_THAN, 5, false},
		{tablestore.CT_LESS_EQUAL, 5, true}, {tablestore.CT_LESS_EQUAL, 4, false},
	}
	applied := int64(0)
	for _, c := range cases {
		err := incrementIf(client, 1, condition("level", c.comparator, c.operand, false, true))
		requireConditionResult(t, err, c.holds)
		if c.holds {
			applied++
		}
		assert.Equal(t, applied, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns)["writes"],
			"level %d vs %d", c.comparator, c.operand)
	}
}

func TestColumnConditionComparesEveryValueType(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	putRow(t, client, "t", key("id", int64(1)), "s", "b", "d", 2.5, "bool", true, "bin", []byte{1, 2})
	cases := []struct {
		column string
		below  any
		equal  any
	}{
		{"s", "a", "b"},
		{"d", 2.25, 2.5},
		{"bool", false, true},
		{"bin", []byte{1, 1, 9}, []byte{1, 2}},
	}
	for _, c := range cases {
		requireConditionResult(t, incrementIf(client, 1, condition(c.column, tablestore.CT_GREATER_THAN, c.below, true, true)), true)
		requireConditionResult(t, incrementIf(client, 1, condition(c.column, tablestore.CT_EQUAL, c.equal, true, true)), true)
		requireConditionResult(t, incrementIf(client, 1, condition(c.column, tablestore.CT_LESS_THAN, c.equal, true, true)), false)
	}
}

// Values of different types are never equal and never ordered: only NOT_EQUAL holds.
func TestColumnConditionOnAValueOfAnotherType(t *testing.T) {
	client := newConditionTable(t)
	requireConditionResult(t, incrementIf(client, 1, condition("level", tablestore.CT_EQUAL, "5", false, true)), false)
	requireConditionResult(t, incrementIf(client, 1, condition("level", tablestore.CT_GREATER_THAN, "1", false, true)), false)
	requireConditionResult(t, incrementIf(client, 1, condition("level", tablestore.CT_LESS_THAN, 9.5, false, true)), false)
	requireConditionResult(t, incrementIf(client, 1, condition("level", tablestore.CT_NOT_EQUAL, "5", false, true)), true)
}

func TestColumnConditionOnAMissingColumn(t *testing.T) {
	client := newConditionTable(t)
	// FilterIfMissing false: a row without the column passes (the Go SDK's default).
	requireConditionResult(t, incrementIf(client, 1, condition("absent", tablestore.CT_EQUAL, int64(1), false, true)), true)
	requireConditionResult(t, incrementIf(client, 1, condition("absent", tablestore.CT_EQUAL, int64(1), true, true)), false)
	// A missing row has no columns at all.
	requireConditionResult(t, incrementIf(client, 2, condition("level", tablestore.CT_EQUAL, int64(5), true, true)), false)
	assert.Empty(t, getRow(t, client, "t", key("id", int64(2))).PrimaryKey.PrimaryKeys)
	requireConditionResult(t, incrementIf(client, 2, condition("level", tablestore.CT_EQUAL, int64(5), false, true)), true)
	assert.Equal(t, map[string]any{"writes": int64(1)}, columnValues(getRow(t, client, "t", key("id", int64(2))).Columns))
}

func TestColumnConditionLatestVersionOnly(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 3, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	putTwoLevelVersions(t, client)

	requireConditionResult(t, incrementIf(client, 1, condition("level", tablestore.CT_EQUAL, int64(1), true, true)), false)
	requireConditionResult(t, incrementIf(client, 1, condition("level", tablestore.CT_EQUAL, int64(9), true, true)), true)
	// Any version may match when only the latest is not asked for.
	requireConditionResult(t, incrementIf(client, 1, condition("level", tablestore.CT_EQUAL, int64(1), true, false)), true)
	requireConditionResult(t, incrementIf(client, 1, condition("level", tablestore.CT_GREATER_THAN, int64(9), true, false)), false)
}

func TestCompositeColumnCondition(t *testing.T) {
	client := newConditionTable(t)
	levelIs5 := condition("level", tablestore.CT_EQUAL, int64(5), true, true)
	levelIs6 := condition("level", tablestore.CT_EQUAL, int64(6), true, true)
	nameIsX := condition("name", tablestore.CT_EQUAL, "x", true, true)
	nameIsY := condition("name", tablestore.CT_EQUAL, "y", true, true)
	cases := []struct {
		name      string
		condition tablestore.ColumnFilter
		holds     bool
	}{
		{"AND true", composite(tablestore.LO_AND, levelIs5, nameIsX), true},
		{"AND false", composite(tablestore.LO_AND, levelIs5, nameIsY), false},
		{"AND of three", composite(tablestore.LO_AND, levelIs5, nameIsX, composite(tablestore.LO_NOT, levelIs6)), true},
		{"OR true", composite(tablestore.LO_OR, levelIs6, nameIsX), true},
		{"OR false", composite(tablestore.LO_OR, levelIs6, nameIsY), false},
		{"NOT", composite(tablestore.LO_NOT, levelIs6), true},
		{"NOT of AND", composite(tablestore.LO_NOT, composite(tablestore.LO_AND, levelIs5, nameIsX)), false},
		{"nested", composite(tablestore.LO_OR, composite(tablestore.LO_AND, levelIs6, nameIsX), composite(tablestore.LO_NOT, nameIsY)), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			requireConditionResult(t, incrementIf(client, 1, c.condition), c.holds)
		})
	}
}

func TestColumnConditionOnAPrimaryKeyColumn(t *testing.T) {
	client := newConditionTable(t)
	requireConditionResult(t, incrementIf(client, 1, condition("id", tablestore.CT_EQUAL, int64(1), true, true)), true)
	requireConditionResult(t, incrementIf(client, 1, condition("id", tablestore.CT_GREATER_THAN, int64(1), true, true)), false)
}

func TestColumnConditionOnPutRowAndDeleteRow(t *testing.T) {
	client := newConditionTable(t)
	put := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	put.SetCondition(tablestore.RowExistenceExpectation_EXPECT_EXIST)
	put.SetColumnCondition(condition("level", tablestore.CT_GREATER_THAN, int64(5), true, true))
	put.AddColumn("level", int64(6))
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
	requireConditionResult(t, err, false)
	put.SetColumnCondition(condition("level", tablestore.CT_LESS_EQUAL, int64(5), true, true))
	_, err = client.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"level": int64(6)}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))

	remove := &tablestore.DeleteRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	remove.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	remove.SetColumnCondition(condition("level", tablestore.CT_EQUAL, int64(5), true, true))
	_, err = client.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: remove})
	requireConditionResult(t, err, false)
	assert.NotEmpty(t, getRow(t, client, "t", key("id", int64(1))).PrimaryKey.PrimaryKeys)
	remove.SetColumnCondition(condition("level", tablestore.CT_EQUAL, int64(6), true, true))
	_, err = client.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: remove})
	require.NoError(t, err)
	assert.Empty(t, getRow(t, client, "t", key("id", int64(1))).PrimaryKey.PrimaryKeys)
}

// The row existence check comes first: a failed expectation fails the write whatever
// the column condition says.
func TestRowExistenceIsCheckedBeforeTheColumnCondition(t *testing.T) {
	client := newConditionTable(t)
	put := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	put.SetCondition(tablestore.RowExistenceExpectation_EXPECT_NOT_EXIST)
	put.SetColumnCondition(condition("level", tablestore.CT_EQUAL, int64(5), true, true))
	put.AddColumn("level", int64(6))
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
	requireConditionResult(t, err, false)
	assert.Equal(t, int64(5), columnValues(getRow(t, client, "t", key("id", int64(1))).Columns)["level"])
}

func TestColumnConditionsInBatchWriteRow(t *testing.T) {
	client := newConditionTable(t)
	putRow(t, client, "t", key("id", int64(2)), "level", int64(1))

	passing := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	passing.SetCondition(ignore)
	passing.SetColumnCondition(condition("level", tablestore.CT_EQUAL, int64(5), true, true))
	passing.PutColumn("checked", true)
	failing := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(2))}
	failing.SetCondition(ignore)
	failing.SetColumnCondition(condition("level", tablestore.CT_EQUAL, int64(5), true, true))
	failing.PutColumn("checked", true)
	fresh := putChange("t", key("id", int64(3)), ignore, "level", int64(3))
	fresh.SetColumnCondition(condition("level", tablestore.CT_EQUAL, int64(3), false, true))

	request := &tablestore.BatchWriteRowRequest{}
	request.AddRowChange(passing)
	request.AddRowChange(failing)
	request.AddRowChange(fresh)
	resp, err := client.BatchWriteRow(request)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK, conditionFailed, rowOK}, outcomes(resp.TableToRowsResult["t"]))
	assert.Equal(t, true, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns)["checked"])
	assert.NotContains(t, columnValues(getRow(t, client, "t", key("id", int64(2))).Columns), "checked")
	assert.Equal(t, int64(3), columnValues(getRow(t, client, "t", key("id", int64(3))).Columns)["level"])

	atomic := &tablestore.BatchWriteRowRequest{IsAtomic: true}
	atomic.AddRowChange(passing)
	resp, err = client.BatchWriteRow(atomic)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK}, outcomes(resp.TableToRowsResult["t"]))
}

func TestRepeatedRowsRefuseAColumnCondition(t *testing.T) {
	client := newConditionTable(t)
	conditional := putChange("t", key("id", int64(1)), ignore, "level", int64(7))
	conditional.SetColumnCondition(condition("level", tablestore.CT_EQUAL, int64(5), true, true))
	request := &tablestore.BatchWriteRowRequest{}
	request.AddRowChange(putChange("t", key("id", int64(1)), ignore, "level", int64(6)))
	request.AddRowChange(conditional)
	_, err := client.BatchWriteRow(request)
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Repeated rows do not support row condition check in BatchModify.")
	assert.Equal(t, int64(5), columnValues(getRow(t, client, "t", key("id", int64(1))).Columns)["level"])
}

func TestColumnConditionRequestErrors(t *testing.T) {
	client := newConditionTable(t)
	err := incrementIf(client, 1, &tablestore.PaginationFilter{Offset: 0, Limit: 1})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Invalid condition:FT_COLUMN_PAGINATION.")

	// A malformed condition fails a BatchWriteRow as a whole.
	bad := putChange("t", key("id", int64(9)), ignore, "level", int64(9))
	bad.SetColumnCondition(composite(tablestore.LO_NOT, condition("level", tablestore.CT_EQUAL, int64(5), true, true),
		condition("name", tablestore.CT_EQUAL, "x", true, true)))
	request := &tablestore.BatchWriteRowRequest{}
	request.AddRowChange(putChange("t", key("id", int64(8)), ignore, "level", int64(8)))
	request.AddRowChange(bad)
	_, err = client.BatchWriteRow(request)
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Invalid NOT operator: the number of sub-filters must be 1.")
	assert.Empty(t, getRow(t, client, "t", key("id", int64(8))).PrimaryKey.PrimaryKeys)

	meta := &tablestore.TableMeta{TableName: "auto"}
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
	meta.AddPrimaryKeyColumnOption("seq", tablestore.PrimaryKeyType_INTEGER, tablestore.AUTO_INCREMENT)
	_, err = client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta: meta, TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1}, ReservedThroughput: &tablestore.ReservedThroughput{},
	})
	require.NoError(t, err)
	pk := key("id", int64(1))
	pk.AddPrimaryKeyColumnWithAutoIncrement("seq")
	auto := putChange("auto", pk, ignore, "level", int64(1))
	auto.SetColumnCondition(condition("level", tablestore.CT_EQUAL, int64(1), false, true))
	_, err = client.PutRow(&tablestore.PutRowRequest{PutRowChange: auto})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Can't set condition when modify row with pk auto increment.")
}

// An atomic BatchWriteRow needs the rows of each table to share one partition key (the
// first primary key column); otherwise every row fails and nothing is written.
func TestAtomicBatchWriteRowNeedsOnePartitionKeyPerTable(t *testing.T) {
	client, _ := newClient(t)
	for _, name := range []string{"p", "q"} {
		createTable(t, client, name, 1,
			primaryKeyColumn{"region", tablestore.PrimaryKeyType_STRING}, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	}
	shared := &tablestore.BatchWriteRowRequest{IsAtomic: true}
	shared.AddRowChange(putChange("p", key("region", "eu", "id", int64(1)), ignore, "v", int64(1)))
	shared.AddRowChange(putChange("p", key("region", "eu", "id", int64(2)), ignore, "v", int64(2)))
	shared.AddRowChange(putChange("q", key("region", "us", "id", int64(1)), ignore, "v", int64(3)))
	resp, err := client.BatchWriteRow(shared)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK, rowOK}, outcomes(resp.TableToRowsResult["p"]))
	assert.Equal(t, []rowOutcome{rowOK}, outcomes(resp.TableToRowsResult["q"]))

	mixed := &tablestore.BatchWriteRowRequest{IsAtomic: true}
	mixed.AddRowChange(putChange("p", key("region", "eu", "id", int64(3)), ignore, "v", int64(4)))
	mixed.AddRowChange(putChange("q", key("region", "us", "id", int64(2)), ignore, "v", int64(5)))
	mixed.AddRowChange(putChange("q", key("region", "ap", "id", int64(2)), ignore, "v", int64(6)))
	resp, err = client.BatchWriteRow(mixed)
	require.NoError(t, err)
	failed := rowOutcome{code: "OTSParameterInvalid", message: "The rows of an atomic BatchWriteRow must share one partition key, table: 'q'."}
	assert.Equal(t, []rowOutcome{failed}, outcomes(resp.TableToRowsResult["p"]))
	assert.Equal(t, []rowOutcome{failed, failed}, outcomes(resp.TableToRowsResult["q"]))
	assert.Empty(t, getRow(t, client, "p", key("region", "eu", "id", int64(3))).PrimaryKey.PrimaryKeys)
	assert.Empty(t, getRow(t, client, "q", key("region", "us", "id", int64(2))).PrimaryKey.PrimaryKeys)

	mixed.IsAtomic = false
	resp, err = client.BatchWriteRow(mixed)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK, rowOK}, outcomes(resp.TableToRowsResult["q"]), "without is_atomic any keys may mix")
}
