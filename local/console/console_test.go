package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/console"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
)

// waitTimeout bounds every wait; reaching it is a failure, never a measurement.
const waitTimeout = 30 * time.Second

// site is a console under test on an httptest server, its otslocal, and the token its
// pages carry.
type site struct {
	srv   *otslocaltest.Server
	web   *httptest.Server
	token string
	// bodies collects every response body, to check what the console shows.
	bodies []string
}

// newSite starts otslocal with source_data (Stream) and result, and a console of it with
// pipeline (nil: a bare Tablestore).
func newSite(t *testing.T, pipeline func(*otslocaltest.Server) *console.Pipeline) *site {
	t.Helper()
	srv := otslocaltest.NewServer(t, otslocal.Options{},
		otslocaltest.Table{Name: handler.DefaultSourceTable, Stream: true}, otslocaltest.Table{Name: handler.DefaultResultTable, MaxVersions: 3})
	cfg := console.Config{Client: srv.SDK, Endpoint: srv.Endpoint, Instance: otslocaltest.Instance, Logger: slog.New(slog.DiscardHandler)}
	if pipeline != nil {
		cfg.Pipeline = pipeline(srv)
	}
	c, err := console.New(cfg)
	require.NoError(t, err)
	web := httptest.NewServer(c)
	t.Cleanup(web.Close)
	s := &site{srv: srv, web: web}
	page := s.get(t, "/", http.StatusOK)
	_, rest, ok := strings.Cut(page, `<meta name="console-token" content="`)
	require.True(t, ok, page)
	s.token, _, _ = strings.Cut(rest, `"`)
	require.Len(t, s.token, 32)
	return s
}

// get fetches path and checks the status.
func (s *site) get(t *testing.T, path string, status int) string {
	t.Helper()
	resp, err := http.Get(s.web.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	s.bodies = append(s.bodies, string(body))
	require.Equal(t, status, resp.StatusCode, "GET %s: %s", path, body)
	return string(body)
}

// getJSON fetches path, checks the status and decodes the body into v.
func (s *site) getJSON(t *testing.T, path string, status int, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal([]byte(s.get(t, path, status)), v))
}

// post sends a row change as the console's pages do, with header changes on top.
func (s *site) post(t *testing.T, table string, change any, header http.Header) (int, map[string]string) {
	t.Helper()
	body, err := json.Marshal(change)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, s.web.URL+"/api/tables/"+table+"/rows", strings.NewReader(string(body)))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Console-Token", s.token)
	req.Header.Set("Origin", s.web.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]string
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return resp.StatusCode, out
}

// row is a row change in the editor's JSON.
func row(op string, id string, cols ...map[string]any) map[string]any {
	return map[string]any{"operation": op, "primaryKey": []map[string]any{{"name": "id", "type": "INTEGER", "value": id}}, "columns": cols}
}

func col(name, typ, value string) map[string]any {
	return map[string]any{"name": name, "type": typ, "value": value}
}

func TestNewNeedsAClient(t *testing.T) {
	_, err := console.New(console.Config{})
	assert.EqualError(t, err, "console: Config.Client is required")
	_, err = console.New(console.Config{Client: otslocaltest.Client("http://127.0.0.1:1"), Pipeline: &console.Pipeline{}})
	assert.ErrorContains(t, err, "Config.Pipeline needs")
}

func TestPagesOfABareTablestore(t *testing.T) {
	s := newSite(t, nil)
	overview := s.get(t, "/", http.StatusOK)
	assert.Contains(t, overview, `<a href="/" aria-current="page">Overview</a>`)
	assert.NotContains(t, overview, `href="/invocations"`, "no trigger, no invocations")
	assert.NotContains(t, overview, "chart-records")
	assert.NotContains(t, overview, "uPlot")

	page := s.get(t, "/tables/source_data", http.StatusOK)
	assert.Contains(t, page, `<input name="from.id" value=""`)
	assert.Contains(t, page, `data-name="id" data-type="INTEGER"`)
	assert.Contains(t, page, `<span class="badge">Stream</span>`)

	missing := s.get(t, "/tables/nope", http.StatusNotFound)
	assert.Contains(t, missing, `Table &#34;nope&#34; does not exist in instance otslocaltest. The table does not exist. Tablestore said:`)
	assert.Contains(t, missing, "(OTSObjectNotExist)")
	assert.Contains(t, s.get(t, "/invocations", http.StatusNotFound), "No trigger runs with this console")
	assert.Contains(t, s.get(t, "/nowhere", http.StatusNotFound), "There is no page at /nowhere.")
	assert.Contains(t, s.get(t, "/api/nowhere", http.StatusNotFound), `"error":"no such endpoint: /api/nowhere"`)
	assert.Contains(t, s.get(t, "/api/metrics", http.StatusNotFound), "No trigger runs")

	var overviewData struct {
		Tables []struct {
			Name        string
			Rows        int
			StreamHours int
			PrimaryKey  string
		}
		Pipeline *json.RawMessage
	}
	s.getJSON(t, "/api/overview", http.StatusOK, &overviewData)
	require.Len(t, overviewData.Tables, 2)
	assert.Equal(t, "result", overviewData.Tables[0].Name)
	assert.Equal(t, "source_data", overviewData.Tables[1].Name)
	assert.Equal(t, otslocaltest.StreamExpirationHours, overviewData.Tables[1].StreamHours)
	assert.Equal(t, "id INTEGER", overviewData.Tables[1].PrimaryKey)
	assert.Nil(t, overviewData.Pipeline)

	// The static files are embedded, with their types.
	resp, err := http.Get(s.web.URL + "/static/uplot/uPlot.iife.min.js")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "javascript")
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	assert.Contains(t, s.get(t, "/static/console.js", http.StatusOK), "textContent")
}

// rowsPage is the JSON of a page of rows.
type rowsPage struct {
	Columns []string
	Rows    []struct {
		Key   []console.TypedValue
		Cells map[string][]struct {
			Type, Value string
			Timestamp   int64
			Cut         bool
			Size        int
		}
	}
	Next      string
	PageBytes int
}

func TestRowsArePagedInPrimaryKeyOrderWithTypedValues(t *testing.T) {
	s := newSite(t, nil)
	for id := int64(10); id >= 1; id-- {
		code, out := s.post(t, "result", row("PutRow", fmt.Sprint(id), col("level", "INTEGER", fmt.Sprint(id%4)), col("note", "STRING", "n")), nil)
		require.Equal(t, http.StatusOK, code, out)
	}
	code, out := s.post(t, "result", row("PutRow", "-5",
		col("i", "INTEGER", "-9223372036854775808"), col("d", "DOUBLE", "2.5"), col("b", "BOOLEAN", "true"),
		col("s", "STRING", `<img src=x onerror=alert(1)>`), col("x", "BINARY", "0x0AfF"), col("e", "STRING", "")), nil)
	require.Equal(t, http.StatusOK, code, out)
	assert.Equal(t, "PutRow: row (id=-5) written to result with 6 column(s).", out["message"])

	var page rowsPage
	s.getJSON(t, "/api/tables/result/rows?limit=4", http.StatusOK, &page)
	require.Len(t, page.Rows, 4)
	assert.Equal(t, []console.TypedValue{{Type: "INTEGER", Value: "-5"}}, page.Rows[0].Key, "INTEGER keys in signed order")
	assert.Equal(t, "1", page.Rows[1].Key[0].Value)
	cells := page.Rows[0].Cells
	for name, want := range map[string]string{"i": "INTEGER -9223372036854775808", "d": "DOUBLE 2.5", "b": "BOOLEAN true",
		"s": "STRING <img src=x onerror=alert(1)>", "x": "BINARY 0aff", "e": "STRING "} {
		require.Len(t, cells[name], 1, name)
		assert.Equal(t, want, cells[name][0].Type+" "+cells[name][0].Value, name)
		assert.Greater(t, cells[name][0].Timestamp, int64(0), "every cell carries its version")
	}
	assert.Equal(t, []string{"b", "d", "e", "i", "level", "note", "s", "x"}, page.Columns)
	assert.Equal(t, "from.id=4&limit=4", page.Next)

	s.getJSON(t, "/api/tables/result/rows?"+page.Next, http.StatusOK, &page)
	require.Len(t, page.Rows, 4)
	assert.Equal(t, "4", page.Rows[0].Key[0].Value)

	s.getJSON(t, "/api/tables/result/rows?from.id=3&to.id=6", http.StatusOK, &page)
	require.Len(t, page.Rows, 3, "from inclusive, to exclusive")
	assert.Equal(t, "5", page.Rows[2].Key[0].Value)
	assert.Empty(t, page.Next)

	// Every version on demand: result keeps 3.
	code, out = s.post(t, "result", row("UpdateRow", "3", col("level", "INTEGER", "30")), nil)
	require.Equal(t, http.StatusOK, code, out)
	s.getJSON(t, "/api/tables/result/rows?from.id=3&to.id=4&versions=all", http.StatusOK, &page)
	require.Len(t, page.Rows, 1)
	versions := page.Rows[0].Cells["level"]
	require.Len(t, versions, 2)
	assert.Equal(t, "30", versions[0].Value, "newest first")
	assert.Equal(t, "3", versions[1].Value)
	assert.Greater(t, versions[0].Timestamp, versions[1].Timestamp)
	s.getJSON(t, "/api/tables/result/rows?from.id=3&to.id=4", http.StatusOK, &page)
	assert.Len(t, page.Rows[0].Cells["level"], 1, "the latest version only by default")

	for query, want := range map[string]string{
		"limit=0":           `limit \"0\": want 1 to 1000 rows`,
		"from.id=abc":       `from: id: \"abc\" is not an INTEGER`,
		"from.id=5&to.id=5": "Tablestore refused the request as invalid. Tablestore said: Begin key must less than end key in FORWARD (OTSParameterInvalid).",
	} {
		assert.Contains(t, s.get(t, "/api/tables/result/rows?"+query, http.StatusBadRequest), want, query)
	}
	assert.Contains(t, s.get(t, "/api/tables/nope/rows", http.StatusNotFound), "The table does not exist")
}

func TestRangeOfACompositeKey(t *testing.T) {
	s := newSite(t, nil)
	schema := []ots.PrimaryKeySchema{{Name: "g", Type: ots.KindString}, {Name: "n", Type: ots.KindInteger}, {Name: "b", Type: ots.KindBinary}}
	s.srv.CreateTable(t, otslocaltest.Table{Name: "composite", PrimaryKey: schema})
	var records []events.Record
	for _, g := range []string{"", "a", "b"} {
		for n := int64(1); n <= 2; n++ {
			records = append(records, events.Record{Type: events.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{
				{ColumnName: "g", Value: ots.String(g)}, {ColumnName: "n", Value: ots.Integer(n)}, {ColumnName: "b", Value: ots.Binary([]byte{byte(n)})}}})
		}
	}
	require.NoError(t, tableio.Apply(t.Context(), s.srv.SDK, "composite", records))
	keys := func(query string) []string {
		var page rowsPage
		s.getJSON(t, "/api/tables/composite/rows?"+query, http.StatusOK, &page)
		var out []string
		for _, r := range page.Rows {
			out = append(out, fmt.Sprintf("%s/%s/%s", r.Key[0].Value, r.Key[1].Value, r.Key[2].Value))
		}
		return out
	}
	assert.Equal(t, []string{"/1/01", "/2/02", "a/1/01", "a/2/02", "b/1/01", "b/2/02"}, keys(""))
	assert.Equal(t, []string{"a/1/01", "a/2/02"}, keys("from.g=a&to.g=b"), "a prefix of the key")
	assert.Equal(t, []string{"a/2/02", "b/1/01"}, keys("from.g=a&from.n=2&to.g=b&to.n=2"))
	assert.Equal(t, []string{"/2/02", "a/1/01", "a/2/02", "b/1/01", "b/2/02"}, keys("from.g=&from.n=2"),
		"an empty STRING before a given column is the empty string")
	assert.Equal(t, []string{"/1/01", "/2/02", "a/1/01", "a/2/02", "b/1/01"}, keys("to.g=b&to.n=2&to.b=00"))
	assert.Contains(t, s.get(t, "/api/tables/composite/rows?from.b=01", http.StatusBadRequest), "from: give n (INTEGER) too")
	assert.Contains(t, s.get(t, "/api/tables/composite/rows?from.g=a&from.n=1&from.b=zz", http.StatusBadRequest), `from: b: \"zz\" is not BINARY`)
}

func TestRowEditorWritesAndExplainsRefusals(t *testing.T) {
	s := newSite(t, nil)
	scan := func() []tableio.Row { return s.srv.Scan(t, "source_data") }

	code, out := s.post(t, "source_data", row("PutRow", "7", col("level", "INTEGER", "3"), col("message", "STRING", "hello")), nil)
	require.Equal(t, http.StatusOK, code, out)
	code, out = s.post(t, "source_data", map[string]any{
		"operation": "UpdateRow", "condition": "EXPECT_EXIST",
		"primaryKey": []map[string]any{{"name": "id", "type": "INTEGER", "value": "7"}},
		"columns":    []map[string]any{col("level", "INTEGER", "1"), {"name": "message", "delete": true}},
	}, nil)
	require.Equal(t, http.StatusOK, code, out)
	assert.Equal(t, "UpdateRow: row (id=7) of source_data updated: put level, deleted message.", out["message"])
	assert.Equal(t, []tableio.Row{{PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(7)}},
		Columns: []ots.Cell{{Name: "level", Value: ots.Integer(1)}}}}, scan())

	refusals := []struct {
		name   string
		change map[string]any
		status int
		want   string
	}{
		{"condition failed", map[string]any{"operation": "PutRow", "condition": "EXPECT_NOT_EXIST",
			"primaryKey": []map[string]any{{"name": "id", "type": "INTEGER", "value": "7"}}}, http.StatusConflict,
			"The condition failed: the row existence expectation was not met (EXPECT_EXIST needs the row to exist, EXPECT_NOT_EXIST needs it absent). Tablestore said: Condition check failed (OTSConditionCheckFail)."},
		{"wrong key type", map[string]any{"operation": "PutRow",
			"primaryKey": []map[string]any{{"name": "id", "type": "STRING", "value": "7"}}}, http.StatusBadRequest,
			"The primary key does not match the table's: its column names, their order or their types differ. Tablestore said: Validate PK type fail. Input: VT_STRING, Meta: VT_INTEGER (OTSInvalidPK)."},
		{"bad integer", row("PutRow", "seven"), http.StatusBadRequest,
			`primary key column id: "seven" is not an INTEGER: want a whole number from -9223372036854775808 to 9223372036854775807`},
		{"bad double", row("PutRow", "7", col("d", "DOUBLE", "NaN")), http.StatusBadRequest,
			`column d: "NaN" is not a DOUBLE Tablestore can store: NaN and infinities are refused`},
		{"bad boolean", row("PutRow", "7", col("b", "BOOLEAN", "yes")), http.StatusBadRequest, `column b: "yes" is not a BOOLEAN: want true or false`},
		{"bad type", row("PutRow", "7", col("b", "FLOAT", "1")), http.StatusBadRequest, `column b: unknown type "FLOAT": want INTEGER, DOUBLE, BOOLEAN, STRING or BINARY`},
		{"double key", map[string]any{"operation": "PutRow", "primaryKey": []map[string]any{{"name": "id", "type": "DOUBLE", "value": "7"}}},
			http.StatusBadRequest, "a primary key column holds INTEGER, STRING or BINARY, not DOUBLE"},
		{"no key", map[string]any{"operation": "DeleteRow"}, http.StatusBadRequest, "give the row's primary key"},
		{"unknown operation", row("GetRow", "7"), http.StatusBadRequest, `operation "GetRow": want PutRow, UpdateRow or DeleteRow`},
		{"unknown condition", map[string]any{"operation": "DeleteRow", "condition": "MAYBE"}, http.StatusBadRequest, `condition "MAYBE"`},
		{"put deletes", map[string]any{"operation": "PutRow", "primaryKey": []map[string]any{{"name": "id", "type": "INTEGER", "value": "7"}},
			"columns": []map[string]any{{"name": "level", "delete": true}}}, http.StatusBadRequest, "only an UpdateRow deletes columns"},
		{"empty update", row("UpdateRow", "7"), http.StatusBadRequest, "an UpdateRow needs at least one column"},
		{"delete with columns", row("DeleteRow", "7", col("level", "INTEGER", "1")), http.StatusBadRequest, "a DeleteRow takes no columns"},
		{"delete expecting absence", map[string]any{"operation": "DeleteRow", "condition": "EXPECT_NOT_EXIST",
			"primaryKey": []map[string]any{{"name": "id", "type": "INTEGER", "value": "7"}}}, http.StatusBadRequest, "a DeleteRow cannot expect the row not to exist"},
		{"unknown field", map[string]any{"operation": "DeleteRow", "surprise": 1}, http.StatusBadRequest, `the row change is not valid JSON: json: unknown field "surprise"`},
	}
	for _, r := range refusals {
		code, out := s.post(t, "source_data", r.change, nil)
		assert.Equal(t, r.status, code, r.name)
		assert.Contains(t, out["error"], r.want, r.name)
	}
	code, out = s.post(t, "nope", row("DeleteRow", "7"), nil)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, out["error"], "The table does not exist")
	code, out = s.post(t, "source_data", row("PutRow", "7"), http.Header{"Content-Type": {"text/plain"}})
	assert.Equal(t, http.StatusUnsupportedMediaType, code, out)
	assert.Len(t, scan(), 1, "nothing refused was written")
	assert.Equal(t, []ots.Cell{{Name: "level", Value: ots.Integer(1)}}, scan()[0].Columns)

	code, out = s.post(t, "source_data", map[string]any{"operation": "DeleteRow", "condition": "EXPECT_EXIST",
		"primaryKey": []map[string]any{{"name": "id", "type": "INTEGER", "value": "7"}}}, nil)
	require.Equal(t, http.StatusOK, code, out)
	assert.Equal(t, "DeleteRow: row (id=7) deleted from source_data.", out["message"])
	assert.Empty(t, scan())
}

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	s := newSite(t, nil)
	change := row("PutRow", "1", col("level", "INTEGER", "3"))
	for name, header := range map[string]http.Header{
		"no token":          {"X-Console-Token": nil},
		"wrong token":       {"X-Console-Token": {strings.Repeat("0", 32)}},
		"another origin":    {"Origin": {"http://evil.example"}},
		"a cross-site page": {"Sec-Fetch-Site": {"cross-site"}},
		"a same-site page":  {"Sec-Fetch-Site": {"same-site"}},
	} {
		code, out := s.post(t, "source_data", change, header)
		assert.Equal(t, http.StatusForbidden, code, name)
		assert.Contains(t, out["error"], "refused", name)
	}
	assert.Empty(t, s.srv.Scan(t, "source_data"), "no refused request wrote anything")
	code, out := s.post(t, "source_data", change, http.Header{"Origin": nil, "Sec-Fetch-Site": nil})
	assert.Equal(t, http.StatusOK, code, "a client that sends neither header needs the token only: %v", out)

	// A page asked for under another name (DNS rebinding) is not served on loopback.
	req, err := http.NewRequest(http.MethodGet, s.web.URL+"/api/tables/source_data/rows", nil)
	require.NoError(t, err)
	req.Host = "rebound.example:80"
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusMisdirectedRequest, resp.StatusCode)
	assert.NotContains(t, string(body), `"rows"`)
	for _, host := range []string{"localhost:8901", "127.0.0.1", "[::1]:8901"} {
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, host)
	}
}

func TestListenKeepsToLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8901", "example.com:8901"} {
		_, err := console.Listen(addr, false)
		assert.ErrorIs(t, err, console.ErrNotLoopback, addr)
	}
	assert.ErrorContains(t, console.CheckAddress("8901", false), `console address "8901": want host:port`)
	require.NoError(t, console.CheckAddress("localhost:8901", false))
	require.NoError(t, console.CheckAddress("[::1]:8901", false))
	require.NoError(t, console.CheckAddress("0.0.0.0:8901", true))

	ln, err := console.Listen("127.0.0.1:0", false)
	require.NoError(t, err)
	assert.True(t, console.IsLoopback(ln))
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/$`, console.URL(ln))
	remote, err := console.Listen("0.0.0.0:0", true)
	require.NoError(t, err)
	assert.False(t, console.IsLoopback(remote))
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+/$`, console.URL(remote), "a console on every interface is reached locally at 127.0.0.1")
	require.NoError(t, remote.Close())

	// Serve serves until its context ends.
	c, err := console.New(console.Config{Client: otslocaltest.Client("http://127.0.0.1:1")})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- console.Serve(ctx, ln, c) }()
	resp, err := http.Get(console.URL(ln) + "static/console.css")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	select {
	case err := <-served:
		require.NoError(t, err)
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after its context ended")
	}
	_, err = http.Get(console.URL(ln))
	assert.Error(t, err, "the listener is closed")
}

// pipelineColumns is the COLUMNS of the function the console's pipeline runs: a mapping.
const pipelineColumns = `{"level": level, "severity": level >= 3 ? "error" : "warn", "message": trim(message)}`

// pipeline runs the local trigger of srv's source_data with the otsetl function served in
// process (its COLUMNS pipelineColumns), feeding monitor, until the test ends.
func pipeline(t *testing.T, monitor *console.Monitor) func(*otslocaltest.Server) *console.Pipeline {
	return func(srv *otslocaltest.Server) *console.Pipeline {
		vars := map[string]string{handler.EnvInstance: otslocaltest.Instance, handler.EnvEndpoint: srv.Endpoint, handler.EnvColumns: pipelineColumns}
		cfg, err := handler.ConfigFromEnv(func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
		require.NoError(t, err)
		logger := slog.New(slog.DiscardHandler)
		fn, err := handler.New(cfg, logger)
		require.NoError(t, err)
		pool, err := fclocal.NewPool(fclocal.PoolConfig{Start: fclocal.HandlerInstances(func(string) http.Handler {
			return fcruntime.NewHTTPHandler(fn.Invoke, fcruntime.HTTPOptions{Logger: logger})
		})})
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		trigger, err := fclocal.New(fclocal.Config{
			Client: srv.SDK, Table: cfg.SourceTable, Function: pool, FunctionName: "otsetl",
			Credentials: otslocaltest.Credentials, Logger: logger, OnInvocation: monitor.Record,
		})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- trigger.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done)
		})
		return &console.Pipeline{SourceTable: cfg.SourceTable, ResultTable: cfg.ResultTable, FunctionName: "otsetl", Rule: cfg.Rule,
			Trigger: trigger, Instances: pool, Monitor: monitor}
	}
}

func TestOverviewInvocationsAndEventsOfARunningTrigger(t *testing.T) {
	monitor := console.NewMonitor()
	s := newSite(t, pipeline(t, monitor))
	assert.Contains(t, s.get(t, "/", http.StatusOK), `href="/invocations"`)
	assert.Contains(t, s.get(t, "/", http.StatusOK), `id="chart-lag"`)
	for id := range 4 {
		code, out := s.post(t, "source_data", row("PutRow", fmt.Sprint(id), col("level", "INTEGER", fmt.Sprint(id)), col("message", "STRING", " log line ")), nil)
		require.Equal(t, http.StatusOK, code, out)
	}

	type overview struct {
		Tables []struct {
			Name, Role   string
			Rows         int
			RowsComplete bool
		}
		Pipeline struct {
			SourceTable, ResultTable, Function, Filter, Columns string
			Instances                                           fclocal.PoolStatus
			Shards                                              []fclocal.ShardStatus
			Totals                                              struct{ Invocations, Failures, Records int }
		}
	}
	var o overview
	require.Eventually(t, func() bool {
		o = overview{}
		s.getJSON(t, "/api/overview", http.StatusOK, &o)
		return len(o.Tables) == 2 && o.Tables[0].Rows == 2 && o.Pipeline.Totals.Records == 4
	}, waitTimeout, 20*time.Millisecond, "the result table gets ids 2 and 3: %+v", o)
	assert.Equal(t, "result", o.Tables[0].Role)
	assert.Equal(t, 4, o.Tables[1].Rows)
	assert.True(t, o.Tables[1].RowsComplete)
	assert.Equal(t, "otsetl", o.Pipeline.Function)
	assert.Equal(t, "level > 1", o.Pipeline.Filter, "the rule as the function applies it")
	assert.Equal(t, pipelineColumns, o.Pipeline.Columns)
	require.Len(t, o.Pipeline.Instances.Instances, 1, "one instance takes the one shard's invocations, one at a time")
	assert.True(t, o.Pipeline.Instances.Instances[0].Running)
	assert.Equal(t, fclocal.DefaultMaxInstances, o.Pipeline.Instances.MaxInstances)
	mapped := func(level int64, severity string) []ots.Cell {
		return []ots.Cell{{Name: "level", Value: ots.Integer(level)}, {Name: "message", Value: ots.String("log line")}, {Name: "severity", Value: ots.String(severity)}}
	}
	result := s.srv.Scan(t, "result")
	require.Len(t, result, 2)
	assert.Equal(t, mapped(2, "warn"), result[0].Columns, "the row the mapping computes")
	assert.Equal(t, mapped(3, "error"), result[1].Columns)
	require.Len(t, o.Pipeline.Shards, 1)
	sh := o.Pipeline.Shards[0]
	assert.Equal(t, fclocal.ShardReading, sh.State)
	assert.Equal(t, int64(4), sh.Delivered)
	assert.NotEmpty(t, sh.Checkpoint)
	assert.Zero(t, o.Pipeline.Totals.Failures)

	var list struct {
		Invocations []struct {
			RequestID string
			Shard     string
			Records   int
			Summary   *handler.Summary
			HasEvent  bool
		}
	}
	s.getJSON(t, "/api/invocations", http.StatusOK, &list)
	require.NotEmpty(t, list.Invocations)
	records, puts := 0, 0
	for _, inv := range list.Invocations {
		require.NotNil(t, inv.Summary)
		assert.Equal(t, sh.ID, inv.Shard)
		records += inv.Records
		puts += inv.Summary.Puts
	}
	assert.Equal(t, 4, records)
	assert.Equal(t, 2, puts, "ids 2 and 3 pass level > 1")

	first := list.Invocations[len(list.Invocations)-1]
	require.True(t, first.HasEvent)
	assert.Contains(t, s.get(t, "/invocations/"+first.RequestID, http.StatusOK), `data-request-id="`+first.RequestID+`"`)
	event := s.get(t, "/api/invocations/"+first.RequestID+"/event", http.StatusOK)
	decoded, err := events.Decode([]byte(event))
	require.NoError(t, err, "the event is shown in the trigger's JSON form:\n%s", event)
	assert.Len(t, decoded.Records, first.Records)
	assert.Equal(t, events.PutRow, decoded.Records[0].Type)
	assert.Contains(t, s.get(t, "/api/invocations/unknown/event", http.StatusNotFound), `no invocation with request id \"unknown\"`)
	assert.Contains(t, s.get(t, "/invocations/unknown", http.StatusNotFound), "No invocation with request id &#34;unknown&#34;")

	var metrics struct {
		Time    []int64
		Records []int64
		LagMs   []*int64
	}
	s.getJSON(t, "/api/metrics", http.StatusOK, &metrics)
	require.Len(t, metrics.Time, 600)
	total, lagPoints := int64(0), 0
	for i := range metrics.Time {
		total += metrics.Records[i]
		if metrics.LagMs[i] != nil {
			lagPoints++
		}
	}
	assert.Equal(t, int64(4), total)
	assert.Positive(t, lagPoints)

	s.get(t, "/invocations", http.StatusOK)
	s.get(t, "/tables/source_data", http.StatusOK)
	for _, body := range s.bodies {
		for _, secret := range []string{otslocaltest.Credentials.AccessKeySecret, otslocaltest.Credentials.SecurityToken} {
			require.NotContains(t, body, secret, "no response shows a credential")
		}
	}
}

func TestEndpointUserInformationIsNotShown(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	c, err := console.New(console.Config{Client: srv.SDK, Endpoint: "http://user:hunter2@127.0.0.1:1/", Instance: "i"})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/", nil))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.NotContains(t, rec.Body.String(), "hunter2")
	assert.NotContains(t, rec.Body.String(), "user:")
	assert.Contains(t, rec.Body.String(), "http://REDACTED@127.0.0.1:1/")
}

// A Tablestore that cannot be reached is reported in words.
func TestUnreachableTablestore(t *testing.T) {
	cfg := sdk.NewDefaultTableStoreConfig()
	cfg.RetryTimes = 0
	client := sdk.NewClientWithConfig("http://127.0.0.1:1", "i", "id", "secret", "", cfg)
	c, err := console.New(console.Config{Client: client, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/api/overview", nil))
	var o struct{ TablesError string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &o))
	assert.Contains(t, o.TablesError, "Tablestore could not be reached")
}

func TestTheOverviewCountsUpToAThousandRows(t *testing.T) {
	s := newSite(t, nil)
	records := make([]events.Record, 1001)
	for i := range records {
		records[i] = events.Record{Type: events.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(i))}}}
	}
	require.NoError(t, tableio.Apply(t.Context(), s.srv.SDK, "result", records))
	var o struct {
		Tables []struct {
			Name         string
			Rows         int
			RowsComplete bool
		}
	}
	s.getJSON(t, "/api/overview", http.StatusOK, &o)
	require.Len(t, o.Tables, 2)
	assert.Equal(t, 1000, o.Tables[0].Rows)
	assert.False(t, o.Tables[0].RowsComplete, "shown as 1,000+")
	assert.Equal(t, 0, o.Tables[1].Rows)
	assert.True(t, o.Tables[1].RowsComplete)
}

// putRows writes rows id 0..n-1 of table with columns, through the writer of package
// tablestore (BatchWriteRow, a request per 4 MB).
func (s *site) putRows(t *testing.T, table string, n int, columns func(id int) []ots.Cell) {
	t.Helper()
	var changes []ots.RowChange
	for id := range n {
		changes = append(changes, ots.RowChange{Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(id))}}, Columns: columns(id)})
	}
	writer, err := tablestore.NewClient(tablestore.Config{Endpoint: s.srv.Endpoint, Instance: otslocaltest.Instance}, otslocaltest.Credentials)
	require.NoError(t, err)
	_, err = writer.Write(t.Context(), table, changes)
	require.NoError(t, err)
}

// TestRowPagesAreBoundedInBytes: with rows of a 2 MB STRING each, a page of rows answered
// hundreds of MB of JSON (a page of 50 rows, 100 MB; limit=1000, 300 MB). A page now reads
// 4 MB of data at most and shows a long value cut to its first 256 bytes with its size; the
// page says it stopped at its bound, and the next page goes on from there.
func TestRowPagesAreBoundedInBytes(t *testing.T) {
	s := newSite(t, nil)
	big := strings.Repeat("é", 1<<20) // 2 MiB, Tablestore's limit, of a two-byte rune: a cut keeps whole runes
	s.putRows(t, "result", 5, func(int) []ots.Cell {
		return []ots.Cell{{Name: "blob", Value: ots.String(big)}, {Name: "level", Value: ots.Integer(2)}}
	})
	for query, next := range map[string]string{"": "from.id=2", "?limit=1000": "from.id=2&limit=1000"} {
		body := s.get(t, "/api/tables/result/rows"+query, http.StatusOK)
		assert.Less(t, len(body), 4<<10, "a few hundred bytes a row")
		var page rowsPage
		require.NoError(t, json.Unmarshal([]byte(body), &page))
		require.Len(t, page.Rows, 2, "4 MB of data: two rows of 2 MB")
		blob := page.Rows[0].Cells["blob"][0]
		assert.True(t, blob.Cut)
		assert.Equal(t, len(big), blob.Size)
		assert.Equal(t, strings.Repeat("é", 128), blob.Value, "the first 256 bytes")
		level := page.Rows[0].Cells["level"][0]
		assert.Equal(t, "2", level.Value)
		assert.False(t, level.Cut)
		assert.Equal(t, 4<<20, page.PageBytes)
		assert.Equal(t, next, page.Next)
	}
	var keys []string
	for next := "limit=1000"; next != ""; {
		var page rowsPage
		s.getJSON(t, "/api/tables/result/rows?"+next, http.StatusOK, &page)
		for _, row := range page.Rows {
			keys = append(keys, row.Key[0].Value)
		}
		next = page.Next
	}
	assert.Equal(t, []string{"0", "1", "2", "3", "4"}, keys, "the pages go on where the bound stopped them")

	// Small cells: the page's JSON, not its data, reaches the bound first.
	columns := make([]ots.Cell, 1000)
	for i := range columns {
		columns[i] = ots.Cell{Name: fmt.Sprintf("c%03d", i), Value: ots.Integer(int64(i))}
	}
	s.putRows(t, "source_data", 100, func(int) []ots.Cell { return columns })
	body := s.get(t, "/api/tables/source_data/rows?limit=100", http.StatusOK)
	var page rowsPage
	require.NoError(t, json.Unmarshal([]byte(body), &page))
	assert.Less(t, len(page.Rows), 100)
	assert.Greater(t, len(page.Rows), 10)
	assert.LessOrEqual(t, len(body), 4<<20+4<<10, "the rows' JSON stops at 4 MB")
	assert.Equal(t, fmt.Sprintf("from.id=%d&limit=100", len(page.Rows)), page.Next)
	assert.Equal(t, 4<<20, page.PageBytes)
}

// TestAWholeValueOnDemand: GET /api/tables/{name}/value gives one version of a cell whole,
// which a page of rows shows cut.
func TestAWholeValueOnDemand(t *testing.T) {
	s := newSite(t, nil)
	long := strings.Repeat("0123456789", 100)
	code, out := s.post(t, "result", row("PutRow", "7", col("note", "STRING", long), col("bin", "BINARY", strings.Repeat("ab", 300))), nil)
	require.Equal(t, http.StatusOK, code, out)
	time.Sleep(2 * time.Millisecond) // a version of another millisecond
	code, out = s.post(t, "result", row("UpdateRow", "7", col("note", "STRING", "short now")), nil)
	require.Equal(t, http.StatusOK, code, out)

	var page rowsPage
	s.getJSON(t, "/api/tables/result/rows?versions=all", http.StatusOK, &page)
	require.Len(t, page.Rows, 1)
	notes := page.Rows[0].Cells["note"]
	require.Len(t, notes, 2)
	assert.Equal(t, "short now", notes[0].Value)
	assert.False(t, notes[0].Cut)
	assert.True(t, notes[1].Cut)
	assert.Equal(t, long[:256], notes[1].Value)
	assert.Equal(t, 1000, notes[1].Size)
	bin := page.Rows[0].Cells["bin"][0]
	assert.True(t, bin.Cut)
	assert.Equal(t, strings.Repeat("ab", 256), bin.Value, "BINARY's first 256 bytes, in hex")
	assert.Equal(t, 300, bin.Size)
	assert.Empty(t, page.PageBytes, "a page of one row ends for want of rows")

	var value struct {
		Type, Value string
		Timestamp   int64
	}
	s.getJSON(t, fmt.Sprintf("/api/tables/result/value?key.id=7&column=note&timestamp=%d", notes[1].Timestamp), http.StatusOK, &value)
	assert.Equal(t, "STRING", value.Type)
	assert.Equal(t, long, value.Value)
	assert.Equal(t, notes[1].Timestamp, value.Timestamp)
	s.getJSON(t, "/api/tables/result/value?key.id=7&column=note", http.StatusOK, &value)
	assert.Equal(t, "short now", value.Value, "the newest version without a timestamp")
	s.getJSON(t, "/api/tables/result/value?key.id=7&column=bin", http.StatusOK, &value)
	assert.Equal(t, strings.Repeat("ab", 300), value.Value)

	for query, want := range map[string]string{
		"column=note":                        `key.id (INTEGER): missing; give every primary key column`,
		"key.id=x&column=note":               `key.id (INTEGER): \"x\" is not an INTEGER`,
		"key.id=7":                           "give the attribute column: column=NAME",
		"key.id=7&column=note&timestamp=-1":  `timestamp \"-1\": want a version`,
		"key.id=7&column=note&timestamp=now": `timestamp \"now\": want a version`,
	} {
		assert.Contains(t, s.get(t, "/api/tables/result/value?"+query, http.StatusBadRequest), want, query)
	}
	for _, query := range []string{"key.id=8&column=note", "key.id=7&column=nope", "key.id=7&column=note&timestamp=1"} {
		assert.Contains(t, s.get(t, "/api/tables/result/value?"+query, http.StatusNotFound), "has no column", query)
	}
	assert.Contains(t, s.get(t, "/api/tables/nope/value?key.id=7&column=note", http.StatusNotFound), "The table does not exist")
}

// TestRowReadsAreBoundedInNumber: at most two pages of rows are read at a time; the others
// wait their turn, and a request that goes away while it waits takes none.
func TestRowReadsAreBoundedInNumber(t *testing.T) {
	s := newSite(t, nil)
	counter := &heldRequests{target: s.srv.Endpoint, release: make(chan struct{}),
		hold: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/GetRange") }}
	proxy := httptest.NewServer(counter)
	t.Cleanup(proxy.Close)
	c, err := console.New(console.Config{Client: otslocaltest.Client(proxy.URL), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	web := httptest.NewServer(c)
	t.Cleanup(web.Close)

	counter.requireTwoAtATime(t, web.URL, "/api/tables/result/rows?limit=1000")
}

// heldRequests is a proxy to target that holds every request hold picks until release is
// closed, counting those in flight.
type heldRequests struct {
	target         string
	hold           func(*http.Request) bool
	release        chan struct{}
	inFlight, most atomic.Int64
}

func (p *heldRequests) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.hold(r) {
		n := p.inFlight.Add(1)
		for m := p.most.Load(); n > m && !p.most.CompareAndSwap(m, n); m = p.most.Load() {
		}
		<-p.release
		defer p.inFlight.Add(-1)
	}
	target, _ := url.Parse(p.target)
	httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
}

// requireTwoAtATime sends eight GETs to the console at web, taking paths in turn, and
// requires that the requests p holds for them run two at a time: two start, no third while
// they are held, and every GET is answered 200 once p releases them.
func (p *heldRequests) requireTwoAtATime(t *testing.T, web string, paths ...string) {
	t.Helper()
	released := false
	release := func() {
		if !released {
			released = true
			close(p.release)
		}
	}
	// Released before the servers close, also when a requirement below fails: a held request
	// would keep them from closing.
	t.Cleanup(release)
	answers := make(chan int, 8)
	for i := range 8 {
		go func() {
			resp, err := http.Get(web + paths[i%len(paths)])
			if err != nil {
				answers <- 0
				return
			}
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
	}
	require.Eventually(t, func() bool { return p.inFlight.Load() == 2 }, waitTimeout, time.Millisecond, "two reads start")
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, int64(2), p.inFlight.Load(), "and no more while they run")
	release()
	for range 8 {
		assert.Equal(t, http.StatusOK, <-answers)
	}
	assert.Equal(t, int64(2), p.most.Load(), "never more than two at once")
}

// TestCrossSiteReadsAreRefused: any web page could read the rows endpoints (an
// `<img src=…>` needs no token). A browser's cross-site or same-site read of /api/ is
// refused now, and no response allows another origin (no CORS).
func TestCrossSiteReadsAreRefused(t *testing.T) {
	s := newSite(t, nil)
	code, out := s.post(t, "result", row("PutRow", "1", col("level", "INTEGER", "3")), nil)
	require.Equal(t, http.StatusOK, code, out)
	read := func(path string, header http.Header) (int, http.Header, string) {
		req, err := http.NewRequest(http.MethodGet, s.web.URL+path, nil)
		require.NoError(t, err)
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header, string(body)
	}
	img := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"no-cors"}, "Sec-Fetch-Dest": {"image"}}
	for _, path := range []string{"/api/tables/result/rows", "/api/tables/result/rows?limit=1000", "/api/tables/result/value?key.id=1&column=level",
		"/api/overview", "/api/metrics", "/api/invocations"} {
		status, _, body := read(path, img)
		assert.Equal(t, http.StatusForbidden, status, path)
		assert.Equal(t, `{"error":"cross-site read refused (Sec-Fetch-Site: cross-site): the console's data is for its own pages"}`+"\n", body, path)
	}
	status, _, body := read("/api/tables/result/rows", http.Header{"Sec-Fetch-Site": {"same-site"}})
	assert.Equal(t, http.StatusForbidden, status, body)
	for _, site := range []string{"same-origin", "none", ""} {
		status, header, body := read("/api/tables/result/rows", http.Header{"Sec-Fetch-Site": {site}, "Origin": {"http://evil.example"}})
		assert.Equal(t, http.StatusOK, status, site)
		assert.Contains(t, body, `"rows"`, site)
		for name := range header {
			assert.False(t, strings.HasPrefix(strings.ToLower(name), "access-control-"), "no CORS header: %s", name)
		}
	}
	status, _, _ = read("/tables/result", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Sec-Fetch-Mode": {"navigate"}})
	assert.Equal(t, http.StatusOK, status, "a link from another site opens a page, which holds no rows")
	req, err := http.NewRequest(http.MethodOptions, s.web.URL+"/api/tables/result/rows", nil)
	require.NoError(t, err)
	req.Header = http.Header{"Origin": {"http://evil.example"}, "Access-Control-Request-Method": {"GET"}}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.NotEqual(t, http.StatusOK, resp.StatusCode, "no preflight is answered")
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}
