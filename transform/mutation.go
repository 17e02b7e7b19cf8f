package transform

import (
	"fmt"

	"github.com/otsetl/otsetl/ots"
)

// MutationKind says what a [Mutation] does to the result table's row.
type MutationKind uint8

// The mutation kinds.
const (
	// MutationPut replaces result[k] with Columns (a PutRow with RowExistenceExpectation IGNORE).
	MutationPut MutationKind = iota + 1
	// MutationDelete removes result[k] (a DeleteRow with RowExistenceExpectation IGNORE).
	MutationDelete
	// MutationUpdateIfExists applies Columns to result[k] only if the row exists (an UpdateRow
	// with RowExistenceExpectation EXPECT_EXIST; OTSConditionCheckFail means "not in the
	// view" and is a success). A cell with no value deletes all versions of that column.
	MutationUpdateIfExists
	// MutationReadSource means the event does not say enough: read the current source row
	// (BatchGetRow) and call [Rule.Resolve] to turn this into a put or a delete.
	MutationReadSource
)

// String returns "put", "delete", "update-if-exists" or "read-source".
func (k MutationKind) String() string {
	switch k {
	case MutationPut:
		return "put"
	case MutationDelete:
		return "delete"
	case MutationUpdateIfExists:
		return "update-if-exists"
	case MutationReadSource:
		return "read-source"
	}
	return fmt.Sprintf("MutationKind(%d)", uint8(k))
}

// Mutation is the single decision for one primary key of the result table, folded from
// every record of that key in one event (docs/design.md, "Per key").
type Mutation struct {
	// Kind is what to do.
	Kind MutationKind
	// PrimaryKey is the row's primary key, as the event carried it.
	PrimaryKey []ots.PrimaryKeyColumn
	// Columns is the projected row image for MutationPut (sorted by name), the projected
	// cell changes for MutationUpdateIfExists (in event order, one per column), and empty
	// for MutationDelete and MutationReadSource.
	Columns []ots.Cell
	// Records are the indexes, into Event.Records, of the records folded into this mutation.
	Records []int
}

// InvalidRecord is a record the rule could not evaluate, such as a row whose `level` holds a
// STRING under the filter `level > 1`.
type InvalidRecord struct {
	// Index is the record's index in Event.Records.
	Index int
	// Err says why, naming the column and the value's kind.
	Err error
}
