package reconcile

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ots"
)

func TestCheckpointKeysReadBackAsWritten(t *testing.T) {
	key := []ots.PrimaryKeyColumn{
		{ColumnName: "n", Value: ots.Integer(-42)},
		{ColumnName: "s", Value: ots.String(" a key ")},
		{ColumnName: "b", Value: ots.Binary([]byte{0, 0xff})},
	}
	schema := []ots.PrimaryKeySchema{{Name: "n", Type: ots.KindInteger}, {Name: "s", Type: ots.KindString}, {Name: "b", Type: ots.KindBinary}}
	columns := keyColumnsOf(key)
	assert.Equal(t, []keyColumn{{"n", "INTEGER", "-42"}, {"s", "STRING", " a key "}, {"b", "BINARY", "00ff"}}, columns)
	back, err := keyOf(columns, schema)
	require.NoError(t, err)
	assert.Equal(t, 0, ots.ComparePrimaryKeys(key, back))

	for _, c := range []struct {
		column keyColumn
		want   string
	}{
		{keyColumn{"n", "integer", "1"}, `column "n": type "integer"; the table's primary key (n INTEGER) has INTEGER`},
		{keyColumn{"n", "DOUBLE", "1.5"}, `column "n": type "DOUBLE"; the table's primary key (n INTEGER) has INTEGER`},
		{keyColumn{"n", "STRING", "1"}, `column "n": type "STRING"; the table's primary key (n INTEGER) has INTEGER`},
		{keyColumn{"m", "INTEGER", "1"}, `key column 1 is "m"; the table's primary key (n INTEGER) has "n" there`},
		{keyColumn{"n", "INTEGER", "1.5"}, `"1.5" is not an INTEGER`},
		{keyColumn{"n", "INTEGER", "+42"}, `INTEGER "+42" is not written as a checkpoint writes it ("42")`},
	} {
		_, err := keyOf([]keyColumn{c.column}, schema[:1])
		assert.ErrorContains(t, err, c.want, "%+v", c.column)
	}
	_, err = keyOf([]keyColumn{{"b", "BINARY", "0xFF"}}, []ots.PrimaryKeySchema{{Name: "b", Type: ots.KindBinary}})
	assert.ErrorContains(t, err, `BINARY "0xFF" is not written as a checkpoint writes it ("ff")`)
	_, err = keyOf(append(columns, keyColumn{"x", "INTEGER", "1"}), schema)
	assert.ErrorContains(t, err, "4 key columns; the table's primary key (n INTEGER, s STRING, b BINARY) has 3")
}
