package ots

import (
	"cmp"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// PrimaryKeyColumn is one column of a row's primary key.
type PrimaryKeyColumn struct {
	// ColumnName is the primary key column's name.
	ColumnName string
	// Value is INTEGER, STRING or BINARY, the types a primary key column may have.
	Value Value
}

// PrimaryKeySchema is one primary key column of a table's schema, in the table's primary
// key order.
type PrimaryKeySchema struct {
	// Name is the column name.
	Name string
	// Type is KindInteger, KindString or KindBinary.
	Type Kind
}

// String returns "name TYPE", e.g. "id INTEGER".
func (s PrimaryKeySchema) String() string { return s.Name + " " + s.Type.String() }

// FormatSchema formats a primary key schema as "id INTEGER, sub STRING".
func FormatSchema(pk []PrimaryKeySchema) string {
	parts := make([]string, len(pk))
	for i, col := range pk {
		parts[i] = col.String()
	}
	return strings.Join(parts, ", ")
}

// AppendPrimaryKey appends a binary encoding of pk to b and returns the extended slice, for
// use as a map key: two primary keys encode alike exactly when their column names, value
// kinds and values are equal, column by column. The encoding is not meant to be stored or
// parsed.
func AppendPrimaryKey(b []byte, pk []PrimaryKeyColumn) []byte {
	for _, c := range pk {
		b = appendLengthPrefixed(b, c.ColumnName)
		b = appendValue(b, c.Value)
	}
	return b
}

// GroupPrimaryKeys numbers the distinct primary keys of n rows in the order of their first
// appearance, where key(i) is row i's: group[i] is the number of row i's key, and first[g]
// the first row whose key is number g. Two keys are the same when [AppendPrimaryKey]
// encodes them alike. It hashes each key's encoding, made in one reused buffer, into an
// open-addressing table of key numbers, and compares keys column by column, so that it
// allocates a few arrays whatever n and holds no pointer for the garbage collector to scan.
func GroupPrimaryKeys(n int, key func(i int) []PrimaryKeyColumn) (group, first []int) {
	group, first = make([]int, n), make([]int, 0, n)
	slots := make([]int32, max(2, 1<<bits.Len(uint(2*n)))) // 0 if free, else 1 + a key's number; at most half used
	mask, seed := len(slots)-1, maphash.MakeSeed()
	var encoding []byte
	for i := range group {
		pk := key(i)
		encoding = AppendPrimaryKey(encoding[:0], pk)
		slot := int(maphash.Bytes(seed, encoding)) & mask
		for slots[slot] != 0 && !slices.EqualFunc(key(first[slots[slot]-1]), pk, sameColumn) {
			slot = (slot + 1) & mask
		}
		if slots[slot] == 0 {
			slots[slot] = int32(len(first) + 1)
			first = append(first, i)
		}
		group[i] = int(slots[slot]) - 1
	}
	return group, first
}

// sameColumn reports whether two primary key columns encode alike: the same name, and values
// of the same kind and value.
func sameColumn(a, b PrimaryKeyColumn) bool {
	return a.ColumnName == b.ColumnName && a.Value.Equal(b.Value)
}

// appendValue appends v's kind and an unambiguous encoding of its value.
func appendValue(b []byte, v Value) []byte {
	b = append(b, byte(v.kind))
	switch v.kind {
	case KindInteger, KindDouble, KindBoolean:
		b = binary.BigEndian.AppendUint64(b, v.word)
	case KindString, KindBinary:
		b = appendLengthPrefixed(b, v.text)
	}
	return b
}

// appendLengthPrefixed appends s preceded by its length as a uvarint.
func appendLengthPrefixed(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// ComparePrimaryKeys orders two primary keys of one table as Tablestore orders its rows
// (GetRange returns them in this order): column by column, INTEGER as signed int64, STRING
// and BINARY byte-wise; the first column that differs decides. It returns -1, 0 or +1.
// Column names are not compared; keys of different kinds in one column order by kind, and a
// key that is a prefix of the other comes first.
func ComparePrimaryKeys(a, b []PrimaryKeyColumn) int {
	for i := range min(len(a), len(b)) {
		if c := compareKeyValues(a[i].Value, b[i].Value); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

// compareKeyValues orders two primary key values.
func compareKeyValues(a, b Value) int {
	if a.kind != b.kind {
		return cmp.Compare(a.kind, b.kind)
	}
	if a.kind == KindString || a.kind == KindBinary {
		return strings.Compare(a.text, b.text)
	}
	return cmp.Compare(int64(a.word), int64(b.word))
}

// FormatPrimaryKey formats a primary key for messages as `id=5, sub="a", bin=0x0a0b`:
// columns in the given order, values as [Value.Brief] writes them (a long STRING or BINARY
// value shows its first MaxQuoted bytes and its length). A column name that is not a
// Tablestore name ([IsName]) is quoted, and cut to MaxQuoted bytes too. It is for people, not an identity:
// [AppendPrimaryKey] tells keys apart.
func FormatPrimaryKey(pk []PrimaryKeyColumn) string {
	var b strings.Builder
	for i, col := range pk {
		if i > 0 {
			b.WriteString(", ")
		}
		if name := Brief(col.ColumnName); name == col.ColumnName && IsName(name) {
			b.WriteString(name)
		} else {
			b.WriteString(strconv.Quote(name))
		}
		b.WriteByte('=')
		b.WriteString(col.Value.Brief())
	}
	return b.String()
}
