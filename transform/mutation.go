package transform

import (
	"github.com/otsetl/otsetl/ots"
)

// Mutation is the single decision for one primary key of the result table, folded from
// every record of that key in one event (docs/design.md, "Per key"): the row change to
// write, or, when the event does not say enough, a read of the source row first.
type Mutation struct {
	// RowChange is what to write to the result table. When ReadSource is set it holds only
	// the PrimaryKey (its zero Kind is never written).
	ots.RowChange
	// ReadSource means the event does not say enough: read the current source row
	// (BatchGetRow) and [Rule.Resolve] it into a put or a delete.
	ReadSource bool
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
