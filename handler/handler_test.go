package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/deadletter"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// fixture is the function served under the custom-runtime protocol over real HTTP, writing
// through the real Tablestore SDK into an otslocal server.
type fixture struct {
	t       *testing.T
	srv     *otslocaltest.Server
	cfg     handler.Config
	invoker *fcruntime.Invoker
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
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	vars := map[string]string{handler.EnvInstance: otslocaltest.Instance, handler.EnvEndpoint: srv.Endpoint}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	require.NoError(t, err)
	logs := new(testkit.SyncBuffer)
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	fn, err := handler.New(cfg, logger)
	require.NoError(t, err)
	configure(fn)

	srv.CreateTable(t, otslocaltest.Table{Name: cfg.SourceTable})
	if cfg.ResultTable != "" {
		srv.CreateTable(t, otslocaltest.Table{Name: cfg.ResultTable})
	}
	if cfg.DeadLetterTable != "" {
		srv.CreateTable(t, otslocaltest.Table{Name: cfg.DeadLetterTable, PrimaryKey: []ots.PrimaryKeySchema{{Name: deadletter.PrimaryKey, Type: ots.KindString}}})
	}

	ts := httptest.NewServer(fcruntime.NewHTTPHandler(fn.Invoke, fcruntime.HTTPOptions{Logger: logger}))
	t.Cleanup(ts.Close)
	return &fixture{t: t, srv: srv, cfg: cfg, invoker: &fcruntime.Invoker{URL: ts.URL}, url: ts.URL, logs: logs}
}

func (f *fixture) invoke(payload []byte) (handler.Summary, error) {
	return invoke(context.Background(), f.invoker, fcruntime.Invocation{RequestID: "req-" + f.t.Name(), Credentials: testCreds}, payload)
}

// table returns a table as formatted primary key → attribute columns.
func (f *fixture) table(name string) map[string][]ots.Cell {
	f.t.Helper()
	out := map[string][]ots.Cell{}
	for _, r := range f.srv.Scan(f.t, name) {
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
		{"level holds a string", handler.ErrorTypeInvalidRecord, `record 0 (id=5): filter "level > 1": column "level" holds STRING "3"`, encode(t, putRow(5, cell("level", ots.String("3"))))},
		{"primary key not matching the schema", handler.ErrorTypeTablestore, `row (id="x"): OTSInvalidPK`, encode(t,
			putRow(4, cell("level", ots.Integer(3))),
			events.Record{Type: events.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.String("x")}}, Columns: []events.Column{{Type: events.Put, ColumnName: "level", Value: ots.Integer(3)}}},
		)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // a redelivery fails the same way
				_, err := f.invoke(tc.payload)
				var ie *fcruntime.InvocationError
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
	require.NoError(t, tableio.Apply(t.Context(), f.srv.SDK, "source_data", []events.Record{putRow(9, cell("level", ots.Boolean(true)))}))

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
		raw, ok := byName[deadletter.ColumnRecord].Bytes()
		require.True(t, ok)
		ev, err := events.Decode(append(append([]byte(`{"Version":"Sync-v1","Records":[`), mustJSON(t, byName[deadletter.ColumnDecoded])...), ']', '}'))
		require.NoError(t, err, "the decoded view is the record as JSON")
		require.Len(t, ev.Records, 1)
		assert.NotEmpty(t, raw)
		msg, _ := byName[deadletter.ColumnError].Str()
		errorsSeen = append(errorsSeen, msg)
		src, _ := byName[deadletter.ColumnSourceTable].Str()
		assert.Equal(t, "source_data", src)
		ms, ok := byName[deadletter.ColumnTime].Int()
		require.True(t, ok)
		assert.InDelta(t, time.Now().UnixMilli(), ms, float64(time.Minute.Milliseconds()))
	}
	assert.ElementsMatch(t, []string{
		`record 1 (id=2): filter "level > 1": column "level" holds STRING "high": invalid operation: string > int (1:7)`,
		`record 2 (id=9): filter "level > 1": column "level" holds BOOLEAN true: invalid operation: bool > int (1:7)`,
	}, errorsSeen)
}

func mustJSON(t *testing.T, v ots.Value) []byte {
	t.Helper()
	s, ok := v.Str()
	require.True(t, ok)
	require.True(t, json.Valid([]byte(s)))
	return []byte(s)
}

// TestInvocationWithoutCredentialsFails: the function signs with each invocation's own STS
// credentials and never falls back to the process's environment.
func TestInvocationWithoutCredentialsFails(t *testing.T) {
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "env-key")
	t.Setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "env-secret")
	f := newFixture(t, nil)
	_, err := invoke(t.Context(), f.invoker, fcruntime.Invocation{RequestID: "no-credentials"}, []byte(`{"Version":"Sync-v1","Records":[]}`))
	var ie *fcruntime.InvocationError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, handler.ErrorTypeInvalidCredentials, ie.ErrorType)
	assert.Contains(t, ie.ErrorMessage, "x-fc-access-key-id")
}

// TestShortFunctionTimeoutsStillWork: the margin kept before the deadline scales with the
// function's timeout, so a timeout of 1 s or 2 s leaves time to work.
func TestShortFunctionTimeoutsStillWork(t *testing.T) {
	assert.Equal(t, 200*time.Millisecond, handler.DeadlineMargin(time.Second))
	assert.Equal(t, 400*time.Millisecond, handler.DeadlineMargin(2*time.Second))
	assert.Equal(t, handler.MaxDeadlineMargin, handler.DeadlineMargin(time.Minute))

	f := newFixture(t, nil)
	for _, timeout := range []time.Duration{time.Second, 2 * time.Second} {
		inv := fcruntime.Invocation{RequestID: "short-" + timeout.String(), Credentials: testCreds, Timeout: timeout}
		sum, err := invoke(t.Context(), f.invoker, inv, encode(t, putRow(1, cell("level", ots.Integer(2)))))
		require.NoError(t, err, "timeout %s", timeout)
		assert.Equal(t, 1, sum.Puts)
	}
}

// TestMappingFailuresAreInvalidRecords: a row whose mapping fails (a type error here, a source
// row read for an UpdateRow there) is an invalid record, as a row the filter cannot evaluate:
// without a dead-letter table the invocation fails naming the record, its key and the entry,
// and nothing of the batch is written; with one, the records are dead-lettered with the
// reason, the keys leave the result table and the rest of the batch is written.
func TestMappingFailuresAreInvalidRecords(t *testing.T) {
	const columns = `{"level": level, "loud": upper(message)}`
	batch := func(t *testing.T) []byte {
		return encode(t,
			putRow(1, cell("level", ots.Integer(3)), cell("message", ots.String("ok"))),
			putRow(2, cell("level", ots.Integer(3)), cell("message", ots.Integer(5))),
			events.Record{Type: events.UpdateRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(3)}},
				Columns: []events.Column{{Type: events.Put, ColumnName: "message", Value: ots.Boolean(true)}}},
		)
	}
	seed := func(t *testing.T, f *fixture) {
		// The UpdateRow's source row, and result rows the batch must remove.
		require.NoError(t, tableio.Apply(t.Context(), f.srv.SDK, "source_data", []events.Record{putRow(3, cell("level", ots.Integer(2)), cell("message", ots.Boolean(true)))}))
		require.NoError(t, tableio.Apply(t.Context(), f.srv.SDK, "result", []events.Record{
			putRow(2, cell("level", ots.Integer(3)), cell("loud", ots.String("OLD"))),
			putRow(3, cell("level", ots.Integer(2)), cell("loud", ots.String("OLD"))),
		}))
	}
	wantReasons := []string{
		`record 1 (id=2): columns entry "loud" (upper(message)): column "message" holds INTEGER 5: interface conversion: interface {} is int64, not string (1:26)`,
		`record 2 (id=3): columns entry "loud" (upper(message)): column "message" holds BOOLEAN true: interface conversion: interface {} is bool, not string (1:26)`,
	}

	t.Run("without a dead-letter table", func(t *testing.T) {
		f := newFixture(t, map[string]string{handler.EnvColumns: columns})
		seed(t, f)
		before := f.table("result")
		for range 2 { // a redelivery fails the same way
			_, err := f.invoke(batch(t))
			var ie *fcruntime.InvocationError
			require.ErrorAs(t, err, &ie)
			assert.Equal(t, handler.ErrorTypeInvalidRecord, ie.ErrorType)
			assert.Equal(t, "2 record(s) cannot be evaluated by the rule or written to Tablestore and DEAD_LETTER_TABLE is unset: "+wantReasons[0]+"; "+wantReasons[1], ie.ErrorMessage)
		}
		assert.Equal(t, before, f.table("result"), "nothing of the batch was written")
	})

	t.Run("with a dead-letter table", func(t *testing.T) {
		f := newFixture(t, map[string]string{handler.EnvColumns: columns, handler.EnvDeadLetterTable: "dead_letters"})
		seed(t, f)
		sum, err := f.invoke(batch(t))
		require.NoError(t, err)
		assert.Equal(t, 2, sum.DeadLettered)
		assert.Equal(t, map[string][]ots.Cell{"id=1": {cell("level", ots.Integer(3)), cell("loud", ots.String("OK"))}}, f.table("result"),
			"the mapped row is written; the rows the mapping cannot evaluate are not in the view")
		var reasons []string
		for _, letter := range f.table("dead_letters") {
			reason, _ := cellsByName(letter)[deadletter.ColumnError].Str()
			reasons = append(reasons, reason)
		}
		assert.ElementsMatch(t, wantReasons, reasons)
	})
}
