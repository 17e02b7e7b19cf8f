package transform

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
)

// envName is expr's name for the whole environment (expr language definition, "$env").
const envName = "$env"

// columnsRead returns the sorted names of the attribute columns that the expression tree
// reads: the free identifiers (those a `let` does not bind) and the constant names in
// $env["name"], $env.name and get($env, "name"). Builtin functions are not identifiers in
// expr's tree (they are ast.BuiltinNode), and fns's functions are checked (functions.check).
// It fails on a call of anything else, since the environment holds no functions, and on $env
// used in any other way, since the columns it reads could not be known; the error is located
// in source, the expression's text.
func columnsRead(tree ast.Node, source string, fns *functions) ([]string, error) {
	c := &columnCollector{bound: map[*ast.IdentifierNode]bool{}, read: map[string]bool{}}
	ast.Walk(&tree, c)
	if c.unknownCall != nil {
		return nil, locatedError(source, c.unknownCall, "%s is not a builtin function", c.unknownCall.Callee)
	}
	for _, call := range c.calls {
		if err := fns.check(source, call); err != nil {
			return nil, err
		}
	}
	for _, id := range c.identifiers {
		switch {
		case c.bound[id]:
		case id.Value == envName:
			return nil, locatedError(source, id, `%s may only be indexed by a constant column name, as %s["level"]`, envName, envName)
		default:
			c.read[id.Value] = true
		}
	}
	columns := make([]string, 0, len(c.read))
	for name := range c.read {
		columns = append(columns, name)
	}
	slices.Sort(columns)
	return columns, nil
}

// columnCollector is an ast.Visitor gathering what columnsRead needs. ast.Walk visits
// children before their parent, so whether an identifier is bound is only known once the
// walk is over.
type columnCollector struct {
	identifiers []*ast.IdentifierNode
	// bound marks identifiers that are not columns: names a `let` binds in its body, and
	// the $env of a constant column lookup.
	bound       map[*ast.IdentifierNode]bool
	read        map[string]bool
	calls       []*ast.CallNode // the calls of otsetl's functions
	unknownCall *ast.CallNode   // the first call of anything else
}

// Visit implements ast.Visitor.
func (c *columnCollector) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		c.identifiers = append(c.identifiers, n)
	case *ast.VariableDeclaratorNode:
		ast.Walk(&n.Expr, letBinder{name: n.Name, bound: c.bound})
	case *ast.MemberNode:
		c.envLookup(n.Node, n.Property)
	case *ast.BuiltinNode:
		if n.Name == "get" && len(n.Arguments) == 2 {
			c.envLookup(n.Arguments[0], n.Arguments[1])
		}
	case *ast.CallNode:
		switch {
		case isFunction(n):
			c.bound[n.Callee.(*ast.IdentifierNode)] = true
			c.calls = append(c.calls, n)
		case c.unknownCall == nil:
			c.unknownCall = n
		}
	}
}

// envLookup records the column of base[property] when base is $env and property a constant
// string.
func (c *columnCollector) envLookup(base, property ast.Node) {
	env, ok := base.(*ast.IdentifierNode)
	if !ok || env.Value != envName {
		return
	}
	if name, ok := property.(*ast.StringNode); ok {
		c.bound[env] = true
		c.read[name.Value] = true
	}
}

// letBinder marks the identifiers named name in the body of `let name = …; body` as bound.
// expr refuses to redeclare a variable, so every such identifier is the variable.
type letBinder struct {
	name  string
	bound map[*ast.IdentifierNode]bool
}

// Visit implements ast.Visitor.
func (b letBinder) Visit(node *ast.Node) {
	if id, ok := (*node).(*ast.IdentifierNode); ok && id.Value == b.name {
		b.bound[id] = true
	}
}

// locatedError is expr's error for node of the expression source: the message, the
// line:column of node, and the line of source with a caret under it.
func locatedError(source string, node ast.Node, format string, args ...any) error {
	return (&file.Error{Location: node.Location(), Message: fmt.Sprintf(format, args...)}).Bind(file.NewSource(source))
}
