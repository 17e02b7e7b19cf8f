package ots

import "strings"

// Cell is one attribute column of a row image or of a row change.
type Cell struct {
	// Name is the attribute column's name.
	Name string
	// Value is the column's value. In a row change, a Value of KindNone means "delete all
	// versions of Name".
	Value Value
}

// CompareCellNames orders cells by column name, byte-wise, as Tablestore orders a row's
// attribute columns; for slices.SortFunc and its kin.
func CompareCellNames(a, b Cell) int { return strings.Compare(a.Name, b.Name) }
