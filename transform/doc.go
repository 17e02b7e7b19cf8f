// Package transform is the cleaning rule of otsetl: a filter and a projection or a mapping
// compiled once ([Compile], [Rule]), and the per-primary-key [Plan] of one trigger event's
// writes to the result table ([Rule.Plan], [Rule.Resolve]; docs/design.md, "Per key" and
// "Transform columns"). Every path that computes the view (the function, `otsetl sync`,
// `otsetl replay`) does it with these. It does no I/O.
//
// The filter and a mapping's entries are expr-lang/expr expressions
// (https://expr-lang.org/docs/language-definition) over a row's attribute columns; primary
// key columns are not part of their environment. A column the row lacks is nil. Columns
// whose names are not expr identifiers are read as $env["name"].
package transform
