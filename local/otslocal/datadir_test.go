package otslocal_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
)

// startDataDirServer starts a server with two Stream shards on the data directory dir.
func startDataDirServer(t *testing.T, dir string) *otslocal.Server {
	t.Helper()
	srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{DataDir: dir, StreamShards: 2})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	return srv
}

// instanceClient is an SDK client of srv for the named instance.
func instanceClient(srv *otslocal.Server, instance string) *tablestore.TableStoreClient {
	return tablestore.NewClient(srv.Endpoint, instance, "ak", "sk")
}

// instanceDump is everything a client of an instance can read, as JSON: the tables with
// their descriptions and every version of every row, the open streams, and the given
// streams (closed ones among them) with their shards and every record from each shard's
// oldest iterator.
func instanceDump(t *testing.T, client *tablestore.TableStoreClient, streamIDs ...tablestore.StreamId) string {
	t.Helper()
	dump := map[string]any{}
	listed, err := client.ListTable()
	require.NoError(t, err)
	for _, name := range listed.TableNames {
		described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: name})
		require.NoError(t, err)
		described.ResponseInfo = tablestore.ResponseInfo{}
		dump["table "+name] = described
		dump["rows "+name] = allVersions(t, client, name, described.TableMeta)
	}
	streams, err := client.ListStream(&tablestore.ListStreamRequest{})
	require.NoError(t, err)
	streams.ResponseInfo = tablestore.ResponseInfo{}
	dump["streams"] = streams
	for _, id := range streamIDs {
		described, err := client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: &id})
		require.NoError(t, err)
		described.ResponseInfo = tablestore.ResponseInfo{}
		dump["stream "+string(id)] = described
		for _, shard := range described.Shards {
			iter := oldestIterator(t, client, &id, shard.SelfShard)
			records, _ := readShard(t, client, iter)
			dump["records "+string(id)+" "+string(*shard.SelfShard)] = map[string]any{"iterator": iter, "records": records}
		}
	}
	encoded, err := json.MarshalIndent(dump, "", " ")
	require.NoError(t, err)
	return string(encoded)
}

// allVersions reads every version of every row of the table.
func allVersions(t *testing.T, client *tablestore.TableStoreClient, table string, meta *tablestore.TableMeta) []*tablestore.Row {
	t.Helper()
	start, end := &tablestore.PrimaryKey{}, &tablestore.PrimaryKey{}
	for _, column := range meta.SchemaEntry {
		start.AddPrimaryKeyColumnWithMinValue(*column.Name)
		end.AddPrimaryKeyColumnWithMaxValue(*column.Name)
	}
	resp, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
		TableName: table, StartPrimaryKey: start, EndPrimaryKey: end, Direction: tablestore.FORWARD, MaxVersion: 10,
	}})
	require.NoError(t, err)
	require.Nil(t, resp.NextStartPrimaryKey, "one page holds every row of these tables")
	return resp.Rows
}

// writeEveryKind writes to the instances alpha and beta with every kind of write: table
// creation with and without a Stream, predefined columns and an auto-increment column;
// PutRow with explicit versions, UpdateRow putting, deleting a version, deleting a
// column and incrementing, DeleteRow, BatchWriteRow, UpdateTable of options, throughput
// and the Stream, DeleteTable. It returns the ids of alpha's streams, open and closed.
func writeEveryKind(t *testing.T, alpha, beta *tablestore.TableStoreClient) []tablestore.StreamId {
	t.Helper()
	events := streamTableRequest("events", streamSpec("level"), primaryKeyColumn{"region", tablestore.PrimaryKeyType_STRING}, idColumn)
	events.TableMeta.AddDefinedColumn("level", tablestore.DefinedColumn_INTEGER)
	_, err := alpha.CreateTable(events)
	require.NoError(t, err)
	then := time.Now().Add(-time.Hour).UnixMilli()
	put := putChange("events", key("region", "eu", "id", int64(1)), ignore)
	put.AddColumnWithTimestamp("level", int64(1), then)
	put.AddColumnWithTimestamp("level", int64(2), then+1000)
	put.AddColumn("message", "first")
	_, err = alpha.PutRow(&tablestore.PutRowRequest{PutRowChange: put})
	require.NoError(t, err)
	update := &tablestore.UpdateRowChange{TableName: "events", PrimaryKey: key("region", "eu", "id", int64(1))}
	update.SetCondition(expectExist)
	update.PutColumnWithTimestamp("level", int64(3), then+2000)
	update.DeleteColumnWithTimestamp("level", then)
	update.DeleteColumn("message")
	update.IncrementColumn("count", 5)
	_, err = alpha.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: update})
	require.NoError(t, err)
	putRow(t, alpha, "events", key("region", "us", "id", int64(2)), "message", "gone soon")
	remove := &tablestore.DeleteRowChange{TableName: "events", PrimaryKey: key("region", "us", "id", int64(2))}
	remove.SetCondition(ignore)
	_, err = alpha.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: remove})
	require.NoError(t, err)
	batch := &tablestore.BatchWriteRowRequest{}
	batch.AddRowChange(putChange("events", key("region", "us", "id", int64(3)), ignore, "message", "batched", "level", int64(7)))
	increment := &tablestore.UpdateRowChange{TableName: "events", PrimaryKey: key("region", "eu", "id", int64(1))}
	increment.SetCondition(ignore)
	increment.IncrementColumn("count", 1)
	batch.AddRowChange(increment)
	removeMissing := &tablestore.DeleteRowChange{TableName: "events", PrimaryKey: key("region", "eu", "id", int64(9))}
	removeMissing.SetCondition(ignore)
	batch.AddRowChange(removeMissing)
	resp, err := alpha.BatchWriteRow(batch)
	require.NoError(t, err)
	assert.Equal(t, []rowOutcome{rowOK, rowOK, rowOK}, outcomes(resp.TableToRowsResult["events"]))
	_, err = alpha.UpdateTable(&tablestore.UpdateTableRequest{
		TableName:          "events",
		TableOption:        &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 2},
		ReservedThroughput: &tablestore.ReservedThroughput{Readcap: 1, Writecap: 2},
	})
	require.NoError(t, err)

	counters := &tablestore.TableMeta{TableName: "counters"}
	counters.AddPrimaryKeyColumn("name", tablestore.PrimaryKeyType_STRING)
	counters.AddPrimaryKeyColumnOption("n", tablestore.PrimaryKeyType_INTEGER, tablestore.AUTO_INCREMENT)
	_, err = alpha.CreateTable(&tablestore.CreateTableRequest{
		TableMeta: counters, TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 1},
		ReservedThroughput: &tablestore.ReservedThroughput{},
	})
	require.NoError(t, err)
	for range 3 {
		putAutoIncrement(t, alpha)
	}

	createTable(t, alpha, "gone", 1, idColumn)
	putRow(t, alpha, "gone", key("id", int64(1)), "v", "dropped with its table")
	_, err = alpha.DeleteTable(&tablestore.DeleteTableRequest{TableName: "gone"})
	require.NoError(t, err)

	createStreamTable(t, alpha, "toggled", streamSpec(), idColumn)
	putRow(t, alpha, "toggled", key("id", int64(1)), "v", "in the first stream")
	first, _ := openStream(t, alpha, "toggled")
	_, err = alpha.UpdateTable(&tablestore.UpdateTableRequest{TableName: "toggled", StreamSpec: &tablestore.StreamSpecification{EnableStream: false}})
	require.NoError(t, err)
	_, err = alpha.UpdateTable(&tablestore.UpdateTableRequest{TableName: "toggled", StreamSpec: streamSpec()})
	require.NoError(t, err)
	putRow(t, alpha, "toggled", key("id", int64(2)), "v", "in the second stream")
	second, _ := openStream(t, alpha, "toggled")
	eventsStream, _ := openStream(t, alpha, "events")

	createTable(t, beta, "events", 1, primaryKeyColumn{"name", tablestore.PrimaryKeyType_STRING})
	putRow(t, beta, "events", key("name", "beta's"), "v", "another instance")
	return []tablestore.StreamId{*eventsStream, *first, *second}
}

// putAutoIncrement puts a row of table "counters" with the next auto-increment value and
// returns that value.
func putAutoIncrement(t *testing.T, client *tablestore.TableStoreClient) int64 {
	t.Helper()
	pk := &tablestore.PrimaryKey{}
	pk.AddPrimaryKeyColumn("name", "c")
	pk.AddPrimaryKeyColumnWithAutoIncrement("n")
	change := &tablestore.PutRowChange{TableName: "counters", PrimaryKey: pk}
	change.SetCondition(ignore)
	change.AddColumn("v", "x")
	change.SetReturnPk()
	resp, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)
	return resp.PrimaryKey.PrimaryKeys[1].Value.(int64)
}

func TestDataDirServesTheSameStateAfterARestart(t *testing.T) {
	dir := t.TempDir()
	srv := startDataDirServer(t, dir)
	alpha, beta := instanceClient(srv, "alpha"), instanceClient(srv, "beta")
	streamIDs := writeEveryKind(t, alpha, beta)
	// A reader part of the way through the events Stream: one record read of each shard.
	described, err := alpha.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: &streamIDs[0]})
	require.NoError(t, err)
	var resumed []*tablestore.ShardIterator
	one := int32(1)
	for _, shard := range described.Shards {
		resp, err := alpha.GetStreamRecord(&tablestore.GetStreamRecordRequest{
			ShardIterator: oldestIterator(t, alpha, &streamIDs[0], shard.SelfShard), Limit: &one,
		})
		require.NoError(t, err)
		resumed = append(resumed, resp.NextShardIterator)
	}
	var rest [][]*tablestore.StreamRecord
	for _, iter := range resumed {
		records, _ := readShard(t, alpha, iter)
		rest = append(rest, records)
	}
	before := [2]string{instanceDump(t, alpha, streamIDs...), instanceDump(t, beta)}
	srv.Close()

	srv = startDataDirServer(t, dir)
	alpha, beta = instanceClient(srv, "alpha"), instanceClient(srv, "beta")
	assert.Equal(t, before, [2]string{instanceDump(t, alpha, streamIDs...), instanceDump(t, beta)},
		"tables, options, rows with their versions, streams open and closed, shards, records and iterators")
	for i, iter := range resumed {
		records, _ := readShard(t, alpha, iter)
		assert.Equal(t, rest[i], records, "an iterator from before the restart reads on where it was")
	}

	// The server goes on from where it was: the auto-increment counter, the Stream's
	// sequence, a deleted table's name.
	assert.Equal(t, int64(4), putAutoIncrement(t, alpha), "the next value after the three before the restart")
	putRow(t, alpha, "events", key("region", "eu", "id", int64(1)), "message", "after the restart")
	grown := 0
	for i, iter := range resumed {
		records, _ := readShard(t, alpha, iter)
		if len(records) == len(rest[i]) {
			continue
		}
		grown++
		require.Len(t, records, len(rest[i])+1)
		previous, appended := records[len(records)-2].Info, records[len(records)-1].Info
		assert.True(t, appended.Timestamp > previous.Timestamp || appended.Timestamp == previous.Timestamp && appended.RowIndex > previous.RowIndex,
			"the sequence goes on: %v after %v", appended, previous)
	}
	assert.Equal(t, 1, grown, "the new record is in one shard")
	createTable(t, alpha, "gone", 1, idColumn)
	gone, err := alpha.DescribeTable(&tablestore.DescribeTableRequest{TableName: "gone"})
	require.NoError(t, err)
	assert.Empty(t, allVersions(t, alpha, "gone", gone.TableMeta), "a table created anew has none of the deleted one's rows")
}

func TestDataDirIsRefusedToASecondServer(t *testing.T) {
	dir := t.TempDir()
	startDataDirServer(t, dir)
	_, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{DataDir: dir})
	require.Error(t, err)
	assert.True(t, errors.Is(err, otslocal.ErrDataDirInUse), "%v", err)
	assert.Contains(t, err.Error(), dir)
}

func TestDataDirRefusesADirectoryOfOtherFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644))
	_, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{DataDir: dir})
	require.ErrorContains(t, err, "holds files that are not otslocal's")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "nothing is written into it")
}

// dataDirFiles lists the files of a data directory by name, with the bytes they use: a
// log's up to the zeros written ahead of its frames.
func dataDirFiles(t *testing.T, dir string) map[string]int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	files := map[string]int{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		files[e.Name()] = len(data)
		if strings.HasPrefix(e.Name(), "wal-") {
			files[e.Name()] = framesEnd(data)
		}
	}
	return files
}

// framesEnd is where a log's frames end, each a 4-byte little-endian length, a 4-byte
// checksum and the payload: at the first length 0.
func framesEnd(log []byte) int {
	end := 0
	for end+8 <= len(log) && binary.LittleEndian.Uint32(log[end:]) != 0 {
		end += 8 + int(binary.LittleEndian.Uint32(log[end:]))
	}
	return end
}

// newestLog is the path of the data directory's newest log.
func newestLog(t *testing.T, dir string) string {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(dir, "wal-*"))
	require.NoError(t, err)
	require.NotEmpty(t, logs)
	return logs[len(logs)-1] // generations are fixed-width hex: name order is generation order
}

func TestDataDirCompactsItsLogIntoASnapshot(t *testing.T) {
	dir := t.TempDir()
	srv := startDataDirServer(t, dir)
	otslocal.CompactDataDirAt(srv, 4<<10)
	alpha, beta := instanceClient(srv, "alpha"), instanceClient(srv, "beta")
	streamIDs := writeEveryKind(t, alpha, beta)
	// Rewrites of the same few rows make a log far larger than the state, from concurrent
	// writers, while snapshots are written: into beta's table, and into alpha's, whose
	// Stream takes a record of each.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				value := fmt.Sprintf("version %d of a value long enough to fill the log", w*50+i)
				_, err := beta.PutRow(&tablestore.PutRowRequest{PutRowChange: putChange("events", key("name", fmt.Sprintf("row %d", i%10)), ignore, "v", value)})
				assert.NoError(t, err)
				_, err = alpha.PutRow(&tablestore.PutRowRequest{PutRowChange: putChange("events", key("region", "eu", "id", int64(i%10)), ignore, "message", value)})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	before := [2]string{instanceDump(t, alpha, streamIDs...), instanceDump(t, beta)}
	srv.Close()

	files := dataDirFiles(t, dir)
	var snapshots, logs, total int
	for name, size := range files {
		total += size
		switch {
		case strings.HasPrefix(name, "snapshot-") && !strings.HasSuffix(name, ".tmp"):
			snapshots++
		case strings.HasPrefix(name, "wal-"):
			logs++
		}
	}
	assert.Equal(t, 1, snapshots, "the newest snapshot replaces the older ones: %v", files)
	assert.LessOrEqual(t, logs, 2, "the logs a snapshot holds are removed: %v", files)
	assert.Less(t, total, 200<<10, "800 rewrites of 60-byte values in 20 rows (and 400 Stream records) leave far less than they wrote: %v", files)

	srv = startDataDirServer(t, dir)
	assert.Equal(t, before, [2]string{instanceDump(t, instanceClient(srv, "alpha"), streamIDs...), instanceDump(t, instanceClient(srv, "beta"))})
}

// TestDataDirCutsOffAWriteACrashLeftIncomplete writes what a write cut short by a crash
// leaves after the last frame of the newest log, a part of a frame header, then a frame
// shorter than it says: the server starts with every whole write and writes after them. A damaged frame
// followed by whole ones is not a crash's doing: the server refuses to start.
func TestDataDirCutsOffAWriteACrashLeftIncomplete(t *testing.T) {
	dir := t.TempDir()
	srv := startDataDirServer(t, dir)
	client := instanceClient(srv, "alpha")
	createTable(t, client, "t", 1, idColumn)
	putRow(t, client, "t", key("id", int64(1)), "v", "whole")
	srv.Close()

	for i, torn := range [][]byte{{0x20, 0x00, 0x00}, {0x20, 0x00, 0x00, 0x00, 1, 2, 3, 4, 9, 9}} {
		log := newestLog(t, dir)
		data, err := os.ReadFile(log)
		require.NoError(t, err)
		f, err := os.OpenFile(log, os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt(torn, int64(framesEnd(data)))
		require.NoError(t, err)
		require.NoError(t, f.Close())

		srv = startDataDirServer(t, dir)
		client = instanceClient(srv, "alpha")
		assert.Equal(t, map[string]any{"v": "whole"}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))
		putRow(t, client, "t", key("id", int64(2+i)), "v", "after the cut")
		srv.Close()
	}
	srv = startDataDirServer(t, dir)
	client = instanceClient(srv, "alpha")
	for id := int64(2); id <= 3; id++ {
		assert.Equal(t, map[string]any{"v": "after the cut"}, columnValues(getRow(t, client, "t", key("id", id)).Columns))
	}
	srv.Close()

	log := newestLog(t, dir)
	data, err := os.ReadFile(log)
	require.NoError(t, err)
	for _, damage := range []struct {
		name string
		do   func([]byte)
		want string
	}{
		{"a byte of the first frame", func(b []byte) { b[10] ^= 0xFF }, "damaged at byte 0"},
		{"the first frame's header zeroed", func(b []byte) { clear(b[:8]) }, "damaged at byte 0: frames after zeros"},
	} {
		damaged := bytes.Clone(data)
		damage.do(damaged)
		require.NoError(t, os.WriteFile(log, damaged, 0o644))
		_, err = otslocal.NewServer("127.0.0.1:0", otslocal.Options{DataDir: dir})
		require.ErrorContains(t, err, filepath.Base(log)+": "+damage.want, damage.name)
	}
}
