package ots

import (
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCellsAndTimestampsFromSDKAreAligned(t *testing.T) {
	cols := []*sdk.AttributeColumn{
		{ColumnName: "level", Value: int64(3), Timestamp: 30},
		{ColumnName: "b", Value: "new", Timestamp: 20},
		{ColumnName: "b", Value: "old", Timestamp: 10},
		{ColumnName: "a", Value: true, Timestamp: 5},
	}
	cells, err := CellsFromSDK(cols)
	require.NoError(t, err)
	assert.Equal(t, []Cell{
		{Name: "a", Value: Boolean(true)}, {Name: "b", Value: String("new")}, {Name: "b", Value: String("old")}, {Name: "level", Value: Integer(3)},
	}, cells, "sorted by name, a column's versions newest first")
	assert.Equal(t, []int64{5, 20, 10, 30}, TimestampsFromSDK(cols))

	_, err = CellsFromSDK([]*sdk.AttributeColumn{{ColumnName: "x", Value: int32(1)}})
	assert.ErrorContains(t, err, `attribute column "x": ots: unsupported value type int32`)
}
