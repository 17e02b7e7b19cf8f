package otslocal

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests drive the Stream API through the SDK against a server whose clock the test
// sets, so sequence timestamps, iterator timestamps and trimming can be asserted exactly.

// newClockedStreamTable starts a server at startMs with table "t" (pk "id" INTEGER)
// whose Stream keeps records for one hour.
func newClockedStreamTable(t *testing.T) (*tablestore.TableStoreClient, *testClock, *Server) {
	t.Helper()
	return newClockedTable(t, -1, 1, &tablestore.StreamSpecification{EnableStream: true, ExpirationTime: 1})
}

func putID(t *testing.T, client *tablestore.TableStoreClient, id int64) {
	t.Helper()
	change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: idKey(id)}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.AddColumn("v", id)
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)
}

func idKey(id int64) *tablestore.PrimaryKey {
	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", id)
	return pk
}

// streamShard returns the ids of table t's open stream and its only shard.
func streamShard(t *testing.T, client *tablestore.TableStoreClient) (*tablestore.StreamId, *tablestore.ShardId) {
	t.Helper()
	table := "t"
	listed, err := client.ListStream(&tablestore.ListStreamRequest{TableName: &table})
	require.NoError(t, err)
	require.Len(t, listed.Streams, 1)
	described, err := client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: listed.Streams[0].Id})
	require.NoError(t, err)
	require.Len(t, described.Shards, 1)
	return listed.Streams[0].Id, described.Shards[0].SelfShard
}

// iteratorAt returns a shard iterator of table t: at the oldest record, or at the first
// record committed at or after timestamp µs.
func iteratorAt(t *testing.T, client *tablestore.TableStoreClient, timestamp *int64) *tablestore.ShardIterator {
	t.Helper()
	stream, shard := streamShard(t, client)
	resp, err := client.GetShardIterator(&tablestore.GetShardIteratorRequest{StreamId: stream, ShardId: shard, Timestamp: timestamp})
	require.NoError(t, err)
	return resp.ShardIterator
}

// recordIDs reads one page of records and returns the ids of their rows.
func recordIDs(t *testing.T, client *tablestore.TableStoreClient, iter *tablestore.ShardIterator) []int64 {
	t.Helper()
	resp, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iter})
	require.NoError(t, err)
	ids := []int64{}
	for _, r := range resp.Records {
		ids = append(ids, r.PrimaryKey.PrimaryKeys[0].Value.(int64))
	}
	return ids
}

func TestStreamSequenceInfoIsTheCommitTime(t *testing.T) {
	client, clock, _ := newClockedStreamTable(t)
	iter := iteratorAt(t, client, nil)
	putID(t, client, 1)
	putID(t, client, 2)
	clock.advance(time.Millisecond)
	batch := &tablestore.BatchWriteRowRequest{}
	for _, id := range []int64{3, 4} {
		change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: idKey(id)}
		change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		change.AddColumn("v", id)
		batch.AddRowChange(change)
	}
	_, err := client.BatchWriteRow(batch)
	require.NoError(t, err)

	resp, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iter})
	require.NoError(t, err)
	var infos []tablestore.RecordSequenceInfo
	for _, r := range resp.Records {
		infos = append(infos, *r.Info)
	}
	startUs := startMs * 1000
	assert.Equal(t, []tablestore.RecordSequenceInfo{
		{Epoch: 0, Timestamp: startUs, RowIndex: 0},
		{Epoch: 0, Timestamp: startUs, RowIndex: 1},
		{Epoch: 0, Timestamp: startUs + 1000, RowIndex: 0},
		{Epoch: 0, Timestamp: startUs + 1000, RowIndex: 1},
	}, infos, "commit time in µs; the row index counts records with the same time, across requests")
	assert.Equal(t, startMs, *resp.Records[0].Columns[0].Timestamp)
}

func TestStreamTrimsExpiredRecords(t *testing.T) {
	client, clock, srv := newClockedStreamTable(t)
	putID(t, client, 1)
	clock.advance(40 * time.Minute)
	putID(t, client, 2)
	oldest := iteratorAt(t, client, nil)
	assert.Equal(t, []int64{1, 2}, recordIDs(t, client, oldest))

	clock.advance(30 * time.Minute) // record 1 is 70 minutes old, record 2 is 30
	_, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: oldest})
	requireStreamError(t, err, http.StatusNotFound, "OTSTrimmedDataAccess", "Requested stream data is already trimmed or does not exist.")
	assert.Equal(t, []int64{2}, recordIDs(t, client, iteratorAt(t, client, nil)), "a new iterator starts at the oldest untrimmed record")

	putID(t, client, 3)
	st := srv.instances.store(clockedInstance)
	st.mu.RLock()
	defer st.mu.RUnlock()
	shard := st.tables["t"].stream.shards[0]
	assert.Equal(t, int64(1), shard.firstOffset, "appending drops the expired records")
	assert.Len(t, shard.records, 2)
}

func TestGetShardIteratorAtATimestamp(t *testing.T) {
	client, clock, _ := newClockedStreamTable(t)
	putID(t, client, 1)
	clock.advance(time.Second)
	putID(t, client, 2)

	startUs := startMs * 1000
	assert.Equal(t, []int64{1, 2}, recordIDs(t, client, iteratorAt(t, client, proto.Int64(startUs))))
	assert.Equal(t, []int64{2}, recordIDs(t, client, iteratorAt(t, client, proto.Int64(startUs+1))))
	assert.Equal(t, []int64{2}, recordIDs(t, client, iteratorAt(t, client, proto.Int64(startUs+1_000_000))))

	future := iteratorAt(t, client, proto.Int64(startUs+2_000_000))
	assert.Empty(t, recordIDs(t, client, future), "a timestamp after every record is the end of the shard")
	putID(t, client, 3)
	assert.Equal(t, []int64{3}, recordIDs(t, client, future))

	stream, shard := streamShard(t, client)
	_, err := client.GetShardIterator(&tablestore.GetShardIteratorRequest{StreamId: stream, ShardId: shard, Timestamp: proto.Int64(-1)})
	requireStreamError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Invalid timestamp: -1, it must not be negative.")
}

func TestIteratorsOutsideTheShardAreTrimmedDataAccess(t *testing.T) {
	client, _, _ := newClockedStreamTable(t)
	putID(t, client, 1)
	stream, shard := streamShard(t, client)
	for _, it := range []shardIterator{
		{streamID: string(*stream), shardID: string(*shard), offset: 2}, // past the end
		{streamID: "gone", shardID: string(*shard), offset: 0},
		{streamID: string(*stream), shardID: "gone", offset: 0},
	} {
		iter := tablestore.ShardIterator(it.String())
		_, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: &iter})
		requireStreamError(t, err, http.StatusNotFound, "OTSTrimmedDataAccess", "Requested stream data is already trimmed or does not exist.")
	}
	atEnd := tablestore.ShardIterator(shardIterator{streamID: string(*stream), shardID: string(*shard), offset: 1}.String())
	assert.Empty(t, recordIDs(t, client, &atEnd))
}

func TestUpdateTableLowersMaxVersionsAndTimeToLive(t *testing.T) {
	client, clock, _ := newClockedTable(t, -1, 3, nil)
	put := func(value string) {
		require.NoError(t, update(t, client, func(change *tablestore.UpdateRowChange) { change.PutColumn("c", value) }))
	}
	setOptions := func(timeToLive, maxVersions int) {
		_, err := client.UpdateTable(&tablestore.UpdateTableRequest{
			TableName: "t", TableOption: &tablestore.TableOption{TimeToAlive: timeToLive, MaxVersion: maxVersions},
		})
		require.NoError(t, err)
	}
	put("first")
	clock.advance(25 * time.Hour)
	put("second")
	clock.advance(25 * time.Hour)
	all := tablestore.SingleRowQueryCriteria{MaxVersion: 10}
	assert.Equal(t, []cellVersion{{"c", "second", startMs + 25*3600_000}, {"c", "first", startMs}}, read(t, client, all))

	setOptions(-1, 1)
	assert.Equal(t, []cellVersion{{"c", "second", startMs + 25*3600_000}}, read(t, client, all),
		"lowering max_versions drops the older versions")
	setOptions(86400, 3)
	assert.Empty(t, read(t, client, all), "the new TTL hides versions older than a day")
}

// requireStreamError checks that err is the service error with this status, code and
// message.
func requireStreamError(t *testing.T, err error, status int, code, message string) {
	t.Helper()
	var oe *tablestore.OtsError
	require.True(t, errors.As(err, &oe), "want *tablestore.OtsError, got %v", err)
	assert.Equal(t, status, oe.HttpStatusCode)
	assert.Equal(t, code, oe.Code)
	assert.Equal(t, message, oe.Message)
}
