package handler_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/otslocal"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

var testCreds = tablestore.Credentials{AccessKeyID: "test-ak", AccessKeySecret: "test-secret-never-logged", SecurityToken: "test-token-never-logged"}

// fixture is the function served under the custom-runtime protocol over real HTTP, writing
// through the real Tablestore SDK into an otslocal server.
type fixture struct {
	t       *testing.T
	srv     *otslocal.Server
	cfg     handler.Config
	client  *tablestore.Client
	invoker *handler.Invoker
	url     string
	logs    *testkit.SyncBuffer
}

// newFixture starts otslocal, creates source_data and result (PK id INTEGER) and, when env
// names one, the dead-letter table, and serves the function configured by env on top of the
// defaults.
func newFixture(t *testing.T, env map[string]string) *fixture {
	t.Helper()
	return newFixtureWith(t, env, func(*handler.Function) {})
}

// newFixtureWith is newFixture with configure applied to the function before it serves.
func newFixtureWith(t *testing.T, env map[string]string, configure func(*handler.Function)) *fixture {
	t.Helper()
	srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{})
	require.NoError(t, err)
	t.Cleanup(srv.Close)
	vars := map[string]string{handler.EnvInstance: "inst", handler.EnvEndpoint: srv.Endpoint}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := handler.ConfigFromEnv(func(k string) string { return vars[k] })
	require.NoError(t, err)
	fn, err := handler.New(cfg)
	require.NoError(t, err)
	configure(fn)

	client, err := tablestore.NewClient(tablestore.Config{Endpoint: srv.Endpoint, Instance: "inst"}, testCreds)
	require.NoError(t, err)
	ctx := context.Background()
	pk := []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}}
	require.NoError(t, client.EnsureTable(ctx, cfg.SourceTable, pk, tablestore.TableOptions{}))
	require.NoError(t, client.EnsureTable(ctx, cfg.ResultTable, pk, tablestore.TableOptions{}))
	if cfg.DeadLetterTable != "" {
		dl := []ots.PrimaryKeySchema{{Name: handler.DeadLetterPrimaryKey, Type: ots.KindString}}
		require.NoError(t, client.EnsureTable(ctx, cfg.DeadLetterTable, dl, tablestore.TableOptions{}))
	}

	logs := new(testkit.SyncBuffer)
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	ts := httptest.NewServer(handler.NewHTTPHandler(fn, handler.HTTPOptions{Logger: logger, Getenv: func(string) string { return "" }}))
	t.Cleanup(ts.Close)
	return &fixture{t: t, srv: srv, cfg: cfg, client: client, invoker: &handler.Invoker{URL: ts.URL}, url: ts.URL, logs: logs}
}

func (f *fixture) invoke(payload []byte) (handler.Summary, error) {
	return f.invoker.Invoke(context.Background(), handler.Invocation{RequestID: "req-" + f.t.Name(), Credentials: testCreds}, payload)
}

// result returns the result table as id → attribute columns.
func (f *fixture) table(name string) map[string][]ots.Cell {
	f.t.Helper()
	rows, err := f.client.Scan(context.Background(), name)
	require.NoError(f.t, err)
	out := map[string][]ots.Cell{}
	for _, r := range rows {
		out[ots.FormatPrimaryKey(r.PrimaryKey)] = r.Columns
	}
	return out
}

func putRow(id int64, cells ...ots.Cell) events.Record {
	rec := events.Record{Type: events.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}}}
	for _, c := range cells {
		rec.Columns = append(rec.Columns, events.Column{Type: events.Put, ColumnName: c.Name, Value: c.Value})
	}
	return rec
}

func cell(name string, v ots.Value) ots.Cell { return ots.Cell{Name: name, Value: v} }

func encode(t *testing.T, records ...events.Record) []byte {
	t.Helper()
	payload, err := events.EncodeCBOR(&events.Event{Version: events.Version, Records: records})
	require.NoError(t, err)
	return payload
}

func TestInvokeKeepsTheResultEqualToTheFilteredSource(t *testing.T) {
	f := newFixture(t, nil)
	payload := encode(t,
		putRow(1, cell("level", ots.Integer(0)), cell("message", ots.String("debug"))),
		putRow(2, cell("level", ots.Integer(2)), cell("message", ots.String("warn"))),
		putRow(3, cell("level", ots.Integer(3)), cell("message", ots.String("error")), cell("ratio", ots.Double(0.5))),
	)
	for range 2 { // redelivery gives the same result table
		sum, err := f.invoke(payload)
		require.NoError(t, err)
		assert.Equal(t, handler.Summary{Records: 3, Keys: 3, Puts: 2, Deletes: 1, WriteRequests: 1}, sum)
		assert.Equal(t, map[string][]ots.Cell{
			"id=2": {cell("level", ots.Integer(2)), cell("message", ots.String("warn"))},
			"id=3": {cell("level", ots.Integer(3)), cell("message", ots.String("error")), cell("ratio", ots.Double(0.5))},
		}, f.table("result"))
	}
	assert.Contains(t, f.logs.String(), `"msg":"FC Invoke Start RequestId: req-`+t.Name())
	assert.Contains(t, f.logs.String(), `"msg":"invocation succeeded"`)
}

func TestInvokeJSONConsoleEventLikeCBOR(t *testing.T) {
	f := newFixture(t, nil)
	ev := &events.Event{Version: events.Version, Records: []events.Record{putRow(7, cell("level", ots.Integer(3)))}}
	payload, err := events.EncodeJSON(ev)
	require.NoError(t, err)
	sum, err := f.invoke(payload)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Puts)
	assert.Equal(t, map[string][]ots.Cell{"id=7": {cell("level", ots.Integer(3))}}, f.table("result"))
}

// TestBadInputFailsTheInvocationAndLosesNothing sends each kind of bad input over HTTP and
// checks the error type and message, that the result table holds only what the invariant
// allows, and that the function keeps serving afterwards.
func TestBadInputFailsTheInvocationAndLosesNothing(t *testing.T) {
	f := newFixture(t, nil)
	valid := encode(t, putRow(1, cell("level", ots.Integer(2))))
	overflow, err := os.ReadFile(filepath.Join("testdata", "overflow.json"))
	require.NoError(t, err)
	cases := []struct {
		name, errorType, message string
		payload                  []byte
	}{
		{"garbage", handler.ErrorTypeInvalidEvent, "neither a CBOR map nor a JSON object", []byte("\x00\x01garbage")},
		{"truncated CBOR", handler.ErrorTypeInvalidEvent, "events:", valid[:len(valid)-3]},
		{"JSON with wrong types", handler.ErrorTypeInvalidEvent, "record 0: Type", []byte(`{"Version":"Sync-v1","Records":[{"Type":5,"PrimaryKey":[{"ColumnName":"id","Value":1}]}]}`)},
		{"integer above MaxInt64", handler.ErrorTypeInvalidEvent, "overflows int64", overflow},
		{"unknown record type", handler.ErrorTypeInvalidEvent, `"MergeRow"`, []byte(`{"Version":"Sync-v1","Records":[{"Type":"MergeRow","PrimaryKey":[{"ColumnName":"id","Value":1}]}]}`)},
		{"level holds a string", handler.ErrorTypeInvalidRecord, `record 0: filter "level > 1": column "level" holds STRING "3"`, encode(t, putRow(5, cell("level", ots.String("3"))))},
		{"primary key not matching the schema", handler.ErrorTypeTablestore, `row (id="x"): OTSInvalidPK`, encode(t,
			putRow(4, cell("level", ots.Integer(3))),
			events.Record{Type: events.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.String("x")}}, Columns: []events.Column{{Type: events.Put, ColumnName: "level", Value: ots.Integer(3)}}},
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // a redelivery fails the same way
				_, err := f.invoke(tc.payload)
				var ie *handler.InvocationError
				require.ErrorAs(t, err, &ie)
				assert.Equal(t, tc.errorType, ie.ErrorType)
				assert.Contains(t, ie.ErrorMessage, tc.message)
			}
			sum, err := f.invoke(valid)
			require.NoError(t, err, "the function keeps serving")
			assert.Equal(t, 1, sum.Puts)
		})
	}
	// Rows written before a failing row are the ones the invariant asks for (id 4 passes the
	// filter); nothing else reached the result table.
	assert.Equal(t, map[string][]ots.Cell{
		"id=1": {cell("level", ots.Integer(2))},
		"id=4": {cell("level", ots.Integer(3))},
	}, f.table("result"))
	assert.NotContains(t, f.logs.String(), testCreds.AccessKeySecret)
	assert.NotContains(t, f.logs.String(), testCreds.SecurityToken)
}

func TestEmptyAndLargeEvents(t *testing.T) {
	f := newFixture(t, nil)
	sum, err := f.invoke([]byte(`{"Version":"Sync-v1","Records":[]}`))
	require.NoError(t, err)
	assert.Equal(t, handler.Summary{}, sum)

	const n = 10000
	records := make([]events.Record, n)
	for i := range records {
		records[i] = putRow(int64(i), cell("level", ots.Integer(int64(i%4))), cell("message", ots.String(fmt.Sprintf("m%d", i))))
	}
	sum, err = f.invoke(encode(t, records...))
	require.NoError(t, err)
	assert.Equal(t, n, sum.Records)
	assert.Equal(t, n, sum.Keys)
	assert.Equal(t, n/2, sum.Puts, "levels 2 and 3 pass")
	assert.Equal(t, n/2, sum.Deletes)
	assert.Equal(t, n/200, sum.WriteRequests, "BatchWriteRow carries at most 200 rows")
	assert.Len(t, f.table("result"), n/2)
}

func TestDeadLetterTableTakesInvalidRecordsAndTheRestIsWritten(t *testing.T) {
	f := newFixture(t, map[string]string{handler.EnvDeadLetterTable: "dead_letters"})
	bad := events.Record{Type: events.UpdateRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(9)}},
		Columns: []events.Column{{Type: events.Put, ColumnName: "level", Value: ots.Boolean(true)}}}
	payload := encode(t, putRow(1, cell("level", ots.Integer(2))), putRow(2, cell("level", ots.String("high"))), bad)
	// The UpdateRow needs a source read: give the source the row it describes.
	_, err := f.client.Write(context.Background(), "source_data", []transform.Mutation{{Kind: transform.MutationPut,
		PrimaryKey: bad.PrimaryKey, Columns: []ots.Cell{cell("level", ots.Boolean(true))}}})
	require.NoError(t, err)

	for range 2 { // redelivery overwrites its own dead letters
		sum, err := f.invoke(payload)
		require.NoError(t, err)
		assert.Equal(t, 2, sum.DeadLettered)
		assert.Equal(t, 1, sum.Puts)
		assert.Equal(t, 1, sum.Reads)
	}
	assert.Equal(t, map[string][]ots.Cell{"id=1": {cell("level", ots.Integer(2))}}, f.table("result"))

	letters := f.table("dead_letters")
	require.Len(t, letters, 2)
	var errorsSeen []string
	for _, cells := range letters {
		byName := map[string]ots.Value{}
		for _, c := range cells {
			byName[c.Name] = c.Value
		}
		raw, ok := byName[handler.DeadLetterRecord].Bytes()
		require.True(t, ok)
		ev, err := events.Decode(append(append([]byte(`{"Version":"Sync-v1","Records":[`), mustJSON(t, byName[handler.DeadLetterDecoded])...), ']', '}'))
		require.NoError(t, err, "the decoded view is the record as JSON")
		require.Len(t, ev.Records, 1)
		assert.NotEmpty(t, raw)
		msg, _ := byName[handler.DeadLetterError].Str()
		errorsSeen = append(errorsSeen, msg)
		src, _ := byName[handler.DeadLetterSourceTable].Str()
		assert.Equal(t, "source_data", src)
		ms, ok := byName[handler.DeadLetterTime].Int()
		require.True(t, ok)
		assert.InDelta(t, time.Now().UnixMilli(), ms, float64(time.Minute.Milliseconds()))
	}
	assert.ElementsMatch(t, []string{
		`record 1: filter "level > 1": column "level" holds STRING "high": invalid operation: string > int (1:7)`,
		`record 2: filter "level > 1": column "level" holds BOOLEAN true: invalid operation: bool > int (1:7)`,
	}, errorsSeen)
}

func mustJSON(t *testing.T, v ots.Value) []byte {
	t.Helper()
	s, ok := v.Str()
	require.True(t, ok)
	require.True(t, json.Valid([]byte(s)))
	return []byte(s)
}

func TestCustomRuntimeProtocol(t *testing.T) {
	f := newFixture(t, nil)
	do := func(method, path string, header http.Header, body io.Reader) *http.Response {
		req, err := http.NewRequest(method, f.url+path, body)
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := do(http.MethodPost, "/initialize", nil, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "200", resp.Header.Get(handler.HeaderStatus))

	// FC may route by x-fc-control-path on "/".
	h := http.Header{}
	h.Set(handler.HeaderControlPath, "/invoke")
	h.Set(handler.HeaderAccessKeyID, "ak")
	h.Set(handler.HeaderAccessKeySecret, "sk")
	resp = do(http.MethodPost, "/", h, strings.NewReader(`{"Version":"Sync-v1","Records":[]}`))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "200", resp.Header.Get(handler.HeaderStatus))
	var sum handler.Summary
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&sum))

	assert.Equal(t, http.StatusMethodNotAllowed, do(http.MethodGet, "/invoke", nil, nil).StatusCode)
	assert.Equal(t, http.StatusNotFound, do(http.MethodPost, "/other", nil, nil).StatusCode)

	// No credentials anywhere: the invocation fails and says what is missing.
	resp = do(http.MethodPost, "/invoke", nil, strings.NewReader(`{"Version":"Sync-v1","Records":[]}`))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, "404", resp.Header.Get(handler.HeaderStatus))
	var body handler.ErrorBody
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, handler.ErrorTypeInvalidCredentials, body.ErrorType)
	assert.Contains(t, body.ErrorMessage, "x-fc-access-key-id")

	// An oversized event fails cleanly.
	big := bytes.Repeat([]byte{' '}, events.DefaultDecodeOptions.MaxPayloadBytes+1)
	resp = do(http.MethodPost, "/invoke", h, bytes.NewReader(big))
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	assert.Equal(t, handler.ErrorTypeInvalidEvent, body.ErrorType)
	assert.Contains(t, body.ErrorMessage, "exceeds")
}
