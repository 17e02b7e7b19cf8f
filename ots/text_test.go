package ots

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTextReadsBackToTheSameValue(t *testing.T) {
	for _, v := range []Value{
		Integer(math.MinInt64), Integer(0), Double(2.5), Double(1e-300), Double(-0.1), Double(3),
		Boolean(true), Boolean(false), String(""), String(" é\n"), Binary(nil), Binary([]byte{0, 0xff}),
	} {
		back, err := ParseText(v.Kind(), v.Text())
		require.NoError(t, err, "%s %q", v.Kind(), v.Text())
		assert.True(t, v.Equal(back), "%s %v came back as %s %v", v.Kind(), v, back.Kind(), back)
	}
	assert.Equal(t, "00ff", Binary([]byte{0, 0xff}).Text())
	assert.Equal(t, "3", Double(3).Text())
	assert.Equal(t, "", Value{}.Text())
	_, err := ParseText(KindNone, "")
	assert.ErrorContains(t, err, "type NONE cannot be written")
}

func TestKindNamed(t *testing.T) {
	for name, want := range map[string]Kind{"INTEGER": KindInteger, "double": KindDouble, "Boolean": KindBoolean, "STRING": KindString, "binary": KindBinary} {
		k, ok := KindNamed(name)
		assert.True(t, ok, name)
		assert.Equal(t, want, k, name)
	}
	for _, name := range []string{"NONE", "", "INT", "BLOB"} {
		_, ok := KindNamed(name)
		assert.False(t, ok, name)
	}
	var primaryKeyKinds []Kind
	for k := KindNone; k <= KindBinary; k++ {
		if k.IsPrimaryKeyKind() {
			primaryKeyKinds = append(primaryKeyKinds, k)
		}
	}
	assert.Equal(t, []Kind{KindInteger, KindString, KindBinary}, primaryKeyKinds)
}

func TestTextKeysReadBackAsWritten(t *testing.T) {
	key := []PrimaryKeyColumn{
		{ColumnName: "n", Value: Integer(-42)},
		{ColumnName: "s", Value: String(" a key ")},
		{ColumnName: "b", Value: Binary([]byte{0, 0xff})},
	}
	schema := []PrimaryKeySchema{{Name: "n", Type: KindInteger}, {Name: "s", Type: KindString}, {Name: "b", Type: KindBinary}}
	columns := TextKey(key)
	assert.Equal(t, []TextKeyColumn{{"n", "INTEGER", "-42"}, {"s", "STRING", " a key "}, {"b", "BINARY", "00ff"}}, columns)
	back, err := KeyOfText(columns, schema)
	require.NoError(t, err)
	assert.Equal(t, 0, ComparePrimaryKeys(key, back))

	for _, c := range []struct {
		column TextKeyColumn
		want   string
	}{
		{TextKeyColumn{"n", "integer", "1"}, `column "n": type "integer"; the table's primary key (n INTEGER) has INTEGER`},
		{TextKeyColumn{"n", "DOUBLE", "1.5"}, `column "n": type "DOUBLE"; the table's primary key (n INTEGER) has INTEGER`},
		{TextKeyColumn{"n", "STRING", "1"}, `column "n": type "STRING"; the table's primary key (n INTEGER) has INTEGER`},
		{TextKeyColumn{"m", "INTEGER", "1"}, `key column 1 is "m"; the table's primary key (n INTEGER) has "n" there`},
		{TextKeyColumn{"n", "INTEGER", "1.5"}, `"1.5" is not an INTEGER`},
		{TextKeyColumn{"n", "INTEGER", "+42"}, `INTEGER "+42" is not written as otsetl writes it ("42")`},
	} {
		_, err := KeyOfText([]TextKeyColumn{c.column}, schema[:1])
		assert.ErrorContains(t, err, c.want, "%+v", c.column)
	}
	_, err = KeyOfText([]TextKeyColumn{{"b", "BINARY", "0xFF"}}, []PrimaryKeySchema{{Name: "b", Type: KindBinary}})
	assert.ErrorContains(t, err, `BINARY "0xFF" is not written as otsetl writes it ("ff")`)
	_, err = KeyOfText(append(columns, TextKeyColumn{"x", "INTEGER", "1"}), schema)
	assert.ErrorContains(t, err, "4 key columns; the table's primary key (n INTEGER, s STRING, b BINARY) has 3")
}
