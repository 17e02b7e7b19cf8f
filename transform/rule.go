package transform

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/otsetl/otsetl/ots"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// DefaultFilter is the filter a [Config] with an empty Filter gets: rows whose `level`
// attribute column is greater than 1.
const DefaultFilter = "level > 1"

// Config is the rule's configuration, as the FILTER and COLUMNS environment variables give it.
type Config struct {
	// Filter is an expr-lang/expr boolean expression over a row's attribute columns; a
	// column the row lacks is nil. Empty means [DefaultFilter].
	Filter string
	// Columns is the projection: the attribute columns the result table keeps. Nil or empty
	// keeps all attribute columns.
	Columns []string
}

// Rule is a compiled [Config]. It is immutable and safe for concurrent use.
//
// The filter runs on a row's attribute columns as int64, float64, bool, string or []byte
// ([ots.Value.Any]); a column the row lacks is nil. When the evaluation fails (`nil > 1`
// fails in expr) and at least one column the filter reads is missing, the row does not pass:
// `level > 1` is false on a row without `level`. When it fails with every such column
// present (`level` holds the STRING "3"), the row is invalid, and the error names each
// filter column's kind and value and quotes expr's error.
type Rule struct {
	filter         string
	program        *vm.Program
	filterColumns  []string        // sorted
	readsColumn    map[string]bool // filterColumns as a set
	projection     map[string]bool // nil keeps every column
	passesEmptyRow bool            // the filter is true on a row lacking every column it reads
	evaluators     sync.Pool       // of *evaluator, so that evaluations allocate no VM and no environment
}

// evaluator is what runs of the filter need: expr's VM, which keeps its stack from one run to
// the next, and the environment map. One serves one goroutine at a time.
type evaluator struct {
	rule *Rule
	vm   vm.VM
	env  map[string]any
}

// Compile checks and compiles cfg once, for use on every event.
//
// The filter is compiled with expr.AsBool and undefined variables allowed (they are columns
// a row may lack), and its columns are taken from the compiled AST (see
// [Rule.FilterColumns]). Errors, each naming the filter or the column: a syntax error, an
// expression whose type is known not to be bool, a call of anything but a builtin function,
// $env used other than as $env["column"], a filter that fails on a row lacking all its
// columns while reading none, and a projection column that is empty, longer than 255 bytes
// or listed twice.
func Compile(cfg Config) (*Rule, error) {
	source := cfg.Filter
	if source == "" {
		source = DefaultFilter
	}
	projection, err := compileProjection(cfg.Columns)
	if err != nil {
		return nil, err
	}
	program, err := expr.Compile(source, expr.Env(map[string]any{}), expr.AllowUndefinedVariables(), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("filter %q: %s", source, firstLine(err))
	}
	columns, err := columnsRead(program.Node())
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", source, err)
	}
	r := &Rule{
		filter:        source,
		program:       program,
		filterColumns: columns,
		readsColumn:   make(map[string]bool, len(columns)),
		projection:    projection,
	}
	for _, name := range columns {
		r.readsColumn[name] = true
	}
	r.evaluators.New = func() any { return &evaluator{rule: r, env: make(map[string]any, len(columns))} }
	e := r.evaluator()
	defer e.release()
	if r.passesEmptyRow, err = e.evaluate(nil); err != nil {
		return nil, err
	}
	return r, nil
}

// compileProjection returns cfg.Columns as a set, or nil when it is empty (keep everything).
func compileProjection(columns []string) (map[string]bool, error) {
	if len(columns) == 0 {
		return nil, nil
	}
	projection := make(map[string]bool, len(columns))
	for _, name := range columns {
		switch {
		case name == "":
			return nil, errors.New("projection: empty column name")
		case len(name) > ots.MaxNameBytes:
			return nil, fmt.Errorf("projection: column %q is longer than %d bytes", name, ots.MaxNameBytes)
		case projection[name]:
			return nil, fmt.Errorf("projection: column %q is listed twice", name)
		}
		projection[name] = true
	}
	return projection, nil
}

// FilterColumns returns the attribute columns the filter reads, sorted, as found in the
// compiled expression's AST: identifiers that are not `let` variables, and the constant
// names in $env["name"], $env.name and get($env, "name"). A new slice on every call.
func (r *Rule) FilterColumns() []string {
	return slices.Clone(r.filterColumns)
}

// Projects reports whether the result table keeps the attribute column named column.
func (r *Rule) Projects(column string) bool {
	return r.projection == nil || r.projection[column]
}

// ReadColumns returns the attribute columns a read of the source row must fetch for
// [Rule.Resolve], sorted: the projection and the filter's columns. It returns nil, meaning
// every column, when the projection keeps every column, and also when the filter is true on
// a row lacking all its columns: a read limited to columns the row does not have returns
// no row (Tablestore GetRow, columns_to_get), which would hide that the row exists.
func (r *Rule) ReadColumns() []string {
	if r.projection == nil || r.passesEmptyRow {
		return nil
	}
	columns := slices.Collect(maps.Keys(r.projection))
	for _, name := range r.filterColumns {
		if !r.projection[name] {
			columns = append(columns, name)
		}
	}
	slices.Sort(columns)
	return columns
}

// Resolve decides the row change for primaryKey from the current source row, for a
// mutation listed in [Plan.Reads]: sourceRow holds its attribute columns (the latest version
// of each; a column listed twice counts at its first cell, since Tablestore lists versions
// newest first; cells without a value are absent) and found is false when the row does not
// exist, which gives a delete. The result is a PutRow of the projected row or a DeleteRow.
//
// When the filter cannot be evaluated on the row (say `level` holds a STRING under
// `level > 1`), or its projection holds what Tablestore would refuse in a row
// ([ots.CheckAttribute]), Resolve returns a DeleteRow, since such a row is not in the
// result table, together with an error naming the columns, their kinds and values; the
// caller reports the mutation's Records as invalid records.
func (r *Rule) Resolve(primaryKey []ots.PrimaryKeyColumn, sourceRow []ots.Cell, found bool) (ots.RowChange, error) {
	resolved := ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: primaryKey}
	if !found {
		return resolved, nil
	}
	e := r.evaluator()
	defer e.release()
	var err error
	resolved.Kind, resolved.Columns, err = e.decide(rowOf(sourceRow))
	for _, c := range resolved.Columns {
		if err := ots.CheckAttribute(c.Name, c.Value, primaryKey); err != nil {
			return ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: primaryKey}, fmt.Errorf("the source row cannot be written: %w", err)
		}
	}
	return resolved, err
}

// row is a row image: one ots.Cell per attribute column, sorted by name. It never holds a cell
// without a value.
type row []ots.Cell

// rowOf returns the row image of cells, where the first cell of a column is its visible value.
func rowOf(cells []ots.Cell) row {
	image := make(row, 0, len(cells))
	for _, c := range cells {
		if !c.Value.IsNone() {
			image = append(image, c)
		}
	}
	slices.SortStableFunc(image, ots.CompareCellNames)
	return slices.CompactFunc(image, func(a, b ots.Cell) bool { return a.Name == b.Name })
}

// get returns the value of column and whether image has it; a short image is scanned.
func (image row) get(column string) (ots.Value, bool) {
	if len(image) <= 8 {
		for _, c := range image {
			if c.Name == column {
				return c.Value, true
			}
		}
		return ots.Value{}, false
	}
	at, found := slices.BinarySearchFunc(image, column, func(c ots.Cell, name string) int { return strings.Compare(c.Name, name) })
	if !found {
		return ots.Value{}, false
	}
	return image[at].Value, true
}

// evaluator returns an evaluator of r's filter, for one goroutine until its release.
func (r *Rule) evaluator() *evaluator { return r.evaluators.Get().(*evaluator) }

// release hands e back to its rule, holding no value.
func (e *evaluator) release() {
	clear(e.env)
	e.rule.evaluators.Put(e)
}

// decide is the outcome for a known row image: put its projection when the filter passes,
// delete it otherwise. An evaluation error comes with a DeleteRow. The put's Columns may
// share image's array.
func (e *evaluator) decide(image row) (ots.RowChangeKind, []ots.Cell, error) {
	pass, err := e.evaluate(image)
	if err != nil || !pass {
		return ots.DeleteRow, nil, err
	}
	return ots.PutRow, e.rule.project(image), nil
}

// project returns the projected columns of image, sorted by name, in image's own array; nil
// when none is left.
func (r *Rule) project(image row) []ots.Cell {
	if r.projection != nil {
		image = slices.DeleteFunc(image, func(c ots.Cell) bool { return !r.projection[c.Name] })
	}
	if len(image) == 0 {
		return nil
	}
	return image
}

// evaluate runs the filter on image, under the failure rule of [Rule].
func (e *evaluator) evaluate(image row) (bool, error) {
	r := e.rule
	for _, name := range r.filterColumns {
		if value, ok := image.get(name); ok {
			e.env[name] = value.Any()
		} else {
			delete(e.env, name)
		}
	}
	out, err := e.vm.Run(r.program, e.env)
	if err == nil {
		if pass, ok := out.(bool); ok {
			return pass, nil
		}
		err = fmt.Errorf("expected bool, but got %T", out)
	}
	if len(e.env) < len(r.filterColumns) {
		return false, nil
	}
	return false, r.evaluationError(image, err)
}

// evaluationError describes why the filter failed on image, whose filter columns are all
// present: `filter "level > 1": column "level" holds STRING "3": invalid operation: …`.
func (r *Rule) evaluationError(image row, err error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "filter %q: ", r.filter)
	for i, name := range r.filterColumns {
		if i > 0 {
			b.WriteString(", ")
		}
		value, _ := image.get(name)
		fmt.Fprintf(&b, "column %q holds %s %s", ots.Brief(name), value.Kind(), value.Brief())
	}
	if len(r.filterColumns) > 0 {
		b.WriteString(": ")
	}
	b.WriteString(firstLine(err))
	return errors.New(b.String())
}

// firstLine returns the first line of err's text: expr errors append a source snippet on
// further lines.
func firstLine(err error) string {
	line, _, _ := strings.Cut(err.Error(), "\n")
	return line
}
