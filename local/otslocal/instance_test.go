package otslocal_test

import (
	"bytes"
	"fmt"
	"io"
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

func TestInstancesAreSeparateNamespaces(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	alpha := tablestore.NewClient(srv.Endpoint, "alpha", "ak", "sk")
	beta := tablestore.NewClient(srv.Endpoint, "beta", "other-ak", "other-sk")

	createStreamTable(t, alpha, "t", streamSpec(), idColumn)
	putRow(t, alpha, "t", key("id", int64(1)), "owner", "alpha")

	listed, err := beta.ListTable()
	require.NoError(t, err)
	assert.Empty(t, listed.TableNames, "beta sees none of alpha's tables")
	_, err = beta.DescribeTable(&tablestore.DescribeTableRequest{TableName: "t"})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")
	_, err = beta.GetRow(&tablestore.GetRowRequest{SingleRowQueryCriteria: &tablestore.SingleRowQueryCriteria{
		TableName: "t", PrimaryKey: key("id", int64(1)), MaxVersion: 1,
	}})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist.")

	createTable(t, beta, "t", 1, primaryKeyColumn{"name", tablestore.PrimaryKeyType_STRING})
	putRow(t, beta, "t", key("name", "one"), "owner", "beta")
	assert.Equal(t, map[string]any{"owner": "alpha"}, columnValues(getRow(t, alpha, "t", key("id", int64(1))).Columns),
		"a table of the same name in another instance is another table")
	assert.Equal(t, map[string]any{"owner": "beta"}, columnValues(getRow(t, beta, "t", key("name", "one")).Columns))
	_, err = alpha.DeleteTable(&tablestore.DeleteTableRequest{TableName: "t"})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"owner": "beta"}, columnValues(getRow(t, beta, "t", key("name", "one")).Columns),
		"deleting alpha's table leaves beta's")

	streams, err := beta.ListStream(&tablestore.ListStreamRequest{})
	require.NoError(t, err)
	assert.Empty(t, streams.Streams, "beta sees none of alpha's Streams")
	createStreamTable(t, alpha, "s", streamSpec(), idColumn)
	alphaStream, shards := openStream(t, alpha, "s")
	_, err = beta.DescribeStream(&tablestore.DescribeStreamRequest{StreamId: alphaStream})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested stream does not exist.")
	_, err = beta.GetShardIterator(&tablestore.GetShardIteratorRequest{StreamId: alphaStream, ShardId: shards[0]})
	requireOTSError(t, err, http.StatusNotFound, "OTSObjectNotExist", "Requested stream does not exist.")
	_, err = beta.GetStreamRecord(&tablestore.GetStreamRecordRequest{ShardIterator: oldestIterator(t, alpha, alphaStream, shards[0])})
	requireOTSError(t, err, http.StatusNotFound, "OTSTrimmedDataAccess", "Requested stream data is already trimmed or does not exist.")
}

func TestEveryInstanceHasItsOwnTableQuota(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	alpha := tablestore.NewClient(srv.Endpoint, "alpha", "ak", "sk")
	for i := range 64 {
		createTable(t, alpha, fmt.Sprintf("t%d", i), 1, idColumn)
	}
	_, err := alpha.CreateTable(streamTableRequest("one_too_many", nil, idColumn))
	requireOTSError(t, err, http.StatusForbidden, "OTSQuotaExhausted", "Number of tables exceeded the quota.")
	_, err = tablestore.NewClient(srv.Endpoint, "beta", "ak", "sk").CreateTable(streamTableRequest("one_too_many", nil, idColumn))
	require.NoError(t, err, "the 64 tables of one instance leave another's quota whole")
}

func TestARequestWithoutAnInstanceNameIsRefused(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "t"})
	body, err := proto.Marshal(&otsprotocol.DescribeTableRequest{TableName: proto.String("t")})
	require.NoError(t, err)
	resp, err := http.Post(srv.Endpoint+"/DescribeTable", "", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	requireErrorBody(t, resp.StatusCode, answer, http.StatusBadRequest, "OTSParameterInvalid", "Missing header: x-ots-instancename.")
}
