package otslocal_test

import (
	"crypto/md5"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
)

func TestServerAddressAndEndpoint(t *testing.T) {
	srv := startServer(t)
	host, port, err := net.SplitHostPort(srv.Addr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.NotEqual(t, "0", port)
	assert.Equal(t, "http://"+srv.Addr, srv.Endpoint)
}

func TestEveryResponseCarriesTheServiceHeaders(t *testing.T) {
	srv := startServer(t)
	for _, action := range []string{"ListTable", "Foo"} {
		t.Run(action, func(t *testing.T) {
			_, header, body := post(t, srv, action, nil)
			sum := md5.Sum(body)
			assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), header.Get("x-ots-contentmd5"))
			assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`), header.Get("x-ots-requestid"))
			_, err := time.Parse("2006-01-02T15:04:05.000000Z", header.Get("x-ots-date"))
			assert.NoError(t, err, "x-ots-date %q", header.Get("x-ots-date"))
			assert.Equal(t, "protocol buffer", header.Get("x-ots-contenttype"))
			assert.Regexp(t, regexp.MustCompile(`^OTS ak:[A-Za-z0-9+/]{27}=$`), header.Get("authorization"))
		})
	}
	_, first, _ := post(t, srv, "ListTable", nil)
	_, second, _ := post(t, srv, "ListTable", nil)
	assert.NotEqual(t, first.Get("x-ots-requestid"), second.Get("x-ots-requestid"))
}

func TestUnsupportedActions(t *testing.T) {
	client, srv := newClient(t)
	status, _, body := post(t, srv, "Foo", nil)
	requireErrorBody(t, status, body, http.StatusBadRequest, "OTSParameterInvalid", "Unsupported operation: Foo.")

	_, err := client.AddDefinedColumn(&tablestore.AddDefinedColumnRequest{TableName: "t"})
	requireOTSError(t, err, http.StatusBadRequest, "OTSParameterInvalid", "Unsupported operation: AddDefinedColumn.")
}

func TestOnlyPOSTIsAllowed(t *testing.T) {
	srv := startServer(t)
	resp, err := http.Get(srv.Endpoint + "/ListTable")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	requireErrorBody(t, resp.StatusCode, body, http.StatusMethodNotAllowed, "OTSMethodNotAllowed",
		"Only POST method for requests is supported.")
}

func TestEndpointWithATrailingSlashWorks(t *testing.T) {
	srv := startServer(t)
	client := tablestore.NewClient(srv.Endpoint+"/", "inst", "ak", "sk") // requests go to "//ListTable"
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	listed, err := client.ListTable()
	require.NoError(t, err)
	assert.Equal(t, []string{"t"}, listed.TableNames)
}

func TestGarbageBodyIsRefusedAndTheServerKeepsServing(t *testing.T) {
	client, srv := newClient(t)
	for _, body := range [][]byte{{0xff, 0xff, 0xff}, []byte("not protobuf at all"), nil} {
		status, _, respBody := post(t, srv, "PutRow", body)
		requireErrorBody(t, status, respBody, http.StatusBadRequest, "OTSParameterInvalid", "Parse PBMessage from RawString failed.")
	}
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	putRow(t, client, "t", key("id", int64(1)), "v", "still serving")
	assert.Equal(t, map[string]any{"v": "still serving"}, columnValues(getRow(t, client, "t", key("id", int64(1))).Columns))
}

// A request row encoded by the SDK with one checksum byte flipped is refused.
func TestCorruptedChecksumsAreRefused(t *testing.T) {
	client, srv := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	change := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key("id", int64(1))}
	change.AddColumn("v", "x")
	row := change.Serialize() // … 0x0A cellCRC 0x09 rowCRC

	tests := []struct {
		name    string
		offset  int
		message string
	}{
		{"cell checksum", len(row) - 3, "Cell data broken, checksum is mismatch, "},
		{"row checksum", len(row) - 1, "Row data broken, checksum is mismatch, "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			corrupted := append([]byte(nil), row...)
			corrupted[tt.offset] ^= 0x01
			status, body := postMessage(t, srv, "PutRow", &otsprotocol.PutRowRequest{
				TableName: proto.String("t"),
				Row:       corrupted,
				Condition: &otsprotocol.Condition{RowExistence: otsprotocol.RowExistenceExpectation_IGNORE.Enum()},
			})
			require.Equal(t, http.StatusBadRequest, status)
			var e otsprotocol.Error
			require.NoError(t, proto.Unmarshal(body, &e))
			assert.Equal(t, "OTSParameterInvalid", e.GetCode())
			assert.True(t, strings.HasPrefix(e.GetMessage(), tt.message), e.GetMessage())
		})
	}
	assert.Empty(t, getRow(t, client, "t", key("id", int64(1))).PrimaryKey.PrimaryKeys, "nothing was written")
}

func TestRequestBodyLimit(t *testing.T) {
	srv := startServer(t)
	status, _, body := post(t, srv, "PutRow", make([]byte, 5<<20+1))
	requireErrorBody(t, status, body, http.StatusRequestEntityTooLarge, "OTSRequestBodyTooLarge", "The size of POST data is too large.")
}

func TestCloseStopsTheServerAndIsIdempotent(t *testing.T) {
	srv, err := otslocal.NewServer("127.0.0.1:0", otslocal.Options{})
	require.NoError(t, err)
	client := tablestore.NewClientWithConfig(srv.Endpoint, "inst", "ak", "sk", "", &tablestore.TableStoreConfig{
		RetryTimes: 1, MaxRetryTime: time.Millisecond, HTTPTimeout: tablestore.HTTPTimeout{ConnectionTimeout: time.Second, RequestTimeout: time.Second},
		MaxIdleConnections: 1,
	})
	_, err = client.ListTable()
	require.NoError(t, err)

	srv.Close()
	srv.Close()
	_, err = net.Dial("tcp", srv.Addr)
	assert.Error(t, err, "nothing listens after Close")
	_, err = client.ListTable()
	assert.Error(t, err)
}

func TestNewServerReportsAnAddressInUse(t *testing.T) {
	srv := startServer(t)
	_, err := otslocal.NewServer(srv.Addr, otslocal.Options{})
	assert.Error(t, err)
}
