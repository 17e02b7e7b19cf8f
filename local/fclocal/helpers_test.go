package fclocal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ots"
)

const (
	instance    = otslocaltest.Instance
	sourceTable = handler.DefaultSourceTable
	resultTable = handler.DefaultResultTable
)

// testCreds are the trigger's stand-in for the function role's STS credentials.
var testCreds = otslocaltest.Credentials

// fastBackoff keeps retries quick in tests.
var fastBackoff = fclocal.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}

// waitTimeout bounds every wait of a test; reaching it is a failure, never a measurement.
const waitTimeout = 60 * time.Second

// tables is an otslocal server with source_data (PK id INTEGER, Stream enabled) and result,
// reached through the SDK and through otsetl's client.
type tables struct {
	srv *otslocaltest.Server
	api *sdk.TableStoreClient
}

// newTables starts otslocal with streamShards shards per Stream and creates the tables.
func newTables(t *testing.T, streamShards int) *tables {
	t.Helper()
	srv := otslocaltest.NewServer(t, otslocal.Options{StreamShards: streamShards},
		otslocaltest.Table{Name: sourceTable, Stream: true}, otslocaltest.Table{Name: resultTable})
	return &tables{srv: srv, api: sdkClient(srv.Endpoint, 0)}
}

// sdkClient is an SDK client of endpoint that makes retries times its own retries.
func sdkClient(endpoint string, retries uint) *sdk.TableStoreClient {
	cfg := sdk.NewDefaultTableStoreConfig()
	cfg.RetryTimes = retries
	return sdk.NewClientWithConfig(endpoint, instance, testCreds.AccessKeyID, testCreds.AccessKeySecret, testCreds.SecurityToken, cfg)
}

// putRow writes source row id with level and message through the SDK.
func (tb *tables) putRow(t *testing.T, id, level int64, message string) {
	t.Helper()
	change := &sdk.PutRowChange{TableName: sourceTable, PrimaryKey: idKey(id)}
	change.AddColumn("level", level)
	change.AddColumn("message", message)
	change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err := tb.api.PutRow(&sdk.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)
}

// updateLevel sets a source row's level through the SDK.
func (tb *tables) updateLevel(t *testing.T, id, level int64) {
	t.Helper()
	change := &sdk.UpdateRowChange{TableName: sourceTable, PrimaryKey: idKey(id)}
	change.PutColumn("level", level)
	change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err := tb.api.UpdateRow(&sdk.UpdateRowRequest{UpdateRowChange: change})
	require.NoError(t, err)
}

// deleteRow deletes a source row through the SDK.
func (tb *tables) deleteRow(t *testing.T, id int64) {
	t.Helper()
	change := &sdk.DeleteRowChange{TableName: sourceTable, PrimaryKey: idKey(id)}
	change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err := tb.api.DeleteRow(&sdk.DeleteRowRequest{DeleteRowChange: change})
	require.NoError(t, err)
}

func idKey(id int64) *sdk.PrimaryKey {
	pk := &sdk.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", id)
	return pk
}

// rows returns a table as "id=N" → formatted attribute columns.
func (tb *tables) rows(t *testing.T, table string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range tb.srv.Scan(t, table) {
		var b bytes.Buffer
		for _, c := range r.Columns {
			b.WriteString(c.Name + "=" + c.Value.String() + " ")
		}
		out[ots.FormatPrimaryKey(r.PrimaryKey)] = b.String()
	}
	return out
}

// expectedResult is what the function's default rule (level > 1, all columns) makes of the
// source table.
func (tb *tables) expectedResult(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range tb.srv.Scan(t, sourceTable) {
		var b bytes.Buffer
		passes := false
		for _, c := range r.Columns {
			if level, ok := c.Value.Int(); ok && c.Name == "level" && level > 1 {
				passes = true
			}
			b.WriteString(c.Name + "=" + c.Value.String() + " ")
		}
		if passes {
			out[ots.FormatPrimaryKey(r.PrimaryKey)] = b.String()
		}
	}
	return out
}

// function serves the otsetl function with the default rule on tb's instance.
func (tb *tables) function(t *testing.T) http.Handler {
	t.Helper()
	vars := map[string]string{handler.EnvInstance: instance, handler.EnvEndpoint: tb.srv.Endpoint}
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	require.NoError(t, err)
	logger := slog.New(slog.DiscardHandler)
	fn, err := handler.New(cfg, logger)
	require.NoError(t, err)
	return fcruntime.NewHTTPHandler(fn.Invoke, fcruntime.HTTPOptions{Logger: logger})
}

// serve serves h on a loopback port until the test ends and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts.URL
}

// reports collects the trigger's invocation reports.
type reports struct {
	mu   sync.Mutex
	list []fclocal.InvocationReport
}

func (r *reports) add(rep fclocal.InvocationReport) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rep)
}

func (r *reports) all() []fclocal.InvocationReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.list)
}

// succeeded returns the successful reports and the records they carried.
func (r *reports) succeeded() (list []fclocal.InvocationReport, records int) {
	for _, rep := range r.all() {
		if rep.Err == nil {
			list = append(list, rep)
			records += rep.Records
		}
	}
	return list, records
}

// failed returns the failed reports.
func (r *reports) failed() []fclocal.InvocationReport {
	var list []fclocal.InvocationReport
	for _, rep := range r.all() {
		if rep.Err != nil {
			list = append(list, rep)
		}
	}
	return list
}

// triggerConfig is a trigger of tb's source table invoking url, reporting to reps.
func triggerConfig(tb *tables, url string, reps *reports, logs io.Writer) fclocal.Config {
	return fclocal.Config{
		Client:       tb.api,
		Table:        sourceTable,
		FunctionURL:  url,
		Credentials:  testCreds,
		Backoff:      fastBackoff,
		Logger:       slog.New(slog.NewTextHandler(logs, nil)),
		OnInvocation: reps.add,
	}
}

// start runs trig until the test ends; Run must then return nil.
func start(t *testing.T, trig *fclocal.Trigger) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- trig.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(waitTimeout):
			t.Error("Run did not return after its context ended")
		}
	})
}

// waitIdle waits for trig to be idle, failing the test after waitTimeout.
func waitIdle(t *testing.T, trig *fclocal.Trigger) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	require.NoError(t, trig.WaitIdle(ctx))
}

// failingFunction wraps a function: while failing is set, every invocation whose event holds
// a record of key failKey fails under the custom-runtime protocol (404, x-fc-status: 404),
// and its payload is kept.
type failingFunction struct {
	next    http.Handler
	failKey int64

	mu       sync.Mutex
	failing  bool
	payloads [][]byte
}

func (f *failingFunction) setFailing(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = on
}

func (f *failingFunction) failedPayloads() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.payloads)
}

func (f *failingFunction) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	fail := f.failing && holdsKey(body, f.failKey)
	if fail {
		f.payloads = append(f.payloads, body)
	}
	f.mu.Unlock()
	if fail {
		w.Header().Set(fcruntime.HeaderStatus, "404")
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(fcruntime.ErrorBody{ErrorMessage: "injected failure", ErrorType: handler.ErrorTypeTablestore})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.next.ServeHTTP(w, r)
}

// keysOf returns the ids of an event's records, in order.
func keysOf(payload []byte) []int64 {
	ev, err := events.Decode(payload)
	if err != nil {
		return nil
	}
	var ids []int64
	for _, rec := range ev.Records {
		id, _ := rec.PrimaryKey[0].Value.Int()
		ids = append(ids, id)
	}
	return ids
}

func holdsKey(payload []byte, key int64) bool { return slices.Contains(keysOf(payload), key) }
