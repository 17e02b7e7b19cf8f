// Package transform is the cleaning rule of otsetl: a filter and a projection compiled once
// ([Compile], [Rule]), and the per-primary-key [Plan] of one trigger event's writes to the
// result table ([Rule.Plan], [Rule.Resolve]; docs/design.md, "Per key"). It does no I/O.
//
// The filter is an expr-lang/expr expression (https://expr-lang.org/docs/language-definition)
// over a row's attribute columns; primary key columns are not part of its environment. A
// column the row lacks is nil. Columns whose names are not expr identifiers are read as
// $env["name"].
package transform
