package otslocal_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// startServer starts a server on a free local port and closes it when the test ends.
func startServer(t *testing.T) *otslocal.Server {
	t.Helper()
	return otslocaltest.NewServer(t, otslocal.Options{}).Server
}

// newClient starts a server and returns an unmodified SDK client for it.
func newClient(t *testing.T) (*tablestore.TableStoreClient, *otslocal.Server) {
	t.Helper()
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	return srv.SDK, srv.Server
}

// primaryKeyColumn is a column of a table schema used in tests.
type primaryKeyColumn struct {
	name string
	typ  tablestore.PrimaryKeyType
}

// createTable creates a table with the given primary key, TTL -1 and max versions.
func createTable(t *testing.T, client *tablestore.TableStoreClient, name string, maxVersions int, pk ...primaryKeyColumn) {
	t.Helper()
	meta := &tablestore.TableMeta{TableName: name}
	for _, column := range pk {
		meta.AddPrimaryKeyColumn(column.name, column.typ)
	}
	_, err := client.CreateTable(&tablestore.CreateTableRequest{
		TableMeta:          meta,
		TableOption:        &tablestore.TableOption{TimeToAlive: -1, MaxVersion: maxVersions},
		ReservedThroughput: &tablestore.ReservedThroughput{},
	})
	require.NoError(t, err)
}

// key builds a primary key from name/value pairs.
func key(pairs ...any) *tablestore.PrimaryKey {
	pk := &tablestore.PrimaryKey{}
	for i := 0; i < len(pairs); i += 2 {
		pk.AddPrimaryKeyColumn(pairs[i].(string), pairs[i+1])
	}
	return pk
}

// putRow writes a row with IGNORE and the given name/value pairs as columns.
func putRow(t *testing.T, client *tablestore.TableStoreClient, table string, pk *tablestore.PrimaryKey, columns ...any) {
	t.Helper()
	change := &tablestore.PutRowChange{TableName: table, PrimaryKey: pk}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	for i := 0; i < len(columns); i += 2 {
		change.AddColumn(columns[i].(string), columns[i+1])
	}
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)
}

// getRow reads the latest version of every column of a row.
func getRow(t *testing.T, client *tablestore.TableStoreClient, table string, pk *tablestore.PrimaryKey) *tablestore.GetRowResponse {
	t.Helper()
	resp, err := client.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: table, PrimaryKey: pk, MaxVersion: 1,
	}})
	require.NoError(t, err)
	return resp
}

// columnValues maps a response's columns to their values (the latest version of each).
func columnValues(columns []*tablestore.AttributeColumn) map[string]any {
	values := map[string]any{}
	for _, c := range columns {
		if _, seen := values[c.ColumnName]; !seen {
			values[c.ColumnName] = c.Value
		}
	}
	return values
}

// requireOTSError checks that err is the service error with this status, code and message.
func requireOTSError(t *testing.T, err error, status int, code, message string) {
	t.Helper()
	var oe *tablestore.OtsError
	require.True(t, errors.As(err, &oe), "want *tablestore.OtsError, got %v", err)
	require.Equal(t, status, oe.HttpStatusCode)
	require.Equal(t, code, oe.Code)
	require.Equal(t, message, oe.Message)
}

// post sends a raw request, as an SDK would without its client-side checks, and returns
// the status, the headers and the body.
func post(t *testing.T, srv *otslocal.Server, action string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	return postTo(t, srv, "", action, body)
}

// postTo is post with the request addressed to host (its Host header), as a web page sends
// it after a DNS rebinding pointed host at this machine; "" is the server's address.
func postTo(t *testing.T, srv *otslocal.Server, host, action string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.Endpoint+"/"+action, bytes.NewReader(body))
	require.NoError(t, err)
	if host != "" {
		req.Host = host
	}
	req.Header.Set("x-ots-accesskeyid", "ak")
	req.Header.Set("x-ots-instancename", otslocaltest.Instance)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, respBody
}

// postMessage sends a protobuf request and returns the status and the response body.
func postMessage(t *testing.T, srv *otslocal.Server, action string, msg proto.Message) (int, []byte) {
	t.Helper()
	body, err := proto.Marshal(msg)
	require.NoError(t, err)
	status, _, respBody := post(t, srv, action, body)
	return status, respBody
}

// requireErrorBody checks a raw error response: status and protobuf Error{code, message}.
func requireErrorBody(t *testing.T, status int, body []byte, wantStatus int, code, message string) {
	t.Helper()
	require.Equal(t, wantStatus, status)
	var e otsprotocol.Error
	require.NoError(t, proto.Unmarshal(body, &e))
	require.Equal(t, code, e.GetCode())
	require.Equal(t, message, e.GetMessage())
}

// putTwoLevelVersions writes row id=1 of table "t" with two versions of level: 1 at
// now-2000 and 9, the latest, at now-1000; it returns now, in ms.
func putTwoLevelVersions(t *testing.T, client *tablestore.TableStoreClient) int64 {
	t.Helper()
	now := time.Now().UnixMilli()
	change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
	change.AddColumnWithTimestamp("level", int64(1), now-2000)
	change.AddColumnWithTimestamp("level", int64(9), now-1000)
	_, err := client.PutRow(&tablestore.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)
	return now
}
