// Package ots is the value model otsetl's packages share: Tablestore's typed values, the
// primary key columns and attribute cells that hold them, and the primary key's encodings.
//
// A [Value] is a typed union of Tablestore's five attribute types (Tablestore "Data types":
// INTEGER, DOUBLE, BOOLEAN, STRING, BINARY) whose accessors report the kind they hold instead
// of panicking. The trigger event (package events), the rule (transform), the Tablestore
// client (tablestore) and the local tools all speak it; none of them owns it.
package ots

import (
	"fmt"
	"math"
	"unicode/utf8"
	"unsafe"
)

// Kind is the Tablestore type a [Value] holds.
type Kind uint8

// The value kinds. KindNone is the zero Value: "no value", as on a delete cell.
const (
	KindNone Kind = iota
	KindInteger
	KindDouble
	KindBoolean
	KindString
	KindBinary
)

// String returns the Tablestore name of the kind: "INTEGER", "DOUBLE", "BOOLEAN", "STRING",
// "BINARY", or "NONE".
func (k Kind) String() string {
	switch k {
	case KindInteger:
		return "INTEGER"
	case KindDouble:
		return "DOUBLE"
	case KindBoolean:
		return "BOOLEAN"
	case KindString:
		return "STRING"
	case KindBinary:
		return "BINARY"
	case KindNone:
		return "NONE"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// IsPrimaryKeyKind reports whether a primary key column can hold values of kind k:
// INTEGER, STRING or BINARY, Tablestore's primary key types.
func (k Kind) IsPrimaryKeyKind() bool {
	return k == KindInteger || k == KindString || k == KindBinary
}

// Value is a Tablestore cell value: INTEGER (int64), DOUBLE (float64), BOOLEAN, STRING or
// BINARY ([]byte), or none. The zero Value holds none. Accessors return (value, ok) and
// never panic on the wrong kind.
//
// A Value is 32 bytes with one pointer: the kind, one 8-byte word for an INTEGER, DOUBLE
// (its IEEE-754 bits) or BOOLEAN, and one string for a STRING or BINARY, whose bytes a
// BINARY value keeps where the caller of [Binary] had them. The events of a trigger hold
// one Value a cell, so its size is what the garbage collector scans.
type Value struct {
	_    [0]func() // Values compare with Equal, not ==
	kind Kind
	word uint64
	text string // a STRING's text or a BINARY's bytes
}

// Integer returns an INTEGER value.
func Integer(v int64) Value { return Value{kind: KindInteger, word: uint64(v)} }

// Double returns a DOUBLE value.
func Double(v float64) Value { return Value{kind: KindDouble, word: math.Float64bits(v)} }

// Boolean returns a BOOLEAN value.
func Boolean(v bool) Value {
	var word uint64
	if v {
		word = 1
	}
	return Value{kind: KindBoolean, word: word}
}

// String returns a STRING value.
func String(v string) Value { return Value{kind: KindString, text: v} }

// Binary returns a BINARY value. It keeps b's bytes, without a copy: the caller must not
// modify b afterwards.
func Binary(b []byte) Value {
	var text string
	if len(b) > 0 {
		text = unsafe.String(&b[0], len(b))
	}
	return Value{kind: KindBinary, text: text}
}

// ValueOf converts a Go value of one of the types the Tablestore Go SDK uses (int64, float64,
// bool, string, []byte; nil for none) into a Value. Other types are an error.
func ValueOf(v any) (Value, error) {
	switch x := v.(type) {
	case nil:
		return Value{}, nil
	case int64:
		return Integer(x), nil
	case float64:
		return Double(x), nil
	case bool:
		return Boolean(x), nil
	case string:
		return String(x), nil
	case []byte:
		return Binary(x), nil
	}
	return Value{}, fmt.Errorf("ots: unsupported value type %T", v)
}

// Kind returns the kind of value v holds.
func (v Value) Kind() Kind { return v.kind }

// IsNone reports whether v holds no value.
func (v Value) IsNone() bool { return v.kind == KindNone }

// Int returns the INTEGER value and true, or 0 and false for any other kind.
func (v Value) Int() (int64, bool) {
	if v.kind != KindInteger {
		return 0, false
	}
	return int64(v.word), true
}

// Float returns the DOUBLE value and true, or 0 and false for any other kind.
func (v Value) Float() (float64, bool) {
	if v.kind != KindDouble {
		return 0, false
	}
	return math.Float64frombits(v.word), true
}

// Bool returns the BOOLEAN value and true, or false and false for any other kind.
func (v Value) Bool() (bool, bool) {
	return v.word != 0 && v.kind == KindBoolean, v.kind == KindBoolean
}

// Str returns the STRING value and true, or "" and false for any other kind.
func (v Value) Str() (string, bool) {
	if v.kind != KindString {
		return "", false
	}
	return v.text, true
}

// Bytes returns the BINARY value and true, or nil and false for any other kind; an empty
// BINARY value gives an empty, non-nil slice. The slice is the bytes v holds, those given to
// [Binary], not a copy: the caller must not modify them, nor append to them in place (its
// capacity is its length, so append copies).
func (v Value) Bytes() ([]byte, bool) {
	if v.kind != KindBinary {
		return nil, false
	}
	if v.text == "" {
		return []byte{}, true
	}
	return unsafe.Slice(unsafe.StringData(v.text), len(v.text)), true
}

// Any returns the value as the Go type the Tablestore Go SDK accepts: int64, float64, bool,
// string or []byte, and nil for none. A []byte is the one [Value.Bytes] returns.
func (v Value) Any() any {
	switch v.kind {
	case KindInteger:
		return int64(v.word)
	case KindDouble:
		return math.Float64frombits(v.word)
	case KindBoolean:
		return v.word != 0
	case KindString:
		return v.text
	case KindBinary:
		b, _ := v.Bytes()
		return b
	}
	return nil
}

// Equal reports whether v and w hold the same kind and value. DOUBLE values compare by
// their IEEE-754 bits, so NaN equals NaN and 0.0 differs from -0.0.
func (v Value) Equal(w Value) bool {
	return v.kind == w.kind && v.word == w.word && v.text == w.text
}

// String formats v for messages and tables: integers and doubles in Go syntax, strings
// quoted, binary as 0x-prefixed hex, booleans as true/false, none as "<none>".
func (v Value) String() string {
	return v.format(-1)
}

// MaxQuoted is how many bytes of a STRING or BINARY value, or of a name, a message quotes
// ([Value.Brief], [Brief]): enough to recognise it, and never a megabyte log line.
const MaxQuoted = 64

// Brief formats v as String does, but a STRING or BINARY value longer than MaxQuoted bytes
// shows only its first MaxQuoted bytes, followed by "…" and its length, e.g.
// `"abc…"…(2097152 bytes)`. Error messages and log lines quote values this way.
func (v Value) Brief() string {
	return v.format(MaxQuoted)
}

// format formats v as String documents it, cutting a STRING or BINARY value to limit bytes
// (at a rune boundary for a STRING) unless limit is negative.
func (v Value) format(limit int) string {
	switch v.kind {
	case KindString:
		if cut := Brief(v.text); limit >= 0 && len(cut) < len(v.text) {
			return fmt.Sprintf("%q…(%d bytes)", cut, len(v.text))
		}
		return fmt.Sprintf("%q", v.text)
	case KindBinary:
		if limit >= 0 && len(v.text) > limit {
			return fmt.Sprintf("0x%x…(%d bytes)", v.text[:limit], len(v.text))
		}
		return fmt.Sprintf("0x%x", v.text)
	}
	switch v.kind {
	case KindInteger:
		return fmt.Sprintf("%d", int64(v.word))
	case KindDouble:
		return fmt.Sprintf("%g", math.Float64frombits(v.word))
	case KindBoolean:
		return fmt.Sprintf("%t", v.word != 0)
	}
	return "<none>"
}

// Cut returns a STRING or BINARY value longer than n bytes cut to its first n bytes (a
// STRING at a rune boundary, as [Cut] cuts it) and true; v and false for any other value.
func (v Value) Cut(n int) (Value, bool) {
	if (v.kind != KindString && v.kind != KindBinary) || len(v.text) <= n {
		return v, false
	}
	if v.kind == KindString {
		return Value{kind: KindString, text: Cut(v.text, n)}, true
	}
	return Value{kind: KindBinary, text: v.text[:n]}, true
}

// Brief returns s cut to at most MaxQuoted bytes at a rune boundary, so that a message
// quoting a name or a text stays short; s itself when it is short enough.
func Brief(s string) string { return Cut(s, MaxQuoted) }

// Cut returns the longest prefix of s of at most n bytes that ends at a rune boundary, so
// that valid UTF-8 stays valid; s itself when it is not longer than n.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
