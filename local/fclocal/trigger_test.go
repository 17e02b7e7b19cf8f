package fclocal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/streams"
	"github.com/otsetl/otsetl/ots"
)

// TestTriggerKeepsTheResultTable writes rows, updates and deletes with the SDK into a table
// whose Stream has several shards, and expects the function, fed by the trigger, to keep the
// result table equal to the rows that pass its rule, also for changes made after the
// trigger caught up.
func TestTriggerKeepsTheResultTable(t *testing.T) {
	tb := newTables(t, 3)
	for id := int64(1); id <= 40; id++ {
		tb.putRow(t, id, id%4, fmt.Sprintf("row %d", id))
	}
	var reps reports
	var logs testkit.SyncBuffer
	trig, err := fclocal.New(triggerConfig(tb, serve(t, tb.function(t)), &reps, &logs))
	require.NoError(t, err)
	start(t, trig)
	waitIdle(t, trig)
	want := tb.expectedResult(t)
	assert.Len(t, want, 20)
	assert.Equal(t, want, tb.rows(t, resultTable))

	for id := int64(1); id <= 10; id++ {
		tb.updateLevel(t, id, 5)
	}
	for id := int64(30); id <= 40; id++ {
		tb.deleteRow(t, id)
	}
	tb.putRow(t, 41, 2, "late")
	waitIdle(t, trig)
	want = tb.expectedResult(t)
	assert.Len(t, want, 20+5-6+1) // 5 more of 1..10 pass; 6 of 30..40 passed
	assert.Equal(t, want, tb.rows(t, resultTable))

	// Without WaitIdle, polling alone brings a new row to the function.
	tb.putRow(t, 42, 3, "polled")
	require.Eventually(t, func() bool { return tb.rows(t, resultTable)["id=42"] != "" }, waitTimeout, 10*time.Millisecond)
	// The invocation's report comes after its answer, which comes after its writes: wait for
	// the trigger to be idle before counting the reports.
	waitIdle(t, trig)

	succeeded, records := reps.succeeded()
	assert.Equal(t, 40+10+11+1+1, records, "every record delivered once")
	shards := map[string]bool{}
	for _, rep := range succeeded {
		shards[rep.Shard] = true
		assert.Equal(t, 1, rep.Attempt)
		var sum handler.Summary
		require.NoError(t, json.Unmarshal(rep.Result, &sum))
		assert.Equal(t, rep.Records, sum.Records)
		assert.LessOrEqual(t, rep.FirstTimestamp, rep.LastTimestamp)
	}
	assert.Len(t, shards, 3, "every shard delivered")
	assert.Empty(t, reps.failed())
	assert.NotContains(t, logs.String(), testCreds.AccessKeySecret)
}

// TestFailingInvocationBlocksOnlyItsShard makes the function fail every batch holding one
// key: the trigger retries that batch, with the same bytes, while the other shards go on;
// once the function recovers, the batch is delivered and nothing is lost.
func TestFailingInvocationBlocksOnlyItsShard(t *testing.T) {
	tb := newTables(t, 3)
	const rows = 30
	for id := int64(1); id <= rows; id++ {
		tb.putRow(t, id, 3, fmt.Sprintf("row %d", id))
	}
	fn := &failingFunction{next: tb.function(t), failKey: 7, failing: true}
	var reps reports
	var logs testkit.SyncBuffer
	trig, err := fclocal.New(triggerConfig(tb, serve(t, fn), &reps, &logs))
	require.NoError(t, err)
	start(t, trig)

	// All rows were written before the trigger started, so each shard's first batch holds
	// all of its rows: the failing shard delivers none of them, the others all of theirs.
	var stuck []int64
	require.Eventually(t, func() bool {
		failed := fn.failedPayloads()
		if len(failed) < 4 || len(reps.failed()) < 4 { // the trigger reports a failure after the function answers
			return false
		}
		stuck = keysOf(failed[0])
		_, delivered := reps.succeeded()
		return delivered == rows-len(stuck)
	}, waitTimeout, 5*time.Millisecond)
	require.Contains(t, stuck, int64(7))
	require.Less(t, len(stuck), rows, "other shards hold rows too")

	failed := fn.failedPayloads()
	for i, payload := range failed {
		assert.Equal(t, failed[0], payload, "attempt %d sends the same batch", i+1)
	}
	result := tb.rows(t, resultTable)
	for id := int64(1); id <= rows; id++ {
		key := fmt.Sprintf("id=%d", id)
		if slices.Contains(stuck, id) {
			assert.NotContains(t, result, key, "the failing shard does not advance")
		} else {
			assert.Contains(t, result, key, "the other shards go on")
		}
	}
	failedReports := reps.failed()
	requestIDs := map[string]bool{}
	for i, rep := range failedReports[:4] {
		assert.Equal(t, i+1, rep.Attempt)
		assert.Equal(t, len(stuck), rep.Records)
		var invocationErr *fcruntime.InvocationError
		require.ErrorAs(t, rep.Err, &invocationErr)
		assert.Equal(t, "injected failure", invocationErr.ErrorMessage)
		requestIDs[rep.RequestID] = true
	}
	assert.Len(t, requestIDs, 4, "every attempt is a new invocation with its own request id")
	assert.Equal(t, failed[0], failedReports[0].Payload, "the report carries the event the attempt sent")
	assert.Contains(t, logs.String(), "invocation failed; retrying the same batch")

	shards := trig.Shards()
	require.Len(t, shards, 3)
	var stuckShard fclocal.ShardStatus
	delivered := int64(0)
	for _, sh := range shards {
		assert.Equal(t, fclocal.ShardReading, sh.State, sh.ID)
		delivered += sh.Delivered
		if sh.ID == failedReports[0].Shard {
			stuckShard = sh
		}
	}
	assert.Equal(t, int64(rows-len(stuck)), delivered, "the shards count what the function accepted")
	assert.GreaterOrEqual(t, stuckShard.FailedAttempts, 4, "the stuck shard shows its failed attempts")
	assert.Zero(t, stuckShard.Delivered)
	assert.Empty(t, stuckShard.Checkpoint, "no batch accepted: no checkpoint")

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, trig.WaitIdle(ctx), context.DeadlineExceeded, "a shard that keeps failing is never idle")

	fn.setFailing(false)
	waitIdle(t, trig)
	assert.Equal(t, tb.expectedResult(t), tb.rows(t, resultTable))
	succeeded, total := reps.succeeded()
	assert.Equal(t, rows, total, "nothing lost, nothing repeated")
	lastOfShard := map[string]int64{}
	for _, rep := range succeeded {
		lastOfShard[rep.Shard] = rep.LastTimestamp
	}
	for _, sh := range trig.Shards() {
		assert.Zero(t, sh.FailedAttempts, sh.ID)
		assert.True(t, sh.CaughtUp, sh.ID)
		assert.Equal(t, lastOfShard[sh.ID], sh.CheckpointMicros, "shard %s: the checkpoint is the last delivered record", sh.ID)
		assert.Regexp(t, fmt.Sprintf(`^\d+:%d:\d+$`, sh.CheckpointMicros), sh.Checkpoint)
	}
}

// TestFunctionDownThenUp starts the trigger while nothing listens at the function's
// address: the refused invocations are retried until the function is up.
func TestFunctionDownThenUp(t *testing.T) {
	tb := newTables(t, 2)
	for id := int64(1); id <= 10; id++ {
		tb.putRow(t, id, id%3, "m")
	}
	addr := testkit.FreePort(t)

	var reps reports
	var logs testkit.SyncBuffer
	trig, err := fclocal.New(triggerConfig(tb, "http://"+addr, &reps, &logs))
	require.NoError(t, err)
	start(t, trig)
	require.Eventually(t, func() bool { return len(reps.failed()) >= 3 }, waitTimeout, 5*time.Millisecond)
	for _, rep := range reps.failed() {
		var invocationErr *fcruntime.InvocationError
		assert.False(t, errors.As(rep.Err, &invocationErr), "a refused connection is not the function's failure")
		assert.ErrorContains(t, rep.Err, "connect")
	}

	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	fn := &httptest.Server{Listener: ln, Config: &http.Server{Handler: tb.function(t)}}
	fn.Start()
	t.Cleanup(fn.Close)
	waitIdle(t, trig)
	assert.Equal(t, tb.expectedResult(t), tb.rows(t, resultTable))
	_, delivered := reps.succeeded()
	assert.Equal(t, 10, delivered)
}

func TestTableWithoutStream(t *testing.T) {
	tb := newTables(t, 1)
	var reps reports
	var logs testkit.SyncBuffer
	cfg := triggerConfig(tb, "http://127.0.0.1:1", &reps, &logs)
	cfg.Table = resultTable
	trig, err := fclocal.New(cfg)
	require.NoError(t, err)
	err = trig.Run(t.Context())
	require.ErrorIs(t, err, streams.ErrNoStream)
	assert.EqualError(t, err, `streams: table "result" has no Stream enabled`)
	assert.ErrorContains(t, trig.WaitIdle(t.Context()), "the trigger stopped before it was idle")
	assert.ErrorContains(t, trig.Run(t.Context()), "called more than once")

	cfg.Table = "no_such_table"
	trig, err = fclocal.New(cfg)
	require.NoError(t, err)
	err = trig.Run(t.Context())
	var otsErr *sdk.OtsError
	require.ErrorAs(t, err, &otsErr)
	assert.Equal(t, "OTSObjectNotExist", otsErr.Code)
	assert.ErrorContains(t, err, `ListStream on table "no_such_table"`)
}

func TestNewChecksTheConfig(t *testing.T) {
	valid := fclocal.Config{Client: sdkClient("http://127.0.0.1:1", 0), Table: "t", FunctionURL: "http://127.0.0.1:9000"}
	_, err := fclocal.New(valid)
	require.NoError(t, err)
	cases := []struct {
		name   string
		change func(*fclocal.Config)
		want   string
	}{
		{"no client", func(c *fclocal.Config) { c.Client = nil }, "Config.Client is required"},
		{"no table", func(c *fclocal.Config) { c.Table = "" }, "Config.Table is required"},
		{"no URL", func(c *fclocal.Config) { c.FunctionURL = "" }, "Config.FunctionURL"},
		{"URL without scheme", func(c *fclocal.Config) { c.FunctionURL = "127.0.0.1:9000" }, "want an http:// or https:// URL"},
		{"negative batch size", func(c *fclocal.Config) { c.BatchSize = -1 }, "Config.BatchSize -1"},
		{"batch size GetStreamRecord refuses", func(c *fclocal.Config) { c.BatchSize = streams.MaxBatchSize + 1 }, "Config.BatchSize 1001: want 0 (default 100) up to 1000"},
		{"negative poll interval", func(c *fclocal.Config) { c.PollInterval = -time.Second }, "may not be negative"},
		{"timeout over the trigger's limit", func(c *fclocal.Config) { c.InvocationTimeout = 2 * time.Minute }, "trigger's limit of 1m0s"},
		{"backoff max below initial", func(c *fclocal.Config) { c.Backoff = fclocal.Backoff{Initial: time.Second, Max: time.Millisecond} }, "want 0 < Initial <= Max"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.change(&cfg)
			_, err := fclocal.New(cfg)
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// recordingFunction answers every invocation with success and keeps its headers and body.
type recordingFunction struct {
	mu          sync.Mutex
	invocations []recordedInvocation
}

type recordedInvocation struct {
	header http.Header
	body   []byte
}

func (f *recordingFunction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.invocations = append(f.invocations, recordedInvocation{header: r.Header.Clone(), body: body})
	f.mu.Unlock()
	w.Header().Set(fcruntime.HeaderStatus, "200")
	_, _ = io.WriteString(w, `{"records":0}`)
}

func (f *recordingFunction) all() []recordedInvocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.invocations)
}

// TestTriggerDeliversEveryTypeAndHeader writes every value type, primary key type and
// column operation with the SDK and checks the events and the x-fc-* headers the function
// receives.
func TestTriggerDeliversEveryTypeAndHeader(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	api := sdkClient(srv.Endpoint, 0)
	meta := &sdk.TableMeta{TableName: "typed"}
	meta.AddPrimaryKeyColumn("s", sdk.PrimaryKeyType_STRING)
	meta.AddPrimaryKeyColumn("i", sdk.PrimaryKeyType_INTEGER)
	meta.AddPrimaryKeyColumn("b", sdk.PrimaryKeyType_BINARY)
	_, err := api.CreateTable(&sdk.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &sdk.TableOption{TimeToAlive: -1, MaxVersion: 3},
		ReservedThroughput: &sdk.ReservedThroughput{},
		StreamSpec:         &sdk.StreamSpecification{EnableStream: true, ExpirationTime: 24},
	})
	require.NoError(t, err)
	key := func() *sdk.PrimaryKey {
		pk := &sdk.PrimaryKey{}
		pk.AddPrimaryKeyColumn("s", "k")
		pk.AddPrimaryKeyColumn("i", int64(-5))
		pk.AddPrimaryKeyColumn("b", []byte{0, 0xff})
		return pk
	}

	before := time.Now()
	v1, v2 := before.UnixMilli()-2, before.UnixMilli()-1 // cell versions (ms)
	put := &sdk.PutRowChange{TableName: "typed", PrimaryKey: key()}
	put.AddColumnWithTimestamp("int", int64(-1<<62), v1)
	put.AddColumnWithTimestamp("double", 2.5, v1)
	put.AddColumnWithTimestamp("bool", true, v1)
	put.AddColumnWithTimestamp("string", "héllo", v1)
	put.AddColumnWithTimestamp("binary", []byte{1, 2, 3}, v1)
	put.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err = api.PutRow(&sdk.PutRowRequest{PutRowChange: put})
	require.NoError(t, err)
	update := &sdk.UpdateRowChange{TableName: "typed", PrimaryKey: key()}
	update.PutColumnWithTimestamp("int", int64(9), v2)
	update.DeleteColumnWithTimestamp("double", v1)
	update.DeleteColumn("bool")
	update.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err = api.UpdateRow(&sdk.UpdateRowRequest{UpdateRowChange: update})
	require.NoError(t, err)
	del := &sdk.DeleteRowChange{TableName: "typed", PrimaryKey: key()}
	del.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err = api.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: del})
	require.NoError(t, err)
	after := time.Now()

	fn := &recordingFunction{}
	var reps reports
	var logs testkit.SyncBuffer
	trig, err := fclocal.New(fclocal.Config{
		Client: api, Table: "typed", FunctionURL: serve(t, fn), Credentials: testCreds,
		FunctionName: "otsetl", Region: "cn-hangzhou", AccountID: "1234567890",
		BatchSize: 2, Backoff: fastBackoff, OnInvocation: reps.add,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	start(t, trig)
	waitIdle(t, trig)

	invocations := fn.all()
	require.Len(t, invocations, 2, "three records in batches of two")
	requestIDs := map[string]bool{}
	var got []events.Record
	for _, inv := range invocations {
		h := inv.header
		assert.Equal(t, "application/octet-stream", h.Get("Content-Type"))
		assert.Equal(t, "/invoke", h.Get(fcruntime.HeaderControlPath))
		assert.Equal(t, testCreds.AccessKeyID, h.Get(fcruntime.HeaderAccessKeyID))
		assert.Equal(t, testCreds.AccessKeySecret, h.Get(fcruntime.HeaderAccessKeySecret))
		assert.Equal(t, testCreds.SecurityToken, h.Get(fcruntime.HeaderSecurityToken))
		assert.Equal(t, "otsetl", h.Get(fcruntime.HeaderFunctionName))
		assert.Equal(t, "cn-hangzhou", h.Get(fcruntime.HeaderRegion))
		assert.Equal(t, "1234567890", h.Get(fcruntime.HeaderAccountID))
		assert.Equal(t, "60", h.Get(fcruntime.HeaderFunctionTimeout))
		assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, h.Get(fcruntime.HeaderRequestID))
		requestIDs[h.Get(fcruntime.HeaderRequestID)] = true
		assert.Equal(t, byte(0xa2), inv.body[0], "a CBOR map")
		ev, err := events.Decode(inv.body)
		require.NoError(t, err)
		assert.Equal(t, events.Version, ev.Version)
		for _, rec := range ev.Records {
			rec.Raw = nil
			got = append(got, rec)
		}
	}
	assert.Len(t, requestIDs, 2)
	require.Len(t, got, 3)
	for i, rec := range got {
		assert.GreaterOrEqual(t, rec.Info.Timestamp, before.UnixMicro(), "record %d: Info.Timestamp in µs", i)
		assert.LessOrEqual(t, rec.Info.Timestamp, after.UnixMicro(), "record %d: Info.Timestamp in µs", i)
		got[i].Info = events.RecordInfo{}
	}
	pk := []ots.PrimaryKeyColumn{
		{ColumnName: "s", Value: ots.String("k")},
		{ColumnName: "i", Value: ots.Integer(-5)},
		{ColumnName: "b", Value: ots.Binary([]byte{0, 0xff})},
	}
	version := func(v int64) *int64 { return &v }
	assert.Equal(t, []events.Record{
		{Type: events.PutRow, PrimaryKey: pk, Columns: []events.Column{
			{Type: events.Put, ColumnName: "int", Value: ots.Integer(-1 << 62), Timestamp: version(v1)},
			{Type: events.Put, ColumnName: "double", Value: ots.Double(2.5), Timestamp: version(v1)},
			{Type: events.Put, ColumnName: "bool", Value: ots.Boolean(true), Timestamp: version(v1)},
			{Type: events.Put, ColumnName: "string", Value: ots.String("héllo"), Timestamp: version(v1)},
			{Type: events.Put, ColumnName: "binary", Value: ots.Binary([]byte{1, 2, 3}), Timestamp: version(v1)},
		}},
		{Type: events.UpdateRow, PrimaryKey: pk, Columns: []events.Column{
			{Type: events.Put, ColumnName: "int", Value: ots.Integer(9), Timestamp: version(v2)},
			{Type: events.DeleteOneVersion, ColumnName: "double", Timestamp: version(v1)},
			{Type: events.DeleteAllVersions, ColumnName: "bool"},
		}},
		{Type: events.DeleteRow, PrimaryKey: pk},
	}, got)

	list := reps.all()
	require.Len(t, list, 2)
	assert.Equal(t, []int{2, 1}, []int{list[0].Records, list[1].Records})
	assert.NoError(t, list[0].Err)
	assert.Contains(t, logs.String(), "invocation succeeded")
	for _, secret := range []string{testCreds.AccessKeySecret, testCreds.SecurityToken} {
		assert.NotContains(t, logs.String(), secret)
	}
}

// TestStreamAPIFailuresAreRetried injects transient errors into the Stream API, with the
// SDK's own retries off, and expects the trigger to deliver everything regardless.
func TestStreamAPIFailuresAreRetried(t *testing.T) {
	tb := newTables(t, 2)
	for id := int64(1); id <= 20; id++ {
		tb.putRow(t, id, id%4, "m")
	}
	busy := otslocal.FaultRates{ServerBusy: 0.4}
	require.NoError(t, tb.srv.SetFaults(otslocal.Faults{Seed: 1, PerOperation: map[string]otslocal.FaultRates{
		"ListStream": busy, "DescribeStream": busy, "GetShardIterator": busy, "GetStreamRecord": busy,
	}}))
	var reps reports
	var logs testkit.SyncBuffer
	cfg := triggerConfig(tb, serve(t, tb.function(t)), &reps, &logs)
	cfg.BatchSize = 3
	trig, err := fclocal.New(cfg)
	require.NoError(t, err)
	start(t, trig)
	waitIdle(t, trig)
	assert.Contains(t, logs.String(), "GetStreamRecord failed; retrying")
	assert.Contains(t, logs.String(), "OTSServerBusy")
	assert.Equal(t, tb.expectedResult(t), tb.rows(t, resultTable))
	_, delivered := reps.succeeded()
	assert.Equal(t, 20, delivered)
}

// expiringProxy stands between the SDK and otslocal and answers as the service does when
// Stream data has expired (404 OTSTrimmedDataAccess): once armed, the next GetStreamRecord
// (an expired iterator); while trimSeeks is set, every GetShardIterator from a timestamp
// (a position older than the Stream keeps).
type expiringProxy struct {
	backend   http.Handler
	armed     atomic.Bool
	trimSeeks atomic.Bool
}

func (p *expiringProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var seek otsprotocol.GetShardIteratorRequest
	switch {
	case strings.HasSuffix(r.URL.Path, "/GetStreamRecord") && p.armed.CompareAndSwap(true, false),
		strings.HasSuffix(r.URL.Path, "/GetShardIterator") && p.trimSeeks.Load() && proto.Unmarshal(body, &seek) == nil && seek.Timestamp != nil:
		trimmed, err := proto.Marshal(&otsprotocol.Error{Code: proto.String("OTSTrimmedDataAccess"), Message: proto.String("Requested stream data is already trimmed or does not exist.")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write(trimmed)
	default:
		p.backend.ServeHTTP(w, r)
	}
}

// TestExpiredIteratorResumesAfterTheCheckpoint lets the shard iterator expire after every
// batch of a BatchWriteRow whose records share one timestamp: the trigger seeks again from
// the checkpoint's timestamp, or, when that position has expired too, from the shard's
// oldest record, and skips what it delivered, so every record is delivered once, in order.
func TestExpiredIteratorResumesAfterTheCheckpoint(t *testing.T) {
	for _, trimSeeks := range []bool{false, true} {
		t.Run(fmt.Sprintf("position expired %t", trimSeeks), func(t *testing.T) {
			tb := newTables(t, 1)
			batch := &sdk.BatchWriteRowRequest{}
			for id := int64(1); id <= 10; id++ {
				change := &sdk.PutRowChange{TableName: sourceTable, PrimaryKey: idKey(id)}
				change.AddColumn("level", int64(2))
				change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
				batch.AddRowChange(change)
			}
			_, err := tb.api.BatchWriteRow(batch)
			require.NoError(t, err)

			backend, err := url.Parse(tb.srv.Endpoint)
			require.NoError(t, err)
			proxy := &expiringProxy{backend: httputil.NewSingleHostReverseProxy(backend)}
			proxy.trimSeeks.Store(trimSeeks)
			proxied := &tables{srv: tb.srv, api: sdkClient(serve(t, proxy), 0)}

			var delivered []int64
			var mu sync.Mutex
			fn := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				delivered = append(delivered, keysOf(body)...)
				mu.Unlock()
				proxy.armed.Store(true) // the iterator after this batch expires
				w.Header().Set(fcruntime.HeaderStatus, "200")
				_, _ = io.WriteString(w, `{}`)
			}))
			var reps reports
			var logs testkit.SyncBuffer
			cfg := triggerConfig(proxied, fn, &reps, &logs)
			cfg.BatchSize = 3
			trig, err := fclocal.New(cfg)
			require.NoError(t, err)
			start(t, trig)
			waitIdle(t, trig)
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, delivered)
			assert.Contains(t, logs.String(), "shard iterator expired; resuming after the checkpoint")
			if trimSeeks {
				assert.Contains(t, logs.String(), "reading from its oldest record")
			}
			assert.NotContains(t, logs.String(), "lost", "the checkpoint's record was still there")
		})
	}
}
