package otslocal

import (
	"bytes"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/require"
)

// fuzzActions are the actions FuzzRequest sends bodies to, indexed by its action input.
var fuzzActions = slices.Sorted(maps.Keys(operations))

// answeredErrors are the error codes a request may be answered with, each with its HTTP
// statuses (Tablestore error codes). OTSInternalServerError is not among them: it
// answers an error the server did not expect, which is a bug.
var answeredErrors = map[string][]int{
	codeParameterInvalid:    {http.StatusBadRequest},
	codeInvalidPK:           {http.StatusBadRequest},
	codeConditionCheckFail:  {http.StatusForbidden},
	codeQuotaExhausted:      {http.StatusForbidden},
	codeObjectNotExist:      {http.StatusNotFound},
	codeTrimmedDataAccess:   {http.StatusNotFound},
	codeObjectAlreadyExist:  {http.StatusConflict},
	codeRequestBodyTooLarge: {http.StatusRequestEntityTooLarge},
}

// capturedRequest is one request an SDK client sent.
type capturedRequest struct {
	action string
	body   []byte
}

// fuzzFixtureRequests is how many of sdkRequests' requests set up the state every
// FuzzRequest input meets: a table with a Stream, and two rows.
const fuzzFixtureRequests = 3

// fuzzInstance is the instance every FuzzRequest request names, as an SDK client would.
const fuzzInstance = "inst"

// fuzzClock is the clock of the servers FuzzRequest runs, so that an input meets the
// same state each time.
func fuzzClock() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// sdkRequests runs the Go SDK through every implemented action against a server and
// returns the requests it sent, in order; the first fuzzFixtureRequests create the
// fixture table "fuzz" (primary key region STRING, id INTEGER) and two rows.
func sdkRequests(t testing.TB) []capturedRequest {
	srv, err := newServer("127.0.0.1:0", Options{}, fuzzClock)
	require.NoError(t, err)
	defer srv.Close()
	var mu sync.Mutex
	var captured []capturedRequest
	capturing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		mu.Lock()
		captured = append(captured, capturedRequest{r.URL.Path[1:], body})
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		srv.serveHTTP(w, r)
	}))
	defer capturing.Close()
	client := tablestore.NewClient(capturing.URL, fuzzInstance, "ak", "sk")

	meta := &tablestore.TableMeta{TableName: "fuzz"}
	meta.AddPrimaryKeyColumn("region", tablestore.PrimaryKeyType_STRING)
	meta.AddPrimaryKeyColumn("id", tablestore.PrimaryKeyType_INTEGER)
	_, err = client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 3},
		ReservedThroughput: &tablestore.ReservedThroughput{},
		StreamSpec:         &tablestore.StreamSpecification{EnableStream: true, ExpirationTime: 24},
	})
	require.NoError(t, err)
	key := func(id int64) *tablestore.PrimaryKey {
		pk := &tablestore.PrimaryKey{}
		pk.AddPrimaryKeyColumn("region", "hangzhou")
		pk.AddPrimaryKeyColumn("id", id)
		return pk
	}
	put := func(id int64) *tablestore.PutRowChange {
		change := &tablestore.PutRowChange{TableName: "fuzz", PrimaryKey: key(id)}
		change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		change.AddColumn("level", id)
		change.AddColumnWithTimestamp("message", "m", fuzzClock().UnixMilli()-id)
		return change
	}
	for id := range int64(2) {
		_, err = client.PutRow(&tablestore.PutRowRequest{PutRowChange: put(id)})
		require.NoError(t, err)
	}

	_, err = client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: "fuzz", PrimaryKey: key(0), MaxVersion: 2, ColumnsToGet: []string{"level"},
	}})
	require.NoError(t, err)
	update := &tablestore.UpdateRowChange{TableName: "fuzz", PrimaryKey: key(1)}
	update.SetCondition(tablestore.RowExistenceExpectation_EXPECT_EXIST)
	update.PutColumn("level", int64(5))
	update.DeleteColumn("message")
	update.DeleteColumnWithTimestamp("message", fuzzClock().UnixMilli()-1)
	_, err = client.UpdateRow(&tablestore.UpdateRowRequest{UpdateRowChange: update})
	require.NoError(t, err)
	deleteChange := &tablestore.DeleteRowChange{TableName: "fuzz", PrimaryKey: key(3)}
	deleteChange.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	_, err = client.DeleteRow(&tablestore.DeleteRowRequest{DeleteRowChange: deleteChange})
	require.NoError(t, err)
	batchWrite := &tablestore.BatchWriteRowRequest{}
	batchWrite.AddRowChange(put(2))
	batchWrite.AddRowChange(deleteChange)
	_, err = client.BatchWriteRow(batchWrite)
	require.NoError(t, err)
	criteria := &tablestore.MultiRowQueryCriteria{TableName: "fuzz", MaxVersion: 1}
	criteria.AddRow(key(0))
	criteria.AddRow(key(9))
	_, err = client.BatchGetRow(&tablestore.BatchGetRowRequest{MultiRowQueryCriteria: []*tablestore.MultiRowQueryCriteria{criteria}})
	require.NoError(t, err)
	start, end := &tablestore.PrimaryKey{}, &tablestore.PrimaryKey{}
	start.AddPrimaryKeyColumnWithMinValue("region")
	start.AddPrimaryKeyColumnWithMinValue("id")
	end.AddPrimaryKeyColumnWithMaxValue("region")
	end.AddPrimaryKeyColumnWithMaxValue("id")
	_, err = client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
		TableName: "fuzz", StartPrimaryKey: start, EndPrimaryKey: end, MaxVersion: 1, Direction: tablestore.FORWARD, Limit: 1,
	}})
	require.NoError(t, err)
	_, err = client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
		TableName: "fuzz", StartPrimaryKey: start, EndPrimaryKey: end, MaxVersion: 2, Direction: tablestore.FORWARD,
		DataBlockType: tablestore.SimpleRowMatrix,
	}})
	require.NoError(t, err)
	unit := int64(1 << 20)
	_, err = client.ComputeSplitPointsBySize(&tablestore.ComputeSplitPointsBySizeRequest{TableName: "fuzz", SplitSize: 1, SplitSizeUnitInByte: &unit})
	require.NoError(t, err)
	_, err = client.DescribeTable(&tablestore.DescribeTableRequest{TableName: "fuzz"})
	require.NoError(t, err)
	_, err = client.ListTable()
	require.NoError(t, err)
	_, err = client.UpdateTable(&tablestore.UpdateTableRequest{TableName: "fuzz", TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 2}})
	require.NoError(t, err)

	streams, err := client.ListStream(&tablestore.ListStreamRequest{TableName: proto.String("fuzz")})
	require.NoError(t, err)
	require.NotEmpty(t, streams.Streams)
	stream, err := client.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: streams.Streams[0].Id})
	require.NoError(t, err)
	require.NotEmpty(t, stream.Shards)
	iterator, err := client.GetShardIterator(&tablestore.GetShardIteratorRequest{StreamId: streams.Streams[0].Id, ShardId: stream.Shards[0].SelfShard})
	require.NoError(t, err)
	_, err = client.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: iterator.ShardIterator, Limit: proto.Int32(10)})
	require.NoError(t, err)

	_, err = client.DeleteTable(&tablestore.DeleteTableRequest{TableName: "fuzz"})
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()
	actions := map[string]bool{}
	for _, r := range captured {
		actions[r.action] = true
	}
	require.ElementsMatch(t, fuzzActions, slices.Collect(maps.Keys(actions)), "the SDK went through every action")
	return captured
}

// FuzzRequest sends an arbitrary body to one action of a server holding a table with a
// Stream and two rows, and checks that the server does not panic and answers 200 or a
// documented error: a protobuf Error whose code is one of the service's, with its status
// and a message. Seeds are the requests of the Go SDK for every action.
func FuzzRequest(f *testing.F) {
	requests := sdkRequests(f)
	for _, r := range requests {
		f.Add(uint8(slices.Index(fuzzActions, r.action)), r.body)
	}
	fixture := requests[:fuzzFixtureRequests]

	f.Fuzz(func(t *testing.T, actionIndex uint8, body []byte) {
		srv, err := newServer("127.0.0.1:0", Options{}, fuzzClock)
		require.NoError(t, err)
		defer srv.Close()
		for _, r := range fixture {
			status, _ := serveRequest(srv, r.action, r.body)
			require.Equal(t, http.StatusOK, status, "fixture request %s", r.action)
		}

		action := fuzzActions[int(actionIndex)%len(fuzzActions)]
		status, answer := serveRequest(srv, action, body)
		if status == http.StatusOK {
			return
		}
		var e otsprotocol.Error
		require.NoError(t, proto.Unmarshal(answer, &e), "status %d with a body that is no Error", status)
		statuses, ok := answeredErrors[e.GetCode()]
		require.True(t, ok, "%s answered %d %s: %s", action, status, e.GetCode(), e.GetMessage())
		require.Contains(t, statuses, status, "%s answered %s", action, e.GetCode())
		require.NotEmpty(t, e.GetMessage())
	})
}

// serveRequest has srv serve "POST /<action>" with body to fuzzInstance, in process, and
// returns the status and the body of the answer.
func serveRequest(srv *Server, action string, body []byte) (int, []byte) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/"+action, bytes.NewReader(body))
	req.Header.Set(instanceNameHeader, fuzzInstance)
	srv.serveHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}
