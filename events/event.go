// Package events is the Tablestore trigger event: the batch of Stream change records
// that Function Compute hands to a function bound by a Tablestore trigger.
//
// The documented shape (Function Compute, "Tablestore trigger event format",
// https://www.alibabacloud.com/help/doc-detail/169673.htm) is
//
//	{Version: "Sync-v1", Records: [{Type, Info: {Timestamp}, PrimaryKey: [{ColumnName, Value}],
//	  Columns: [{Type, ColumnName, Value, Timestamp}]}]}
//
// Real trigger invocations carry it CBOR-encoded (RFC 8949); console test events are JSON.
// Decode sniffs the first byte and accepts both. Values are a typed union ([Value]) whose
// accessors report the kind they hold instead of panicking.
package events

import (
	"fmt"
	"math"
)

// Version is the only payload version the trigger documents ("Sync-v1").
const Version = "Sync-v1"

// Event is one trigger invocation's payload: an ordered batch of row changes from one
// shard of the source table's Stream. Records are in commit order within the shard.
type Event struct {
	// Version is the payload version, "Sync-v1" for every documented event.
	Version string
	// Records are the row changes in Stream order. An empty slice is a valid, empty batch.
	Records []Record
}

// RecordType is the kind of row change a record describes, as the Stream's ActionType
// names it (Tablestore Go SDK tablestore/model.go, ActionType.String).
type RecordType string

// The row change kinds of a Stream record.
const (
	// PutRow replaces the whole row: Columns lists every cell written, all of type Put.
	PutRow RecordType = "PutRow"
	// UpdateRow changes only the cells it lists (Put, DeleteOneVersion, DeleteAllVersions);
	// columns it does not list are unchanged. It may create the row.
	UpdateRow RecordType = "UpdateRow"
	// DeleteRow removes the row; it carries the primary key and no columns.
	DeleteRow RecordType = "DeleteRow"
)

// Valid reports whether t is one of PutRow, UpdateRow and DeleteRow.
func (t RecordType) Valid() bool {
	return t == PutRow || t == UpdateRow || t == DeleteRow
}

// Record is one row change.
type Record struct {
	// Type is the row change kind.
	Type RecordType
	// Info.Timestamp is the row's modification time in microseconds since the Unix epoch
	// (the documented sample carries 1506416585740836).
	Info RecordInfo
	// PrimaryKey is the row's full primary key, in the table's primary key order.
	// Values are INTEGER, STRING or BINARY. It is never empty in a decoded record.
	PrimaryKey []PrimaryKeyColumn
	// Columns are the attribute column changes, in the order the write listed them.
	// Empty for DeleteRow.
	Columns []Column
	// Raw is the record exactly as it arrived (its CBOR or JSON bytes), kept for dead
	// letters. It is nil on records built in code; the encoder ignores it.
	Raw []byte
}

// RecordInfo is the row-level metadata of a record.
type RecordInfo struct {
	// Timestamp is the row's modification time in microseconds since the Unix epoch.
	Timestamp int64
}

// PrimaryKeyColumn is one primary key column of a record.
type PrimaryKeyColumn struct {
	// ColumnName is the primary key column's name.
	ColumnName string
	// Value is INTEGER, STRING or BINARY.
	Value Value
}

// ColumnType is the kind of change to one attribute column (the Stream's RecordColumnType,
// Tablestore Go SDK tablestore/model.go RecordColumn.String).
type ColumnType string

// The attribute column change kinds.
const (
	// Put writes one version: Value and Timestamp (ms) are set.
	Put ColumnType = "Put"
	// DeleteOneVersion deletes the version at Timestamp (ms); there is no Value.
	DeleteOneVersion ColumnType = "DeleteOneVersion"
	// DeleteAllVersions deletes every version of the column; there is neither Value nor Timestamp.
	DeleteAllVersions ColumnType = "DeleteAllVersions"
)

// Valid reports whether t is one of Put, DeleteOneVersion and DeleteAllVersions.
func (t ColumnType) Valid() bool {
	return t == Put || t == DeleteOneVersion || t == DeleteAllVersions
}

// Column is one attribute column change of a record.
type Column struct {
	// Type is the change kind.
	Type ColumnType
	// ColumnName is the attribute column's name.
	ColumnName string
	// Value is the written value for Put; the zero Value (Kind() == KindNone) otherwise.
	Value Value
	// Timestamp is the cell version in milliseconds since the Unix epoch: the version written
	// (Put) or deleted (DeleteOneVersion). Nil for DeleteAllVersions, and for a Put whose
	// event omitted it (some console test events do).
	Timestamp *int64
}

// Kind is the Tablestore type a [Value] holds.
type Kind uint8

// The value kinds. KindNone is the zero Value: "no value", as on a delete cell.
const (
	KindNone Kind = iota
	KindInteger
	KindDouble
	KindBoolean
	KindString
	KindBinary
)

// String returns the Tablestore name of the kind: "INTEGER", "DOUBLE", "BOOLEAN", "STRING",
// "BINARY", or "NONE".
func (k Kind) String() string {
	switch k {
	case KindInteger:
		return "INTEGER"
	case KindDouble:
		return "DOUBLE"
	case KindBoolean:
		return "BOOLEAN"
	case KindString:
		return "STRING"
	case KindBinary:
		return "BINARY"
	case KindNone:
		return "NONE"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Value is a Tablestore cell value: INTEGER (int64), DOUBLE (float64), BOOLEAN, STRING or
// BINARY ([]byte), or none. The zero Value holds none. Accessors return (value, ok) and
// never panic on the wrong kind.
type Value struct {
	kind Kind
	i    int64
	f    float64
	s    string
	b    []byte
}

// Integer returns an INTEGER value.
func Integer(v int64) Value { return Value{kind: KindInteger, i: v} }

// Double returns a DOUBLE value.
func Double(v float64) Value { return Value{kind: KindDouble, f: v} }

// Boolean returns a BOOLEAN value.
func Boolean(v bool) Value {
	var i int64
	if v {
		i = 1
	}
	return Value{kind: KindBoolean, i: i}
}

// String returns a STRING value.
func String(v string) Value { return Value{kind: KindString, s: v} }

// Binary returns a BINARY value. It keeps b; the caller must not modify b afterwards.
func Binary(b []byte) Value {
	if b == nil {
		b = []byte{}
	}
	return Value{kind: KindBinary, b: b}
}

// ValueOf converts a Go value of one of the types the Tablestore Go SDK uses (int64, float64,
// bool, string, []byte; nil for none) into a Value. Other types are an error.
func ValueOf(v any) (Value, error) {
	switch x := v.(type) {
	case nil:
		return Value{}, nil
	case int64:
		return Integer(x), nil
	case float64:
		return Double(x), nil
	case bool:
		return Boolean(x), nil
	case string:
		return String(x), nil
	case []byte:
		return Binary(x), nil
	}
	return Value{}, fmt.Errorf("events: unsupported value type %T", v)
}

// Kind returns the kind of value v holds.
func (v Value) Kind() Kind { return v.kind }

// IsNone reports whether v holds no value.
func (v Value) IsNone() bool { return v.kind == KindNone }

// Int returns the INTEGER value and true, or 0 and false for any other kind.
func (v Value) Int() (int64, bool) { return v.i, v.kind == KindInteger }

// Float returns the DOUBLE value and true, or 0 and false for any other kind.
func (v Value) Float() (float64, bool) { return v.f, v.kind == KindDouble }

// Bool returns the BOOLEAN value and true, or false and false for any other kind.
func (v Value) Bool() (bool, bool) { return v.i != 0 && v.kind == KindBoolean, v.kind == KindBoolean }

// Str returns the STRING value and true, or "" and false for any other kind.
func (v Value) Str() (string, bool) { return v.s, v.kind == KindString }

// Bytes returns the BINARY value and true, or nil and false for any other kind.
// The slice is shared with v.
func (v Value) Bytes() ([]byte, bool) {
	if v.kind != KindBinary {
		return nil, false
	}
	return v.b, true
}

// Any returns the value as the Go type the Tablestore Go SDK accepts: int64, float64, bool,
// string or []byte, and nil for none.
func (v Value) Any() any {
	switch v.kind {
	case KindInteger:
		return v.i
	case KindDouble:
		return v.f
	case KindBoolean:
		return v.i != 0
	case KindString:
		return v.s
	case KindBinary:
		return v.b
	}
	return nil
}

// Equal reports whether v and w hold the same kind and value. DOUBLE values compare by
// their IEEE-754 bits, so NaN equals NaN and 0.0 differs from -0.0.
func (v Value) Equal(w Value) bool {
	if v.kind != w.kind {
		return false
	}
	switch v.kind {
	case KindDouble:
		return math.Float64bits(v.f) == math.Float64bits(w.f)
	case KindString:
		return v.s == w.s
	case KindBinary:
		return string(v.b) == string(w.b)
	}
	return v.i == w.i
}

// String formats v for messages and tables: integers and doubles in Go syntax, strings
// quoted, binary as 0x-prefixed hex, booleans as true/false, none as "<none>".
func (v Value) String() string {
	switch v.kind {
	case KindInteger:
		return fmt.Sprintf("%d", v.i)
	case KindDouble:
		return fmt.Sprintf("%g", v.f)
	case KindBoolean:
		return fmt.Sprintf("%t", v.i != 0)
	case KindString:
		return fmt.Sprintf("%q", v.s)
	case KindBinary:
		return fmt.Sprintf("0x%x", v.b)
	}
	return "<none>"
}
