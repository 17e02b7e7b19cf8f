package otslocal_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rangeKey is a (region STRING, id INTEGER, tag BINARY) primary key.
type rangeKey struct {
	region string
	id     int64
	tag    []byte
}

func (k rangeKey) primaryKey() *tablestore.PrimaryKey {
	return key("region", k.region, "id", k.id, "tag", k.tag)
}

func (k rangeKey) String() string { return fmt.Sprintf("%s/%d/%x", k.region, k.id, k.tag) }

// sortedRangeKeys are in Tablestore primary key order: STRING and BINARY byte-wise,
// INTEGER signed.
var sortedRangeKeys = []rangeKey{
	{"a", -9, []byte{}},
	{"a", -1, []byte{0x00}},
	{"a", -1, []byte{0x00, 0x00}},
	{"a", -1, []byte{0x01}},
	{"a", -1, []byte{0xff}},
	{"a", 0, []byte("x")},
	{"a", 7, []byte("x")},
	{"aa", -100, []byte("x")},
	{"b", 1, []byte("x")},
	{"é", 1, []byte("x")},
}

// newRangeTable starts a server holding sortedRangeKeys in table "r", inserted out of order.
func newRangeTable(t *testing.T) *tablestore.TableStoreClient {
	client, _ := newClient(t)
	createTable(t, client, "r", 1,
		primaryKeyColumn{"region", tablestore.PrimaryKeyType_STRING},
		primaryKeyColumn{"id", tablestore.PrimaryKeyType_INTEGER},
		primaryKeyColumn{"tag", tablestore.PrimaryKeyType_BINARY})
	for _, i := range []int{5, 2, 9, 0, 7, 3, 8, 1, 6, 4} {
		putRow(t, client, "r", sortedRangeKeys[i].primaryKey(), "k", sortedRangeKeys[i].String())
	}
	return client
}

func infKey(bound tablestore.PrimaryKeyOption) *tablestore.PrimaryKey {
	pk := &tablestore.PrimaryKey{}
	for _, name := range []string{"region", "id", "tag"} {
		if bound == tablestore.MIN {
			pk.AddPrimaryKeyColumnWithMinValue(name)
		} else {
			pk.AddPrimaryKeyColumnWithMaxValue(name)
		}
	}
	return pk
}

// scan reads a whole range page by page and returns the rows' "k" values and the
// number of pages.
func scan(t *testing.T, client *tablestore.TableStoreClient, criteria tablestore.RangeRowQueryCriteria) ([]string, int) {
	t.Helper()
	criteria.TableName, criteria.MaxVersion = "r", 1
	var got []string
	pages := 0
	for {
		resp, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &criteria})
		require.NoError(t, err)
		pages++
		for _, r := range resp.Rows {
			got = append(got, columnValues(r.Columns)["k"].(string))
			require.Len(t, r.PrimaryKey.PrimaryKeys, 3)
		}
		if resp.NextStartPrimaryKey == nil {
			return got, pages
		}
		criteria.StartPrimaryKey = resp.NextStartPrimaryKey
	}
}

func names(keys []rangeKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

func reversed(keys []rangeKey) []rangeKey {
	out := make([]rangeKey, len(keys))
	for i, k := range keys {
		out[len(keys)-1-i] = k
	}
	return out
}

func TestGetRangeOrdersRowsByPrimaryKey(t *testing.T) {
	client := newRangeTable(t)

	got, pages := scan(t, client, tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: infKey(tablestore.MIN), EndPrimaryKey: infKey(tablestore.MAX), Direction: tablestore.FORWARD,
	})
	assert.Equal(t, names(sortedRangeKeys), got)
	assert.Equal(t, 1, pages)

	got, _ = scan(t, client, tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: infKey(tablestore.MAX), EndPrimaryKey: infKey(tablestore.MIN), Direction: tablestore.BACKWARD,
	})
	assert.Equal(t, names(reversed(sortedRangeKeys)), got)
}

func TestGetRangeBoundsAreInclusiveStartExclusiveEnd(t *testing.T) {
	client := newRangeTable(t)
	got, _ := scan(t, client, tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: sortedRangeKeys[1].primaryKey(), EndPrimaryKey: sortedRangeKeys[6].primaryKey(), Direction: tablestore.FORWARD,
	})
	assert.Equal(t, names(sortedRangeKeys[1:6]), got)

	got, _ = scan(t, client, tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: sortedRangeKeys[6].primaryKey(), EndPrimaryKey: sortedRangeKeys[1].primaryKey(), Direction: tablestore.BACKWARD,
	})
	assert.Equal(t, names(reversed(sortedRangeKeys[2:7])), got)

	// INF_MIN / INF_MAX in trailing columns bound a prefix: every row of region "a".
	start, end := &tablestore.PrimaryKey{}, &tablestore.PrimaryKey{}
	start.AddPrimaryKeyColumn("region", "a")
	start.AddPrimaryKeyColumnWithMinValue("id")
	start.AddPrimaryKeyColumnWithMinValue("tag")
	end.AddPrimaryKeyColumn("region", "a")
	end.AddPrimaryKeyColumnWithMaxValue("id")
	end.AddPrimaryKeyColumnWithMaxValue("tag")
	got, _ = scan(t, client, tablestore.RangeRowQueryCriteria{StartPrimaryKey: start, EndPrimaryKey: end, Direction: tablestore.FORWARD})
	assert.Equal(t, names(sortedRangeKeys[:7]), got)

	got, _ = scan(t, client, tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: key("region", "c", "id", int64(0), "tag", []byte{}),
		EndPrimaryKey:   key("region", "d", "id", int64(0), "tag", []byte{}),
		Direction:       tablestore.FORWARD,
	})
	assert.Empty(t, got, "an empty range has no rows and no next key")
}

func TestGetRangePagesWithLimitAndNextStartPrimaryKey(t *testing.T) {
	client := newRangeTable(t)
	for _, limit := range []int32{1, 3, 10, 11} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			got, pages := scan(t, client, tablestore.RangeRowQueryCriteria{
				StartPrimaryKey: infKey(tablestore.MIN), EndPrimaryKey: infKey(tablestore.MAX), Direction: tablestore.FORWARD, Limit: limit,
			})
			assert.Equal(t, names(sortedRangeKeys), got)
			assert.Equal(t, (len(sortedRangeKeys)+int(limit)-1)/int(limit), pages)

			got, _ = scan(t, client, tablestore.RangeRowQueryCriteria{
				StartPrimaryKey: infKey(tablestore.MAX), EndPrimaryKey: infKey(tablestore.MIN), Direction: tablestore.BACKWARD, Limit: limit,
			})
			assert.Equal(t, names(reversed(sortedRangeKeys)), got)
		})
	}

	resp, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
		TableName: "r", MaxVersion: 1, Limit: 2,
		StartPrimaryKey: infKey(tablestore.MIN), EndPrimaryKey: infKey(tablestore.MAX), Direction: tablestore.FORWARD,
	}})
	require.NoError(t, err)
	require.NotNil(t, resp.NextStartPrimaryKey)
	assert.Equal(t, []*tablestore.PrimaryKeyColumn{
		{ColumnName: "region", Value: "a"}, {ColumnName: "id", Value: int64(-1)}, {ColumnName: "tag", Value: []byte{0x00, 0x00}},
	}, resp.NextStartPrimaryKey.PrimaryKeys, "the next key is the full key of the first row not returned")
}

func TestGetRangeSkipsRowsWithoutSelectedColumns(t *testing.T) {
	client := newRangeTable(t)
	putRow(t, client, "r", sortedRangeKeys[3].primaryKey(), "k", sortedRangeKeys[3].String(), "only_here", int64(1))
	resp, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
		TableName: "r", MaxVersion: 1, ColumnsToGet: []string{"only_here"},
		StartPrimaryKey: infKey(tablestore.MIN), EndPrimaryKey: infKey(tablestore.MAX), Direction: tablestore.FORWARD,
	}})
	require.NoError(t, err)
	require.Len(t, resp.Rows, 1)
	assert.Equal(t, map[string]any{"only_here": int64(1)}, columnValues(resp.Rows[0].Columns))
	assert.Equal(t, sortedRangeKeys[3].tag, resp.Rows[0].PrimaryKey.PrimaryKeys[2].Value)
}

func TestGetRangeReturnsOnlyTheNamedPrimaryKeyColumns(t *testing.T) {
	client := newRangeTable(t)
	resp, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &tablestore.RangeRowQueryCriteria{
		TableName: "r", MaxVersion: 1, ColumnsToGet: []string{"id", "k"}, ReturnSpecifiedPkOnly: true, Limit: 1,
		StartPrimaryKey: infKey(tablestore.MIN), EndPrimaryKey: infKey(tablestore.MAX), Direction: tablestore.FORWARD,
	}})
	require.NoError(t, err)
	require.Len(t, resp.Rows, 1)
	assert.Equal(t, []*tablestore.PrimaryKeyColumn{{ColumnName: "id", Value: int64(-9)}}, resp.Rows[0].PrimaryKey.PrimaryKeys)
	assert.Equal(t, map[string]any{"k": sortedRangeKeys[0].String()}, columnValues(resp.Rows[0].Columns))
	assert.Len(t, resp.NextStartPrimaryKey.PrimaryKeys, 3, "the next start key is always complete")
}

func TestGetRangeRequestErrors(t *testing.T) {
	client := newRangeTable(t)
	get := func(criteria tablestore.RangeRowQueryCriteria) error {
		criteria.TableName, criteria.MaxVersion = "r", 1
		_, err := client.GetRange(&tablestore.GetRangeRequest{RangeRowQueryCriteria: &criteria})
		return err
	}
	requireOTSError(t, get(tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: infKey(tablestore.MAX), EndPrimaryKey: infKey(tablestore.MIN), Direction: tablestore.FORWARD,
	}), http.StatusBadRequest, "OTSParameterInvalid", "Begin key must less than end key in FORWARD")
	requireOTSError(t, get(tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: sortedRangeKeys[0].primaryKey(), EndPrimaryKey: sortedRangeKeys[0].primaryKey(), Direction: tablestore.BACKWARD,
	}), http.StatusBadRequest, "OTSParameterInvalid", "Begin key must more than end key in BACKWARD")
	requireOTSError(t, get(tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: key("region", "a"), EndPrimaryKey: infKey(tablestore.MAX), Direction: tablestore.FORWARD,
	}), http.StatusBadRequest, "OTSInvalidPK", "Validate PK size fail. Input: 1, Meta: 3.")
	requireOTSError(t, get(tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: infKey(tablestore.MIN), EndPrimaryKey: infKey(tablestore.MAX), Direction: tablestore.FORWARD, Limit: -1,
	}), http.StatusBadRequest, "OTSParameterInvalid", "The limit must be greater than 0.")
	requireOTSError(t, get(tablestore.RangeRowQueryCriteria{
		StartPrimaryKey: infKey(tablestore.MIN), EndPrimaryKey: infKey(tablestore.MAX), Direction: tablestore.FORWARD,
		TransactionId: new(string),
	}), http.StatusBadRequest, "OTSParameterInvalid", "Unsupported operation: transaction_id.")
}
