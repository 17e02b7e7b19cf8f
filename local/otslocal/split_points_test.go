package otslocal_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mebibyte is the smallest split_size_unit_in_byte the service accepts.
const mebibyte = int64(1 << 20)

// computeSplits asks for splits of size units of unit bytes, with an optional limit.
func computeSplits(t *testing.T, client *tablestore.TableStoreClient, table string, size, unit int64, limit *int32) *tablestore.ComputeSplitPointsBySizeResponse {
	t.Helper()
	resp, err := client.ComputeSplitPointsBySize(&tablestore.ComputeSplitPointsBySizeRequest{
		TableName: table, SplitSize: size, SplitSizeUnitInByte: &unit, SplitPointLimit: limit,
	})
	require.NoError(t, err)
	return resp
}

// rowsIn reads the primary keys of the rows between a split's bounds with GetRange, page
// by page.
func rowsIn(t *testing.T, client *tablestore.TableStoreClient, table string, split *tablestore.Split) []*tablestore.PrimaryKey {
	t.Helper()
	var keys []*tablestore.PrimaryKey
	start := split.LowerBound
	for start != nil {
		resp, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
			TableName: table, StartPrimaryKey: start, EndPrimaryKey: split.UpperBound, MaxVersion: 1, Direction: tablestore.FORWARD,
		}})
		require.NoError(t, err)
		for _, row := range resp.Rows {
			keys = append(keys, row.PrimaryKey)
		}
		start = resp.NextStartPrimaryKey
	}
	return keys
}

// writeRows writes rows id 0..n-1 of table with a value of valueBytes bytes in column v,
// 200 rows a BatchWriteRow.
func writeRows(t *testing.T, client *tablestore.TableStoreClient, table string, n, valueBytes int, pk func(i int) *tablestore.PrimaryKey) {
	t.Helper()
	value := strings.Repeat("x", valueBytes)
	req := &tablestore.BatchWriteRowRequest{}
	for i := range n {
		change := &tablestore.PutRowChange{TableName: table, PrimaryKey: pk(i)}
		change.AddColumn("v", value)
		change.SetCondition(tablestore.RowExistenceExpectation_IGNORE)
		req.AddRowChange(change)
		if len(req.RowChangesGroupByTable[table]) == 200 || i == n-1 {
			_, err := client.BatchWriteRow(req)
			require.NoError(t, err)
			req = &tablestore.BatchWriteRowRequest{}
		}
	}
}

// requireContiguous checks that the splits cover the key space from INF_MIN to INF_MAX,
// each starting where the one before ends, each with a location hint.
func requireContiguous(t *testing.T, splits []*tablestore.Split, columns ...string) {
	t.Helper()
	require.NotEmpty(t, splits)
	first, last := &tablestore.PrimaryKey{}, &tablestore.PrimaryKey{}
	for _, name := range columns {
		first.AddPrimaryKeyColumnWithMinValue(name)
		last.AddPrimaryKeyColumnWithMaxValue(name)
	}
	assert.Equal(t, first, splits[0].LowerBound)
	assert.Equal(t, last, splits[len(splits)-1].UpperBound)
	for i, split := range splits {
		assert.Len(t, split.Location, 32, "split %d's location", i)
		if i > 0 {
			assert.Equal(t, splits[i-1].UpperBound, split.LowerBound, "split %d starts where split %d ends", i, i-1)
		}
	}
}

func TestComputeSplitPointsBySizeOfAnEmptyTable(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	resp, err := client.ComputeSplitPointsBySize(&tablestore.ComputeSplitPointsBySizeRequest{TableName: "t", SplitSize: 1})
	require.NoError(t, err)
	require.Len(t, resp.Splits, 1)
	requireContiguous(t, resp.Splits, "id")
}

// TestComputeSplitPointsBySizeCutsBySize writes 300 rows of about 10 kB (id 8 bytes, the
// name "v", 10,000 bytes of value and an 8-byte timestamp: 10,017 bytes) and asks for splits
// of 1 MiB: a split ends once it holds 1,048,576 bytes, after 105 rows.
func TestComputeSplitPointsBySizeCutsBySize(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	writeRows(t, client, "t", 300, 10_000, func(i int) *tablestore.PrimaryKey { return key("id", int64(i)) })

	resp := computeSplits(t, client, "t", 1, mebibyte, nil)
	require.Len(t, resp.Splits, 3)
	requireContiguous(t, resp.Splits, "id")
	assert.Equal(t, key("id", int64(105)), resp.Splits[0].UpperBound)
	assert.Equal(t, key("id", int64(210)), resp.Splits[1].UpperBound)
	var counts []int
	for _, split := range resp.Splits {
		counts = append(counts, len(rowsIn(t, client, "t", split)))
	}
	assert.Equal(t, []int{105, 105, 90}, counts, "rows per split")

	// A size as large as the table gives one split; split_point_limit bounds the points.
	assert.Len(t, computeSplits(t, client, "t", 3, mebibyte, nil).Splits, 1)
	limit := int32(1)
	limited := computeSplits(t, client, "t", 1, mebibyte, &limit)
	require.Len(t, limited.Splits, 2)
	requireContiguous(t, limited.Splits, "id")
	assert.Equal(t, key("id", int64(210)), limited.Splits[0].UpperBound, "one of the two points, chosen evenly")
}

// TestComputeSplitPointsBySizeKeepsPartitionsWhole gives a (region STRING, id INTEGER)
// table 4 regions of 60 rows of 10 kB (600 kB each): a split never divides a region, so
// 1 MiB splits end after two regions, at a point that names the region alone (the other
// column INF_MIN, as the SDK fills it).
func TestComputeSplitPointsBySizeKeepsPartitionsWhole(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 1,
		primaryKeyColumn{"region", tablestore.PrimaryKeyType_STRING}, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	regions := []string{"east", "north", "south", "west"}
	writeRows(t, client, "t", 240, 10_000, func(i int) *tablestore.PrimaryKey {
		return key("region", regions[i/60], "id", int64(i%60))
	})

	resp := computeSplits(t, client, "t", 1, mebibyte, nil)
	require.Len(t, resp.Splits, 2)
	requireContiguous(t, resp.Splits, "region", "id")
	point := &tablestore.PrimaryKey{}
	point.AddPrimaryKeyColumn("region", "south")
	point.AddPrimaryKeyColumnWithMinValue("id")
	assert.Equal(t, point, resp.Splits[0].UpperBound)
	assert.Len(t, rowsIn(t, client, "t", resp.Splits[0]), 120)
	assert.Len(t, rowsIn(t, client, "t", resp.Splits[1]), 120)
}

func TestComputeSplitPointsBySizeRefusesBadParameters(t *testing.T) {
	client, _ := newClient(t)
	createTable(t, client, "t", 1, primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER})
	small, zero := int64(1000), int32(0)
	for _, tc := range []struct {
		name    string
		req     tablestore.ComputeSplitPointsBySizeRequest
		status  int
		code    string
		message string
	}{
		{"zero split size", tablestore.ComputeSplitPointsBySizeRequest{TableName: "t", SplitSize: 0},
			http.StatusBadRequest, "OTSParameterInvalid", "The split_size should be greater than 0."},
		{"unit below 1 MiB", tablestore.ComputeSplitPointsBySizeRequest{TableName: "t", SplitSize: 1, SplitSizeUnitInByte: &small},
			http.StatusBadRequest, "OTSParameterInvalid", "The split_size_unit_in_byte should be greater equal than: 1048576"},
		{"zero limit", tablestore.ComputeSplitPointsBySizeRequest{TableName: "t", SplitSize: 1, SplitPointLimit: &zero},
			http.StatusBadRequest, "OTSParameterInvalid", "The split_point_limit should be greater than 0."},
		{"missing table", tablestore.ComputeSplitPointsBySizeRequest{TableName: "nope", SplitSize: 1},
			http.StatusNotFound, "OTSObjectNotExist", "Requested table does not exist."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.ComputeSplitPointsBySize(&tc.req)
			requireOTSError(t, err, tc.status, tc.code, tc.message)
		})
	}
}
