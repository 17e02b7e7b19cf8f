package console

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/otsetl/otsetl/ots"
)

// TypedValue is a Tablestore value as the console's JSON carries it, both ways: its type and
// its text.
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
	tv := TypedValue{Type: v.Kind().String()}
	switch v.Kind() {
	case ots.KindInteger:
		i, _ := v.Int()
		tv.Value = strconv.FormatInt(i, 10)
	case ots.KindDouble:
		f, _ := v.Float()
		tv.Value = strconv.FormatFloat(f, 'g', -1, 64)
	case ots.KindBoolean:
		b, _ := v.Bool()
		tv.Value = strconv.FormatBool(b)
	case ots.KindString:
		tv.Value, _ = v.Str()
	case ots.KindBinary:
		b, _ := v.Bytes()
		tv.Value = hex.EncodeToString(b)
	}
	return tv
}

// kindOfType maps a type name, in any case, to a value kind.
func kindOfType(name string) (ots.Kind, bool) {
	for _, k := range []ots.Kind{ots.KindInteger, ots.KindDouble, ots.KindBoolean, ots.KindString, ots.KindBinary} {
		if strings.EqualFold(name, k.String()) {
			return k, true
		}
	}
	return ots.KindNone, false
}

// parse converts tv into a value; the error says, in words, what the text should be.
func (tv TypedValue) parse() (ots.Value, error) {
	kind, ok := kindOfType(tv.Type)
	if !ok {
		return ots.Value{}, fmt.Errorf("unknown type %q: want INTEGER, DOUBLE, BOOLEAN, STRING or BINARY", tv.Type)
	}
	return parseValue(kind, tv.Value)
}

// parseValue reads text as a value of kind (see [TypedValue]).
func parseValue(kind ots.Kind, text string) (ots.Value, error) {
	switch kind {
	case ots.KindInteger:
		i, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return ots.Value{}, fmt.Errorf("%q is not an INTEGER: want a whole number from %d to %d", text, int64(math.MinInt64), int64(math.MaxInt64))
		}
		return ots.Integer(i), nil
	case ots.KindDouble:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return ots.Value{}, fmt.Errorf("%q is beyond a DOUBLE's range", text)
		case err != nil:
			return ots.Value{}, fmt.Errorf("%q is not a DOUBLE: want a number such as 2.5 or 1e-3", text)
		case math.IsNaN(f) || math.IsInf(f, 0):
			return ots.Value{}, fmt.Errorf("%q is not a DOUBLE Tablestore can store: NaN and infinities are refused", text)
		}
		return ots.Double(f), nil
	case ots.KindBoolean:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true":
			return ots.Boolean(true), nil
		case "false":
			return ots.Boolean(false), nil
		}
		return ots.Value{}, fmt.Errorf("%q is not a BOOLEAN: want true or false", text)
	case ots.KindString:
		return ots.String(text), nil
	case ots.KindBinary:
		digits := strings.TrimSpace(text)
		if len(digits) >= 2 && (digits[:2] == "0x" || digits[:2] == "0X") {
			digits = digits[2:]
		}
		b, err := hex.DecodeString(digits)
		if err != nil {
			return ots.Value{}, fmt.Errorf("%q is not BINARY: want hexadecimal digits, two a byte, e.g. 0aff", text)
		}
		return ots.Binary(b), nil
	}
	return ots.Value{}, fmt.Errorf("type %s cannot be written", kind)
}
