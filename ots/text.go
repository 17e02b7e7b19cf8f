package ots

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// KindNamed returns the kind whose Tablestore name ([Kind.String]) is name, in any case:
// "INTEGER", "double", "Binary"; false for another name, "NONE" included.
func KindNamed(name string) (Kind, bool) {
	for _, k := range []Kind{KindInteger, KindDouble, KindBoolean, KindString, KindBinary} {
		if strings.EqualFold(name, k.String()) {
			return k, true
		}
	}
	return KindNone, false
}

// Text returns v's value as text, the form [ParseText] reads back to the same value with
// v's kind: an INTEGER in decimal, a DOUBLE in the shortest form that reads back the same,
// a BOOLEAN as "true" or "false", a STRING as it is, a BINARY in lower-case hexadecimal, two
// digits a byte; "" for no value. The kind is not in the text: keep it beside.
func (v Value) Text() string {
	switch v.kind {
	case KindInteger:
		return strconv.FormatInt(int64(v.word), 10)
	case KindDouble:
		return strconv.FormatFloat(math.Float64frombits(v.word), 'g', -1, 64)
	case KindBoolean:
		return strconv.FormatBool(v.word != 0)
	case KindString:
		return v.text
	case KindBinary:
		return hex.EncodeToString([]byte(v.text))
	}
	return ""
}

// ParseText reads text as a value of kind, as people type values: the forms [Value.Text]
// writes, and besides, spaces around numbers, booleans and BINARY digits, booleans in any
// case, and BINARY digits in any case after an optional "0x". A DOUBLE NaN or infinity is
// refused, as Tablestore refuses to store one. The error says, in words, what the text
// should be.
func ParseText(kind Kind, text string) (Value, error) {
	switch kind {
	case KindInteger:
		i, err := strconv.ParseInt(strings.TrimSpace(text), 10, 64)
		if err != nil {
			return Value{}, fmt.Errorf("%q is not an INTEGER: want a whole number from %d to %d", text, int64(math.MinInt64), int64(math.MaxInt64))
		}
		return Integer(i), nil
	case KindDouble:
		f, err := strconv.ParseFloat(strings.TrimSpace(text), 64)
		switch {
		case errors.Is(err, strconv.ErrRange):
			return Value{}, fmt.Errorf("%q is beyond a DOUBLE's range", text)
		case err != nil:
			return Value{}, fmt.Errorf("%q is not a DOUBLE: want a number such as 2.5 or 1e-3", text)
		case math.IsNaN(f) || math.IsInf(f, 0):
			return Value{}, fmt.Errorf("%q is not a DOUBLE Tablestore can store: NaN and infinities are refused", text)
		}
		return Double(f), nil
	case KindBoolean:
		switch strings.ToLower(strings.TrimSpace(text)) {
		case "true":
			return Boolean(true), nil
		case "false":
			return Boolean(false), nil
		}
		return Value{}, fmt.Errorf("%q is not a BOOLEAN: want true or false", text)
	case KindString:
		return String(text), nil
	case KindBinary:
		digits := strings.TrimSpace(text)
		if len(digits) >= 2 && (digits[:2] == "0x" || digits[:2] == "0X") {
			digits = digits[2:]
		}
		b, err := hex.DecodeString(digits)
		if err != nil {
			return Value{}, fmt.Errorf("%q is not BINARY: want hexadecimal digits, two a byte, e.g. 0aff", text)
		}
		return Binary(b), nil
	}
	return Value{}, fmt.Errorf("type %s cannot be written", kind)
}

// TextKeyColumn is one column of a primary key, or of a key prefix, as text, the form of
// otsetl's JSON files and messages (sync's checkpoint, the task invocations): {"name", "type",
// "value"}, the type INTEGER, STRING or BINARY, the value as [Value.Text] writes it (an
// INTEGER in decimal, a STRING as it is, a BINARY in lower-case hexadecimal).
type TextKeyColumn struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// TextKey converts a key or a key prefix to its text form, an empty list for none.
func TextKey(key []PrimaryKeyColumn) []TextKeyColumn {
	columns := make([]TextKeyColumn, len(key))
	for i, col := range key {
		columns[i] = TextKeyColumn{Name: col.ColumnName, Type: col.Value.Kind().String(), Value: col.Value.Text()}
	}
	return columns
}

// KeyOfText converts a key or a key prefix from its text form, whose columns must be the
// leading columns of schema, with their names and types, each value written as [TextKey]
// writes it (so that one key has one text form). The error names the column and what is
// wrong.
func KeyOfText(columns []TextKeyColumn, schema []PrimaryKeySchema) ([]PrimaryKeyColumn, error) {
	if len(columns) > len(schema) {
		return nil, fmt.Errorf("%d key columns; the table's primary key (%s) has %d", len(columns), FormatSchema(schema), len(schema))
	}
	key := make([]PrimaryKeyColumn, len(columns))
	for i, c := range columns {
		if c.Name != schema[i].Name {
			return nil, fmt.Errorf("key column %d is %q; the table's primary key (%s) has %q there", i+1, c.Name, FormatSchema(schema), schema[i].Name)
		}
		kind, ok := KindNamed(c.Type)
		if !ok || kind.String() != c.Type || kind != schema[i].Type {
			return nil, fmt.Errorf("column %q: type %q; the table's primary key (%s) has %s", c.Name, c.Type, FormatSchema(schema), schema[i].Type)
		}
		v, err := ParseText(kind, c.Value)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", c.Name, err)
		}
		if v.Text() != c.Value {
			return nil, fmt.Errorf("column %q: %s %q is not written as otsetl writes it (%q)", c.Name, c.Type, c.Value, v.Text())
		}
		key[i] = PrimaryKeyColumn{ColumnName: c.Name, Value: v}
	}
	return key, nil
}
