package otslocal_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// streamSpec enables a Stream that keeps records for a day, with the pre-image of the
// given columns.
func streamSpec(originColumns ...string) *tablestore.StreamSpecification {
	return &tablestore.StreamSpecification{EnableStream: true, ExpirationTime: 24, OriginColumnsToGet: originColumns}
}

// newStreamServer starts a server with these options and returns a client for it.
func newStreamServer(t *testing.T, opts otslocal.Options) *tablestore.TableStoreClient {
	t.Helper()
	return otslocaltest.NewServer(t, opts).SDK
}

// createStreamTable creates a table with this primary key, max versions 3 and the
// Stream as spec says.
func createStreamTable(t *testing.T, client *tablestore.TableStoreClient, name string, spec *tablestore.StreamSpecification,
	pk ...primaryKeyColumn) {
	t.Helper()
	_, err := client.CreateTable(streamTableRequest(name, spec, pk...))
	require.NoError(t, err)
}

func streamTableRequest(name string, spec *tablestore.StreamSpecification, pk ...primaryKeyColumn) *tablestore.CreateTableRequest {
	meta := &tablestore.TableMeta{TableName: name}
	for _, column := range pk {
		meta.AddPrimaryKeyColumn(column.name, column.typ)
	}
	return &tablestore.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 3},
		ReservedThroughput: &tablestore.ReservedThroughput{},
		StreamSpec:         spec,
	}
}

var idColumn = primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER}

// openStream returns the id of the table's open stream and its shards, as a consumer
// finds them: ListStream, then DescribeStream.
func openStream(t *testing.T, client *tablestore.TableStoreClient, table string) (*tablestore.StreamId, []*tablestore.ShardId) {
	t.Helper()
	listed, err := client.ListStream(&tablestore.ListStreamRequest{TableName: &table})
	require.NoError(t, err)
	require.Len(t, listed.Streams, 1)
	id := listed.Streams[0].Id
	described, err := client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: id})
	require.NoError(t, err)
	var shards []*tablestore.ShardId
	for _, shard := range described.Shards {
		shards = append(shards, shard.SelfShard)
	}
	return id, shards
}

// oldestIterator returns an iterator at the shard's oldest record.
func oldestIterator(t *testing.T, client *tablestore.TableStoreClient, stream *tablestore.StreamId,
	shard *tablestore.ShardId) *tablestore.ShardIterator {
	t.Helper()
	resp, err := client.GetShardIterator(&tablestore.GetShardIteratorRequest{StreamId: stream, ShardId: shard})
	require.NoError(t, err)
	require.NotNil(t, resp.ShardIterator)
	return resp.ShardIterator
}

// tableIterator returns an iterator at the oldest record of the table's only shard.
func tableIterator(t *testing.T, client *tablestore.TableStoreClient, table string) *tablestore.ShardIterator {
	t.Helper()
	stream, shards := openStream(t, client, table)
	require.Len(t, shards, 1)
	return oldestIterator(t, client, stream, shards[0])
}

// readShard reads records from iter on until it has caught up, as the Go SDK's stream
// sample does: until the next iterator is nil or the one just sent. It returns the
// records and the iterator to continue with, nil once a closed shard is drained.
func readShard(t *testing.T, client *tablestore.TableStoreClient,
	iter *tablestore.ShardIterator) ([]*tablestore.StreamRecord, *tablestore.ShardIterator) {
	t.Helper()
	var records []*tablestore.StreamRecord
	for {
		resp, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iter})
		require.NoError(t, err)
		records = append(records, resp.Records...)
		if resp.NextShardIterator == nil || *resp.NextShardIterator == *iter {
			return records, resp.NextShardIterator
		}
		iter = resp.NextShardIterator
	}
}

// recordedColumn is a record column as the tests compare it; timestamp is 0 when the
// column has none.
type recordedColumn struct {
	name      string
	typ       tablestore.RecordColumnType
	value     any
	timestamp int64
}

func recordedColumns(columns []*tablestore.RecordColumn) []recordedColumn {
	var got []recordedColumn
	for _, c := range columns {
		column := recordedColumn{name: *c.Name, typ: c.Type, value: c.Value}
		if c.Timestamp != nil {
			column.timestamp = *c.Timestamp
		}
		got = append(got, column)
	}
	return got
}

// primaryKeyValues is a record's primary key as name/value pairs.
func primaryKeyValues(pk *tablestore.PrimaryKey) []any {
	var pairs []any
	for _, column := range pk.PrimaryKeys {
		pairs = append(pairs, column.ColumnName, column.Value)
	}
	return pairs
}

// timestampOf returns the timestamp (ms) of the latest version of a column.
func timestampOf(t *testing.T, columns []*tablestore.AttributeColumn, name string) int64 {
	t.Helper()
	for _, c := range columns {
		if c.ColumnName == name {
			return c.Timestamp
		}
	}
	require.Failf(t, "column not found", "column %s", name)
	return 0
}

// requireSequenceOrder checks that the records' sequence info strictly increases:
// timestamp, then row index within a timestamp.
func requireSequenceOrder(t *testing.T, records []*tablestore.StreamRecord) {
	t.Helper()
	for i := 1; i < len(records); i++ {
		prev, cur := records[i-1].Info, records[i].Info
		assert.True(t, cur.Timestamp > prev.Timestamp || cur.Timestamp == prev.Timestamp && cur.RowIndex > prev.RowIndex,
			"record %d %v after %v", i, cur, prev)
	}
}

func TestStreamRecordsEachRowChange(t *testing.T) {
	client, _ := newClient(t)
	createStreamTable(t, client, "t", streamSpec(), idColumn)
	iter := tableIterator(t, client, "t")

	put := putChange("t", key("id", int64(1)), ignore, "a", "x", "b", true, "n", int64(10))
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
	require.NoError(t, err)
	putTimestamp := timestampOf(t, getRow(t, client, "t", key("id", int64(1))).Columns, "a")

	update := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	update.SetCondition(ignore)
	update.PutColumn("c", 3.14)
	update.DeleteColumnWithTimestamp("a", putTimestamp)
	update.DeleteColumn("b")
	update.IncrementColumn("n", 5)
	update.IncrementColumn("m", 2)
	_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: update})
	require.NoError(t, err)
	updateTimestamp := timestampOf(t, getRow(t, client, "t", key("id", int64(1))).Columns, "n")

	remove := &tablestore.DeleteRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	remove.SetCondition(ignore)
	_, err = client.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: remove})
	require.NoError(t, err)

	records, _ := readShard(t, client, iter)
	require.Len(t, records, 3)
	for _, r := range records {
		assert.Equal(t, []any{"id", int64(1)}, primaryKeyValues(r.PrimaryKey))
		assert.Equal(t, int32(0), r.Info.Epoch)
		assert.Nil(t, r.OriginColumns, "no columns_to_get, no origin record")
	}
	requireSequenceOrder(t, records)

	assert.Equal(t, tablestore.AT_Put, records[0].Type)
	assert.Equal(t, []recordedColumn{
		{"a", tablestore.RCT_Put, "x", putTimestamp},
		{"b", tablestore.RCT_Put, true, putTimestamp},
		{"n", tablestore.RCT_Put, int64(10), putTimestamp},
	}, recordedColumns(records[0].Columns), "every cell with its value and the server's timestamp")
	assert.Equal(t, putTimestamp, records[0].Info.Timestamp/1000, "the sequence timestamp is the commit time in µs")

	assert.Equal(t, tablestore.AT_Update, records[1].Type)
	assert.Equal(t, []recordedColumn{
		{"c", tablestore.RCT_Put, 3.14, updateTimestamp},
		{"a", tablestore.RCT_DeleteOneVersion, nil, putTimestamp},
		{"b", tablestore.RCT_DeleteAllVersions, nil, 0},
		{"n", tablestore.RCT_Put, int64(15), updateTimestamp},
		{"m", tablestore.RCT_Put, int64(2), updateTimestamp},
	}, recordedColumns(records[1].Columns), "the update's cells in order; an increment is a Put of the sum")
	assert.Nil(t, records[1].Columns[2].Timestamp, "DELETE_ALL_VERSIONS has no timestamp")
	assert.Equal(t, updateTimestamp, records[1].Info.Timestamp/1000)

	assert.Equal(t, tablestore.AT_Delete, records[2].Type)
	assert.Empty(t, records[2].Columns)
}

func TestStreamRecordsTheSuccessfulRowsOfABatchInRowOrder(t *testing.T) {
	client, _ := newClient(t)
	createStreamTable(t, client, "t", streamSpec(), idColumn)
	putRow(t, client, "t", key("id", int64(3)), "v", "three")
	_, iter := readShard(t, client, tableIterator(t, client, "t"))

	batch := &tablestore.BatchWriteRowRequest{}
	batch.AddRowChange(putChange("t", key("id", int64(1)), ignore, "v", "one"))
	update := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(2))}
	update.SetCondition(expectExist)
	update.PutColumn("v", "two")
	batch.AddRowChange(update)
	remove := &tablestore.DeleteRowChange{TableName: "t", PrimaryKey: key("id", int64(3))}
	remove.SetCondition(ignore)
	batch.AddRowChange(remove)
	batch.AddRowChange(putChange("t", key("id", int64(4)), ignore, "v", "four"))
	resp, err := client.BatchWriteRow(batch)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK, conditionFailed, rowOK, rowOK}, outcomes(resp.TableToRowsResult["t"]))

	records, _ := readShard(t, client, iter)
	require.Len(t, records, 3, "the failed row appends nothing")
	assert.Equal(t, []tablestore.ActionType{tablestore.AT_Put, tablestore.AT_Delete, tablestore.AT_Put},
		[]tablestore.ActionType{records[0].Type, records[1].Type, records[2].Type})
	assert.Equal(t, []any{"id", int64(1)}, primaryKeyValues(records[0].PrimaryKey))
	assert.Equal(t, []any{"id", int64(3)}, primaryKeyValues(records[1].PrimaryKey))
	assert.Equal(t, []any{"id", int64(4)}, primaryKeyValues(records[2].PrimaryKey))
	for i := 1; i < len(records); i++ {
		assert.Equal(t, records[0].Info.Timestamp, records[i].Info.Timestamp, "one commit time per request")
		assert.Equal(t, records[i-1].Info.RowIndex+1, records[i].Info.RowIndex, "row index counts up in row order")
	}
}

func TestStreamRecordsNothingForFailedWrites(t *testing.T) {
	client, _ := newClient(t)
	createStreamTable(t, client, "t", streamSpec(), primaryKeyColumn{"part", tablestore.PrimaryKeyType_STRING},
		primaryKeyColumn{"seq", tablestore.PrimaryKeyType_INTEGER})
	iter := tableIterator(t, client, "t")

	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: putChange("t", key("part", "p", "seq", int64(1)), expectExist, "v", "x")})
	requireOTSError(t, err, http.StatusForbidden, "OTSConditionCheckFail", "Condition check failed.")
	atomic := &tablestore.BatchWriteRowRequest{IsAtomic: true}
	atomic.AddRowChange(putChange("t", key("part", "p", "seq", int64(2)), ignore, "v", "y"))
	atomic.AddRowChange(putChange("t", key("part", "p", "seq", int64(3)), expectExist, "v", "z"))
	batch, err := client.BatchWriteRow(atomic)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{conditionFailed, conditionFailed}, outcomes(batch.TableToRowsResult["t"]))

	resp, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iter})
	require.NoError(t, err)
	assert.Empty(t, resp.Records)
	require.NotNil(t, resp.NextShardIterator)
	assert.Equal(t, *iter, *resp.NextShardIterator, "an idle shard gives back the same iterator")
	require.NotNil(t, resp.MayMoreRecord)
	assert.False(t, *resp.MayMoreRecord)
	require.NotNil(t, resp.CapacityUnit)
}

func TestStreamRecordsTheAssignedAutoIncrementValue(t *testing.T) {
	client, _ := newClient(t)
	req := streamTableRequest("t", streamSpec(), primaryKeyColumn{"shop", tablestore.PrimaryKeyType_STRING})
	req.TableMeta.AddPrimaryKeyColumnOption("seq", tablestore.PrimaryKeyType_INTEGER, tablestore.AUTO_INCREMENT)
	_, err := client.CreateTable(req)
	require.NoError(t, err)
	iter := tableIterator(t, client, "t")

	pk := key("shop", "s")
	pk.AddPrimaryKeyColumnWithAutoIncrement("seq")
	change := putChange("t", pk, ignore, "item", "x")
	change.SetReturnPk()
	put, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)

	records, _ := readShard(t, client, iter)
	require.Len(t, records, 1)
	assert.Equal(t, primaryKeyValues(&put.PrimaryKey), primaryKeyValues(records[0].PrimaryKey))
	assert.IsType(t, int64(0), records[0].PrimaryKey.PrimaryKeys[1].Value)
}

func TestStreamOriginRecordCarriesThePreImage(t *testing.T) {
	client, _ := newClient(t)
	createStreamTable(t, client, "t", streamSpec("b", "a"), idColumn)
	iter := tableIterator(t, client, "t")

	putRow(t, client, "t", key("id", int64(1)), "a", int64(1), "b", "two", "c", 3.0)
	putTimestamp := timestampOf(t, getRow(t, client, "t", key("id", int64(1))).Columns, "a")
	update := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	update.SetCondition(ignore)
	update.PutColumn("a", int64(10))
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: update})
	require.NoError(t, err)
	updateTimestamp := timestampOf(t, getRow(t, client, "t", key("id", int64(1))).Columns, "a")
	remove := &tablestore.DeleteRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	remove.SetCondition(ignore)
	_, err = client.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: remove})
	require.NoError(t, err)

	records, _ := readShard(t, client, iter)
	require.Len(t, records, 3)
	require.NotNil(t, records[0].OriginColumns)
	assert.Empty(t, records[0].OriginColumns, "the row did not exist before the put")
	assert.Equal(t, []recordedColumn{
		{"a", tablestore.RCT_Put, int64(1), putTimestamp},
		{"b", tablestore.RCT_Put, "two", putTimestamp},
	}, recordedColumns(records[1].OriginColumns), "the latest versions of columns_to_get before the update")
	assert.Equal(t, []recordedColumn{
		{"a", tablestore.RCT_Put, int64(10), updateTimestamp},
		{"b", tablestore.RCT_Put, "two", putTimestamp},
	}, recordedColumns(records[2].OriginColumns))
}

func TestStreamShardsPartitionRowsByPartitionKey(t *testing.T) {
	client := newStreamServer(t, otslocal.Options{StreamShards: 4})
	createStreamTable(t, client, "t", streamSpec(), primaryKeyColumn{"part", tablestore.PrimaryKeyType_STRING},
		primaryKeyColumn{"seq", tablestore.PrimaryKeyType_INTEGER})
	stream, shards := openStream(t, client, "t")
	require.Len(t, shards, 4)

	firstPage, err := client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: stream, ShardLimit: proto.Int32(3)})
	require.NoError(t, err)
	require.Len(t, firstPage.Shards, 3)
	require.NotNil(t, firstPage.NextShardId)
	assert.Equal(t, *shards[3], *firstPage.NextShardId)
	secondPage, err := client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: stream, InclusiveStartShardId: firstPage.NextShardId})
	require.NoError(t, err)
	require.Len(t, secondPage.Shards, 1)
	assert.Equal(t, *shards[3], *secondPage.Shards[0].SelfShard)
	assert.Nil(t, secondPage.NextShardId)
	assert.Equal(t, tablestore.SS_Active, secondPage.Status)
	assert.Equal(t, "t", *secondPage.TableName)
	assert.Equal(t, int32(24), secondPage.ExpirationTime)

	// Each partition gets its rows put, then updated, in an interleaved order.
	type write struct {
		action tablestore.ActionType
		seq    int64
	}
	written := map[string][]write{}
	for seq := int64(0); seq < 3; seq++ {
		for p := range 10 {
			part := fmt.Sprintf("p%d", p)
			putRow(t, client, "t", key("part", part, "seq", seq), "v", seq)
			update := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key("part", part, "seq", seq)}
			update.SetCondition(ignore)
			update.IncrementColumn("v", 1)
			_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: update})
			require.NoError(t, err)
			written[part] = append(written[part], write{tablestore.AT_Put, seq}, write{tablestore.AT_Update, seq})
		}
	}

	shardOfPartition := map[string]int{}
	read := map[string][]write{}
	nonEmptyShards := 0
	for i, shard := range shards {
		records, _ := readShard(t, client, oldestIterator(t, client, stream, shard))
		if len(records) > 0 {
			nonEmptyShards++
		}
		requireSequenceOrder(t, records)
		for _, r := range records {
			part, seq := r.PrimaryKey.PrimaryKeys[0].Value.(string), r.PrimaryKey.PrimaryKeys[1].Value.(int64)
			if first, seen := shardOfPartition[part]; seen {
				assert.Equal(t, first, i, "partition %s is in one shard", part)
			}
			shardOfPartition[part] = i
			read[part] = append(read[part], write{r.Type, seq})
		}
	}
	assert.Equal(t, written, read, "every record in exactly one shard, in write order per partition key")
	assert.Greater(t, nonEmptyShards, 1, "ten partition keys spread over more than one shard")
}

func TestStreamEnableDisableAndReenable(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 3, idColumn)
	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, &tablestore.StreamDetails{EnableStream: false}, described.StreamDetails)
	table := "t"
	listed, err := client.ListStream(&tablestore.ListStreamRequest{TableName: &table})
	require.NoError(t, err)
	assert.Empty(t, listed.Streams)

	enabled, err := client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "t",
		StreamSpec: &tablestore.StreamSpecification{EnableStream: true, ExpirationTime: 12, OriginColumnsToGet: []string{"v"}}})
	require.NoError(t, err)
	require.True(t, enabled.StreamDetails.EnableStream)
	require.NotNil(t, enabled.StreamDetails.StreamId)
	assert.Equal(t, int32(12), enabled.StreamDetails.ExpirationTime)
	assert.Positive(t, enabled.StreamDetails.LastEnableTime)
	assert.Equal(t, []string{"v"}, enabled.StreamDetails.OriginColumnsToGet)
	described, err = client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, enabled.StreamDetails, described.StreamDetails)
	listed, err = client.ListStream(&tablestore.ListStreamRequest{TableName: &table})
	require.NoError(t, err)
	require.Len(t, listed.Streams, 1)
	assert.Equal(t, tablestore.Stream{
		Id: enabled.StreamDetails.StreamId, TableName: &table, CreationTime: enabled.StreamDetails.LastEnableTime,
	}, listed.Streams[0])

	_, err = client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "t", StreamSpec: streamSpec()})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "The stream of table t is already enabled.")

	firstStream, shards := openStream(t, client, "t")
	putRow(t, client, "t", key("id", int64(1)), "v", "on")
	records, iter := readShard(t, client, oldestIterator(t, client, firstStream, shards[0]))
	require.Len(t, records, 1)
	require.NotNil(t, iter)

	disabled, err := client.UpdateTable(&tablestore.UpdateTableRequest{
		TableName: "t", StreamSpec: &tablestore.StreamSpecification{EnableStream: false},
	})
	require.NoError(t, err)
	assert.Equal(t, &tablestore.StreamDetails{EnableStream: false}, disabled.StreamDetails)
	listed, err = client.ListStream(&tablestore.ListStreamRequest{TableName: &table})
	require.NoError(t, err)
	assert.Empty(t, listed.Streams)
	putRow(t, client, "t", key("id", int64(2)), "v", "off")

	resp, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iter})
	require.NoError(t, err)
	assert.Empty(t, resp.Records)
	assert.Nil(t, resp.NextShardIterator, "a drained closed shard has no next iterator")
	records, iter = readShard(t, client, oldestIterator(t, client, firstStream, shards[0]))
	assert.Len(t, records, 1, "a closed stream stays readable, and writes made while off are not recorded")
	assert.Nil(t, iter)

	reenabled, err := client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "t", StreamSpec: streamSpec()})
	require.NoError(t, err)
	assert.NotEqual(t, *firstStream, *reenabled.StreamDetails.StreamId, "re-enabling creates a new stream")
	secondStream, shards := openStream(t, client, "t")
	assert.Equal(t, *reenabled.StreamDetails.StreamId, *secondStream)
	putRow(t, client, "t", key("id", int64(3)), "v", "again")

	_, err = client.DeleteTable(&tablestore.DeleteTableRequest{TableName: "t"})
	require.NoError(t, err)
	records, iter = readShard(t, client, oldestIterator(t, client, secondStream, shards[0]))
	require.Len(t, records, 1, "deleting the table closes its stream")
	assert.Equal(t, []any{"id", int64(3)}, primaryKeyValues(records[0].PrimaryKey))
	assert.Nil(t, iter)
	all, err := client.ListStream(&tablestore.ListStreamRequest{})
	require.NoError(t, err)
	assert.Empty(t, all.Streams)
}

func TestListStream(t *testing.T) {
	client, _ := newClient(t)
	createStreamTable(t, client, "c", streamSpec(), idColumn)
	createStreamTable(t, client, "b", nil, idColumn)
	createStreamTable(t, client, "a", streamSpec(), idColumn)

	all, err := client.ListStream(&tablestore.ListStreamRequest{})
	require.NoError(t, err)
	var tables []string
	for _, s := range all.Streams {
		tables = append(tables, *s.TableName)
		assert.NotEmpty(t, *s.Id)
		assert.Positive(t, s.CreationTime)
	}
	assert.Equal(t, []string{"a", "c"}, tables, "the open streams of every table, by table name")

	name := "b"
	none, err := client.ListStream(&tablestore.ListStreamRequest{TableName: &name})
	require.NoError(t, err)
	assert.Empty(t, none.Streams)

	name = "missing"
	_, err = client.ListStream(&tablestore.ListStreamRequest{TableName: &name})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")
}

func TestUnknownStreamsAndShards(t *testing.T) {
	client, _ := newClient(t)
	createStreamTable(t, client, "t", streamSpec(), idColumn)
	stream, _ := openStream(t, client, "t")
	unknownStream, unknownShard := tablestore.StreamId("nope"), tablestore.ShardId("nope")

	_, err := client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: &unknownStream})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested stream does not exist.")
	_, err = client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: stream, InclusiveStartShardId: &unknownShard})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested shard does not exist.")
	_, err = client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: stream, ShardLimit: proto.Int32(0)})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Invalid shard limit: 0, it must be greater than 0.")
	_, err = client.GetShardIterator(&tablestore.GetShardIteratorRequest{StreamId: &unknownStream, ShardId: &unknownShard})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested stream does not exist.")
	_, err = client.GetShardIterator(&tablestore.GetShardIteratorRequest{StreamId: stream, ShardId: &unknownShard})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested shard does not exist.")
}

func TestGetStreamRecordPagesWithLimitAndMayMoreRecord(t *testing.T) {
	client, _ := newClient(t)
	createStreamTable(t, client, "t", streamSpec(), idColumn)
	iter := tableIterator(t, client, "t")
	for id := range int64(5) {
		putRow(t, client, "t", key("id", id), "v", id)
	}

	var ids []any
	for _, want := range []struct {
		records int
		more    bool
	}{{2, true}, {2, true}, {1, false}} {
		resp, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iter, Limit: proto.Int32(2)})
		require.NoError(t, err)
		require.Len(t, resp.Records, want.records)
		assert.Equal(t, want.more, *resp.MayMoreRecord)
		for _, r := range resp.Records {
			ids = append(ids, r.PrimaryKey.PrimaryKeys[0].Value)
		}
		require.NotNil(t, resp.NextShardIterator)
		assert.NotEqual(t, *iter, *resp.NextShardIterator)
		iter = resp.NextShardIterator
	}
	assert.Equal(t, []any{int64(0), int64(1), int64(2), int64(3), int64(4)}, ids)

	for _, limit := range []int32{0, 1001} {
		_, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iter, Limit: proto.Int32(limit)})
		requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid",
			fmt.Sprintf("Invalid limit: %d, it must be in range [1, 1000].", limit))
	}
}

func TestGetStreamRecordRejectsIteratorsItDidNotIssue(t *testing.T) {
	client, _ := newClient(t)
	createStreamTable(t, client, "t", streamSpec(), idColumn)
	issued := tableIterator(t, client, "t")
	for _, garbage := range []string{"", "garbage", base64.RawURLEncoding.EncodeToString([]byte("shard\t0")), string(*issued) + "x"} {
		iter := tablestore.ShardIterator(garbage)
		_, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: &iter})
		requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid",
			fmt.Sprintf("Invalid shard iterator: %q is not an iterator this server issued.", garbage))
	}

	other := "other"
	_, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: issued, TableName: &other})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "The shard iterator does not belong to table: other.")
}

func TestStreamSpecIsChecked(t *testing.T) {
	client, _ := newClient(t)
	for _, tc := range []struct {
		spec    *tablestore.StreamSpecification
		message string
	}{
		{&tablestore.StreamSpecification{EnableStream: true}, "Invalid expiration time: 0, it must be in range [1, 168] hours."},
		{&tablestore.StreamSpecification{EnableStream: true, ExpirationTime: 169},
			"Invalid expiration time: 169, it must be in range [1, 168] hours."},
		{streamSpec("id"), "Duplicated attribute column name with primary key column: id."},
	} {
		_, err := client.CreateTable(streamTableRequest("t", tc.spec, idColumn))
		requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", tc.message)
	}
	listed, err := client.ListTable()
	require.NoError(t, err)
	assert.Empty(t, listed.TableNames, "a refused CreateTable creates nothing")
}

func TestUpdateTableChangesOptionsAndThroughput(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 3, idColumn)

	updated, err := client.UpdateTable(&tablestore.UpdateTableRequest{
		TableName:          "t",
		TableOption:        &tablestore.TableOption{TimeToAlive: 86400 * 30, MaxVersion: 1, DeviationCellVersionInSec: 600},
		ReservedThroughput: &tablestore.ReservedThroughput{Readcap: 2, Writecap: 3},
	})
	require.NoError(t, err)
	wantOptions := &tablestore.TableOption{TimeToAlive: 86400 * 30, MaxVersion: 1, DeviationCellVersionInSec: 600}
	assert.Equal(t, wantOptions, updated.TableOption)
	assert.Equal(t, &tablestore.ReservedThroughput{Readcap: 2, Writecap: 3}, updated.ReservedThroughput)
	assert.Equal(t, &tablestore.StreamDetails{EnableStream: false}, updated.StreamDetails)

	_, err = client.UpdateTable(&tablestore.UpdateTableRequest{
		TableName:          "t",
		TableOption:        &tablestore.TableOption{TimeToAlive: 0, MaxVersion: 1},
		ReservedThroughput: &tablestore.ReservedThroughput{Readcap: 9, Writecap: 9},
	})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "TimeToLive cannot be 0 or less than -1.")

	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, wantOptions.TimeToAlive, described.TableOption.TimeToAlive)
	assert.Equal(t, wantOptions.MaxVersion, described.TableOption.MaxVersion)
	assert.Equal(t, wantOptions.DeviationCellVersionInSec, described.TableOption.DeviationCellVersionInSec)
	assert.Equal(t, &tablestore.ReservedThroughput{Readcap: 2, Writecap: 3}, described.ReservedThroughput,
		"a refused UpdateTable changes nothing")

	_, err = client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "missing", StreamSpec: streamSpec()})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")
}

func TestStreamReadWhileRowsAreWritten(t *testing.T) {
	client := newStreamServer(t, otslocal.Options{StreamShards: 2})
	createStreamTable(t, client, "t", streamSpec(), idColumn)
	stream, shards := openStream(t, client, "t")
	iterators := make([]*tablestore.ShardIterator, len(shards))
	for i, shard := range shards {
		iterators[i] = oldestIterator(t, client, stream, shard)
	}

	const writers, writes = 4, 25
	done := make(chan error, writers)
	for w := range int64(writers) {
		go func() {
			for v := range int64(writes) {
				change := putChange("t", key("id", w), ignore, "v", v)
				if _, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}

	values := map[int64][]int64{}
	readAll := func() {
		for i := range iterators {
			var records []*tablestore.StreamRecord
			records, iterators[i] = readShard(t, client, iterators[i])
			for _, r := range records {
				id := r.PrimaryKey.PrimaryKeys[0].Value.(int64)
				values[id] = append(values[id], r.Columns[0].Value.(int64))
			}
		}
	}
	for finished := 0; finished < writers; {
		select {
		case err := <-done:
			require.NoError(t, err)
			finished++
		default:
			readAll()
		}
	}
	readAll()

	want := make([]int64, writes)
	for v := range want {
		want[v] = int64(v)
	}
	for w := range int64(writers) {
		assert.Equal(t, want, values[w], "every write of row %d read once, in order", w)
	}
}

func TestNewServerRefusesNegativeStreamShards(t *testing.T) {
	_, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{StreamShards: -1})
	require.EqualError(t, err, "otslocal: Options.StreamShards must not be negative, got -1")
}
