package events

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/otsetl/otsetl/ots"
)

// decodeJSON decodes a JSON event: the payload tree first, then the Event built from it.
func (d *decoder) decodeJSON(payload []byte) (*Event, error) {
	top, err := d.jsonDocument(payload)
	if err != nil {
		return nil, err
	}
	return builder{format: formatJSON, record: -1}.event(top)
}

// jsonDocument decodes a JSON payload into the top-level map of a payload tree, with the
// elements of a Records array as encodedRecord when they are objects.
func (d *decoder) jsonDocument(payload []byte) (map[string]any, error) {
	if !utf8.Valid(payload) {
		return nil, eventError(errors.New("json: payload is not valid UTF-8"))
	}
	p := jsonReader{src: payload, dec: json.NewDecoder(bytes.NewReader(payload)), limits: d.limits}
	p.dec.UseNumber()
	if _, err := p.dec.Token(); err != nil { // the '{' that Decode sniffed
		return nil, eventError(p.syntaxError(err))
	}
	top, err := p.object(1, p.topMember)
	if err != nil {
		return nil, asDecodeError(err)
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, eventError(errors.New("json: unexpected data after the top-level object"))
	}
	return top, nil
}

// asDecodeError returns err as a DecodeError, wrapping it at the event level if needed.
func asDecodeError(err error) *DecodeError {
	var de *DecodeError
	if errors.As(err, &de) {
		return de
	}
	return eventError(err)
}

// jsonReader builds a payload tree from JSON tokens, enforcing the limits as it goes and
// rejecting repeated keys.
type jsonReader struct {
	src    []byte
	dec    *json.Decoder
	limits DecodeOptions
}

// memberFunc reads the value of an object member whose key has been read; depth is the
// nesting level of the object holding it.
type memberFunc func(key string, depth int) (any, error)

// value reads the next value; member reads the members of an object.
func (p *jsonReader) value(depth int, member memberFunc) (any, error) {
	token, err := p.dec.Token()
	if err != nil {
		return nil, p.syntaxError(err)
	}
	return p.valueFrom(token, depth, member)
}

// genericMember reads any member value.
func (p *jsonReader) genericMember(_ string, depth int) (any, error) {
	return p.value(depth, p.genericMember)
}

// topMember reads a member of the top-level object, splitting a Records array into records.
func (p *jsonReader) topMember(key string, depth int) (any, error) {
	if key != "Records" {
		return p.value(depth, p.genericMember)
	}
	token, err := p.dec.Token()
	if err != nil {
		return nil, p.syntaxError(err)
	}
	if token != json.Delim('[') {
		return p.valueFrom(token, depth, p.genericMember)
	}
	var records []any
	for i := 0; p.dec.More(); i++ {
		if i == p.limits.MaxArrayElements {
			return nil, p.arrayTooLong()
		}
		record, err := p.record(depth + 1)
		if err != nil {
			return nil, &DecodeError{Record: i, Err: err}
		}
		records = append(records, record)
	}
	return records, p.closing()
}

// record reads one element of Records, keeping an object's exact bytes.
func (p *jsonReader) record(depth int) (any, error) {
	token, err := p.dec.Token()
	if err != nil {
		return nil, p.syntaxError(err)
	}
	start := p.dec.InputOffset() - 1
	node, err := p.valueFrom(token, depth, p.genericMember)
	if err != nil || token != json.Delim('{') {
		return node, err
	}
	return encodedRecord{node: node, raw: bytes.Clone(p.src[start:p.dec.InputOffset()])}, nil
}

// valueFrom reads the value that starts with token.
func (p *jsonReader) valueFrom(token json.Token, depth int, member memberFunc) (any, error) {
	switch t := token.(type) {
	case json.Delim:
		if depth+1 > p.limits.MaxNestedLevels {
			return nil, fmt.Errorf("json: exceeded max nested level %d", p.limits.MaxNestedLevels)
		}
		if t == '{' {
			return p.object(depth+1, member)
		}
		return p.array(depth + 1)
	case json.Number:
		return jsonNumber(t), nil
	}
	return token, nil // string, bool or nil
}

// object reads the members of an object whose '{' has been read.
func (p *jsonReader) object(depth int, member memberFunc) (map[string]any, error) {
	members := make(map[string]any)
	for p.dec.More() {
		if len(members) == p.limits.MaxMapPairs {
			return nil, fmt.Errorf("json: exceeded max number of key-value pairs %d for an object", p.limits.MaxMapPairs)
		}
		token, err := p.dec.Token()
		if err != nil {
			return nil, p.syntaxError(err)
		}
		key, ok := token.(string)
		if !ok {
			return nil, fmt.Errorf("json: want an object key, got %v", token)
		}
		if _, seen := members[key]; seen {
			return nil, fmt.Errorf("json: duplicate key %q", key)
		}
		if members[key], err = member(key, depth); err != nil {
			return nil, err
		}
	}
	return members, p.closing()
}

// array reads the elements of an array whose '[' has been read.
func (p *jsonReader) array(depth int) ([]any, error) {
	elements := []any{}
	for p.dec.More() {
		if len(elements) == p.limits.MaxArrayElements {
			return nil, p.arrayTooLong()
		}
		element, err := p.value(depth, p.genericMember)
		if err != nil {
			return nil, err
		}
		elements = append(elements, element)
	}
	return elements, p.closing()
}

// closing reads the delimiter that ends the current object or array; the decoder checks
// that it matches.
func (p *jsonReader) closing() error {
	if _, err := p.dec.Token(); err != nil {
		return p.syntaxError(err)
	}
	return nil
}

func (p *jsonReader) arrayTooLong() error {
	return fmt.Errorf("json: exceeded max number of elements %d for an array", p.limits.MaxArrayElements)
}

// syntaxError describes a malformed payload with the offset where reading stopped.
func (p *jsonReader) syntaxError(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("json: %w (at byte %d)", err, p.dec.InputOffset())
}

// jsonNumber converts a JSON number: INTEGER (int64) without fraction or exponent,
// DOUBLE (float64) otherwise, outOfRange when it fits neither.
func jsonNumber(n json.Number) any {
	text := string(n)
	if !strings.ContainsAny(text, ".eE") {
		i, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return outOfRange{text: text, integer: true}
		}
		return i
	}
	f, err := strconv.ParseFloat(text, 64) // fails only on overflow; underflow rounds to 0
	if err != nil {
		return outOfRange{text: text}
	}
	return f
}

// EncodeJSON encodes e as a JSON event, the form console test events take, indented by two
// spaces and ending in a newline. Keys come in documented order. DOUBLE values always carry a
// fraction or an exponent (2 is written 2.0) so that they decode back as DOUBLE; BINARY values
// are {"Binary": "<standard base64>"}. Value is left out when a cell has none and Timestamp
// when it is nil; Columns is always written. Record.Raw is ignored.
//
// Like EncodeCBOR it writes e without [Event.Validate]. It fails on a nil event and on a NaN
// or infinite DOUBLE, which JSON cannot represent, naming the record and the cell.
func EncodeJSON(e *Event) ([]byte, error) {
	w, err := wireEventOf(e, jsonValue)
	if err != nil {
		return nil, err
	}
	return marshalJSON(w, "  ")
}

// MarshalRecordJSON encodes one record as compact JSON in the form EncodeJSON gives it: the
// decoded view of a record kept beside its Raw bytes, e.g. in a dead letter. It fails on a nil
// record and on a NaN or infinite DOUBLE.
func MarshalRecordJSON(r *Record) ([]byte, error) {
	if r == nil {
		return nil, errors.New("events: nil record")
	}
	w, err := wireRecordOf(r, jsonValue)
	if err != nil {
		return nil, fmt.Errorf("events: cannot encode record: %w", err)
	}
	return marshalJSON(w, "")
}

// marshalJSON encodes v without escaping <, > and &, indented by indent when it is not
// empty; compact output has no trailing newline.
func marshalJSON(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	if indent == "" {
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}
	return buf.Bytes(), nil
}

// jsonValue gives the JSON text of a value, nil for none.
func jsonValue(v ots.Value) (json.RawMessage, error) {
	switch v.Kind() {
	case ots.KindNone:
		return nil, nil
	case ots.KindDouble:
		f, _ := v.Float()
		return formatJSONDouble(f)
	case ots.KindBinary:
		b, _ := v.Bytes()
		return marshalJSON(map[string]string{jsonBinaryKey: base64.StdEncoding.EncodeToString(b)}, "")
	}
	return marshalJSON(v.Any(), "")
}

// formatJSONDouble writes f as encoding/json does (shortest representation that reads back
// as f; exponent form below 1e-6 and from 1e21), adding ".0" when that has neither fraction
// nor exponent.
func formatJSONDouble(f float64) (json.RawMessage, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("DOUBLE %v has no JSON representation", f)
	}
	text, err := json.Marshal(f)
	if err != nil {
		return nil, err
	}
	if !bytes.ContainsAny(text, ".e") {
		text = append(text, ".0"...)
	}
	return text, nil
}
