package ots

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestIsName(t *testing.T) {
	for _, name := range []string{"id", "_x", "A9_b", strings.Repeat("n", MaxNameBytes)} {
		assert.True(t, IsName(name), "%q", name)
	}
	for _, name := range []string{"", "9id", "a-b", "a b", "é", strings.Repeat("n", MaxNameBytes+1)} {
		assert.False(t, IsName(name), "%q", name)
	}
}

func TestCheckPrimaryKeyColumn(t *testing.T) {
	for _, col := range []PrimaryKeyColumn{
		{ColumnName: "id", Value: Integer(math.MinInt64)},
		{ColumnName: "s", Value: String(strings.Repeat("k", MaxPrimaryKeyValueBytes))},
		{ColumnName: "b", Value: Binary(make([]byte, MaxPrimaryKeyValueBytes))},
		{ColumnName: "e", Value: String("")},
	} {
		assert.NoError(t, CheckPrimaryKeyColumn(col), "%s", col.ColumnName)
	}
	for col, want := range map[*PrimaryKeyColumn]string{
		{ColumnName: "id", Value: String(strings.Repeat("k", MaxPrimaryKeyValueBytes+1))}: `primary key column "id" holds STRING "kkkk`,
		{ColumnName: "id", Value: Binary(make([]byte, MaxPrimaryKeyValueBytes+1))}:        `(1025 bytes), longer than Tablestore's limit of 1024 bytes for a primary key value`,
		{ColumnName: "id", Value: Double(1)}:                                              `primary key column "id" holds DOUBLE; only INTEGER, STRING and BINARY are allowed`,
		{ColumnName: "id"}:                                                                `holds NONE`,
		{ColumnName: "user-id", Value: Integer(1)}:                                        `primary key column name "user-id" is not a Tablestore name`,
		{ColumnName: strings.Repeat("n", 300), Value: Integer(1)}:                         `primary key column name "` + strings.Repeat("n", MaxQuoted) + `" is not`,
	} {
		err := CheckPrimaryKeyColumn(*col)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), want)
			assert.Less(t, len(err.Error()), 400, "the message quotes briefly")
		}
	}
}

func TestCheckAttribute(t *testing.T) {
	pk := []PrimaryKeyColumn{{ColumnName: "id", Value: Integer(1)}}
	for name, v := range map[string]Value{
		"level": Integer(3), "ratio": Double(math.MaxFloat64), "price-2": Double(-0.5), "gone": {},
		"s": String(strings.Repeat("x", MaxAttributeValueBytes)), "b": Binary(make([]byte, MaxAttributeValueBytes)),
		strings.Repeat("n", MaxNameBytes): Boolean(true),
	} {
		assert.NoError(t, CheckAttribute(name, v, pk), "%q", Brief(name))
	}
	cases := []struct {
		name string
		v    Value
		want string
	}{
		{"ratio", Double(math.NaN()), `column "ratio" holds DOUBLE NaN; Tablestore stores no NaN or infinity`},
		{"ratio", Double(math.Inf(1)), `column "ratio" holds DOUBLE +Inf`},
		{"ratio", Double(math.Inf(-1)), `holds DOUBLE -Inf`},
		{"s", String(strings.Repeat("x", MaxAttributeValueBytes+1)), `column "s" holds STRING "xxx`},
		{"b", Binary(make([]byte, MaxAttributeValueBytes+1)), `(2097153 bytes), longer than Tablestore's limit of 2097152 bytes for an attribute value`},
		{"id", Integer(1), `column "id" has the name of a primary key column`},
		{strings.Repeat("n", MaxNameBytes+1), Integer(1), `(256 bytes) is not 1-255 bytes long`},
		{"", Integer(1), `column name "" (0 bytes)`},
	}
	for _, tc := range cases {
		err := CheckAttribute(tc.name, tc.v, pk)
		if assert.Error(t, err, "%q", Brief(tc.name)) {
			assert.Contains(t, err.Error(), tc.want)
			assert.Less(t, len(err.Error()), 400, "the message quotes briefly")
		}
	}
}

func TestDataSizeAsTablestoreCountsIt(t *testing.T) {
	// Tablestore documentation, "Storage usage": INTEGER 8, DOUBLE 8, BOOLEAN 1, STRING its
	// UTF-8 bytes (an empty one 0), BINARY its bytes.
	for _, c := range []struct {
		v    Value
		want int
	}{
		{Integer(20), 8}, {Double(0.5), 8}, {Boolean(true), 1}, {String("zhangsan"), 8}, {String("é"), 2},
		{String(""), 0}, {Binary([]byte{1, 2, 3}), 3}, {Value{}, 0},
	} {
		assert.Equal(t, c.want, c.v.DataSize(), "%s %v", c.v.Kind(), c.v)
	}
}
