package ots

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"regexp"
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

// appendValue appends v's kind and an unambiguous encoding of its value.
func appendValue(b []byte, v Value) []byte {
	b = append(b, byte(v.kind))
	switch v.kind {
	case KindInteger, KindBoolean:
		b = binary.BigEndian.AppendUint64(b, uint64(v.i))
	case KindDouble:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.f))
	case KindString:
		b = appendLengthPrefixed(b, v.s)
	case KindBinary:
		b = appendLengthPrefixed(b, string(v.b))
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
	switch a.kind {
	case KindString:
		return strings.Compare(a.s, b.s)
	case KindBinary:
		return bytes.Compare(a.b, b.b)
	}
	return cmp.Compare(a.i, b.i)
}

// plainName matches the names Tablestore allows for tables and primary key columns
// ([a-zA-Z_][a-zA-Z0-9_]*); such names need no quoting.
var plainName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// FormatPrimaryKey formats a primary key for messages as `id=5, sub="a", bin=0x0a0b`:
// columns in the given order, values as [Value.Brief] writes them (a long STRING or BINARY
// value shows its first MaxQuoted bytes and its length). A column name that is not a plain
// identifier is quoted, and cut to MaxQuoted bytes too. It is for people, not an identity:
// [AppendPrimaryKey] tells keys apart.
func FormatPrimaryKey(pk []PrimaryKeyColumn) string {
	var b strings.Builder
	for i, col := range pk {
		if i > 0 {
			b.WriteString(", ")
		}
		if name := Brief(col.ColumnName); name == col.ColumnName && plainName.MatchString(name) {
			b.WriteString(name)
		} else {
			b.WriteString(strconv.Quote(name))
		}
		b.WriteByte('=')
		b.WriteString(col.Value.Brief())
	}
	return b.String()
}
