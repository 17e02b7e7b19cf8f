package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/internal/testkit"
)

// otslocalProcess is `otsetl otslocal` running as a child process.
type otslocalProcess struct {
	cmd            *exec.Cmd
	stdout, stderr *testkit.SyncBuffer
	exited         chan error
	endpoint       string
}

// startOtslocalProcess runs the binary's `otslocal` with args on a free loopback port and
// waits until it prints its endpoint. The process is killed when the test ends.
func startOtslocalProcess(t *testing.T, bin string, args ...string) *otslocalProcess {
	t.Helper()
	addr := testkit.FreePort(t)
	p := &otslocalProcess{stdout: &testkit.SyncBuffer{}, stderr: &testkit.SyncBuffer{}, exited: make(chan error, 1), endpoint: "http://" + addr}
	p.cmd = exec.Command(bin, append([]string{"otslocal", "--listen", addr}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	// The second line of its start, after the endpoint's: where it keeps its tables.
	require.Eventually(t, func() bool { return strings.Contains(p.stdout.String(), "otslocal: tables ") },
		30*time.Second, 10*time.Millisecond, "stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
	return p
}

// client is an SDK client of the process for instance "crash" that does not retry, so that
// a request the kill cut off fails at once instead of being sent again.
func (p *otslocalProcess) client() *sdk.TableStoreClient {
	config := sdk.NewDefaultTableStoreConfig()
	config.RetryTimes = 0
	return sdk.NewClientWithConfig(p.endpoint, "crash", "any", "any", "", config)
}

// requireKilled waits for the process to end and requires that SIGKILL ended it.
func (p *otslocalProcess) requireKilled(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.exited:
		require.ErrorContains(t, err, "signal: killed")
	case <-time.After(10 * time.Second):
		t.Fatal("otslocal did not die of SIGKILL")
	}
}

func idKey(id int64) *sdk.PrimaryKey {
	pk := &sdk.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", id)
	return pk
}

// ackedWrites are the rows whose writes otslocal acknowledged: id → the value of column v.
type ackedWrites struct {
	mu   sync.Mutex
	rows map[int64]string
}

func (a *ackedWrites) add(id int64, value string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rows[id] = value
	return len(a.rows)
}

// writeUntilKilled writes new rows into table "events" from writers goroutines, PutRows and
// BatchWriteRows of 10 rows, and SIGKILLs the process as soon as killAfter rows have been
// acknowledged, while the other writers' requests are in flight. It returns the
// acknowledged rows and how many rows were sent in all.
func writeUntilKilled(t *testing.T, p *otslocalProcess, writers, killAfter int) (map[int64]string, int64) {
	t.Helper()
	acked := &ackedWrites{rows: map[int64]string{}}
	var nextID atomic.Int64
	nextID.Store(1000)
	var killOnce sync.Once
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			client := p.client()
			for {
				var ids []int64
				var err error
				if w%2 == 0 {
					id := nextID.Add(1)
					ids = []int64{id}
					change := &sdk.PutRowChange{TableName: "events", PrimaryKey: idKey(id)}
					change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
					change.AddColumn("v", fmt.Sprintf("put %d", id))
					_, err = client.PutRow(&sdk.PutRowRequest{PutRowChange: change})
				} else {
					batch := &sdk.BatchWriteRowRequest{}
					for range 10 {
						id := nextID.Add(1)
						ids = append(ids, id)
						change := &sdk.PutRowChange{TableName: "events", PrimaryKey: idKey(id)}
						change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
						change.AddColumn("v", fmt.Sprintf("batched %d", id))
						batch.AddRowChange(change)
					}
					var resp *sdk.BatchWriteRowResponse
					if resp, err = client.BatchWriteRow(batch); err == nil {
						for _, r := range resp.TableToRowsResult["events"] {
							if !r.IsSucceed {
								err = fmt.Errorf("row %d: %s", r.Index, r.Error.Message)
							}
						}
					}
				}
				if err != nil {
					return // the process is gone
				}
				for _, id := range ids {
					kind := "put"
					if len(ids) > 1 {
						kind = "batched"
					}
					if acked.add(id, fmt.Sprintf("%s %d", kind, id)) >= killAfter {
						killOnce.Do(func() { _ = p.cmd.Process.Signal(syscall.SIGKILL) })
					}
				}
			}
		})
	}
	wg.Wait()
	p.requireKilled(t)
	return acked.rows, nextID.Load() - 1000
}

// TestOtslocalDataDirKeepsEveryAcknowledgedWriteThroughSIGKILL runs the otsetl binary's
// otslocal with --data-dir, writes every kind of change through the SDK, then keeps
// writers busy and SIGKILLs the process right after an acknowledgement, with requests in
// flight. Started again on the directory, it serves every acknowledged write: tables,
// options, rows with their versions, and the Stream, which a reader continues from the
// iterator it held before the kill. A second otslocal on the directory is refused.
func TestOtslocalDataDirKeepsEveryAcknowledgedWriteThroughSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the otsetl binary")
	}
	bin := testkit.BuildOtsetl(t)
	dir := filepath.Join(t.TempDir(), "tables")
	p := startOtslocalProcess(t, bin, "--data-dir", dir, "--stream-shards", "1")
	assert.Contains(t, p.stdout.String(), "otslocal: tables kept in "+dir+"\n")
	client := p.client()

	// Every kind of write, each acknowledged before the next.
	meta := &sdk.TableMeta{TableName: "events"}
	meta.AddPrimaryKeyColumn("id", sdk.PrimaryKeyType_INTEGER)
	_, err := client.CreateTable(&sdk.CreateTableRequest{
		TableMeta: meta, TableOption: &sdk.TableOption{TimeToAlive: -1, MaxVersion: 3}, ReservedThroughput: &sdk.ReservedThroughput{},
		StreamSpec: &sdk.StreamSpecification{EnableStream: true, ExpirationTime: 24, OriginColumnsToGet: []string{"v"}},
	})
	require.NoError(t, err)
	gone := &sdk.TableMeta{TableName: "gone"}
	gone.AddPrimaryKeyColumn("id", sdk.PrimaryKeyType_INTEGER)
	_, err = client.CreateTable(&sdk.CreateTableRequest{TableMeta: gone, TableOption: &sdk.TableOption{TimeToAlive: -1, MaxVersion: 1}, ReservedThroughput: &sdk.ReservedThroughput{}})
	require.NoError(t, err)
	_, err = client.DeleteTable(&sdk.DeleteTableRequest{TableName: "gone"})
	require.NoError(t, err)

	then := time.Now().Add(-time.Minute).UnixMilli()
	put := &sdk.PutRowChange{TableName: "events", PrimaryKey: idKey(1)}
	put.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	put.AddColumnWithTimestamp("v", "first", then)
	put.AddColumnWithTimestamp("v", "second", then+1)
	_, err = client.PutRow(&sdk.PutRowRequest{PutRowChange: put})
	require.NoError(t, err)
	update := &sdk.UpdateRowChange{TableName: "events", PrimaryKey: idKey(1)}
	update.SetCondition(sdk.RowExistenceExpectation_EXPECT_EXIST)
	update.PutColumnWithTimestamp("v", "third", then+2)
	update.DeleteColumnWithTimestamp("v", then)
	update.IncrementColumn("n", 7)
	_, err = client.UpdateRow(&sdk.UpdateRowRequest{UpdateRowChange: update})
	require.NoError(t, err)
	putTwo := &sdk.PutRowChange{TableName: "events", PrimaryKey: idKey(2)}
	putTwo.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	putTwo.AddColumn("v", "deleted next")
	_, err = client.PutRow(&sdk.PutRowRequest{PutRowChange: putTwo})
	require.NoError(t, err)
	remove := &sdk.DeleteRowChange{TableName: "events", PrimaryKey: idKey(2)}
	remove.SetCondition(sdk.RowExistenceExpectation_EXPECT_EXIST)
	_, err = client.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: remove})
	require.NoError(t, err)
	_, err = client.UpdateTable(&sdk.UpdateTableRequest{TableName: "events", TableOption: &sdk.TableOption{TimeToAlive: -1, MaxVersion: 2}})
	require.NoError(t, err)

	// A Stream reader that has read the first two records.
	streams, err := client.ListStream(&sdk.ListStreamRequest{TableName: proto.String("events")})
	require.NoError(t, err)
	require.Len(t, streams.Streams, 1)
	streamID := streams.Streams[0].Id
	described, err := client.DescribeStream(&sdk.DescribeStreamRequest{StreamId: streamID})
	require.NoError(t, err)
	shard := described.Shards[0].SelfShard
	oldest, err := client.GetShardIterator(&sdk.GetShardIteratorRequest{StreamId: streamID, ShardId: shard})
	require.NoError(t, err)
	two := int32(2)
	page, err := client.GetStreamRecord(&sdk.GetStreamRecordRequest{ShardIterator: oldest.ShardIterator, Limit: &two})
	require.NoError(t, err)
	require.Len(t, page.Records, 2)
	readBeforeKill := page.Records
	resume := page.NextShardIterator

	acked, sent := writeUntilKilled(t, p, 8, 500)
	t.Logf("%d rows sent, %d acknowledged before SIGKILL", sent, len(acked))

	restarted := startOtslocalProcess(t, bin, "--data-dir", dir, "--stream-shards", "1")
	client = restarted.client()
	listed, err := client.ListTable()
	require.NoError(t, err)
	assert.Equal(t, []string{"events"}, listed.TableNames, "the deleted table stays deleted")
	table, err := client.DescribeTable(&sdk.DescribeTableRequest{TableName: "events"})
	require.NoError(t, err)
	assert.Equal(t, 2, table.TableOption.MaxVersion)
	assert.Equal(t, *streamID, *table.StreamDetails.StreamId, "the same stream")
	assert.Equal(t, []string{"v"}, table.StreamDetails.OriginColumnsToGet)

	row, err := client.GetRow(&sdk.GetRowRequest{SingleRowQueryCriteria: &sdk.SingleRowQueryCriteria{TableName: "events", PrimaryKey: idKey(1), MaxVersion: 3}})
	require.NoError(t, err)
	var versions []string
	for _, c := range row.Columns {
		versions = append(versions, fmt.Sprintf("%s=%v@%d", c.ColumnName, c.Value, c.Timestamp-then))
	}
	require.Len(t, versions, 3, "%v", versions)
	assert.Equal(t, []string{"v=third@2", "v=second@1"}, versions[1:], "the versions max_versions 2 keeps")
	assert.Regexp(t, `^n=7@`, versions[0])
	row, err = client.GetRow(&sdk.GetRowRequest{SingleRowQueryCriteria: &sdk.SingleRowQueryCriteria{TableName: "events", PrimaryKey: idKey(2), MaxVersion: 1}})
	require.NoError(t, err)
	assert.Nil(t, row.PrimaryKey.PrimaryKeys, "the deleted row stays deleted")

	found := map[int64]string{}
	start, end := &sdk.PrimaryKey{}, &sdk.PrimaryKey{}
	start.AddPrimaryKeyColumn("id", int64(1000))
	end.AddPrimaryKeyColumnWithMaxValue("id")
	for start != nil {
		resp, err := client.GetRange(&sdk.GetRangeRequest{RangeRowQueryCriteria: &sdk.RangeRowQueryCriteria{
			TableName: "events", StartPrimaryKey: start, EndPrimaryKey: end, Direction: sdk.FORWARD, MaxVersion: 1,
		}})
		require.NoError(t, err)
		for _, r := range resp.Rows {
			found[r.PrimaryKey.PrimaryKeys[0].Value.(int64)] = r.Columns[0].Value.(string)
		}
		start = resp.NextStartPrimaryKey
	}
	missing := 0
	for id, value := range acked {
		if found[id] != value {
			missing++
			t.Errorf("acknowledged row %d: found %q, want %q", id, found[id], value)
		}
	}
	t.Logf("after the restart: %d of %d acknowledged rows found, %d rows in all (%d written but not acknowledged)",
		len(acked)-missing, len(acked), len(found), len(found)-len(acked))

	// The reader goes on where it was; from the oldest record, the Stream holds both parts.
	var afterKill []*sdk.StreamRecord
	for iter := resume; ; {
		resp, err := client.GetStreamRecord(&sdk.GetStreamRecordRequest{ShardIterator: iter})
		require.NoError(t, err, "the iterator held before the kill still reads")
		afterKill = append(afterKill, resp.Records...)
		if resp.NextShardIterator == nil || *resp.NextShardIterator == *iter {
			break
		}
		iter = resp.NextShardIterator
	}
	recorded := map[int64]bool{}
	for _, r := range afterKill {
		recorded[r.PrimaryKey.PrimaryKeys[0].Value.(int64)] = true
	}
	for id := range acked {
		assert.True(t, recorded[id], "no Stream record of acknowledged row %d", id)
	}
	restartedOldest, err := client.GetShardIterator(&sdk.GetShardIteratorRequest{StreamId: streamID, ShardId: shard})
	require.NoError(t, err)
	resp, err := client.GetStreamRecord(&sdk.GetStreamRecordRequest{ShardIterator: restartedOldest.ShardIterator, Limit: &two})
	require.NoError(t, err)
	assert.Equal(t, readBeforeKill, resp.Records, "the records read before the kill, again from the oldest")
	t.Logf("Stream: %d records read before the kill, %d after it from the same iterator", len(readBeforeKill), len(afterKill))

	// A second otslocal on the directory is refused while the first has it.
	code, stderr := runOtslocalToExit(t, bin, "--data-dir", dir)
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "otslocal: data directory "+dir+": in use by another otslocal")
}

// runOtslocalToExit runs the binary's `otslocal` with args, expecting it to exit at once,
// and returns its exit code and stderr.
func runOtslocalToExit(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"otslocal", "--listen", testkit.FreePort(t)}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "otslocal ran: %s", stderr.String())
	return exit.ExitCode(), stderr.String()
}

// TestOtslocalSaysWhereItKeepsItsTables checks the line otslocal prints at start, with and
// without --data-dir and --sync-writes, and that a directory of other files, and
// --sync-writes without a directory, are refused.
func TestOtslocalSaysWhereItKeepsItsTables(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tables")
	out, stop := startOtslocalCommand(t, noEnv, "--listen", testkit.FreePort(t), "--data-dir", dir)
	assert.Contains(t, out.String(), "otslocal: tables kept in "+dir+"\n")
	stop()

	synced := filepath.Join(t.TempDir(), "tables")
	out, stop = startOtslocalCommand(t, noEnv, "--listen", testkit.FreePort(t), "--data-dir", synced, "--sync-writes")
	assert.Contains(t, out.String(), "otslocal: tables kept in "+synced+", every write synced to the disk\n")
	stop()

	out, stop = startOtslocalCommand(t, noEnv, "--listen", testkit.FreePort(t))
	assert.Contains(t, out.String(), inMemory)
	stop()

	code, _, stderr := runCLI(t, noEnv, "otslocal", "--listen", testkit.FreePort(t), "--sync-writes")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "--sync-writes goes with --data-dir")

	notes := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(notes, "notes.txt"), []byte("mine"), 0o600))
	code, _, stderr = runCLI(t, noEnv, "otslocal", "--listen", testkit.FreePort(t), "--data-dir", notes)
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "otslocal: data directory "+notes+": it holds files that are not otslocal's")
}
