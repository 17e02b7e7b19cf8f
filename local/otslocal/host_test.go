package otslocal_test

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// hostRefusal is the message a request addressed to host is refused with.
func hostRefusal(host string) string {
	return `Host "` + host + `" is not a loopback name: otslocal on a loopback address serves requests to 127.0.0.1, [::1] and localhost only ` +
		`(a web page could reach it through DNS rebinding otherwise); allow others with AllowAnyHost (otsetl otslocal --allow-any-host).`
}

// TestForeignHostIsRefusedOnLoopback: `curl -X POST -H 'Host: evil.example:8900' -H
// 'x-ots-instancename: otsetl-local' --data-binary @DeleteTableRequest .../DeleteTable`
// dropped the table. A server on loopback now serves loopback Host names only, and refuses
// others with a Tablestore error the SDK shows; AllowAnyHost serves them.
func TestForeignHostIsRefusedOnLoopback(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "source_data"})
	deleteTable, err := proto.Marshal(&otsprotocol.DeleteTableRequest{TableName: proto.String("source_data")})
	require.NoError(t, err)
	status, _, body := postTo(t, srv.Server, "evil.example:8900", "DeleteTable", deleteTable)
	requireErrorBody(t, status, body, http.StatusForbidden, "OTSAuthFailed", hostRefusal("evil.example:8900"))
	_, err = srv.SDK.DescribeTable(&tablestore.DescribeTableRequest{TableName: "source_data"})
	require.NoError(t, err, "the table is still there")

	// The SDK, sent to the server under another name, shows the refusal.
	_, port, err := net.SplitHostPort(srv.Addr)
	require.NoError(t, err)
	config := tablestore.NewDefaultTableStoreConfig()
	config.RetryTimes = 0
	config.Transport = &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Addr)
	}}
	renamed := tablestore.NewClientWithConfig("http://otslocal.example:"+port, otslocaltest.Instance, "ak", "sk", "", config)
	_, err = renamed.ListTable()
	requireOTSError(t, err, http.StatusForbidden, "OTSAuthFailed", hostRefusal("otslocal.example:"+port))

	for _, host := range []string{"127.0.0.1:" + port, "localhost:" + port, "LocalHost", "127.1.2.3:" + port} {
		status, _, body := postTo(t, srv.Server, host, "ListTable", nil)
		assert.Equal(t, http.StatusOK, status, "%s: %q", host, body)
	}

	open := otslocaltest.NewServer(t, otslocal.Options{AllowAnyHost: true}, otslocaltest.Table{Name: "source_data"})
	status, _, body = postTo(t, open.Server, "evil.example:8900", "DeleteTable", deleteTable)
	assert.Equal(t, http.StatusOK, status, "AllowAnyHost serves any Host: %q", body)
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.0.0.1:8900": true, "127.9.9.9:1": true, "[::1]:8900": true, "::1": true,
		"localhost": true, "LOCALHOST:8900": true,
		"evil.example:8900": false, "localhost.evil.example": false, "10.0.0.1:8900": false, "[::2]:1": false,
		"0.0.0.0:8900": false, "": false,
	} {
		assert.Equal(t, want, otslocal.LoopbackHost(host), host)
	}
}
