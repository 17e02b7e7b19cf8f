package otslocal

import (
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests drive the SDK against a server whose clock the test sets, so server
// timestamps, TTL and the deviation check can be asserted exactly.

// testClock is a settable clock in ms, safe to read from the server's goroutines.
type testClock struct{ ms atomic.Int64 }

func (c *testClock) now() time.Time { return time.UnixMilli(c.ms.Load()) }

func (c *testClock) advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

const startMs = int64(1_700_000_000_000)

// clockedInstance is the instance name of newClockedTable's client.
const clockedInstance = "inst"

// newClockedTable starts a server at startMs with table "t" (pk "id" INTEGER), with its
// Stream when stream is not nil.
func newClockedTable(t *testing.T, timeToLive, maxVersions int, stream *tablestore.StreamSpecification) (*tablestore.TableStoreClient, *testClock, *Server) {
	t.Helper()
	clock := &testClock{}
	clock.ms.Store(startMs)
	srv, err := newServer("127.0.0.1:0", Options{}, clock.now)
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	client := tablestore.NewClient(srv.Endpoint, clockedInstance, "ak", "sk")
	meta := &tablestore.TableMeta{TableName: "t"}
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
	_, err = client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &tablestore.TableOption{TimeToAlive: timeToLive, MaxVersion: maxVersions},
		ReservedThroughput: &tablestore.ReservedThroughput{},
		StreamSpec:         stream,
	})
	require.NoError(t, err)
	return client, clock, srv
}

func rowKey() *tablestore.PrimaryKey {
	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", int64(1))
	return pk
}

// cellVersion is a column version as a read returns it.
type cellVersion struct {
	name      string
	value     any
	timestamp int64
}

func read(t *testing.T, client *tablestore.TableStoreClient, criteria tablestore.SingleRowQueryCriteria) []cellVersion {
	t.Helper()
	criteria.TableName, criteria.PrimaryKey = "t", rowKey()
	resp, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &criteria})
	require.NoError(t, err)
	var versions []cellVersion
	for _, c := range resp.Columns {
		versions = append(versions, cellVersion{c.ColumnName, c.Value, c.Timestamp})
	}
	return versions
}

func update(t *testing.T, client *tablestore.TableStoreClient, build func(*tablestore.UpdateRowChange)) error {
	t.Helper()
	change := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: rowKey()}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	build(change)
	_, err := client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: change})
	return err
}

func TestVersionsMaxVersionsAndTimeRanges(t *testing.T) {
	client, _, _ := newClockedTable(t, -1, 3, nil)
	put := &tablestore.PutRowChange{TableName: "t", PrimaryKey: rowKey()}
	put.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	for i := int64(1); i <= 4; i++ {
		put.AddColumnWithTimestamp("c", i*10, startMs-5000+i*1000) // versions at -4 s … -1 s
	}
	put.AddColumn("b", "now")
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
	require.NoError(t, err)

	all := read(t, client, tablestore.SingleRowQueryCriteria{MaxVersion: 10})
	assert.Equal(t, []cellVersion{
		{"b", "now", startMs},
		{"c", int64(40), startMs - 1000},
		{"c", int64(30), startMs - 2000},
		{"c", int64(20), startMs - 3000},
	}, all, "names ascending, newest first, at most the table's 3 versions, server time when none is given")

	assert.Equal(t, []cellVersion{{"b", "now", startMs}, {"c", int64(40), startMs - 1000}},
		read(t, client, tablestore.SingleRowQueryCriteria{MaxVersion: 1}))

	assert.Equal(t, []cellVersion{{"c", int64(30), startMs - 2000}, {"c", int64(20), startMs - 3000}},
		read(t, client, tablestore.SingleRowQueryCriteria{
			TimeRange: &tablestore.TimeRange{Start: startMs - 3000, End: startMs - 1000},
		}), "time range is [start, end)")

	assert.Equal(t, []cellVersion{{"c", int64(30), startMs - 2000}},
		read(t, client, tablestore.SingleRowQueryCriteria{
			TimeRange: &tablestore.TimeRange{Start: startMs - 3000, End: startMs - 1000}, MaxVersion: 1, ColumnsToGet: []string{"c"},
		}))

	assert.Equal(t, []cellVersion{{"c", int64(20), startMs - 3000}},
		read(t, client, tablestore.SingleRowQueryCriteria{TimeRange: &tablestore.TimeRange{Specific: startMs - 3000}}))

	require.NoError(t, update(t, client, func(change *tablestore.UpdateRowChange) {
		change.PutColumnWithTimestamp("c", int64(33), startMs-2000)
		change.DeleteColumnWithTimestamp("c", startMs-1000)
	}))
	assert.Equal(t, []cellVersion{{"c", int64(33), startMs - 2000}, {"c", int64(20), startMs - 3000}},
		read(t, client, tablestore.SingleRowQueryCriteria{MaxVersion: 10, ColumnsToGet: []string{"c"}}),
		"writing at an existing timestamp overwrites it; DELETE_ONE_VERSION removes one version")
}

func TestIncrementWritesANewVersionAtServerTime(t *testing.T) {
	client, clock, _ := newClockedTable(t, -1, 5, nil)
	require.NoError(t, update(t, client, func(change *tablestore.UpdateRowChange) { change.IncrementColumn("n", 10) }))
	clock.advance(time.Second)
	require.NoError(t, update(t, client, func(change *tablestore.UpdateRowChange) { change.IncrementColumn("n", -3) }))
	assert.Equal(t, []cellVersion{{"n", int64(7), startMs + 1000}, {"n", int64(10), startMs}},
		read(t, client, tablestore.SingleRowQueryCriteria{MaxVersion: 10}))
}

func TestTimeToLiveHidesExpiredVersions(t *testing.T) {
	client, clock, _ := newClockedTable(t, 86400, 5, nil) // a day, the shortest TTL the service takes
	require.NoError(t, update(t, client, func(change *tablestore.UpdateRowChange) {
		change.PutColumnWithTimestamp("c", "old", startMs-30_000)
		change.PutColumn("d", "new")
	}))
	clock.advance(86350 * time.Second) // c is 86380 s old, d 86350 s
	assert.Equal(t, []cellVersion{{"c", "old", startMs - 30_000}, {"d", "new", startMs}},
		read(t, client, tablestore.SingleRowQueryCriteria{MaxVersion: 5}))

	clock.advance(30 * time.Second) // c is 86410 s old, d 86380 s
	assert.Equal(t, []cellVersion{{"d", "new", startMs}}, read(t, client, tablestore.SingleRowQueryCriteria{MaxVersion: 5}))

	require.NoError(t, update(t, client, func(change *tablestore.UpdateRowChange) { change.IncrementColumn("c", 1) }),
		"an expired value does not count for increment")
	assert.Equal(t, []cellVersion{{"c", int64(1), startMs + 86380_000}},
		read(t, client, tablestore.SingleRowQueryCriteria{MaxVersion: 5, ColumnsToGet: []string{"c"}}))
}

func TestExplicitTimestampsMustBeWithinTheDeviation(t *testing.T) {
	client, _, _ := newClockedTable(t, 86400, 1, nil)
	_, err := client.UpdateTable(&tablestore.UpdateTableRequest{
		TableName: "t", TableOption: &tablestore.TableOption{TimeToAlive: 86400, MaxVersion: 1, DeviationCellVersionInSec: 2 * 86400},
	})
	require.NoError(t, err)
	put := func(timestamp int64) error {
		return update(t, client, func(change *tablestore.UpdateRowChange) { change.PutColumnWithTimestamp("c", "v", timestamp) })
	}
	// The valid range is [max(now − deviation, now − TTL), now + deviation): [now − 1 day, now + 2 days).
	require.NoError(t, put(startMs-86400_000))
	require.NoError(t, put(startMs+172799_000))
	for _, timestamp := range []int64{startMs - 86401_000, startMs + 172800_000} {
		err := put(timestamp)
		var oe *tablestore.OtsError
		require.True(t, errors.As(err, &oe), "timestamp %d", timestamp)
		assert.Equal(t, http.StatusBadRequest, oe.HttpStatusCode)
		assert.Equal(t, "OTSParameterInvalid", oe.Code)
		assert.Equal(t, "Invalid timestamp. Cell:c.", oe.Message)
	}
	err = put(-1)
	require.Error(t, err)
	assert.Equal(t, "Timestamp must be in range [0, INT64_MAX/1000).", err.(*tablestore.OtsError).Message)
}
