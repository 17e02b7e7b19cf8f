package tablestore

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/transform"
)

// plainName matches the names Tablestore allows for tables and primary key columns
// ([a-zA-Z_][a-zA-Z0-9_]*); such names need no quoting.
var plainName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FormatPrimaryKey formats a primary key for messages as `id=5, sub="a", bin=0x0a0b`:
// columns in the given order, values as [events.Value.String] writes them. A column name
// that is not a plain identifier is quoted, so that distinct keys never format alike.
func FormatPrimaryKey(pk []events.PrimaryKeyColumn) string {
	var b strings.Builder
	for i, col := range pk {
		if i > 0 {
			b.WriteString(", ")
		}
		if plainName.MatchString(col.ColumnName) {
			b.WriteString(col.ColumnName)
		} else {
			b.WriteString(strconv.Quote(col.ColumnName))
		}
		b.WriteByte('=')
		b.WriteString(col.Value.String())
	}
	return b.String()
}

// toSDKPrimaryKey converts a primary key into the SDK's form. Only INTEGER, STRING and
// BINARY values are allowed: the SDK panics on other types (util.go NewPrimaryKeyColumn).
func toSDKPrimaryKey(pk []events.PrimaryKeyColumn) (*sdk.PrimaryKey, error) {
	if len(pk) == 0 {
		return nil, errors.New("empty primary key")
	}
	out := new(sdk.PrimaryKey)
	for _, col := range pk {
		switch col.Value.Kind() {
		case events.KindInteger, events.KindString, events.KindBinary:
			out.AddPrimaryKeyColumn(col.ColumnName, col.Value.Any())
		default:
			return nil, fmt.Errorf("primary key column %q holds %s; only INTEGER, STRING and BINARY are allowed", col.ColumnName, col.Value.Kind())
		}
	}
	return out, nil
}

// fromSDKPrimaryKey converts a primary key the SDK decoded from a response.
func fromSDKPrimaryKey(pk *sdk.PrimaryKey) ([]events.PrimaryKeyColumn, error) {
	out := make([]events.PrimaryKeyColumn, 0, len(pk.PrimaryKeys))
	for _, col := range pk.PrimaryKeys {
		v, err := events.ValueOf(col.Value)
		if err != nil {
			return nil, fmt.Errorf("primary key column %q: %w", col.ColumnName, err)
		}
		out = append(out, events.PrimaryKeyColumn{ColumnName: col.ColumnName, Value: v})
	}
	return out, nil
}

// fromSDKColumns converts the attribute columns the SDK decoded from a read response
// (latest version only) into cells sorted by name.
func fromSDKColumns(cols []*sdk.AttributeColumn) ([]transform.Cell, error) {
	cells := make([]transform.Cell, 0, len(cols))
	for _, col := range cols {
		v, err := events.ValueOf(col.Value)
		if err != nil {
			return nil, fmt.Errorf("attribute column %q: %w", col.ColumnName, err)
		}
		cells = append(cells, transform.Cell{Name: col.ColumnName, Value: v})
	}
	slices.SortStableFunc(cells, func(a, b transform.Cell) int { return strings.Compare(a.Name, b.Name) })
	return cells, nil
}

// toSDKPrimaryKeyType maps a value kind to the primary key type of a table schema.
func toSDKPrimaryKeyType(k events.Kind) (sdk.PrimaryKeyType, error) {
	switch k {
	case events.KindInteger:
		return sdk.PrimaryKeyType_INTEGER, nil
	case events.KindString:
		return sdk.PrimaryKeyType_STRING, nil
	case events.KindBinary:
		return sdk.PrimaryKeyType_BINARY, nil
	}
	return 0, fmt.Errorf("primary key type %s; only INTEGER, STRING and BINARY are allowed", k)
}

// fromSDKPrimaryKeyType maps a table schema's primary key type to a value kind.
func fromSDKPrimaryKeyType(t sdk.PrimaryKeyType) (events.Kind, error) {
	switch t {
	case sdk.PrimaryKeyType_INTEGER:
		return events.KindInteger, nil
	case sdk.PrimaryKeyType_STRING:
		return events.KindString, nil
	case sdk.PrimaryKeyType_BINARY:
		return events.KindBinary, nil
	}
	return events.KindNone, fmt.Errorf("unknown primary key type %d", t)
}
