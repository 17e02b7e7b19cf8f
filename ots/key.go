package ots

import (
	"encoding/binary"
	"math"
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
// encodes them alike. It encodes every key into one buffer and looks them up as substrings
// of one string, so that its allocations do not grow with n.
func GroupPrimaryKeys(n int, key func(i int) []PrimaryKeyColumn) (group, first []int) {
	group = make([]int, n) // the end of each encoding, until replaced by its group
	var encodings []byte
	for i := range group {
		encodings = AppendPrimaryKey(encodings, key(i))
		group[i] = len(encodings)
	}
	all := string(encodings)
	groups := make(map[string]int, n)
	start := 0
	for i, end := range group {
		g, seen := groups[all[start:end]]
		if !seen {
			g = len(first)
			groups[all[start:end]] = g
			first = append(first, i)
		}
		group[i], start = g, end
	}
	return group, first
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
