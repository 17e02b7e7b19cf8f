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
// Decode sniffs the first byte and accepts both. Values are those of package ots: a
// typed union ([ots.Value]) whose accessors report the kind they hold instead of panicking.
package events

import "github.com/otsetl/otsetl/ots"

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
	PrimaryKey []ots.PrimaryKeyColumn
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
	Value ots.Value
	// Timestamp is the cell version in milliseconds since the Unix epoch: the version written
	// (Put) or deleted (DeleteOneVersion). Nil for DeleteAllVersions, and for a Put whose
	// event omitted it (some console test events do).
	Timestamp *int64
}
