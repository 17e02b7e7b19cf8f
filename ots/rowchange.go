package ots

import "fmt"

// RowChangeKind is the row operation of a [RowChange] together with its
// RowExistenceExpectation (Tablestore "BatchWriteRow"; Go SDK tablestore/model.go
// PutRowChange, UpdateRowChange, DeleteRowChange).
type RowChangeKind uint8

// The row change kinds. The zero kind is no change and is never written.
const (
	// PutRow replaces the row with Columns: a PutRow with RowExistenceExpectation IGNORE.
	PutRow RowChangeKind = iota + 1
	// DeleteRow removes the row: a DeleteRow with RowExistenceExpectation IGNORE.
	DeleteRow
	// UpdateRowIfExists applies Columns to the row only if it exists: an UpdateRow with
	// RowExistenceExpectation EXPECT_EXIST, which Tablestore refuses with
	// OTSConditionCheckFail when the row is absent. A cell without a value deletes all
	// versions of its column.
	UpdateRowIfExists
)

// String returns "put", "delete" or "update-if-exists".
func (k RowChangeKind) String() string {
	switch k {
	case PutRow:
		return "put"
	case DeleteRow:
		return "delete"
	case UpdateRowIfExists:
		return "update-if-exists"
	}
	return fmt.Sprintf("RowChangeKind(%d)", uint8(k))
}

// RowChange is one change to one row of a table, as a BatchWriteRow carries it.
type RowChange struct {
	// Kind is the row operation.
	Kind RowChangeKind
	// PrimaryKey is the row's primary key, its columns in the table's order.
	PrimaryKey []PrimaryKeyColumn
	// Columns is the row for a PutRow (every cell with a value), the cell changes for an
	// UpdateRowIfExists, and empty for a DeleteRow.
	Columns []Cell
}
