package events

import (
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"

	"github.com/otsetl/otsetl/ots"
)

// cborEncMode is EncodeCBOR's mode: definite lengths, fields in order, floats as float64.
// Its options are valid constants, so building it cannot fail.
var cborEncMode, _ = cbor.EncOptions{
	Sort:          cbor.SortNone,
	ShortestFloat: cbor.ShortestFloatNone,
	NaNConvert:    cbor.NaNConvertNone,
	InfConvert:    cbor.InfConvertNone,
	IndefLength:   cbor.IndefLengthForbidden,
	NilContainers: cbor.NilContainerAsEmpty,
}.EncMode()

// EncodeCBOR encodes e as the trigger delivers events (RFC 8949): definite lengths, keys in
// documented order, each value of the type that [DecodeOptions.Decode] reads as its kind
// (DOUBLE always as a float64); Value is left out when a cell has none and Timestamp when it
// is nil, Columns is always written, Record.Raw is ignored. It writes e as it is, without
// [Event.Validate], so that tests can build payloads Decode refuses; it fails only on a nil
// event.
func EncodeCBOR(e *Event) ([]byte, error) {
	w, err := wireEventOf(e, func(v ots.Value) (any, error) { return v.Any(), nil })
	if err != nil {
		return nil, err
	}
	return cborEncMode.Marshal(w)
}

// The wire types give the encoders the documented shape, keys in documented order; V is how
// a value is written (any for CBOR, json.RawMessage for JSON).

type wireEvent[V any] struct {
	Version string          `cbor:"Version" json:"Version"`
	Records []wireRecord[V] `cbor:"Records" json:"Records"`
}

type wireRecord[V any] struct {
	Type       RecordType                `cbor:"Type" json:"Type"`
	Info       wireInfo                  `cbor:"Info" json:"Info"`
	PrimaryKey []wirePrimaryKeyColumn[V] `cbor:"PrimaryKey" json:"PrimaryKey"`
	Columns    []wireColumn[V]           `cbor:"Columns" json:"Columns"`
}

type wireInfo struct {
	Timestamp int64 `cbor:"Timestamp" json:"Timestamp"`
}

type wirePrimaryKeyColumn[V any] struct {
	ColumnName string `cbor:"ColumnName" json:"ColumnName"`
	Value      V      `cbor:"Value,omitempty" json:"Value,omitempty"`
}

type wireColumn[V any] struct {
	Type       ColumnType `cbor:"Type" json:"Type"`
	ColumnName string     `cbor:"ColumnName" json:"ColumnName"`
	Value      V          `cbor:"Value,omitempty" json:"Value,omitempty"`
	Timestamp  *int64     `cbor:"Timestamp,omitempty" json:"Timestamp,omitempty"`
}

// valueWriter gives a value's wire form, the zero V for none.
type valueWriter[V any] func(ots.Value) (V, error)

// wireEventOf converts e to its wire form.
func wireEventOf[V any](e *Event, write valueWriter[V]) (*wireEvent[V], error) {
	if e == nil {
		return nil, errors.New("events: nil event")
	}
	w := &wireEvent[V]{Version: e.Version, Records: make([]wireRecord[V], len(e.Records))}
	for i := range e.Records {
		var err error
		if w.Records[i], err = wireRecordOf(&e.Records[i], write); err != nil {
			return nil, fmt.Errorf("events: cannot encode record %d: %w", i, err)
		}
	}
	return w, nil
}

// wireRecordOf converts r to its wire form; errors name the cell.
func wireRecordOf[V any](r *Record, write valueWriter[V]) (wireRecord[V], error) {
	w := wireRecord[V]{
		Type:       r.Type,
		Info:       wireInfo(r.Info),
		PrimaryKey: make([]wirePrimaryKeyColumn[V], len(r.PrimaryKey)),
		Columns:    make([]wireColumn[V], len(r.Columns)),
	}
	for i, pk := range r.PrimaryKey {
		value, err := write(pk.Value)
		if err != nil {
			return wireRecord[V]{}, fmt.Errorf("%s: %w", elementLabel("PrimaryKey", i, pk.ColumnName), err)
		}
		w.PrimaryKey[i] = wirePrimaryKeyColumn[V]{ColumnName: pk.ColumnName, Value: value}
	}
	for i, c := range r.Columns {
		value, err := write(c.Value)
		if err != nil {
			return wireRecord[V]{}, fmt.Errorf("%s: %w", elementLabel("Columns", i, c.ColumnName), err)
		}
		w.Columns[i] = wireColumn[V]{Type: c.Type, ColumnName: c.ColumnName, Value: value, Timestamp: c.Timestamp}
	}
	return w, nil
}
