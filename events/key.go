package events

import (
	"encoding/binary"
	"math"
)

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
	b = append(b, byte(v.Kind()))
	switch v.Kind() {
	case KindInteger:
		i, _ := v.Int()
		b = binary.BigEndian.AppendUint64(b, uint64(i))
	case KindDouble:
		f, _ := v.Float()
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(f))
	case KindBoolean:
		if t, _ := v.Bool(); t {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case KindString:
		s, _ := v.Str()
		b = appendLengthPrefixed(b, s)
	case KindBinary:
		bytes, _ := v.Bytes()
		b = appendLengthPrefixed(b, string(bytes))
	}
	return b
}

// appendLengthPrefixed appends s preceded by its length as a uvarint.
func appendLengthPrefixed(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
