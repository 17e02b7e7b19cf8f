package otslocal_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// optionsTableRequest is a CreateTable of table name (primary key id INTEGER) with these
// options and Stream.
func optionsTableRequest(name string, option tablestore.TableOption, stream *tablestore.StreamSpecification) *tablestore.CreateTableRequest {
	meta := &tablestore.TableMeta{TableName: name}
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
	return &tablestore.CreateTableRequest{
		TableMeta: meta, TableOption: &option, ReservedThroughput: &tablestore.ReservedThroughput{}, StreamSpec: stream,
	}
}

func TestDescribeTableReturnsEveryTableOptionAndStreamField(t *testing.T) {
	client, _ := newClient(t)
	option := tablestore.TableOption{
		TimeToAlive: 2 * 86400, MaxVersion: 4, DeviationCellVersionInSec: 600,
		AllowUpdate: proto.Bool(false), UpdateFullRow: proto.Bool(true),
	}
	created := optionsTableRequest("t", option, &tablestore.StreamSpecification{
		EnableStream: true, ExpirationTime: 36, OriginColumnsToGet: []string{"b", "a"},
	})
	_, err := client.CreateTable(created)
	require.NoError(t, err)

	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, &option, described.TableOption)
	require.True(t, described.StreamDetails.EnableStream)
	assert.Equal(t, int32(36), described.StreamDetails.ExpirationTime)
	assert.Equal(t, []string{"a", "b"}, described.StreamDetails.OriginColumnsToGet)

	_, err = client.CreateTable(optionsTableRequest("defaults", tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1}, nil))
	require.NoError(t, err)
	described, err = client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "defaults"})
	require.NoError(t, err)
	assert.Equal(t, &tablestore.TableOption{
		TimeToAlive: -1, MaxVersion: 1, DeviationCellVersionInSec: 86400, AllowUpdate: proto.Bool(true), UpdateFullRow: proto.Bool(false),
	}, described.TableOption, "the service's defaults: a day of deviation, updates allowed, partial updates")
}

func TestTimeToLiveIsAtLeastADay(t *testing.T) {
	client, _ := newClient(t)
	_, err := client.CreateTable(optionsTableRequest("t", tablestore.TableOption{TimeToAlive: 86399, MaxVersion: 1}, nil))
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "TimeToLive must be -1 or at least 86400 seconds, got 86399.")

	_, err = client.CreateTable(optionsTableRequest("t", tablestore.TableOption{TimeToAlive: 86400, MaxVersion: 1}, nil))
	require.NoError(t, err)
	_, err = client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "t", TableOption: &tablestore.TableOption{TimeToAlive: 3600, MaxVersion: 1}})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "TimeToLive must be -1 or at least 86400 seconds, got 3600.")
}

func TestAllowUpdateFalseRefusesUpdateRow(t *testing.T) {
	client, _ := newClient(t)
	_, err := client.CreateTable(optionsTableRequest("t", tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1, AllowUpdate: proto.Bool(false)}, nil))
	require.NoError(t, err)
	const refused = "UpdateRow is not allowed on table 't': its allow_update option is false."
	updateChange := func(value string) *tablestore.UpdateRowChange {
		change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
		change.SetCondition(ignore)
		change.PutColumn("v", value)
		return change
	}

	putRow(t, client, "t", key("id", int64(1)), "v", "put")
	_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: updateChange("updated")})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", refused)

	batch := &tablestore.BatchWriteRowRequest{}
	batch.AddRowChange(putChange("t", key("id", int64(2)), ignore, "v", "batch put"))
	batch.AddRowChange(updateChange("batch update"))
	resp, err := client.BatchWriteRow(batch)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK, {code: "OTSParameterInvalid", message: refused}}, outcomes(resp.TableToRowsResult["t"]),
		"in a batch the update fails alone")
	assert.Equal(t, map[string]any{"v": "put"}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))
	assert.Equal(t, map[string]any{"v": "batch put"}, columnValues(getRow(t, client, "t", key("id", int64(2))).Columns))
	remove := &tablestore.DeleteRowChange{TableName: "t", PrimaryKey: key("id", int64(2))}
	remove.SetCondition(ignore)
	_, err = client.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: remove})
	require.NoError(t, err, "PutRow and DeleteRow stay allowed")

	_, err = client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "t",
		TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1, AllowUpdate: proto.Bool(true)}})
	require.NoError(t, err)
	_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: updateChange("updated")})
	require.NoError(t, err, "UpdateTable can allow updates again")
	assert.Equal(t, map[string]any{"v": "updated"}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))

	_, err = client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "t",
		TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1, AllowUpdate: proto.Bool(false)}})
	require.NoError(t, err)
	_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: updateChange("again")})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", refused)
	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.False(t, *described.TableOption.AllowUpdate)
}

func TestUpdateFullRowWritesEveryColumnAtTheUpdatesVersion(t *testing.T) {
	client, _ := newClient(t)
	now := time.Now().UnixMilli()
	for name, fullRow := range map[string]bool{"full": true, "partial": false} {
		_, err := client.CreateTable(optionsTableRequest(name, tablestore.TableOption{TimeToAlive: -1, MaxVersion: 5, UpdateFullRow: proto.Bool(fullRow)}, nil))
		require.NoError(t, err)
		put := &tablestore.PutRowChange{TableName: name, PrimaryKey: key("id", int64(1))}
		put.SetCondition(ignore)
		put.AddColumnWithTimestamp("a", int64(1), now-20_000)
		put.AddColumnWithTimestamp("b", "bee", now-20_000)
		put.AddColumnWithTimestamp("c", true, now-20_000)
		_, err = client.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
		require.NoError(t, err)
		update := &tablestore.UpdateRowChange{TableName: name, PrimaryKey: key("id", int64(1))}
		update.SetCondition(ignore)
		update.PutColumnWithTimestamp("a", int64(2), now-10_000)
		update.DeleteColumn("c")
		_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: update})
		require.NoError(t, err)
	}
	versions := func(table string) []cellVersion {
		resp, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
			TableName: table, PrimaryKey: key("id", int64(1)), MaxVersion: 5,
		}})
		require.NoError(t, err)
		var got []cellVersion
		for _, c := range resp.Columns {
			got = append(got, cellVersion{c.ColumnName, c.Value, c.Timestamp})
		}
		return got
	}
	assert.Equal(t, []cellVersion{
		{"a", int64(2), now - 10_000}, {"a", int64(1), now - 20_000},
		{"b", "bee", now - 10_000}, {"b", "bee", now - 20_000},
	}, versions("full"), "the column the update leaves alone gets its value again at the update's version")
	assert.Equal(t, []cellVersion{
		{"a", int64(2), now - 10_000}, {"a", int64(1), now - 20_000},
		{"b", "bee", now - 20_000},
	}, versions("partial"))
}

// cellVersion is a column version as a read returns it.
type cellVersion struct {
	name      string
	value     any
	timestamp int64
}

func TestUpdateTableRefusesWhatTheServiceRefuses(t *testing.T) {
	client, srv := newClient(t)
	option := tablestore.TableOption{TimeToAlive: -1, MaxVersion: 2, DeviationCellVersionInSec: 600, AllowUpdate: proto.Bool(true), UpdateFullRow: proto.Bool(false)}
	_, err := client.CreateTable(optionsTableRequest("t", option, nil))
	require.NoError(t, err)

	_, err = client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "t",
		TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 2, UpdateFullRow: proto.Bool(true)}})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "The table options of UpdateTable must not contain updateFullRow: it cannot be modified after the table is created.")

	// What the Go SDK does not send, sent as another client would.
	tableName := proto.String("t")
	for _, tc := range []struct {
		name    string
		request *otsprotocol.UpdateTableRequest
		message string
	}{
		{"nothing to update", &otsprotocol.UpdateTableRequest{TableName: tableName},
			"Nothing to update: give reserved_throughput, table_options or stream_spec."},
		{"reserved throughput without read or write", &otsprotocol.UpdateTableRequest{TableName: tableName,
			ReservedThroughput: &otsprotocol.ReservedThroughput{CapacityUnit: &otsprotocol.CapacityUnit{}}},
			"At least one of read and write must be given in the capacity_unit of reserved_throughput."},
		{"an expiration time with the Stream off", &otsprotocol.UpdateTableRequest{TableName: tableName,
			StreamSpec: &otsprotocol.StreamSpecification{EnableStream: proto.Bool(false), ExpirationTime: proto.Int32(24)}},
			"Expiration time is invalid when enableStream is false"},
		{"columns with the Stream off", &otsprotocol.UpdateTableRequest{TableName: tableName,
			StreamSpec: &otsprotocol.StreamSpecification{EnableStream: proto.Bool(false), ColumnsToGet: []string{"v"}}},
			"Columns to get are invalid when enableStream is false"},
		{"a zero max version offset", &otsprotocol.UpdateTableRequest{TableName: tableName,
			TableOptions: &otsprotocol.TableOptions{DeviationCellVersionInSec: proto.Int64(0)}},
			"DeviationCellVersionInSec must be greater than 0."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postMessage(t, srv, "UpdateTable", tc.request)
			requireErrorBody(t, status, body, http.StatusBadRequest, "OTSParameterInvalid", tc.message)
		})
	}

	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, &option, described.TableOption, "a refused UpdateTable changes nothing")
	assert.False(t, described.StreamDetails.EnableStream)

	status, body := postMessage(t, srv, "UpdateTable", &otsprotocol.UpdateTableRequest{TableName: tableName,
		TableOptions: &otsprotocol.TableOptions{MaxVersions: proto.Int32(3)}})
	require.Equal(t, http.StatusOK, status, "%q", body)
	described, err = client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	option.MaxVersion = 3
	assert.Equal(t, &option, described.TableOption, "an UpdateTable changes only the options it sets")
}
