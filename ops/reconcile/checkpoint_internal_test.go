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
	columns := keyColumnsOf(key)
	assert.Equal(t, []keyColumn{{"n", "INTEGER", "-42"}, {"s", "STRING", " a key "}, {"b", "BINARY", "00ff"}}, columns)
	back, err := keyOf(columns)
	require.NoError(t, err)
	assert.Equal(t, 0, ots.ComparePrimaryKeys(key, back))

	for _, c := range []struct {
		column keyColumn
		want   string
	}{
		{keyColumn{"n", "integer", "1"}, `type "integer", want INTEGER, STRING or BINARY`},
		{keyColumn{"d", "DOUBLE", "1.5"}, `type "DOUBLE", want INTEGER, STRING or BINARY`},
		{keyColumn{"n", "INTEGER", "1.5"}, `"1.5" is not an INTEGER`},
		{keyColumn{"n", "INTEGER", "+42"}, `INTEGER "+42" is not written as a checkpoint writes it ("42")`},
		{keyColumn{"b", "BINARY", "0xFF"}, `BINARY "0xFF" is not written as a checkpoint writes it ("ff")`},
	} {
		_, err := keyOf([]keyColumn{c.column})
		assert.ErrorContains(t, err, c.want, "%+v", c.column)
	}
}
