package otslocal

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"unicode/utf8"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
)

// primaryKeySchema is one primary key column of a table, in schema order.
type primaryKeySchema struct {
	name          string
	typ           otsprotocol.PrimaryKeyType
	autoIncrement bool
}

// primaryKey is a primary key's values in schema order. Stored keys hold INTEGER, STRING
// or BLOB values; GetRange bounds may also hold INF_MIN and INF_MAX.
type primaryKey []columnValue

// keyUse says what a request primary key is for, which decides the placeholder values
// (INF_MIN/INF_MAX, AUTO_INCREMENT) it may hold and the message when it holds one.
type keyUse int

const (
	keyForRead keyUse = iota
	keyForPut
	keyForUpdate
	keyForDelete
	keyForRangeBound
)

// valueTypeOf is the PlainBuffer value type a primary key column of this type holds.
func valueTypeOf(typ otsprotocol.PrimaryKeyType) byte {
	switch typ {
	case otsprotocol.PrimaryKeyType_INTEGER:
		return vtInteger
	case otsprotocol.PrimaryKeyType_STRING:
		return vtString
	default:
		return vtBlob
	}
}

// comparePrimaryKeys orders keys column by column: INTEGER as signed int64, STRING and
// BLOB byte-wise, INF_MIN below and INF_MAX above every value.
func comparePrimaryKeys(a, b primaryKey) int {
	for i := range min(len(a), len(b)) {
		if c := compareKeyValues(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

func compareKeyValues(a, b columnValue) int {
	if a.typ == b.typ {
		switch a.typ {
		case vtInteger:
			return cmp.Compare(a.integer(), b.integer())
		case vtString, vtBlob:
			return bytes.Compare(a.bytes, b.bytes)
		}
		return 0 // both INF_MIN or both INF_MAX
	}
	switch {
	case a.typ == vtInfMin || b.typ == vtInfMax:
		return -1
	case a.typ == vtInfMax || b.typ == vtInfMin:
		return 1
	}
	return cmp.Compare(a.typ, b.typ)
}

// key is a map key that identifies the primary key's values exactly.
func (pk primaryKey) key() string {
	var buf []byte
	for _, v := range pk {
		buf = appendValue(buf, v)
	}
	return string(buf)
}

// cells turns the key back into PlainBuffer primary key cells named by the schema.
func (pk primaryKey) cells(schema []primaryKeySchema) []cell {
	cells := make([]cell, len(pk))
	for i, v := range pk {
		cells[i] = cell{name: schema[i].name, value: v, hasValue: true}
	}
	return cells
}

// hasPlaceholder reports whether the key holds an AUTO_INCREMENT placeholder.
func (pk primaryKey) hasPlaceholder() bool {
	for _, v := range pk {
		if v.typ == vtAutoIncrement {
			return true
		}
	}
	return false
}

// primaryKeyOf checks a request's primary key cells against the table schema and returns
// the key. The messages are the real service's (400 OTSInvalidPK "Validate PK size fail.
// Input: 1, Meta: 2." etc.; Tablestore Python SDK tests/row_op_test.py test_pk_*).
func (t *table) primaryKeyOf(cells []cell, use keyUse) (primaryKey, error) {
	if len(cells) != len(t.schema) {
		return nil, invalidPK("Validate PK size fail. Input: %d, Meta: %d.", len(cells), len(t.schema))
	}
	pk := make(primaryKey, len(cells))
	for i, c := range cells {
		column := t.schema[i]
		if c.name != column.name {
			return nil, invalidPK("Validate PK name fail. Input: %s, Meta: %s.", c.name, column.name)
		}
		if !c.hasValue || c.hasOpType || c.hasTimestamp {
			return nil, parameterInvalid("Invalid primary key column: '%s' must carry a value and nothing else.", c.name)
		}
		if err := checkKeyValue(column, c.value, use); err != nil {
			return nil, err
		}
		pk[i] = c.value
	}
	return pk, nil
}

// checkKeyValue checks one primary key value against its column and the key's use.
func checkKeyValue(column primaryKeySchema, v columnValue, use keyUse) error {
	switch v.typ {
	case vtInfMin, vtInfMax:
		if use == keyForRangeBound {
			return nil
		}
	case vtAutoIncrement:
		switch {
		case use == keyForRead || use == keyForRangeBound:
			return parameterInvalid("PKAutoIncr can't be used for read operations.")
		case use == keyForDelete:
			return parameterInvalid("Invalid row to delete which with pk auto increment.")
		case use == keyForPut && column.autoIncrement:
			return nil
		}
	}
	want := valueTypeOf(column.typ)
	if v.typ != want {
		return invalidPK("Validate PK type fail. Input: %s, Meta: %s.", valueTypeName(v.typ), valueTypeName(want))
	}
	if len(v.bytes) > maxPrimaryKeyValueBytes {
		return parameterInvalid("The length of primary key column: '%s' exceeds the MaxLength:%d with CurrentLength:%d.",
			column.name, maxPrimaryKeyValueBytes, len(v.bytes))
	}
	if v.typ == vtString && !utf8.Valid(v.bytes) {
		return parameterInvalid("Value of column %s must be UTF8 encoding.", column.name)
	}
	return nil
}

// rawKey identifies a row change's primary key cells by name and value, before they are
// checked against a schema. BatchWriteRow uses it to find repeated rows.
func rawKey(cells []cell) string {
	var buf []byte
	for _, c := range cells {
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(c.name)))
		buf = append(buf, c.name...)
		buf = appendValue(buf, c.value)
	}
	return string(buf)
}
