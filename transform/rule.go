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
	// Columns says what the result table holds of a row that passes, as COLUMNS is written:
	// empty (or blank) keeps every attribute column; a comma-separated list of names keeps
	// those columns (the projection); a text whose first non-blank character is `{` is an
	// expr map literal that computes the result row's attribute columns from the source
	// row's (the mapping; docs/design.md, "Transform columns").
	Columns string
}

// Rule is a compiled [Config]. It is immutable and safe for concurrent use.
//
// The filter runs on a row's attribute columns as int64, float64, bool, string or []byte
// ([ots.Value.Any]); a column the row lacks is nil. When the evaluation fails (`nil > 1`
// fails in expr) and at least one column the filter reads is missing, the row does not pass:
// `level > 1` is false on a row without `level`. When it fails with every such column
// present (`level` holds the STRING "3"), the row is invalid, and the error names each
// filter column's kind and value and quotes expr's error. A mapping runs on a row that
// passes, entry by entry, under the same rule (see [Compile]).
type Rule struct {
	config         Config          // as compiled: the filter defaulted, the columns trimmed
	program        *vm.Program     // the filter's
	filterColumns  []string        // sorted
	filterReads    map[string]bool // filterColumns as a set
	projection     map[string]bool // nil keeps every column; nil with a mapping
	mapping        *mapping        // nil unless Columns is a map literal
	functions      functions       // otsetl's functions, for the filter and the mapping
	passesEmptyRow bool            // the filter is true on a row lacking every column it reads
	evaluators     sync.Pool       // of *evaluator, so that evaluations allocate no VM and no environment
}

// evaluator is what runs of the rule's expressions need: expr's VM, which keeps its stack
// from one run to the next, and the environment map, which holds the columns the filter and
// the mapping read. One serves one goroutine at a time.
type evaluator struct {
	rule *Rule
	vm   vm.VM
	env  map[string]any
}

// Compile checks and compiles cfg once, for use on every event.
//
// The filter is compiled with expr.AsBool and undefined variables allowed (they are columns
// a row may lack), and its columns are taken from the compiled AST (see
// [Rule.FilterColumns]). Both the filter and a mapping may call expr's builtin functions and
// extract(text, pattern) (see [functions]). Errors name the filter or the columns and, for an
// expression, quote it with expr's line:column and a caret under the part that is wrong: a
// syntax error, an expression whose type is known not to be bool, a call of anything but a
// builtin function or extract with a constant regular expression, $env used other than as
// $env["column"], a filter that fails on a row lacking all its columns while reading none; a
// projection column that is empty, longer than 255 bytes or listed twice; and for a mapping,
// what [compileMapping] refuses.
func Compile(cfg Config) (*Rule, error) {
	cfg = cfg.Normalized()
	r := &Rule{config: cfg}
	var err error
	if isMapping(cfg.Columns) {
		r.mapping, err = compileMapping(cfg.Columns, &r.functions)
	} else {
		r.projection, err = compileProjection(cfg.Columns)
	}
	if err != nil {
		return nil, err
	}
	r.program, err = expr.Compile(cfg.Filter, append(r.functions.options(), expr.AsBool())...)
	if err != nil {
		return nil, expressionError("filter", cfg.Filter, err)
	}
	if r.filterColumns, err = columnsRead(r.program.Node(), cfg.Filter, &r.functions); err != nil {
		return nil, expressionError("filter", cfg.Filter, err)
	}
	r.filterReads = make(map[string]bool, len(r.filterColumns))
	for _, name := range r.filterColumns {
		r.filterReads[name] = true
	}
	if m := r.mapping; m != nil {
		for _, entry := range m.entries {
			for _, name := range entry.reads {
				if entry.program != nil && !r.filterReads[name] && !slices.Contains(m.computeReads, name) {
					m.computeReads = append(m.computeReads, name)
				}
			}
		}
	}
	envSize := len(r.filterColumns)
	if r.mapping != nil {
		envSize += len(r.mapping.reads)
	}
	r.evaluators.New = func() any { return &evaluator{rule: r, env: make(map[string]any, envSize)} }
	e := r.evaluator()
	defer e.release()
	if r.passesEmptyRow, err = e.evaluate(nil); err != nil {
		return nil, err
	}
	return r, nil
}

// expressionError is a compile error of the filter or the columns (what) whose text is
// source: `filter "level >": unexpected token EOF (1:7)`, then, when expr located the
// error, the line of source with a caret under the wrong part.
func expressionError(what, source string, err error) error {
	return fmt.Errorf("%s %q: %w", what, source, err)
}

// compileProjection returns the comma-separated columns as a set, or nil when there are none
// (keep everything).
func compileProjection(columns string) (map[string]bool, error) {
	if columns == "" {
		return nil, nil
	}
	names := strings.Split(columns, ",")
	projection := make(map[string]bool, len(names))
	for _, name := range names {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return nil, fmt.Errorf("columns %q: an empty column name", columns)
		case len(name) > ots.MaxNameBytes:
			return nil, fmt.Errorf("columns %q: column %q is longer than %d bytes", columns, ots.Brief(name), ots.MaxNameBytes)
		case projection[name]:
			return nil, fmt.Errorf("columns %q: column %q is listed twice", columns, name)
		}
		projection[name] = true
	}
	return projection, nil
}

// Config returns the configuration the rule was compiled from, as it applies it
// ([Config.Normalized]).
func (r *Rule) Config() Config { return r.config }

// Normalized returns c as a rule compiled from it applies it: both texts trimmed of
// surrounding blanks, the filter defaulted to [DefaultFilter]. Two configurations with the
// same normalized form are the same rule.
func (c Config) Normalized() Config {
	c.Filter = strings.TrimSpace(c.Filter)
	if c.Filter == "" {
		c.Filter = DefaultFilter
	}
	c.Columns = strings.TrimSpace(c.Columns)
	return c
}

// CheckPrimaryKey returns an error when the mapping computes a column named like a column of
// primaryKey, the primary key of the result table: Tablestore refuses such a row. It is nil
// without a mapping (a projection only keeps attribute columns, whose names the source table
// already took). The function does not know the primary key before events arrive, and
// refuses such a row then, as an invalid record; the operator commands, which read the
// tables' schema, call this at start-up.
func (r *Rule) CheckPrimaryKey(primaryKey []ots.PrimaryKeySchema) error {
	if r.mapping == nil {
		return nil
	}
	for _, col := range primaryKey {
		if r.mapping.entry(col.Name) != nil {
			return fmt.Errorf("%q is the name of a primary key column (%s): the result row cannot hold it as an attribute column", col.Name, ots.FormatSchema(primaryKey))
		}
	}
	return nil
}

// FilterColumns returns the attribute columns the filter reads, sorted, as found in the
// compiled expression's AST: identifiers that are not `let` variables, and the constant
// names in $env["name"], $env.name and get($env, "name"). A new slice on every call.
func (r *Rule) FilterColumns() []string {
	return slices.Clone(r.filterColumns)
}

// Projects reports whether the result table keeps the attribute column named column as it
// is: the projection keeps it (or every column). With a mapping it is false: the result
// row's columns are the mapping's.
func (r *Rule) Projects(column string) bool {
	return r.mapping == nil && (r.projection == nil || r.projection[column])
}

// ResultColumns returns the attribute columns of the result row when the rule fixes them:
// the projection's, in the order COLUMNS lists them, or the mapping's, sorted by name (a row
// lacks those whose source column is absent, or whose entry gives nil). It returns nil when
// the result row keeps every attribute column of the source row. A new slice on every call.
func (r *Rule) ResultColumns() []string {
	switch {
	case r.mapping != nil:
		names := make([]string, len(r.mapping.entries))
		for i := range r.mapping.entries {
			names[i] = r.mapping.entries[i].name
		}
		return names
	case r.projection == nil:
		return nil
	}
	names := strings.Split(r.config.Columns, ",")
	for i := range names {
		names[i] = strings.TrimSpace(names[i])
	}
	return names
}

// uses reports whether the result can depend on column: the filter or the mapping reads it,
// or the projection keeps it.
func (r *Rule) uses(column string) bool {
	return r.filterReads[column] || r.Projects(column) || r.mapping != nil && r.mapping.readsColumn[column]
}

// ReadColumns returns the attribute columns a read of the source row must fetch for
// [Rule.Resolve], sorted: the filter's columns and the projection's or those the mapping
// reads. It returns nil, meaning every column, when the projection keeps every column,
// when the rule reads no column at all, and when the filter is true on a row lacking all
// its columns: a read limited to columns the row does not have returns no row (Tablestore
// GetRow, columns_to_get), which would hide that the row exists.
func (r *Rule) ReadColumns() []string {
	var columns []string
	switch {
	case r.passesEmptyRow:
		return nil
	case r.mapping != nil:
		columns = slices.Clone(r.mapping.reads)
	case r.projection == nil:
		return nil
	default:
		columns = slices.Collect(maps.Keys(r.projection))
	}
	for _, name := range r.filterColumns {
		if !slices.Contains(columns, name) {
			columns = append(columns, name)
		}
	}
	if len(columns) == 0 {
		return nil
	}
	slices.Sort(columns)
	return columns
}

// Resolve decides the row change for primaryKey from the current source row, for a
// mutation listed in [Plan.Reads]: sourceRow holds its attribute columns (the latest version
// of each; a column listed twice counts at its first cell, since Tablestore lists versions
// newest first; cells without a value are absent) and found is false when the row does not
// exist, which gives a delete. The result is a PutRow of the projected or mapped row, or a
// DeleteRow. It is the view of one source row: the function after a read, and `otsetl sync`
// for every row, decide with it.
//
// When the filter or the mapping cannot be evaluated on the row (say `level` holds a STRING
// under `level > 1`), or the row to put holds what Tablestore would refuse in a row
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
	resolved.Kind, resolved.Columns, err = e.decide(primaryKey, rowOf(sourceRow), nil)
	if err != nil {
		return resolved, err
	}
	if r.mapping == nil { // the planner checks the projected cells of every record it folds
		for _, c := range resolved.Columns {
			if err := ots.CheckAttribute(c.Name, c.Value, primaryKey); err != nil {
				return ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: primaryKey}, fmt.Errorf("the source row cannot be written: %w", err)
			}
		}
	}
	return resolved, nil
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

// decide is the outcome for a known row image of the row primaryKey: when the filter passes,
// put its projection, which shares image's array, or its mapping, appended to dst (nil when
// no column is left); delete it otherwise. A failed evaluation comes with a DeleteRow and the
// error, and so does a mapped row that Tablestore would refuse ([ots.CheckAttribute]); the
// callers check a projection's cells.
func (e *evaluator) decide(primaryKey []ots.PrimaryKeyColumn, image row, dst []ots.Cell) (ots.RowChangeKind, []ots.Cell, error) {
	pass, err := e.evaluate(image)
	if err != nil || !pass {
		return ots.DeleteRow, nil, err
	}
	if e.rule.mapping == nil {
		return ots.PutRow, e.rule.project(image), nil
	}
	columns, err := e.mapRow(primaryKey, image, dst)
	if err != nil {
		return ots.DeleteRow, nil, err
	}
	if len(columns) == 0 {
		columns = nil
	}
	return ots.PutRow, columns, nil
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

// setColumn sets column in the environment to v, or leaves it out when v is none (a column
// the row lacks), and reports whether it is set.
func (e *evaluator) setColumn(column string, v ots.Value) bool {
	if v.IsNone() {
		delete(e.env, column)
		return false
	}
	e.env[column] = v.Any()
	return true
}

// evaluate runs the filter on image, under the failure rule of [Rule].
func (e *evaluator) evaluate(image row) (bool, error) {
	r := e.rule
	present := 0
	for _, name := range r.filterColumns {
		value, _ := image.get(name)
		if e.setColumn(name, value) {
			present++
		}
	}
	out, err := e.vm.Run(r.program, e.env)
	if err == nil {
		if pass, ok := out.(bool); ok {
			return pass, nil
		}
		err = fmt.Errorf("expected bool, but got %T", out)
	}
	if present < len(r.filterColumns) {
		return false, nil
	}
	return false, evaluationError(fmt.Sprintf("filter %q", r.config.Filter), r.filterColumns, image, err)
}

// evaluationError describes why an expression (what) failed on image, in which the columns
// it reads are all present: `filter "level > 1": column "level" holds STRING "3": invalid
// operation: …`, expr's error on its first line, with the line:column it gives.
func evaluationError(what string, columns []string, image row, err error) error {
	var b strings.Builder
	b.WriteString(what)
	b.WriteString(": ")
	for i, name := range columns {
		if i > 0 {
			b.WriteString(", ")
		}
		value, _ := image.get(name)
		fmt.Fprintf(&b, "column %q holds %s %s", ots.Brief(name), value.Kind(), value.Brief())
	}
	if len(columns) > 0 {
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
