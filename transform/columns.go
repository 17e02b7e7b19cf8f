package transform

import (
	"fmt"
	"slices"

	"github.com/expr-lang/expr/ast"
)

// envName is expr's name for the whole environment (expr language definition, "$env").
const envName = "$env"

// columnsRead returns the sorted names of the attribute columns that the compiled filter
// tree reads: the free identifiers (those a `let` does not bind) and the constant names in
// $env["name"], $env.name and get($env, "name"). Builtin functions are not identifiers in
// expr's tree (they are ast.BuiltinNode). It fails on a call of anything but a builtin
// function, since the environment holds no functions, and on $env used in any other way,
// since the columns it reads could not be known.
func columnsRead(tree ast.Node) ([]string, error) {
	c := &columnCollector{bound: map[*ast.IdentifierNode]bool{}, read: map[string]bool{}}
	ast.Walk(&tree, c)
	if c.err != nil {
		return nil, c.err
	}
	for _, id := range c.identifiers {
		switch {
		case c.bound[id]:
		case id.Value == envName:
			return nil, fmt.Errorf(`%s may only be indexed by a constant column name, as %s["level"]`, envName, envName)
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
	bound map[*ast.IdentifierNode]bool
	read  map[string]bool
	err   error
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
		if c.err == nil {
			c.err = fmt.Errorf("%s is not a builtin function", n.Callee)
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
