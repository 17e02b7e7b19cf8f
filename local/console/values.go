package console

import (
	"fmt"

	"github.com/otsetl/otsetl/ots"
)

// TypedValue is a Tablestore value as the console's JSON carries it, both ways: its type and
// its text.
//
// Its text is [ots.Value.Text], read back with [ots.ParseText]:
//
//   - INTEGER: a decimal int64, e.g. "-42".
//   - DOUBLE: a decimal or exponent form ParseFloat reads, e.g. "2.5", "1e-3"; the console
//     writes the shortest form that reads back the same. NaN and infinities are refused:
//     Tablestore cannot store them.
//   - BOOLEAN: "true" or "false".
//   - STRING: the text itself, any UTF-8.
//   - BINARY: hexadecimal, two digits a byte, e.g. "0aff"; a leading "0x" is accepted. The
//     console writes lower case without the prefix.
type TypedValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// typedValueOf renders v; a value of no kind has the type "NONE" and no text.
func typedValueOf(v ots.Value) TypedValue {
	return TypedValue{Type: v.Kind().String(), Value: v.Text()}
}

// parse converts tv into a value; the error says, in words, what the text should be.
func (tv TypedValue) parse() (ots.Value, error) {
	kind, ok := ots.KindNamed(tv.Type)
	if !ok {
		return ots.Value{}, fmt.Errorf("unknown type %q: want INTEGER, DOUBLE, BOOLEAN, STRING or BINARY", tv.Type)
	}
	return ots.ParseText(kind, tv.Value)
}
