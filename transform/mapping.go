package transform

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/checker"
	"github.com/expr-lang/expr/compiler"
	"github.com/expr-lang/expr/conf"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/optimizer"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"

	"github.com/otsetl/otsetl/ots"
)

// mapping is a COLUMNS map literal, compiled: one entry per column of the result row
// (docs/design.md, "Transform columns").
type mapping struct {
	entries     []mapEntry      // sorted by name
	reads       []string        // the columns the entries read, sorted
	readsColumn map[string]bool // reads as a set
	// computeReads are the columns the entries with a program read and the filter does not:
	// those a row's evaluation puts into the environment after the filter's.
	computeReads []string
	// program, when two entries or more have a program, computes all of them in one run of
	// the VM, as an array literal of their expressions in the order of entries: what a row
	// costs is then one run rather than one per entry. When that run fails, each entry runs
	// on its own, which tells which one failed and whether a missing column excuses it.
	program *vm.Program
}

// mapEntry is one entry of a mapping: a result column and the expression that computes it,
// which is one of three kinds.
type mapEntry struct {
	name string // the result column
	text string // the expression, printed from its tree, for messages
	// column is set when the expression is a source column and nothing else (`"level":
	// level`): its cell is copied, as the VM would return it, without running the VM.
	column string
	// program is the compiled expression of an entry that reads columns.
	program *vm.Program
	// value is the value of an entry that reads no column, computed once (none: nil).
	value ots.Value
	reads []string // the columns it reads, sorted
}

// isMapping reports whether a COLUMNS text is a map literal: its first non-blank character
// is `{` (no column name starts with one).
func isMapping(columns string) bool {
	return strings.HasPrefix(strings.TrimSpace(columns), "{")
}

// wantedTypes names the storable types for messages.
const wantedTypes = "an integer (INTEGER), a float (DOUBLE), a bool (BOOLEAN), a string (STRING), bytes (BINARY) or nil (no column)"

// compileMapping compiles a COLUMNS map literal: `{"name": expression, …}`, each entry's
// expression compiled on its own, as the filter is, with undefined variables allowed (they
// are columns a row may lack) and fns's functions. Errors quote source with expr's
// line:column and a caret under the part that is wrong: a syntax or type error (expr's), a
// text that is not one map literal, a key that is not a constant string, a key Tablestore
// refuses as an attribute column name ([ots.CheckAttribute]: empty or longer than 255 bytes)
// or given twice, a value whose type is known to have no Tablestore type (see [valueOf]: an
// array, a map, a time), now() (the view must be a function of the row alone), what
// [columnsRead] refuses, and an entry that reads no column and fails or gives what
// Tablestore refuses.
func compileMapping(source string, fns *functions) (*mapping, error) {
	config := conf.CreateNew()
	for _, option := range fns.options() {
		option(config)
	}
	config.Check()
	tree, err := checker.ParseCheck(source, config)
	if err != nil {
		return nil, expressionError("columns", source, err)
	}
	literal, ok := tree.Node.(*ast.MapNode)
	if !ok {
		return nil, expressionError("columns", source, locatedError(source, tree.Node, `want one map literal of the result's columns, as {"level": level, "text": message}`))
	}
	m := &mapping{readsColumn: map[string]bool{}}
	computed := map[string]ast.Node{} // the optimized expressions of the entries with a program
	for _, node := range literal.Pairs {
		pair := node.(*ast.PairNode)
		entry, err := compileEntry(source, pair, config, fns)
		if err == nil && m.entry(entry.name) != nil {
			err = locatedError(source, pair.Key, "column %q is given twice", entry.name)
		}
		if err != nil {
			return nil, expressionError("columns", source, err)
		}
		m.entries = append(m.entries, entry)
		if entry.program != nil {
			computed[entry.name] = pair.Value
		}
		for _, name := range entry.reads {
			m.readsColumn[name] = true
		}
	}
	slices.SortFunc(m.entries, func(a, b mapEntry) int { return strings.Compare(a.name, b.name) })
	for name := range m.readsColumn {
		m.reads = append(m.reads, name)
	}
	slices.Sort(m.reads)
	if len(computed) > 1 {
		all := &ast.ArrayNode{}
		for _, entry := range m.entries {
			if node := computed[entry.name]; node != nil {
				all.Nodes = append(all.Nodes, node)
			}
		}
		var err error
		if m.program, err = compiler.Compile(&parser.Tree{Node: all, Source: file.NewSource(source)}, config); err != nil {
			return nil, expressionError("columns", source, err)
		}
	}
	return m, nil
}

// compileEntry compiles one entry of the map literal source, whose tree config has checked.
func compileEntry(source string, pair *ast.PairNode, config *conf.Config, fns *functions) (mapEntry, error) {
	key, ok := pair.Key.(*ast.StringNode)
	if !ok {
		return mapEntry{}, locatedError(source, pair.Key, "a key must be a constant string, the result column's name")
	}
	if err := ots.CheckAttribute(key.Value, ots.Value{}, nil); err != nil {
		return mapEntry{}, locatedError(source, pair.Key, "not a column name Tablestore takes: %v", err)
	}
	entry := mapEntry{name: key.Value, text: pair.Value.String()}
	if t := pair.Value.Type(); t != nil && t.Kind() != reflect.Interface {
		if _, err := valueOf(reflect.Zero(t).Interface()); err != nil {
			return mapEntry{}, locatedError(source, pair.Key, "column %q would hold a %s, which has no Tablestore type; want %s", key.Value, t, wantedTypes)
		}
	}
	if now := findBuiltin(pair.Value, "now"); now != nil {
		return mapEntry{}, locatedError(source, now, "now() makes a column depend on when a row is processed, not on the row alone: the result could never equal the view")
	}
	var err error
	if entry.reads, err = columnsRead(pair.Value, source, fns); err != nil {
		return mapEntry{}, err
	}
	if entry.column, ok = columnReference(pair.Value); ok {
		return entry, nil
	}
	if err := optimizer.Optimize(&pair.Value, config); err != nil {
		return mapEntry{}, err
	}
	program, err := compiler.Compile(&parser.Tree{Node: pair.Value, Source: file.NewSource(source)}, config)
	if err != nil || len(entry.reads) > 0 {
		entry.program = program
		return entry, err
	}
	out, err := vm.Run(program, map[string]any{})
	if err == nil {
		entry.value, err = valueOf(out)
	}
	if err == nil {
		err = ots.CheckAttribute(entry.name, entry.value, nil)
	}
	if err != nil {
		var located *file.Error // where the VM failed, rather than the entry's key
		if errors.As(err, &located) {
			return mapEntry{}, (&file.Error{Location: located.Location, Message: fmt.Sprintf("column %q reads no column and fails on every row: %s", entry.name, located.Message)}).Bind(file.NewSource(source))
		}
		return mapEntry{}, locatedError(source, pair.Key, "column %q reads no column and fails on every row: %v", entry.name, err)
	}
	return entry, nil
}

// columnReference returns the column an expression is when it is a column and nothing else:
// `level` or `$env["level"]`.
func columnReference(node ast.Node) (string, bool) {
	switch n := node.(type) {
	case *ast.IdentifierNode:
		return n.Value, n.Value != envName
	case *ast.MemberNode:
		env, ok := n.Node.(*ast.IdentifierNode)
		name, constant := n.Property.(*ast.StringNode)
		if ok && constant && env.Value == envName && !n.Optional {
			return name.Value, true
		}
	}
	return "", false
}

// findBuiltin returns the first call of the builtin function name in tree, or nil.
func findBuiltin(tree ast.Node, name string) ast.Node {
	f := builtinFinder{name: name}
	ast.Walk(&tree, &f)
	return f.found
}

// builtinFinder is an ast.Visitor finding a call of a builtin function.
type builtinFinder struct {
	name  string
	found ast.Node
}

// Visit implements ast.Visitor.
func (f *builtinFinder) Visit(node *ast.Node) {
	if n, ok := (*node).(*ast.BuiltinNode); ok && n.Name == f.name && f.found == nil {
		f.found = n
	}
}

// entry returns the entry computing column name, or nil.
func (m *mapping) entry(name string) *mapEntry {
	for i := range m.entries {
		if m.entries[i].name == name {
			return &m.entries[i]
		}
	}
	return nil
}

// valueOf turns what an entry's expression returned into a value of the matching Tablestore
// type: a Go integer of any size INTEGER (an unsigned one above math.MaxInt64 is an error),
// a float DOUBLE, a bool BOOLEAN, a string STRING, a []byte BINARY; nil is none (the column
// is left out). Any other type (a time.Time, a time.Duration, an array, a map) is an error.
// expr's arithmetic gives int and float64, and a column holds what [ots.Value.Any] gives.
func valueOf(out any) (ots.Value, error) {
	switch v := out.(type) {
	case nil:
		return ots.Value{}, nil
	case int:
		return ots.Integer(int64(v)), nil
	case int64:
		return ots.Integer(v), nil
	case float64:
		return ots.Double(v), nil
	case string:
		return ots.String(v), nil
	case bool:
		return ots.Boolean(v), nil
	case []byte:
		return ots.Binary(v), nil
	case int8:
		return ots.Integer(int64(v)), nil
	case int16:
		return ots.Integer(int64(v)), nil
	case int32:
		return ots.Integer(int64(v)), nil
	case uint8:
		return ots.Integer(int64(v)), nil
	case uint16:
		return ots.Integer(int64(v)), nil
	case uint32:
		return ots.Integer(int64(v)), nil
	case uint:
		return unsignedValue(uint64(v))
	case uint64:
		return unsignedValue(v)
	case float32:
		return ots.Double(float64(v)), nil
	}
	return ots.Value{}, fmt.Errorf("the value is a %T, which has no Tablestore type; want %s", out, wantedTypes)
}

// unsignedValue is an INTEGER of v, or an error when v is beyond an INTEGER's range.
func unsignedValue(v uint64) (ots.Value, error) {
	if v > math.MaxInt64 {
		return ots.Value{}, fmt.Errorf("the value %d is beyond the range of an INTEGER (a signed 64-bit integer)", v)
	}
	return ots.Integer(int64(v)), nil
}

// mapRow appends the mapped columns of image, a row of primaryKey that passed the filter
// (which set the filter's columns in the environment; mapRow sets computeReads), to dst, by
// name; an entry whose value is nil leaves its column out. An entry that fails when a column
// it reads is missing is nil too, as the filter is false then; one that fails with every
// such column present, returns a value of no Tablestore type, or one Tablestore refuses in a
// row (ots.CheckAttribute: a DOUBLE NaN or infinity, a value over 2 MB, the name of a primary
// key column) is an error naming the entry, its columns' kinds and values, and the reason.
// The entries with a program are computed in one run of the mapping's program when it has
// one; when that run fails, each runs on its own, so that the outcome is the same.
func (e *evaluator) mapRow(primaryKey []ots.PrimaryKeyColumn, image row, dst []ots.Cell) ([]ots.Cell, error) {
	m := e.rule.mapping
	for _, name := range m.computeReads {
		value, _ := image.get(name)
		e.setColumn(name, value)
	}
	var computed []any // the values of the entries with a program, in order, when m.program ran
	if m.program != nil {
		if out, err := e.vm.Run(m.program, e.env); err == nil {
			computed, _ = out.([]any)
		}
	}
	for i := range m.entries {
		entry := &m.entries[i]
		value := entry.value
		switch {
		case entry.program != nil && computed != nil:
			var err error
			if value, err = valueOf(computed[0]); err != nil {
				return nil, evaluationError(entry.describe(), entry.reads, image, err)
			}
			computed = computed[1:]
		case entry.program != nil:
			var err error
			if value, err = e.run(entry); err != nil {
				return nil, evaluationError(entry.describe(), entry.reads, image, err)
			}
		case entry.column != "":
			value, _ = image.get(entry.column)
		}
		if value.IsNone() {
			continue
		}
		if err := ots.CheckAttribute(entry.name, value, primaryKey); err != nil {
			return nil, evaluationError(entry.describe(), entry.reads, image, err)
		}
		dst = append(dst, ots.Cell{Name: entry.name, Value: value})
	}
	return dst, nil
}

// run evaluates entry's program on the environment, which holds the columns it reads: a
// value, none for nil and for a failure with a column it reads missing, or the error.
func (e *evaluator) run(entry *mapEntry) (ots.Value, error) {
	out, err := e.vm.Run(entry.program, e.env)
	if err != nil {
		for _, name := range entry.reads {
			if _, ok := e.env[name]; !ok {
				return ots.Value{}, nil
			}
		}
		return ots.Value{}, err
	}
	return valueOf(out)
}

// describe names the entry in messages: `columns entry "severity" (level >= 3 ? "error" :
// "warn")`.
func (entry *mapEntry) describe() string {
	return fmt.Sprintf("columns entry %q (%s)", ots.Brief(entry.name), ots.Brief(entry.text))
}

// mappedChanges returns, for a key whose event holds only UpdateRows that cannot change its
// membership under the filter, the changes of the mapped columns, appended to dst: one cell
// per entry that is a column the updates touch (fold), its folded value, or a cell without a
// value when the column was removed. read is true when an entry that computes a value reads a
// touched column: the source row must be read, since the row before the event may have been
// one the mapping could not evaluate, which is not in the result table and may now be in the
// view. An entry that is a column never fails (the source table holds nothing Tablestore
// refuses), so a row in the result table stays there. No cell and no read means that nothing
// the result holds changes.
func (e *evaluator) mappedChanges(primaryKey []ots.PrimaryKeyColumn, fold *cellFold, dst []ots.Cell) (changes []ots.Cell, read bool) {
	for i := range e.rule.mapping.entries {
		entry := &e.rule.mapping.entries[i]
		for _, name := range entry.reads {
			if _, touched := fold.find(name); touched && entry.program != nil {
				return nil, true
			}
		}
		if entry.column == "" {
			continue
		}
		at, touched := fold.find(entry.column)
		if !touched {
			continue
		}
		value := fold.cells[at].Value
		if !value.IsNone() && ots.CheckAttribute(entry.name, value, primaryKey) != nil {
			return nil, true
		}
		dst = append(dst, ots.Cell{Name: entry.name, Value: value})
	}
	return dst, false
}
