package otslocal_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTableLifecycle(t *testing.T) {
	client, _ := newClient(t)

	meta := &tablestore.TableMeta{TableName: "orders"}
	meta.AddPrimaryKeyColumn("shop", tablestore.PrimaryKeyType_STRING)
	meta.AddPrimaryKeyColumnOption("id", tablestore.PrimaryKeyType_INTEGER, tablestore.AUTO_INCREMENT)
	meta.AddDefinedColumn("price", tablestore.DefinedColumn_DOUBLE)
	_, err := client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &tablestore.TableOption{TimeToAlive: 86400, MaxVersion: 3},
		ReservedThroughput: &tablestore.ReservedThroughput{Readcap: 5, Writecap: 7},
	})
	require.NoError(t, err)
	createTable(t, client, "alpha", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})

	listed, err := client.ListTable()
	require.NoError(t, err)
	assert.Equal(t, []string{"alpha", "orders"}, listed.TableNames)

	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "orders"})
	require.NoError(t, err)
	assert.Equal(t, "orders", described.TableMeta.TableName)
	require.Len(t, described.TableMeta.SchemaEntry, 2)
	assert.Equal(t, "shop", *described.TableMeta.SchemaEntry[0].Name)
	assert.Equal(t, tablestore.PrimaryKeyType_STRING, *described.TableMeta.SchemaEntry[0].Type)
	assert.Nil(t, described.TableMeta.SchemaEntry[0].Option)
	assert.Equal(t, "id", *described.TableMeta.SchemaEntry[1].Name)
	assert.Equal(t, tablestore.PrimaryKeyType_INTEGER, *described.TableMeta.SchemaEntry[1].Type)
	assert.Equal(t, tablestore.AUTO_INCREMENT, *described.TableMeta.SchemaEntry[1].Option)
	assert.Equal(t, []*tablestore.DefinedColumnSchema{{Name: "price", ColumnType: tablestore.DefinedColumn_DOUBLE}},
		described.TableMeta.DefinedColumns)
	assert.Equal(t, 86400, described.TableOption.TimeToAlive)
	assert.Equal(t, 3, described.TableOption.MaxVersion)
	assert.Equal(t, int64(86400), described.TableOption.DeviationCellVersionInSec)
	assert.True(t, *described.TableOption.AllowUpdate)
	assert.Equal(t, &tablestore.ReservedThroughput{Readcap: 5, Writecap: 7}, described.ReservedThroughput)
	assert.False(t, described.StreamDetails.EnableStream)
	assert.False(t, described.SSEDetails.Enable)
	assert.NotEmpty(t, described.RequestId)

	_, err = client.DeleteTable(&tablestore.DeleteTableRequest{TableName: "orders"})
	require.NoError(t, err)
	listed, err = client.ListTable()
	require.NoError(t, err)
	assert.Equal(t, []string{"alpha"}, listed.TableNames)

	_, err = client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "orders"})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")
	_, err = client.DeleteTable(&tablestore.DeleteTableRequest{TableName: "orders"})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")
}

func TestDeleteTableAnswersAnEmptyBody(t *testing.T) {
	client, srv := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})

	status, body := postMessage(t, srv, "DeleteTable", &otsprotocol.DeleteTableRequest{TableName: proto.String("t")})
	assert.Equal(t, http.StatusOK, status)
	assert.Empty(t, body)
}

func TestCreateTableKeepsTheDeviationGiven(t *testing.T) {
	client, _ := newClient(t)
	meta := &tablestore.TableMeta{TableName: "t"}
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
	_, err := client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1, DeviationCellVersionInSec: 60},
		ReservedThroughput: &tablestore.ReservedThroughput{},
	})
	require.NoError(t, err)
	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, int64(60), described.TableOption.DeviationCellVersionInSec)
	assert.Equal(t, -1, described.TableOption.TimeToAlive)
}

func TestCreateTableValidation(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "exists", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})

	type schemaColumn struct {
		name          string
		typ           tablestore.PrimaryKeyType
		autoIncrement bool
	}
	id := schemaColumn{name: "id", typ: tablestore.PrimaryKeyType_INTEGER}
	tests := []struct {
		name    string
		table   string
		schema  []schemaColumn
		option  tablestore.TableOption
		status  int
		code    string
		message string
	}{
		{
			name: "five primary key columns", table: "t",
			schema: []schemaColumn{{name: "a", typ: 1}, {name: "b", typ: 1}, {name: "c", typ: 1}, {name: "d", typ: 1}, {name: "e", typ: 1}},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "The number of primary key columns must be in range: [1, 4].",
		},
		{
			name: "unknown primary key type", table: "t", schema: []schemaColumn{{name: "id", typ: 9}},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "Invalid column type, only STRING,INTEGER,BINARY is allowed.",
		},
		{
			name: "duplicated primary key name", table: "t", schema: []schemaColumn{id, id},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "Duplicated primary key name: 'id'.",
		},
		{
			name: "first primary key auto increment", table: "t", schema: []schemaColumn{{name: "id", typ: 1, autoIncrement: true}},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "First primary key can't be auto increment, table: t.",
		},
		{
			name: "string auto increment", table: "t", schema: []schemaColumn{id, {name: "seq", typ: 2, autoIncrement: true}},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "AUTO_INCREMENT primary key must be integer.",
		},
		{
			name:   "two auto increments",
			table:  "t",
			schema: []schemaColumn{id, {name: "a", typ: 1, autoIncrement: true}, {name: "b", typ: 1, autoIncrement: true}},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "AUTO_INCREMENT primary key count must <= 1.",
		},
		{
			name: "zero TTL", table: "t", schema: []schemaColumn{id}, option: tablestore.TableOption{TimeToAlive: 0, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "TimeToLive cannot be 0 or less than -1.",
		},
		{
			name: "TTL below -1", table: "t", schema: []schemaColumn{id}, option: tablestore.TableOption{TimeToAlive: -2, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "TimeToLive cannot be 0 or less than -1.",
		},
		{
			name: "zero max versions", table: "t", schema: []schemaColumn{id}, option: tablestore.TableOption{TimeToAlive: -1},
			status: 400, code: "OTSParameterInvalid", message: "The maximum versions cannot be less than or equal to 0.",
		},
		{
			name: "invalid table name", table: "9lives", schema: []schemaColumn{id},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "Invalid table name: '9lives'.",
		},
		{
			name: "invalid column name", table: "t", schema: []schemaColumn{{name: "a-b", typ: 1}},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 400, code: "OTSParameterInvalid", message: "Invalid column name: 'a-b'.",
		},
		{
			name: "table exists", table: "exists", schema: []schemaColumn{id},
			option: tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
			status: 409, code: "OTSObjectAlreadyExist", message: "Requested table already exists.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meta := &tablestore.TableMeta{TableName: tt.table}
			for _, column := range tt.schema {
				if column.autoIncrement {
					meta.AddPrimaryKeyColumnOption(column.name, column.typ, tablestore.AUTO_INCREMENT)
				} else {
					meta.AddPrimaryKeyColumn(column.name, column.typ)
				}
			}
			option := tt.option
			_, err := client.CreateTable(&tablestore.CreateTableRequest{
				TableMeta: meta, TableOption: &option, ReservedThroughput: &tablestore.ReservedThroughput{},
			})
			requireOTSError(t, err, tt.status, tt.code, tt.message)
		})
	}
	listed, err := client.ListTable()
	require.NoError(t, err)
	assert.Equal(t, []string{"exists"}, listed.TableNames)
}

// The Go SDK always sends TTL and max versions; other clients may leave them out.
func TestCreateTableRequiresTTLAndMaxVersions(t *testing.T) {
	srv := startServer(t)
	request := func(options *otsprotocol.TableOptions) *otsprotocol.CreateTableRequest {
		return &otsprotocol.CreateTableRequest{
			TableMeta: &otsprotocol.TableMeta{
				TableName:  proto.String("t"),
				PrimaryKey: []*otsprotocol.PrimaryKeySchema{{Name: proto.String("id"), Type: otsprotocol.PrimaryKeyType_INTEGER.Enum()}},
			},
			ReservedThroughput: &otsprotocol.ReservedThroughput{CapacityUnit: &otsprotocol.CapacityUnit{}},
			TableOptions:       options,
		}
	}
	status, body := postMessage(t, srv, "CreateTable", request(nil))
	requireErrorBody(t, status, body, 400, "OTSParameterInvalid", "Time-to-live is missing while creating table.")
	status, body = postMessage(t, srv, "CreateTable", request(&otsprotocol.TableOptions{TimeToLive: proto.Int32(-1)}))
	requireErrorBody(t, status, body, 400, "OTSParameterInvalid", "MaxVersions is missing while creating table.")
}

func TestCreateTableRefusesUnimplementedFeatures(t *testing.T) {
	client, _ := newClient(t)
	meta := &tablestore.TableMeta{TableName: "t"}
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
	keyType := tablestore.SSE_KMS_SERVICE
	_, err := client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
		ReservedThroughput: &tablestore.ReservedThroughput{},
		SSESpecification:   &tablestore.SSESpecification{Enable: true, KeyType: &keyType},
	})
	requireOTSError(t, err, 400, "OTSParameterInvalid", "Unsupported operation: sse_spec.")
}

func TestTableQuota(t *testing.T) {
	client, _ := newClient(t)
	for i := range 64 {
		createTable(t, client, "t"+strings.Repeat("x", i), 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	}
	meta := &tablestore.TableMeta{TableName: "one_too_many"}
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
	_, err := client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta: meta, TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1}, ReservedThroughput: &tablestore.ReservedThroughput{},
	})
	requireOTSError(t, err, http.StatusForbidden, "OTSQuotaExhausted", "Number of tables exceeded the quota.")
}
