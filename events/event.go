// Package events is the Tablestore trigger event: the batch of Stream change records that
// Function Compute hands to a function bound by a Tablestore trigger, in the shape Function
// Compute documents ("Tablestore trigger event format",
// https://www.alibabacloud.com/help/doc-detail/169673.htm; docs/design.md, "The job"), which
// [Event] and the types it holds follow field by field. Trigger invocations carry it in CBOR
// (RFC 8949), console test events in JSON: [Decode] reads both, [EncodeCBOR] and [EncodeJSON]
// write them. Values are [ots.Value]s.
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
	// PutRow replaces the whole row with the cells Columns lists.
	PutRow RecordType = "PutRow"
	// UpdateRow changes only the cells Columns lists; the others are unchanged. It may
	// create the row.
	UpdateRow RecordType = "UpdateRow"
	// DeleteRow removes the row.
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
	PrimaryKey []ots.PrimaryKeyColumn
	// Columns are the attribute column changes, in the order the write listed them; nil in
	// a decoded record that has none.
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
	// Put writes Value as one version of the column, at Timestamp if it is given.
	Put ColumnType = "Put"
	// DeleteOneVersion deletes the version of the column at Timestamp.
	DeleteOneVersion ColumnType = "DeleteOneVersion"
	// DeleteAllVersions deletes every version of the column.
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
	// Value is the value a Put writes; none (KindNone) for the other types.
	Value ots.Value
	// Timestamp is the cell version in milliseconds since the Unix epoch that a Put writes
	// or a DeleteOneVersion deletes; nil if there is none, as for DeleteAllVersions and for
	// a Put whose event left it out (some console test events do).
	Timestamp *int64
}
