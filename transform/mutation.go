package transform

import (
	"github.com/otsetl/otsetl/ots"
)

// Mutation is the single decision for one primary key of the result table, folded from
// every record of that key in one event (docs/design.md, "Per key"): the row change to
// write, or, for a mutation listed in [Plan.Reads], a read of the source row first. A
// PutRow's Columns are the projected row, sorted by name; an UpdateRowIfExists's are the
// projected cell changes, one per column in the order of its first change.
type Mutation struct {
	// RowChange is what to write to the result table; for a mutation listed in Plan.Reads
	// only its PrimaryKey, until [Rule.Resolve] decides it.
	ots.RowChange
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
