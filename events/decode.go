package events

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/otsetl/otsetl/ots"
)

// DecodeOptions bounds what Decode accepts, in the style of fxamacker/cbor's DecOptions.
// A zero field takes its value from DefaultDecodeOptions. The limits apply to CBOR and JSON
// payloads alike; a payload beyond one is refused with a *DecodeError that names the option.
type DecodeOptions struct {
	// MaxPayloadBytes is the largest payload accepted, in bytes. Default 32 MiB, the Function
	// Compute limit on a synchronous invocation's payload.
	MaxPayloadBytes int
	// MaxNestedLevels is the deepest nesting of arrays and maps accepted; the outermost map is
	// level 1 and a documented event reaches level 5 (6 with a JSON binary value). In CBOR
	// each tag after the first of a chain adds a level, as fxamacker/cbor counts them.
	// Default 8; 4 to 65535 (the bounds of fxamacker/cbor DecOptions.MaxNestedLevels).
	MaxNestedLevels int
	// MaxArrayElements is the longest array accepted, which bounds the records of one event.
	// Default 200000; 16 to 2147483647 (fxamacker/cbor DecOptions.MaxArrayElements).
	MaxArrayElements int
	// MaxMapPairs is the largest map accepted. Documented maps have at most five pairs; the
	// rest is headroom for fields added later. Default 1024; 16 to 2147483647 (fxamacker/cbor
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

// DecodeError reports where a payload breaks the trigger event format: malformed CBOR or
// JSON, a limit of DecodeOptions exceeded, a repeated key, a record or event field of the
// wrong type, a value out of range, or a rule of [Event.Validate]. Its message reads like
//
//	events: record 3: Columns[1] "level": integer 18446744073709551615 overflows int64
type DecodeError struct {
	// Record is the index of the offending record in Records, or -1 for the event level.
	Record int
	// Field locates the fault inside the record or event, e.g. `Type`, `Info.Timestamp`,
	// `PrimaryKey[0] "id"` or `Columns[2] "level".Timestamp`; a cell's value, and the keys
	// of a map, are named by the cell or map. Empty for the record or the event itself.
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

// Decode decodes a trigger event: CBOR (RFC 8949), as the trigger delivers it, when the first
// byte that is not JSON whitespace opens a map or a tag (0xa0–0xdf); JSON, as console test
// events are, when it is '{'. A value's kind follows its type: an integer (in JSON a number
// without fraction or exponent) is INTEGER, a float of any width DOUBLE, a boolean BOOLEAN, a
// text string STRING, a byte string (in JSON {"Binary": "<standard base64>"}) BINARY, null
// and undefined no value. CBOR may use any encoding RFC 8949 allows; tags 55799, and 21 to 23
// on a byte string value, are read through, and any other tag on an item Decode reads is
// refused. Keys are distinct text strings of valid UTF-8, matched exactly; the members of
// other keys are only checked for well-formedness. Info, Timestamp, Columns and Value may be
// absent or null. The event must then pass [Event.Validate]. Each Record.Raw holds the
// record's bytes; the event shares one copy of payload, never payload itself.
//
// Errors about the payload are *DecodeError naming the record and field; a fault of
// well-formedness or of a limit comes first, for the event as a whole (Record -1). Invalid
// options give a plain error. Why it reads so: docs/design.md, "Trigger events".
func (o DecodeOptions) Decode(payload []byte) (*Event, error) {
	o, err := o.checked()
	if err != nil {
		return nil, err
	}
	if len(payload) > o.MaxPayloadBytes {
		return nil, eventError(fmt.Errorf("payload is %d bytes, above the limit of %d", len(payload), o.MaxPayloadBytes))
	}
	payload = bytes.TrimLeft(payload, " \t\n\r") // JSON whitespace, RFC 8259 §2
	if len(payload) == 0 {
		return nil, eventError(errors.New("payload is empty"))
	}
	var e *Event
	switch first := payload[0]; {
	case first>>5 == majorMap || first>>5 == majorTag: // a map, perhaps self-described
		e, err = o.decodeCBOR(payload)
	case first == '{':
		e, err = o.decodeJSON(payload)
	default:
		return nil, eventError(fmt.Errorf("payload is neither a CBOR map nor a JSON object: first byte 0x%02x", first))
	}
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		return nil, err
	}
	return e, nil
}

// checked returns o with defaults for zero fields, or an error for one out of its range.
func (o DecodeOptions) checked() (DecodeOptions, error) {
	d := DefaultDecodeOptions
	o = DecodeOptions{cmp.Or(o.MaxPayloadBytes, d.MaxPayloadBytes), cmp.Or(o.MaxNestedLevels, d.MaxNestedLevels),
		cmp.Or(o.MaxArrayElements, d.MaxArrayElements), cmp.Or(o.MaxMapPairs, d.MaxMapPairs)}
	if o.MaxPayloadBytes < 0 {
		return o, fmt.Errorf("events: invalid DecodeOptions: MaxPayloadBytes %d is negative", o.MaxPayloadBytes)
	}
	for _, f := range []struct {
		name            string
		value, min, max int
	}{{"MaxNestedLevels", o.MaxNestedLevels, 4, 65535}, {"MaxArrayElements", o.MaxArrayElements, 16, math.MaxInt32},
		{"MaxMapPairs", o.MaxMapPairs, 16, math.MaxInt32}} {
		if f.value < f.min || f.value > f.max {
			return o, fmt.Errorf("events: invalid DecodeOptions: %s %d is out of range [%d, %d]", f.name, f.value, f.min, f.max)
		}
	}
	return o, nil
}

// The faults of a payload beyond a limit of o, CBOR or JSON; container is "map" or "object".

func nestingFault(o DecodeOptions) error {
	return fmt.Errorf("nested deeper than MaxNestedLevels %d", o.MaxNestedLevels)
}

func arrayFault(o DecodeOptions) error {
	return fmt.Errorf("array longer than MaxArrayElements %d", o.MaxArrayElements)
}

func mapFault(o DecodeOptions, container string) error {
	return fmt.Errorf("%s larger than MaxMapPairs %d", container, o.MaxMapPairs)
}

// describeString describes a string in an error, cut as ots.Value.Brief cuts it.
func describeString(s string) string {
	return "string " + ots.String(s).Brief()
}

// elementLabel names the i-th element of a list in errors: `Columns[2] "level"`.
func elementLabel(list string, i int, name string) string {
	label := list + "[" + strconv.Itoa(i) + "]"
	if name != "" {
		label += " " + strconv.Quote(ots.Brief(name))
		if len(name) > ots.MaxQuoted {
			label += "…"
		}
	}
	return label
}

// Validate checks e against the rules of the trigger event format (Function Compute,
// "Tablestore trigger event format", and the Stream record model of the Tablestore Go SDK,
// tablestore/model.go StreamRecord and RecordColumn). Decode applies it to every event.
//
//   - Version is "Sync-v1".
//   - Every record's Type is PutRow, UpdateRow or DeleteRow, and Info.Timestamp (µs) is not
//     negative.
//   - PrimaryKey is not empty; every column has a name and an INTEGER, STRING or BINARY value.
//   - Every attribute column has a name and a Type of Put, DeleteOneVersion or
//     DeleteAllVersions. Put has a Value; DeleteOneVersion has a Timestamp and no Value;
//     DeleteAllVersions has neither. A Timestamp (ms) is not negative.
//   - A PutRow's cells are all Put; a DeleteRow has no Columns.
//
// The error is a *DecodeError naming the first record and field that break a rule; an
// event with no records is valid.
func (e *Event) Validate() error {
	if e == nil {
		return eventError(errors.New("nil event"))
	}
	if e.Version != Version {
		return &DecodeError{Record: -1, Field: "Version", Err: fmt.Errorf("unsupported version %s (want %q)", ots.String(e.Version).Brief(), Version)}
	}
	for i := range e.Records {
		if field, err := e.Records[i].validate(); err != nil {
			return &DecodeError{Record: i, Field: field, Err: err}
		}
	}
	return nil
}

// Validate checks one record against the rules of [Event.Validate]. The error is a
// *DecodeError naming the field at fault, without a record index (Record is -1).
func (r *Record) Validate() error {
	if field, err := r.validate(); err != nil {
		return &DecodeError{Record: -1, Field: field, Err: err}
	}
	return nil
}

// validate checks one record, returning the field at fault with the error.
func (r *Record) validate() (field string, err error) {
	if !r.Type.Valid() {
		return "Type", fmt.Errorf("unknown record type %s (want %s, %s or %s)", ots.String(string(r.Type)).Brief(), PutRow, UpdateRow, DeleteRow)
	}
	if r.Info.Timestamp < 0 {
		return "Info.Timestamp", fmt.Errorf("negative timestamp %d", r.Info.Timestamp)
	}
	if len(r.PrimaryKey) == 0 {
		return "PrimaryKey", errors.New("no primary key columns")
	}
	for i := range r.PrimaryKey {
		if field, err := validatePrimaryKeyColumn(&r.PrimaryKey[i], i); err != nil {
			return field, err
		}
	}
	putRow := r.Type == PutRow
	if !putRow && len(r.Columns) > 0 && r.Type == DeleteRow {
		return "Columns", fmt.Errorf("a %s carries no columns, got %d", DeleteRow, len(r.Columns))
	}
	for i := range r.Columns {
		if field, err := r.Columns[i].validate(i, putRow); err != nil {
			return field, err
		}
	}
	return "", nil
}

// validatePrimaryKeyColumn checks the i-th primary key column.
func validatePrimaryKeyColumn(pk *ots.PrimaryKeyColumn, i int) (field string, err error) {
	if pk.ColumnName == "" {
		return elementLabel("PrimaryKey", i, "") + ".ColumnName", errors.New("empty column name")
	}
	switch pk.Value.Kind() {
	case ots.KindInteger, ots.KindString, ots.KindBinary:
		return "", nil
	case ots.KindNone:
		return elementLabel("PrimaryKey", i, pk.ColumnName), errors.New("missing Value")
	}
	return elementLabel("PrimaryKey", i, pk.ColumnName), fmt.Errorf("%s is not a primary key type (want INTEGER, STRING or BINARY)", pk.Value.Kind())
}

// validate checks the i-th attribute column change of a record, a PutRow if putRow.
func (c *Column) validate(i int, putRow bool) (field string, err error) {
	if c.ColumnName == "" {
		return c.label(i) + ".ColumnName", errors.New("empty column name")
	}
	isPut := c.Type == Put
	isDeleteAll := !isPut && c.Type == DeleteAllVersions
	isDeleteOne := !isPut && !isDeleteAll && c.Type == DeleteOneVersion
	if !isPut && !isDeleteAll && !isDeleteOne {
		return c.label(i) + ".Type", fmt.Errorf("unknown column type %s (want %s, %s or %s)", ots.String(string(c.Type)).Brief(), Put, DeleteOneVersion, DeleteAllVersions)
	}
	if putRow && !isPut {
		return c.label(i), fmt.Errorf("a %s writes only %s cells, got %s", PutRow, Put, c.Type)
	}
	if c.Timestamp != nil && *c.Timestamp < 0 {
		return c.label(i) + ".Timestamp", fmt.Errorf("negative timestamp %d", *c.Timestamp)
	}
	hasValue, hasTimestamp := !c.Value.IsNone(), c.Timestamp != nil
	switch {
	case isPut && !hasValue:
		return c.label(i), errors.New("a Put needs a Value")
	case isDeleteOne && !hasTimestamp:
		return c.label(i), errors.New("a DeleteOneVersion needs a Timestamp")
	case !isPut && hasValue:
		return c.label(i), fmt.Errorf("a %s carries no Value", c.Type)
	case isDeleteAll && hasTimestamp:
		return c.label(i), fmt.Errorf("a %s carries no Timestamp", DeleteAllVersions)
	}
	return "", nil
}

// label names the i-th attribute column change in errors, e.g. `Columns[2] "level"`.
func (c *Column) label(i int) string { return elementLabel("Columns", i, c.ColumnName) }
