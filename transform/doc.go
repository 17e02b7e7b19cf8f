// Package transform is the cleaning rule of otsetl: a filter and a projection compiled once,
// and the per-primary-key plan of result-table mutations for one trigger event.
//
// The result table holds project(row) for every source row where filter(row) is true, and no
// other rows. [Compile] turns a [Config] into a [Rule]; [Rule.Plan] folds the records of one
// [events.Event] per primary key and decides once per key, as a [Plan] of [Mutation] values:
// put the projected row image, delete the row, apply cell changes to the row only if it is in
// the result table, or read the current source row first and [Rule.Resolve] the decision from
// it. The package does no I/O.
//
// The filter is an expr-lang/expr expression (https://expr-lang.org/docs/language-definition)
// over a row's attribute columns; primary key columns are not part of its environment. A
// column the row lacks is nil. Columns whose names are not expr identifiers are read as
// $env["name"].
package transform
