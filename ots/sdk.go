package ots

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
)

// This file converts between the value model and the types of the official Tablestore Go SDK
// (github.com/aliyun/aliyun-tablestore-go-sdk/tablestore), which holds values as int64,
// float64, bool, string and []byte in `any` ([ValueOf], [Value.Any]).

// SDKPrimaryKey converts a primary key into the SDK's form. Only INTEGER, STRING and BINARY
// values are allowed, and at least one column: the SDK panics on other types (util.go
// NewPrimaryKeyColumn).
func SDKPrimaryKey(pk []PrimaryKeyColumn) (*sdk.PrimaryKey, error) {
	if len(pk) == 0 {
		return nil, errors.New("empty primary key")
	}
	out := new(sdk.PrimaryKey)
	for _, col := range pk {
		if !col.Value.Kind().IsPrimaryKeyKind() {
			return nil, fmt.Errorf("primary key column %q holds %s; only INTEGER, STRING and BINARY are allowed", col.ColumnName, col.Value.Kind())
		}
		out.AddPrimaryKeyColumn(col.ColumnName, col.Value.Any())
	}
	return out, nil
}

// PrimaryKeyFromSDK converts a primary key the SDK decoded from a response. A value of a
// type the value model lacks (INF_MIN, INF_MAX, AUTO_INCREMENT placeholders) is an error.
func PrimaryKeyFromSDK(pk *sdk.PrimaryKey) ([]PrimaryKeyColumn, error) {
	out := make([]PrimaryKeyColumn, 0, len(pk.PrimaryKeys))
	for _, col := range pk.PrimaryKeys {
		v, err := ValueOf(col.Value)
		if err != nil {
			return nil, fmt.Errorf("primary key column %q: %w", col.ColumnName, err)
		}
		out = append(out, PrimaryKeyColumn{ColumnName: col.ColumnName, Value: v})
	}
	return out, nil
}

// CellsFromSDK converts the attribute columns the SDK decoded from a read response into
// cells sorted by name. Where a column comes several times (several versions, newest first,
// as Tablestore lists them), the first one stays first.
func CellsFromSDK(cols []*sdk.AttributeColumn) ([]Cell, error) {
	sorted := sortedByName(cols)
	cells := make([]Cell, len(sorted))
	for i, col := range sorted {
		v, err := ValueOf(col.Value)
		if err != nil {
			return nil, fmt.Errorf("attribute column %q: %w", col.ColumnName, err)
		}
		cells[i] = Cell{Name: col.ColumnName, Value: v}
	}
	return cells, nil
}

// TimestampsFromSDK returns the timestamps (versions, in ms since the Unix epoch) of the
// attribute columns the SDK decoded from a read response, index-aligned with the cells
// [CellsFromSDK] returns for them.
func TimestampsFromSDK(cols []*sdk.AttributeColumn) []int64 {
	sorted := sortedByName(cols)
	timestamps := make([]int64, len(sorted))
	for i, col := range sorted {
		timestamps[i] = col.Timestamp
	}
	return timestamps
}

// sortedByName returns cols sorted by column name, byte-wise, keeping the order of a
// column's versions: cols itself when it is sorted already, as Tablestore lists a row's
// columns, and a sorted copy otherwise.
func sortedByName(cols []*sdk.AttributeColumn) []*sdk.AttributeColumn {
	byName := func(a, b *sdk.AttributeColumn) int { return strings.Compare(a.ColumnName, b.ColumnName) }
	if slices.IsSortedFunc(cols, byName) {
		return cols
	}
	return slices.SortedStableFunc(slices.Values(cols), byName)
}

// SDKPrimaryKeyType maps a value kind to the primary key type of a table schema: INTEGER,
// STRING or BINARY; any other kind is an error.
func SDKPrimaryKeyType(k Kind) (sdk.PrimaryKeyType, error) {
	switch k {
	case KindInteger:
		return sdk.PrimaryKeyType_INTEGER, nil
	case KindString:
		return sdk.PrimaryKeyType_STRING, nil
	case KindBinary:
		return sdk.PrimaryKeyType_BINARY, nil
	}
	return 0, fmt.Errorf("primary key type %s; only INTEGER, STRING and BINARY are allowed", k)
}

// KindOfSDKPrimaryKeyType maps a table schema's primary key type to a value kind.
func KindOfSDKPrimaryKeyType(t sdk.PrimaryKeyType) (Kind, error) {
	switch t {
	case sdk.PrimaryKeyType_INTEGER:
		return KindInteger, nil
	case sdk.PrimaryKeyType_STRING:
		return KindString, nil
	case sdk.PrimaryKeyType_BINARY:
		return KindBinary, nil
	}
	return KindNone, fmt.Errorf("unknown primary key type %d", t)
}

// ErrMalformedResponse is wrapped by the error of [CallSDK] when the SDK panicked on a
// response it could not decode.
var ErrMalformedResponse = errors.New("malformed response")

// CallSDK runs one Tablestore Go SDK call and turns a panic into an error wrapping
// [ErrMalformedResponse]. The SDK dereferences optional response fields without nil checks
// and asserts on missing required ones (tablestore/api.go: BatchWriteRow and BatchGetRow on
// a failed row's error message or an OK row's consumed capacity, DescribeStream,
// GetStreamRecord), so a malformed response would otherwise crash the process.
func CallSDK[T any](call func() (T, error)) (resp T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrMalformedResponse, r)
		}
	}()
	return call()
}
