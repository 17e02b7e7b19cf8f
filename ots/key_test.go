package ots

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendPrimaryKey(t *testing.T) {
	values := []Value{
		{}, Integer(0), Integer(1), Integer(-1), Double(0), Double(1),
		Boolean(false), Boolean(true), String(""), String("1"),
		Binary(nil), Binary([]byte("1")),
	}
	seen := map[string]Value{}
	for _, v := range values {
		key := string(AppendPrimaryKey(nil, []PrimaryKeyColumn{{ColumnName: "id", Value: v}}))
		other, ok := seen[key]
		require.False(t, ok, "%s %v and %s %v encode alike", v.Kind(), v, other.Kind(), other)
		seen[key] = v
		assert.Equal(t, key, string(AppendPrimaryKey([]byte("prefix"), []PrimaryKeyColumn{{ColumnName: "id", Value: v}})[len("prefix"):]))
	}
}

func TestGroupPrimaryKeys(t *testing.T) {
	keys := [][]PrimaryKeyColumn{
		{{ColumnName: "id", Value: Integer(1)}},
		{{ColumnName: "id", Value: String("1")}},
		{{ColumnName: "id", Value: Integer(1)}},
		{{ColumnName: "id", Value: Integer(1)}, {ColumnName: "sub", Value: Binary(nil)}},
		{},
		{{ColumnName: "id", Value: String("1")}},
		{},
	}
	group, first := GroupPrimaryKeys(len(keys), func(i int) []PrimaryKeyColumn { return keys[i] })
	assert.Equal(t, []int{0, 1, 0, 2, 3, 1, 3}, group)
	assert.Equal(t, []int{0, 1, 3, 4}, first)

	group, first = GroupPrimaryKeys(0, nil)
	assert.Empty(t, group)
	assert.Empty(t, first)
}

func TestFormatPrimaryKey(t *testing.T) {
	pk := []PrimaryKeyColumn{
		{ColumnName: "id", Value: Integer(5)},
		{ColumnName: "sub", Value: String("a")},
		{ColumnName: "bin", Value: Binary([]byte{0x0a, 0x0b})},
	}
	assert.Equal(t, `id=5, sub="a", bin=0x0a0b`, FormatPrimaryKey(pk))
	assert.Equal(t, `"a=1, b"="x"`, FormatPrimaryKey([]PrimaryKeyColumn{{ColumnName: "a=1, b", Value: String("x")}}),
		"a name that is not an identifier is quoted, so keys cannot format alike")
	assert.Equal(t, `id="5"`, FormatPrimaryKey([]PrimaryKeyColumn{{ColumnName: "id", Value: String("5")}}))

	huge := []PrimaryKeyColumn{{ColumnName: strings.Repeat("k", 1000), Value: String(strings.Repeat("v", 2<<20))}}
	formatted := FormatPrimaryKey(huge)
	assert.Less(t, len(formatted), 4*MaxQuoted, "a forged 2 MB key formats short")
	assert.Contains(t, formatted, "(2097152 bytes)")
}

func TestComparePrimaryKeysOrdersAsTablestore(t *testing.T) {
	key := func(region string, id int64, tag []byte) []PrimaryKeyColumn {
		return []PrimaryKeyColumn{{ColumnName: "region", Value: String(region)}, {ColumnName: "id", Value: Integer(id)}, {ColumnName: "tag", Value: Binary(tag)}}
	}
	// In Tablestore's order: STRING and BINARY byte-wise (UTF-8 bytes for STRING), INTEGER
	// signed, the first differing column deciding.
	sorted := [][]PrimaryKeyColumn{
		key("", 9, nil),
		key("a", -9, nil),
		key("a", -1, []byte{0x00}),
		key("a", -1, []byte{0x00, 0x00}),
		key("a", -1, []byte{0xff}),
		key("a", 7, []byte("x")),
		key("aa", -100, []byte("x")),
		key("b", 1, []byte("x")),
		key("é", 1, []byte("x")),
	}
	for i, a := range sorted {
		for j, b := range sorted {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			assert.Equal(t, want, ComparePrimaryKeys(a, b), "%s vs %s", FormatPrimaryKey(a), FormatPrimaryKey(b))
		}
	}
	assert.Equal(t, -1, ComparePrimaryKeys(sorted[1][:1], sorted[1]), "a prefix comes first")
}
