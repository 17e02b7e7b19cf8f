package otslocal_test

import (
	"strings"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRefusalsCarryTheWordsTheGoSDKsTestsCheck runs what the Go SDK's own tests
// (aliyun-tablestore-go-sdk v1.7.17) ask of the service's refusals, through the SDK:
// tablestore/api_test.go TestUpdateAndDescribeTable, whose UpdateTable with updateFullRow
// set, true or false, must fail with "contain updateFullRow" in its error; the DeleteTable
// helper of tablestore/search_api_test.go, which takes an error containing "does not
// exist" for a table already gone; and timeline/writer/writer_test.go, which takes
// "OTSObjectAlreadyExist" for a table created before.
func TestRefusalsCarryTheWordsTheGoSDKsTestsCheck(t *testing.T) {
	client, _ := newClient(t)
	const table = "sdktable"
	_, err := client.CreateTable(optionsTableRequest(table, tablestore.TableOption{TimeToAlive: -1, MaxVersion: 3}, nil))
	require.NoError(t, err)

	// TestUpdateAndDescribeTable's first step: options and a Stream, then described.
	update := &tablestore.UpdateTableRequest{TableName: table,
		TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 5},
		StreamSpec:  &tablestore.StreamSpecification{EnableStream: true, ExpirationTime: 168, OriginColumnsToGet: []string{"col1", "col2"}},
	}
	updated, err := client.UpdateTable(update)
	require.NoError(t, err)
	assert.Equal(t, 5, updated.TableOption.MaxVersion)
	assert.True(t, updated.StreamDetails.EnableStream)
	assert.Equal(t, int32(168), updated.StreamDetails.ExpirationTime)
	described, err := client.DescribeTable(&tablestore.DescribeTableRequest{TableName: table})
	require.NoError(t, err)
	assert.Equal(t, []string{"col1", "col2"}, described.StreamDetails.OriginColumnsToGet)

	// Its second step: updateFullRow is refused either way.
	for _, fullRow := range []bool{true, false} {
		_, err := client.UpdateTable(&tablestore.UpdateTableRequest{TableName: table,
			TableOption: &tablestore.TableOption{TimeToAlive: -1, MaxVersion: 5, UpdateFullRow: proto.Bool(fullRow)}})
		require.Error(t, err, "updateFullRow %v", fullRow)
		assert.True(t, strings.Contains(err.Error(), "contain updateFullRow"), "updateFullRow %v: %v", fullRow, err)
	}

	_, err = client.CreateTable(optionsTableRequest(table, tablestore.TableOption{TimeToAlive: -1, MaxVersion: 3}, nil))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "OTSObjectAlreadyExist")

	_, err = client.DeleteTable(&tablestore.DeleteTableRequest{TableName: table})
	require.NoError(t, err)
	_, err = client.DeleteTable(&tablestore.DeleteTableRequest{TableName: table})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not exist")
}
