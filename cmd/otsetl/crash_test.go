package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ots"
)

// TestFunctionKilledBetweenBatchWriteRowChunks kills the `otsetl serve` process with SIGKILL
// as soon as the first BatchWriteRow of an invocation has been answered, while the later
// chunks of its 1,400 result mutations (seven BatchWriteRows, four at a time) are still in
// flight or unsent. The invocation fails, part of the event has landed, and delivering the
// same event again to a new process leaves the result table equal to filter(source).
func TestFunctionKilledBetweenBatchWriteRowChunks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const records = 1400
	bin := testkit.BuildOtsetl(t)
	creds := aliyun.Credentials{AccessKeyID: "ak", AccessKeySecret: "sk"}
	srv := startTablestore(t)

	// Every request to otslocal passes a proxy that kills the function once the first
	// BatchWriteRow has its answer.
	target, err := url.Parse(srv.Endpoint)
	require.NoError(t, err)
	var batchWrites atomic.Int32
	var function atomic.Pointer[exec.Cmd]
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxy.ServeHTTP(w, r)
		if path.Base(r.URL.Path) == "BatchWriteRow" && batchWrites.Add(1) == 1 {
			_ = function.Load().Process.Kill()
		}
	}))
	t.Cleanup(front.Close)

	// Even ids pass `level > 1`, odd ids do not: 700 puts and 700 deletes.
	ev := events.Event{Version: events.Version}
	for id := range int64(records) {
		level := 2 * (1 - id%2)
		ev.Records = append(ev.Records, events.Record{
			Type:       events.PutRow,
			Info:       events.RecordInfo{Timestamp: time.Now().UnixMicro()},
			PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}},
			Columns:    []events.Column{{Type: events.Put, ColumnName: "level", Value: ots.Integer(level)}},
		})
	}
	payload, err := events.EncodeCBOR(&ev)
	require.NoError(t, err)
	inv := fcruntime.Invocation{RequestID: "crash", Credentials: creds, Timeout: time.Minute}

	startFunction := func() *fcruntime.Invoker {
		addr := testkit.FreePort(t)
		cmd := exec.Command(bin, "serve", "--listen", addr)
		cmd.Env = append(os.Environ(), "TABLESTORE_INSTANCE="+otslocaltest.Instance, "TABLESTORE_ENDPOINT="+front.URL)
		require.NoError(t, cmd.Start())
		function.Store(cmd)
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		require.Eventually(t, func() bool {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = conn.Close()
			}
			return err == nil
		}, 10*time.Second, 10*time.Millisecond)
		return &fcruntime.Invoker{URL: "http://" + addr}
	}

	_, err = startFunction().Invoke(t.Context(), inv, payload)
	require.Error(t, err, "the killed function cannot answer")
	landed := srv.Scan(t, "result")
	assert.NotEmpty(t, landed, "the first chunk landed before the kill")
	assert.Less(t, len(landed), records/2, "the chunks after the kill did not land")
	t.Logf("%d BatchWriteRow requests answered, %d of %d result rows written when the function died", batchWrites.Load(), len(landed), records/2)

	sum, err := invokeSummary(t.Context(), startFunction(), inv, payload)
	require.NoError(t, err, "the redelivery succeeds")
	assert.Equal(t, records/2, sum.Puts)
	assert.Equal(t, records/2, sum.Deletes)
	rows := srv.Scan(t, "result")
	require.Len(t, rows, records/2)
	for _, r := range rows {
		id, _ := r.PrimaryKey[0].Value.Int()
		level, _ := r.Columns[0].Value.Int()
		assert.Equal(t, int64(0), id%2, "only even ids pass")
		assert.Equal(t, int64(2), level)
	}
}
