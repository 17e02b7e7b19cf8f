package tablestore

import (
	"errors"
	"fmt"
	"slices"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/ots"
)

// toSDKPrimaryKey converts a primary key into the SDK's form. Only INTEGER, STRING and
// BINARY values are allowed: the SDK panics on other types (util.go NewPrimaryKeyColumn).
func toSDKPrimaryKey(pk []ots.PrimaryKeyColumn) (*sdk.PrimaryKey, error) {
	if len(pk) == 0 {
		return nil, errors.New("empty primary key")
	}
	out := new(sdk.PrimaryKey)
	for _, col := range pk {
		switch col.Value.Kind() {
		case ots.KindInteger, ots.KindString, ots.KindBinary:
			out.AddPrimaryKeyColumn(col.ColumnName, col.Value.Any())
		default:
			return nil, fmt.Errorf("primary key column %q holds %s; only INTEGER, STRING and BINARY are allowed", col.ColumnName, col.Value.Kind())
		}
	}
	return out, nil
}

// fromSDKPrimaryKey converts a primary key the SDK decoded from a response.
func fromSDKPrimaryKey(pk *sdk.PrimaryKey) ([]ots.PrimaryKeyColumn, error) {
	out := make([]ots.PrimaryKeyColumn, 0, len(pk.PrimaryKeys))
	for _, col := range pk.PrimaryKeys {
		v, err := ots.ValueOf(col.Value)
		if err != nil {
			return nil, fmt.Errorf("primary key column %q: %w", col.ColumnName, err)
		}
		out = append(out, ots.PrimaryKeyColumn{ColumnName: col.ColumnName, Value: v})
	}
	return out, nil
}

// fromSDKColumns converts the attribute columns the SDK decoded from a read response
// (latest version only) into cells sorted by name.
func fromSDKColumns(cols []*sdk.AttributeColumn) ([]ots.Cell, error) {
	cells := make([]ots.Cell, 0, len(cols))
	for _, col := range cols {
		v, err := ots.ValueOf(col.Value)
		if err != nil {
			return nil, fmt.Errorf("attribute column %q: %w", col.ColumnName, err)
		}
		cells = append(cells, ots.Cell{Name: col.ColumnName, Value: v})
	}
	slices.SortStableFunc(cells, ots.CompareCellNames)
	return cells, nil
}

// toSDKPrimaryKeyType maps a value kind to the primary key type of a table schema.
func toSDKPrimaryKeyType(k ots.Kind) (sdk.PrimaryKeyType, error) {
	switch k {
	case ots.KindInteger:
		return sdk.PrimaryKeyType_INTEGER, nil
	case ots.KindString:
		return sdk.PrimaryKeyType_STRING, nil
	case ots.KindBinary:
		return sdk.PrimaryKeyType_BINARY, nil
	}
	return 0, fmt.Errorf("primary key type %s; only INTEGER, STRING and BINARY are allowed", k)
}

// fromSDKPrimaryKeyType maps a table schema's primary key type to a value kind.
func fromSDKPrimaryKeyType(t sdk.PrimaryKeyType) (ots.Kind, error) {
	switch t {
	case sdk.PrimaryKeyType_INTEGER:
		return ots.KindInteger, nil
	case sdk.PrimaryKeyType_STRING:
		return ots.KindString, nil
	case sdk.PrimaryKeyType_BINARY:
		return ots.KindBinary, nil
	}
	return ots.KindNone, fmt.Errorf("unknown primary key type %d", t)
}
