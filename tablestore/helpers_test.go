package tablestore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// testCreds are the credentials of every client of the tests: otslocaltest's, which hold a
// secret and a token that no message may show.
var testCreds = otslocaltest.Credentials

// assertNoSecrets checks that s shows neither the test secret nor the test token.
func assertNoSecrets(t *testing.T, s string) {
	t.Helper()
	assert.NotContains(t, s, testCreds.AccessKeySecret)
	assert.NotContains(t, s, testCreds.SecurityToken)
}

// startServer starts an otslocal server without tables that the test closes.
func startServer(t *testing.T) *otslocaltest.Server {
	t.Helper()
	return otslocaltest.NewServer(t, otslocal.Options{})
}

// newTestClient returns a Client for endpoint with the test credentials.
func newTestClient(t *testing.T, endpoint string, maxConcurrent int) *Client {
	t.Helper()
	c, err := NewClient(Config{Endpoint: endpoint, Instance: otslocaltest.Instance, MaxConcurrentRequests: maxConcurrent}, testCreds)
	require.NoError(t, err)
	return c
}

// newTable starts a server with table (primary key id INTEGER) and returns the server and a
// client of it.
func newTable(t *testing.T, table string) (*otslocaltest.Server, *Client) {
	t.Helper()
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: table})
	return srv, newTestClient(t, srv.Endpoint, 0)
}

// getRow reads row pk of table with the SDK's GetRow (latest versions) and returns its
// attribute columns by name, or nil when there is no row.
func getRow(t *testing.T, endpoint, table string, pk []ots.PrimaryKeyColumn) map[string]any {
	t.Helper()
	sdkPK, err := ots.SDKPrimaryKey(pk)
	require.NoError(t, err)
	resp, err := otslocaltest.Client(endpoint).GetRow(&sdk.GetRowRequest{SingleRowQueryCriteria: &sdk.SingleRowQueryCriteria{
		TableName: table, PrimaryKey: sdkPK, MaxVersion: 1,
	}})
	require.NoError(t, err)
	if len(resp.PrimaryKey.PrimaryKeys) == 0 {
		return nil
	}
	cols := make(map[string]any, len(resp.Columns))
	for _, c := range resp.Columns {
		cols[c.ColumnName] = c.Value
	}
	return cols
}

// countRows counts the rows of a table.
func countRows(t *testing.T, endpoint, table string) int {
	t.Helper()
	rows, err := tableio.Scan(t.Context(), otslocaltest.Client(endpoint), table)
	require.NoError(t, err)
	return len(rows)
}

// seed writes rows with the code under test and checks that it wrote them all.
func seed(t *testing.T, c *Client, table string, changes ...ots.RowChange) {
	t.Helper()
	stats, err := c.Write(t.Context(), table, changes)
	require.NoError(t, err)
	require.Equal(t, len(changes), stats.Puts+stats.Deletes+stats.Updates)
}

// newReverseProxy returns a reverse proxy to backend, for a test to tamper with traffic.
func newReverseProxy(t *testing.T, backend string) *httputil.ReverseProxy {
	t.Helper()
	target, err := url.Parse(backend)
	require.NoError(t, err)
	return &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
}

// serve serves h on 127.0.0.1 until the test ends and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// actionOf returns the Tablestore action a request is for, e.g. "BatchWriteRow".
func actionOf(r *http.Request) string { return strings.TrimPrefix(r.URL.Path, "/") }

// replaceResponseBody sets resp's status and body.
func replaceResponseBody(resp *http.Response, status int, body []byte) {
	resp.Body.Close()
	resp.StatusCode = status
	resp.Status = strconv.Itoa(status) + " " + http.StatusText(status)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// newFaultyTable is newTable with faults switched on once the table exists; the faults
// apply to the given action only (e.g. "BatchWriteRow"), with Seed 1.
func newFaultyTable(t *testing.T, table, action string, rates otslocal.FaultRates) (*otslocaltest.Server, *Client) {
	t.Helper()
	srv, c := newTable(t, table)
	require.NoError(t, srv.SetFaults(otslocal.Faults{Seed: 1, PerOperation: map[string]otslocal.FaultRates{action: rates}}))
	return srv, c
}

// exchange is one answer to a BatchWriteRow or BatchGetRow request seen by
// recordExchanges: its HTTP status and, when it is 200, how many rows it answered (as
// many as the request carried) and how many of those failed.
type exchange struct {
	status       int
	rows, failed int
}

// recordExchanges starts a proxy to backend that passes all traffic through unchanged and
// records the answers to action, "BatchWriteRow" or "BatchGetRow", in arrival order; the
// test sees what the client sent without changing it.
func recordExchanges(t *testing.T, backend, action string) (endpoint string, exchanges func() []exchange) {
	t.Helper()
	var mu sync.Mutex
	var seen []exchange
	rp := newReverseProxy(t, backend)
	rp.ModifyResponse = func(resp *http.Response) error {
		if actionOf(resp.Request) != action {
			return nil
		}
		e := exchange{status: resp.StatusCode}
		if resp.StatusCode == http.StatusOK {
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			replaceResponseBody(resp, resp.StatusCode, body)
			if e.rows, e.failed, err = countBatchRows(action, body); err != nil {
				return err
			}
		}
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, e)
		return nil
	}
	return serve(t, rp), func() []exchange {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// countBatchRows counts the row results of a BatchWriteRow or BatchGetRow response and
// the failed ones among them.
func countBatchRows(action string, body []byte) (rows, failed int, err error) {
	count := func(ok bool) {
		rows++
		if !ok {
			failed++
		}
	}
	switch action {
	case "BatchWriteRow":
		var resp otsprotocol.BatchWriteRowResponse
		err = proto.Unmarshal(body, &resp)
		for _, table := range resp.Tables {
			for _, row := range table.Rows {
				count(row.GetIsOk())
			}
		}
	case "BatchGetRow":
		var resp otsprotocol.BatchGetRowResponse
		err = proto.Unmarshal(body, &resp)
		for _, table := range resp.Tables {
			for _, row := range table.Rows {
				count(row.GetIsOk())
			}
		}
	default:
		err = fmt.Errorf("no batch action: %s", action)
	}
	return rows, failed, err
}

// requireResentFailedRows checks a sequence of 200 answers to one chunk: the first
// carries all rows, every later request exactly the rows that failed in the one before,
// and the last has no failures.
func requireResentFailedRows(t *testing.T, exchanges []exchange, rows int) {
	t.Helper()
	require.NotEmpty(t, exchanges)
	for i, e := range exchanges {
		require.Equal(t, http.StatusOK, e.status, "answer %d", i)
		want := rows
		if i > 0 {
			want = exchanges[i-1].failed
		}
		require.Equal(t, want, e.rows, "request %d carries the rows that failed before", i)
	}
	require.Zero(t, exchanges[len(exchanges)-1].failed)
}

// withTimeout returns t.Context() bounded by a timeout, cancelled when the test ends.
func withTimeout(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx
}
