package events

import (
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// DecodeOptions bounds what Decode accepts, in the style of fxamacker/cbor's DecOptions.
// A zero field takes its value from DefaultDecodeOptions. The limits apply to CBOR and JSON
// payloads alike.
type DecodeOptions struct {
	// MaxPayloadBytes is the largest payload accepted, in bytes. Default 32 MiB, the Function
	// Compute limit on a synchronous invocation's payload.
	MaxPayloadBytes int
	// MaxNestedLevels is the deepest nesting of arrays and maps accepted; the outermost map is
	// level 1 and a documented event reaches level 5 (6 with a JSON binary value). Default 8;
	// CBOR payloads need 4 to 65535 (fxamacker/cbor DecOptions.MaxNestedLevels).
	MaxNestedLevels int
	// MaxArrayElements is the longest array accepted, which bounds the records of one event.
	// Default 200000; at least 16 (fxamacker/cbor DecOptions.MaxArrayElements).
	MaxArrayElements int
	// MaxMapPairs is the largest map accepted. Documented maps have at most five pairs; the
	// rest is headroom for fields added later. Default 1024; at least 16 (fxamacker/cbor
	// DecOptions.MaxMapPairs).
	MaxMapPairs int
}

// DefaultDecodeOptions are the limits Decode applies.
var DefaultDecodeOptions = DecodeOptions{
	MaxPayloadBytes:  32 << 20,
	MaxNestedLevels:  8,
	MaxArrayElements: 200000,
	MaxMapPairs:      1024,
}

// DecodeError reports where a payload breaks the trigger event format: a record or event
// field of the wrong type, a value out of range, or a rule of [Event.Validate]. Its message
// reads like
//
//	events: record 3: Columns[1] "level": integer 18446744073709551615 overflows int64
type DecodeError struct {
	// Record is the index of the offending record in Records, or -1 for the event level.
	Record int
	// Field locates the fault inside the record or event, e.g. `Type`, `Info.Timestamp`,
	// `PrimaryKey[0] "id"` or `Columns[2] "level".Timestamp`; a cell's own value is named
	// by the cell. Empty when the fault concerns the record or payload as a whole.
	Field string
	// Err says what is wrong.
	Err error
}

// Error formats the error as "events: record N: Field: Err", leaving out the parts that
// are not set.
func (e *DecodeError) Error() string {
	msg := "events: "
	if e.Record >= 0 {
		msg += "record " + strconv.Itoa(e.Record) + ": "
	}
	if e.Field != "" {
		msg += e.Field + ": "
	}
	return msg + e.Err.Error()
}

// Unwrap returns Err.
func (e *DecodeError) Unwrap() error { return e.Err }

// eventError returns a DecodeError about the payload as a whole.
func eventError(err error) *DecodeError {
	return &DecodeError{Record: -1, Err: err}
}

// Decode decodes a trigger event with DefaultDecodeOptions; see [DecodeOptions.Decode].
func Decode(payload []byte) (*Event, error) {
	return DefaultDecodeOptions.Decode(payload)
}

// Decode decodes a trigger event, CBOR (as the trigger delivers it) or JSON (as console
// test events are), chosen by the first byte that is not JSON whitespace: 0xa0–0xbf (a CBOR
// map) or '{'.
//
// CBOR values map to kinds by major type (RFC 8949 §3.1): unsigned and negative integers to
// INTEGER, floats of any width to DOUBLE, true/false to BOOLEAN, text strings to STRING, byte
// strings to BINARY, null and undefined to no value. Tags, other simple values, and arrays
// or maps in place of a value are errors. Maps must have text keys and no duplicates; text
// must be valid UTF-8; indefinite lengths are accepted.
//
// JSON numbers without fraction or exponent are INTEGER, other numbers DOUBLE. JSON has no
// byte strings, so a BINARY value is the object {"Binary": "<standard base64>"}. Objects must
// not repeat a key.
//
// Map keys match the documented names exactly; other keys are ignored. Info, its Timestamp,
// Columns, a cell's Timestamp and Value may be absent or null. The decoded event then must
// pass [Event.Validate]. Every record keeps its exact bytes in Record.Raw; the Raw and
// BINARY values of a CBOR event may share one copy of the payload, never payload itself.
//
// Errors about the payload's content are *DecodeError naming the record and field; invalid
// options give a plain error.
func (o DecodeOptions) Decode(payload []byte) (*Event, error) {
	d, err := o.decoder()
	if err != nil {
		return nil, err
	}
	if len(payload) > d.limits.MaxPayloadBytes {
		return nil, eventError(fmt.Errorf("payload is %d bytes, above the limit of %d", len(payload), d.limits.MaxPayloadBytes))
	}
	payload = trimJSONSpace(payload)
	if len(payload) == 0 {
		return nil, eventError(errors.New("payload is empty"))
	}
	var e *Event
	switch first := payload[0]; {
	case first >= 0xa0 && first <= 0xbf:
		e, err = d.decodeCBOR(payload)
	case first == '{':
		e, err = d.decodeJSON(payload)
	default:
		return nil, eventError(fmt.Errorf("payload is neither a CBOR map nor a JSON object: first byte 0x%02x", first))
	}
	if err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// trimJSONSpace drops the JSON whitespace (RFC 8259 §2) before the first byte.
func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// decoder is a DecodeOptions with its defaults applied and its CBOR decoding mode built.
type decoder struct {
	limits DecodeOptions
	cbor   cbor.DecMode
}

// decoders caches one decoder per distinct DecodeOptions (defaults applied), so a CBOR
// decoding mode is built once per set of options.
var decoders sync.Map

// decoder returns the cached decoder for o, building it on first use.
func (o DecodeOptions) decoder() (*decoder, error) {
	limits := o.withDefaults()
	if d, ok := decoders.Load(limits); ok {
		return d.(*decoder), nil
	}
	if limits.MaxPayloadBytes < 0 {
		return nil, fmt.Errorf("events: invalid DecodeOptions: MaxPayloadBytes %d is negative", limits.MaxPayloadBytes)
	}
	dm, err := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthAllowed,
		UTF8:             cbor.UTF8RejectInvalid,
		MaxNestedLevels:  limits.MaxNestedLevels,
		MaxArrayElements: limits.MaxArrayElements,
		MaxMapPairs:      limits.MaxMapPairs,
	}.DecMode()
	if err != nil {
		return nil, fmt.Errorf("events: invalid DecodeOptions: %w", err)
	}
	d, _ := decoders.LoadOrStore(limits, &decoder{limits: limits, cbor: dm})
	return d.(*decoder), nil
}

// withDefaults returns o with every zero field taken from DefaultDecodeOptions.
func (o DecodeOptions) withDefaults() DecodeOptions {
	orDefault := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	return DecodeOptions{
		MaxPayloadBytes:  orDefault(o.MaxPayloadBytes, DefaultDecodeOptions.MaxPayloadBytes),
		MaxNestedLevels:  orDefault(o.MaxNestedLevels, DefaultDecodeOptions.MaxNestedLevels),
		MaxArrayElements: orDefault(o.MaxArrayElements, DefaultDecodeOptions.MaxArrayElements),
		MaxMapPairs:      orDefault(o.MaxMapPairs, DefaultDecodeOptions.MaxMapPairs),
	}
}
