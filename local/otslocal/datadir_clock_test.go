package otslocal

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openClockedDataDir starts a server on the data directory dir whose clock is clock, and
// returns a client of it for clockedInstance that does not retry.
func openClockedDataDir(t *testing.T, dir string, clock *testClock) (*Server, *tablestore.TableStoreClient) {
	t.Helper()
	srv, err := newServer("127.0.0.1:0", Options{DataDir: dir}, clock.now)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	config := tablestore.NewDefaultTableStoreConfig()
	config.RetryTimes = 0
	return srv, tablestore.NewClientWithConfig(srv.Endpoint, clockedInstance, "ak", "sk", "", config)
}

func putAt(t *testing.T, client *tablestore.TableStoreClient, id int64, value string) {
	t.Helper()
	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", id)
	change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: pk}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.AddColumn("v", value)
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)
}

// streamRecords reads the table's only shard from its oldest record, and returns the
// records and the oldest iterator.
func streamRecords(t *testing.T, client *tablestore.TableStoreClient) ([]*tablestore.StreamRecord, *tablestore.ShardIterator) {
	t.Helper()
	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	require.NoError(t, err)
	stream, err := client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: described.StreamDetails.StreamId})
	require.NoError(t, err)
	iter, err := client.GetShardIterator(&tablestore.GetShardIteratorRequest{StreamId: described.StreamDetails.StreamId, ShardId: stream.Shards[0].SelfShard})
	require.NoError(t, err)
	resp, err := client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iter.ShardIterator})
	require.NoError(t, err)
	return resp.Records, iter.ShardIterator
}

// TestDataDirKeepsWhatTheClockDecides restarts a server on its data directory at later and
// earlier times: a Stream record that expired while it was down is gone, TTL hides the
// versions it has outlived, and the Stream's sequence goes on from its latest record when
// the clock went back.
func TestDataDirKeepsWhatTheClockDecides(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{}
	clock.ms.Store(startMs)
	srv, client := openClockedDataDir(t, dir, clock)
	meta := &tablestore.TableMeta{TableName: "t"}
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
	_, err := client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta: meta, TableOption: &tablestore.TableOption{TimeToAlive: 86400, MaxVersion: 1},
		ReservedThroughput: &tablestore.ReservedThroughput{}, StreamSpec: &tablestore.StreamSpecification{EnableStream: true, ExpirationTime: 1},
	})
	require.NoError(t, err)
	putAt(t, client, 1, "at the start")
	_, first := streamRecords(t, client)
	clock.advance(40 * time.Minute)
	putAt(t, client, 2, "40 minutes later")
	records, _ := streamRecords(t, client)
	require.Len(t, records, 2)
	latest := *records[1].Info
	srv.Close()

	clock.advance(30 * time.Minute) // the first record is older than the Stream's hour
	srv, client = openClockedDataDir(t, dir, clock)
	kept, _ := streamRecords(t, client)
	assert.Equal(t, records[1:], kept, "the record that expired while the server was down is gone")
	_, err = client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: first})
	var otsErr *tablestore.OtsError
	require.ErrorAs(t, err, &otsErr)
	assert.Equal(t, "OTSTrimmedDataAccess", otsErr.Code, "an iterator at the expired record")
	shard := srv.instances.store(clockedInstance).tables["t"].stream.shards[0]
	assert.Equal(t, int64(1), shard.firstOffset)
	assert.Len(t, shard.records, 1, "the expired record is dropped, not only hidden")
	srv.Close()

	clock.advance(24*time.Hour - 50*time.Minute) // start + 24 h 20 min: TTL hides row 1's version, not row 2's
	srv, client = openClockedDataDir(t, dir, clock)
	for id, want := range map[int64]int{1: 0, 2: 1} {
		pk := &tablestore.PrimaryKey{}
		pk.AddPrimaryKeyColumn("id", id)
		row, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{TableName: "t", PrimaryKey: pk, MaxVersion: 1}})
		require.NoError(t, err)
		assert.Len(t, row.Columns, want, "row %d", id)
	}
	srv.Close()

	clock.ms.Store(startMs + (30 * time.Minute).Milliseconds()) // back before the latest record
	_, client = openClockedDataDir(t, dir, clock)
	putAt(t, client, 3, "with the clock gone back")
	records, _ = streamRecords(t, client)
	require.Len(t, records, 1, "the records before expired by the day the clock had reached")
	assert.Equal(t, tablestore.RecordSequenceInfo{Timestamp: latest.Timestamp, RowIndex: latest.RowIndex + 1}, *records[0].Info,
		"the sequence goes on from the latest record's, although it expired")
}

// TestDataDirThatFailsIsAnsweredAsAnError makes the data directory's log unwritable under
// a running server: the write is answered 500 OTSInternalServerError naming the
// directory, and so is every request after it, reads too, since what they would show may
// be lost.
func TestDataDirThatFailsIsAnsweredAsAnError(t *testing.T) {
	dir := t.TempDir()
	clock := &testClock{}
	clock.ms.Store(startMs)
	srv, client := openClockedDataDir(t, dir, clock)
	createTable := func() error {
		meta := &tablestore.TableMeta{TableName: "t"}
		meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
		_, err := client.CreateTable(&tablestore.CreateTableRequest{
			TableMeta: meta, TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1}, ReservedThroughput: &tablestore.ReservedThroughput{},
		})
		return err
	}
	require.NoError(t, createTable())
	require.NoError(t, srv.instances.dir.wal.log.Close())

	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", int64(1))
	change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: pk}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.AddColumn("v", "never acknowledged")
	_, putErr := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	_, readErr := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{TableName: "t", PrimaryKey: pk, MaxVersion: 1}})
	_, listErr := client.ListTable()
	for _, err := range []error{putErr, readErr, listErr} {
		var otsErr *tablestore.OtsError
		require.True(t, errors.As(err, &otsErr), "%v", err)
		assert.Equal(t, http.StatusInternalServerError, otsErr.HttpStatusCode)
		assert.Equal(t, "OTSInternalServerError", otsErr.Code)
		assert.Regexp(t, `^otslocal could not write its data directory `+dir+` \(.*file already closed\); it acknowledges nothing more: restart it\.$`, otsErr.Message)
	}
}
