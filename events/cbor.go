package events

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"sync"

	"github.com/otsetl/otsetl/ots"

	"github.com/fxamacker/cbor/v2"
)

// decodeCBOR decodes a CBOR event. A plain event (see readPlainEvent) is read in place from
// one copy of the payload, in one pass that also checks well-formedness and the limits; any
// other payload, malformed ones included, goes through the payload tree and the builder,
// which report every error.
func (d *decoder) decodeCBOR(payload []byte) (*Event, error) {
	if e, ok := readPlainEvent(bytes.Clone(payload), d.limits); ok {
		return e, nil
	}
	top, err := d.cborDocument(payload)
	if err != nil {
		return nil, err
	}
	return builder{format: formatCBOR, record: -1}.event(top)
}

// cborDocument decodes a CBOR payload into the top-level map of a payload tree: Version as a
// node and, when it is an array, Records as encodedRecord elements. The whole payload is
// checked for well-formedness and the limits first; a record's other faults name the record.
func (d *decoder) cborDocument(payload []byte) (map[string]any, error) {
	var members map[string]cbor.RawMessage
	if err := d.cbor.Unmarshal(payload, &members); err != nil {
		return nil, eventError(err)
	}
	top := make(map[string]any, 2)
	if raw, ok := members["Version"]; ok {
		node, err := d.cborNode(raw)
		if err != nil {
			return nil, &DecodeError{Record: -1, Field: "Version", Err: err}
		}
		top["Version"] = node
	}
	if raw, ok := members["Records"]; ok {
		node, err := d.cborRecords(raw)
		if err != nil {
			return nil, err
		}
		top["Records"] = node
	}
	return top, nil
}

// cborRecords splits the Records item into encodedRecord elements, or returns it as a
// plain node when it is not an array.
func (d *decoder) cborRecords(raw cbor.RawMessage) (any, error) {
	if raw[0]>>5 != majorArray {
		node, err := d.cborNode(raw)
		if err != nil {
			return nil, &DecodeError{Record: -1, Field: "Records", Err: err}
		}
		return node, nil
	}
	var elements []cbor.RawMessage
	if err := d.cbor.Unmarshal(raw, &elements); err != nil {
		return nil, &DecodeError{Record: -1, Field: "Records", Err: err}
	}
	records := make([]any, len(elements))
	for i, element := range elements {
		node, err := d.cborNode(element)
		if err != nil {
			return nil, &DecodeError{Record: i, Err: err}
		}
		records[i] = encodedRecord{node: node, raw: element}
	}
	return records, nil
}

// cborNode decodes one well-formed CBOR item into a payload tree node, dispatching on its
// major type. Integers beyond int64 become outOfRange, tags and unassigned simple values
// unsupported; the builder reports them with the field they sit in.
func (d *decoder) cborNode(raw cbor.RawMessage) (any, error) {
	switch raw[0] >> 5 {
	case majorUnsigned:
		var u uint64
		if err := d.cbor.Unmarshal(raw, &u); err != nil {
			return nil, err
		}
		if u > math.MaxInt64 {
			return outOfRange{text: strconv.FormatUint(u, 10), integer: true}, nil
		}
		return int64(u), nil
	case majorNegative:
		return d.cborNegative(raw)
	case majorByteString:
		b := []byte{}
		err := d.cbor.Unmarshal(raw, &b)
		return b, err
	case majorTextString:
		var s string
		err := d.cbor.Unmarshal(raw, &s)
		return s, err
	case majorArray:
		var elements []cbor.RawMessage
		if err := d.cbor.Unmarshal(raw, &elements); err != nil {
			return nil, err
		}
		nodes := make([]any, len(elements))
		for i, element := range elements {
			var err error
			if nodes[i], err = d.cborNode(element); err != nil {
				return nil, err
			}
		}
		return nodes, nil
	case majorMap:
		var members map[string]cbor.RawMessage
		if err := d.cbor.Unmarshal(raw, &members); err != nil {
			return nil, err
		}
		nodes := make(map[string]any, len(members))
		for key, member := range members {
			node, err := d.cborNode(member)
			if err != nil {
				return nil, err
			}
			nodes[key] = node
		}
		return nodes, nil
	case majorTag:
		var tag cbor.RawTag
		if err := d.cbor.Unmarshal(raw, &tag); err != nil {
			return nil, err
		}
		return unsupported{what: "CBOR tag " + strconv.FormatUint(tag.Number, 10)}, nil
	}
	return d.cborSimple(raw)
}

// cborNegative decodes a negative integer (major type 1), which may lie below math.MinInt64.
func (d *decoder) cborNegative(raw cbor.RawMessage) (any, error) {
	var n big.Int
	if err := d.cbor.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	if !n.IsInt64() {
		return outOfRange{text: n.String(), integer: true}, nil
	}
	return n.Int64(), nil
}

// cborSimple decodes a major type 7 item: a float of any width, false, true, null,
// undefined, or an unassigned simple value.
func (d *decoder) cborSimple(raw cbor.RawMessage) (any, error) {
	if additional := raw[0] & 0x1f; additional >= additionalHalf && additional <= additionalDouble {
		var f float64
		err := d.cbor.Unmarshal(raw, &f)
		return f, err
	}
	var simple cbor.SimpleValue
	if err := d.cbor.Unmarshal(raw, &simple); err != nil {
		return nil, err
	}
	switch simple {
	case simpleFalse:
		return false, nil
	case simpleTrue:
		return true, nil
	case simpleNull, simpleUndefined:
		return nil, nil
	}
	return unsupported{what: "CBOR simple value " + strconv.Itoa(int(simple))}, nil
}

// cborEncMode is the encoding mode of EncodeCBOR: definite lengths, struct fields in
// declaration order, integers in their shortest head, every float as float64 (0xfb) with
// NaN and infinities kept as they are.
var cborEncMode = sync.OnceValues(func() (cbor.EncMode, error) {
	return cbor.EncOptions{
		Sort:          cbor.SortNone,
		ShortestFloat: cbor.ShortestFloatNone,
		NaNConvert:    cbor.NaNConvertNone,
		InfConvert:    cbor.InfConvertNone,
		IndefLength:   cbor.IndefLengthForbidden,
		NilContainers: cbor.NilContainerAsEmpty,
	}.EncMode()
})

// EncodeCBOR encodes e the way the trigger delivers events (RFC 8949): maps with definite
// lengths and the keys in documented order (Version, Records; Type, Info, PrimaryKey,
// Columns; Type, ColumnName, Value, Timestamp), INTEGER as major type 0 or 1, DOUBLE as a
// float64 (0xfb), BOOLEAN as true/false, STRING as a text string, BINARY as a byte string.
// Value is left out when a cell has none and Timestamp when it is nil; Columns is always
// written, empty for a DeleteRow. Record.Raw is ignored.
//
// EncodeCBOR writes e as it is, without [Event.Validate], so tests can build payloads that
// Decode rejects. It fails only on a nil event.
func EncodeCBOR(e *Event) ([]byte, error) {
	w, err := wireEventOf(e, cborValue)
	if err != nil {
		return nil, err
	}
	em, err := cborEncMode()
	if err != nil {
		return nil, fmt.Errorf("events: CBOR encoding mode: %w", err)
	}
	return em.Marshal(w)
}

// cborValue gives the Go value whose CBOR encoding is the value's (nil for none).
func cborValue(v ots.Value) (any, error) { return v.Any(), nil }
