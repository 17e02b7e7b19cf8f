package transform

import (
	"fmt"
	"regexp"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
)

// extractName is the one function otsetl adds to expr's builtin functions.
const extractName = "extract"

// functions are otsetl's additions to expr's language, for the filter and the mapping of one
// rule: extract(text, pattern), the first match of a regular expression (Go's regexp, RE2
// syntax) in text: its first capturing group when the pattern has one, the whole match
// otherwise; nil when it does not match or text is nil, an error when text is not a string.
// The pattern must be a constant string, compiled with the rule.
type functions struct {
	patterns map[string]*regexp.Regexp // extract's patterns, compiled; read-only once the rule is
}

// options are expr's options for the rule's expressions: an environment of columns, any of
// which a row may lack, and the functions.
func (f *functions) options() []expr.Option {
	return []expr.Option{
		expr.Env(map[string]any{}),
		expr.AllowUndefinedVariables(),
		expr.Function(extractName, f.extract, new(func(any, string) any)),
	}
}

// check checks a call of one of the functions, located in source: extract's pattern must be a
// constant string and a regular expression, which it compiles.
func (f *functions) check(source string, call *ast.CallNode) error {
	pattern, ok := call.Arguments[1].(*ast.StringNode)
	if !ok {
		return locatedError(source, call.Arguments[1], "%s's pattern must be a constant string", extractName)
	}
	re, err := regexp.Compile(pattern.Value)
	if err != nil {
		return locatedError(source, pattern, "%s's pattern: %v", extractName, err)
	}
	if f.patterns == nil {
		f.patterns = map[string]*regexp.Regexp{}
	}
	f.patterns[pattern.Value] = re
	return nil
}

// isFunction reports whether call calls one of the functions.
func isFunction(call *ast.CallNode) bool {
	id, ok := call.Callee.(*ast.IdentifierNode)
	return ok && id.Value == extractName && len(call.Arguments) == 2
}

// extract implements extract(text, pattern).
func (f *functions) extract(params ...any) (any, error) {
	pattern, _ := params[1].(string)
	re := f.patterns[pattern]
	if re == nil {
		return nil, fmt.Errorf("%s: the pattern %q was not compiled with the rule", extractName, pattern)
	}
	if params[0] == nil {
		return nil, nil
	}
	text, ok := params[0].(string)
	if !ok {
		return nil, fmt.Errorf("%s: the text is a %T; want a string", extractName, params[0])
	}
	match := re.FindStringSubmatch(text)
	switch {
	case match == nil:
		return nil, nil
	case len(match) > 1:
		return match[1], nil
	}
	return match[0], nil
}
