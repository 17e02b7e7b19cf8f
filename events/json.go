package events

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
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

// decodeJSON decodes a JSON event: encoding/json's tokenizer checks syntax, repeated keys and
// limits, and the values, written as CBOR items, go through the eventReader like CBOR events.
func (o DecodeOptions) decodeJSON(payload []byte) (*Event, error) {
	if !utf8.Valid(payload) {
		return nil, eventError(errors.New("json: payload is not valid UTF-8"))
	}
	t := jsonTranscoder{dec: json.NewDecoder(bytes.NewReader(payload)), src: bytes.Clone(payload), limits: o}
	t.dec.UseNumber()
	if err := t.value(1, false, false); err != nil {
		var de *DecodeError
		if errors.As(err, &de) {
			return nil, de
		}
		return nil, eventError(err)
	}
	if _, err := t.dec.Token(); err != io.EOF {
		return nil, eventError(errors.New("json: unexpected data after the top-level object"))
	}
	r := newEventReader(t.out, o, true)
	e, err := r.decode()
	if err != nil {
		return nil, err
	}
	for i := range e.Records {
		e.Records[i].Raw = t.records[i]
	}
	return e, nil
}

// jsonTranscoder writes JSON values as CBOR items; numbers are integers (without fraction or
// exponent) or float64, or their text tagged tagJSONInteger or tagJSONNumber beyond those.
type jsonTranscoder struct {
	dec     *json.Decoder
	src     []byte
	limits  DecodeOptions
	out     []byte   // the CBOR items
	records [][]byte // the JSON of each object among the elements of the top-level Records
}

// value transcodes the next value, nested at depth, in or else of the top-level Records.
func (t *jsonTranscoder) value(depth int, records, record bool) error {
	token, err := t.dec.Token()
	if err != nil {
		return t.fault(err)
	}
	switch v := token.(type) {
	case json.Delim:
		return t.container(v, depth, records, record)
	case string:
		t.text(v)
	case json.Number:
		t.number(string(v))
	case bool:
		if v {
			t.out = append(t.out, majorSimple<<5|simpleTrue)
		} else {
			t.out = append(t.out, majorSimple<<5|simpleFalse)
		}
	default:
		t.out = append(t.out, majorSimple<<5|simpleNull)
	}
	return nil
}

// container transcodes the object or array that token opens.
func (t *jsonTranscoder) container(token json.Delim, depth int, records, record bool) error {
	start, object, keys := t.dec.InputOffset()-1, token == '{', map[string]bool{}
	if depth > t.limits.MaxNestedLevels {
		return t.fault(nestingFault(t.limits))
	}
	if object {
		t.out = append(t.out, majorMap<<5|additionalIndefinite)
	} else {
		t.out = append(t.out, majorArray<<5|additionalIndefinite)
	}
	for n := 0; t.dec.More(); n++ {
		key := ""
		if object && n == t.limits.MaxMapPairs {
			return t.fault(mapFault(t.limits, "object"))
		} else if !object && n == t.limits.MaxArrayElements {
			return t.fault(arrayFault(t.limits))
		} else if object {
			token, err := t.dec.Token()
			if err != nil {
				return t.fault(err)
			} else if key = token.(string); keys[key] {
				return fmt.Errorf("json: duplicate key %q", ots.Brief(key))
			}
			keys[key] = true
			t.text(key)
		}
		if err := t.value(depth+1, depth == 1 && key == "Records", records); err != nil && records {
			return &DecodeError{Record: n, Err: err}
		} else if err != nil {
			return err
		}
	}
	if _, err := t.dec.Token(); err != nil { // the closing delimiter, which the decoder matches
		return t.fault(err)
	}
	t.out = append(t.out, breakByte)
	if record && object {
		t.records = append(t.records, t.src[start:t.dec.InputOffset():t.dec.InputOffset()])
	}
	return nil
}

// fault describes a payload that is malformed or beyond a limit, with the offset where
// reading stopped.
func (t *jsonTranscoder) fault(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("json: %w (at byte %d)", err, t.dec.InputOffset())
}

// head writes a CBOR head with an eight-byte argument.
func (t *jsonTranscoder) head(major byte, argument uint64) {
	t.out = binary.BigEndian.AppendUint64(append(t.out, major<<5|additionalDouble), argument)
}

// text writes a text string.
func (t *jsonTranscoder) text(s string) {
	t.head(majorTextString, uint64(len(s)))
	t.out = append(t.out, s...)
}

// number writes a JSON number (see jsonTranscoder).
func (t *jsonTranscoder) number(text string) {
	i, intErr := strconv.ParseInt(text, 10, 64)
	f, floatErr := strconv.ParseFloat(text, 64) // fails only on overflow, for a number
	integer := !strings.ContainsAny(text, ".eE")
	switch {
	case integer && intErr == nil && i < 0:
		t.head(majorNegative, uint64(-1-i))
	case integer && intErr == nil:
		t.head(majorUnsigned, uint64(i))
	case !integer && floatErr == nil:
		t.head(majorSimple, math.Float64bits(f))
	case integer:
		t.head(majorTag, tagJSONInteger)
		t.text(text)
	default:
		t.head(majorTag, tagJSONNumber)
		t.text(text)
	}
}

// EncodeJSON encodes e as a JSON event, the form console test events take, indented by two
// spaces and ending in a newline; keys, and the members left out, are as [EncodeCBOR] writes
// them, and e is not validated either. A DOUBLE always carries a fraction or an exponent (2
// is written 2.0), so that it decodes back as DOUBLE; a BINARY value is
// {"Binary": "<standard base64>"}. It fails on a nil event and on a NaN or infinite DOUBLE,
// which JSON cannot represent, naming the record and the cell.
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

// marshalJSON encodes v without escaping <, > and &, compact (no newline) or indented.
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
	case ots.KindDouble: // as encoding/json writes it, with ".0" added to an integral value
		f, _ := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("DOUBLE %v has no JSON representation", f)
		}
		text, err := json.Marshal(f)
		if err == nil && !bytes.ContainsAny(text, ".e") {
			text = append(text, ".0"...)
		}
		return text, err
	case ots.KindBinary:
		b, _ := v.Bytes()
		return marshalJSON(map[string]string{"Binary": base64.StdEncoding.EncodeToString(b)}, "")
	}
	return marshalJSON(v.Any(), "")
}
