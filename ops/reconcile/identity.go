package reconcile

import (
	"fmt"

	"github.com/otsetl/otsetl/transform"
)

// identity is what a checkpoint is a checkpoint of: a run resumes only a checkpoint of the
// same Tablestore, tables and rule (its JSON is the checkpoint's "sync" object). Columns is
// COLUMNS as written (a list of names or a map literal), trimmed.
type identity struct {
	Endpoint        string `json:"endpoint"`
	Instance        string `json:"instance"`
	SourceTable     string `json:"sourceTable"`
	ResultTable     string `json:"resultTable"`
	DeadLetterTable string `json:"deadLetterTable,omitempty"`
	Filter          string `json:"filter"`
	Columns         string `json:"columns,omitempty"`
}

// identityOf is the identity of the sync cfg describes, whose rule is rule, as it applies
// it (transform.Rule.Config).
func identityOf(cfg Config, rule transform.Config) identity {
	fn := cfg.Function
	return identity{Endpoint: fn.Endpoint, Instance: fn.Instance, SourceTable: fn.SourceTable, ResultTable: fn.ResultTable,
		DeadLetterTable: fn.DeadLetterTable, Filter: rule.Filter, Columns: rule.Columns}
}

// String describes the sync an identity is of.
func (id identity) String() string {
	return fmt.Sprintf("%s, instance %s, %s -> %s, filter %q, columns %q, dead letters %q",
		id.Endpoint, id.Instance, id.SourceTable, id.ResultTable, id.Filter, id.Columns, id.DeadLetterTable)
}
