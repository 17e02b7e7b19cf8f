package events

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/otsetl/otsetl/ots"
)

// The CBOR and the JSON reader both turn a payload into a tree of plain Go values, so that
// one builder turns either into an Event and reports every error the same way. (A CBOR event
// in the plain form of the documented shape skips the tree: see readPlainEvent.) A node is
// one of:
//
//	map[string]any  a CBOR map with text keys, a JSON object
//	[]any           an array
//	string, int64, float64, bool, []byte
//	nil             null, CBOR undefined
//	encodedRecord   an element of the top-level Records array with its exact bytes
//	outOfRange      a number that fits neither int64 nor float64
//	unsupported     a CBOR item no event field can hold (a tag, an unassigned simple value)

// encodedRecord is an element of Records together with its encoding, kept as Record.Raw.
type encodedRecord struct {
	node any
	raw  []byte
}

// outOfRange is a number that overflows its Go type: an integer beyond int64, or a JSON
// number beyond float64. It is an error wherever the builder meets it.
type outOfRange struct {
	text    string
	integer bool
}

func (n outOfRange) Error() string {
	if n.integer {
		return "integer " + n.text + " overflows int64"
	}
	return "number " + n.text + " overflows float64"
}

// unsupported is a CBOR item no event field can hold; what names it, e.g. "CBOR tag 42".
type unsupported struct {
	what string
}

// format is the encoding a payload arrived in.
type format uint8

const (
	formatCBOR format = iota
	formatJSON
)

// builder turns a payload tree into an Event, checking the type of every field it reads.
// record is the index of the record being built, -1 at the event level.
type builder struct {
	format format
	record int
}

// fail returns a DecodeError about field of the current record.
func (b builder) fail(field string, err error) *DecodeError {
	return &DecodeError{Record: b.record, Field: field, Err: err}
}

// wrongType returns the error for a node that is not what field needs.
func (b builder) wrongType(field, want string, node any) *DecodeError {
	return b.fail(field, fmt.Errorf("want %s, got %s", want, b.describe(node)))
}

// describe names a node for an error message.
func (b builder) describe(node any) string {
	switch n := node.(type) {
	case nil:
		return "null"
	case map[string]any:
		return b.mapName()
	case []any:
		return "an array"
	case string:
		const maxShown = 40
		if len(n) > maxShown {
			return fmt.Sprintf("string %q…", n[:maxShown])
		}
		return fmt.Sprintf("string %q", n)
	case int64:
		return "integer " + strconv.FormatInt(n, 10)
	case float64:
		return "number " + strconv.FormatFloat(n, 'g', -1, 64)
	case bool:
		return "boolean " + strconv.FormatBool(n)
	case []byte:
		return fmt.Sprintf("byte string of %d bytes", len(n))
	case outOfRange:
		if n.integer {
			return "integer " + n.text
		}
		return "number " + n.text
	case unsupported:
		return n.what
	}
	return fmt.Sprintf("%T", node)
}

// mapName is what the payload's format calls a map.
func (b builder) mapName() string {
	if b.format == formatJSON {
		return "an object"
	}
	return "a map"
}

// valueName lists the forms a value may take in the payload's format.
func (b builder) valueName() string {
	if b.format == formatJSON {
		return `a value (number, boolean, string, or {"Binary": "<base64>"} for binary)`
	}
	return "a value (integer, float, boolean, text string or byte string)"
}

// mapNode returns node as a map, or the error for field.
func (b builder) mapNode(field string, node any) (map[string]any, error) {
	m, ok := node.(map[string]any)
	if !ok {
		return nil, b.wrongType(field, b.mapName(), node)
	}
	return m, nil
}

// arrayNode returns node as an array, or the error for field.
func (b builder) arrayNode(field string, node any) ([]any, error) {
	a, ok := node.([]any)
	if !ok {
		return nil, b.wrongType(field, "an array", node)
	}
	return a, nil
}

// requiredString returns the string under key; field names it in errors.
func (b builder) requiredString(m map[string]any, key, field string) (string, error) {
	node, ok := m[key]
	if !ok {
		return "", b.fail(field, errors.New("missing"))
	}
	s, ok := node.(string)
	if !ok {
		return "", b.wrongType(field, "a string", node)
	}
	return s, nil
}

// optionalInteger returns the integer under key, or nil when it is absent or null.
func (b builder) optionalInteger(m map[string]any, key, field string) (*int64, error) {
	switch n := m[key].(type) {
	case nil:
		return nil, nil
	case int64:
		return &n, nil
	case outOfRange:
		if n.integer {
			return nil, b.fail(field, n)
		}
	}
	return nil, b.wrongType(field, "an integer", m[key])
}

// event builds the Event from the top-level map.
func (b builder) event(top map[string]any) (*Event, error) {
	version, err := b.requiredString(top, "Version", "Version")
	if err != nil {
		return nil, err
	}
	recordsNode, ok := top["Records"]
	if !ok {
		return nil, b.fail("Records", errors.New("missing"))
	}
	elements, err := b.arrayNode("Records", recordsNode)
	if err != nil {
		return nil, err
	}
	e := &Event{Version: version, Records: make([]Record, len(elements))}
	for i, element := range elements {
		rb := builder{format: b.format, record: i}
		if e.Records[i], err = rb.recordFrom(element); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// recordFrom builds a Record from an element of Records.
func (b builder) recordFrom(element any) (Record, error) {
	encoded, ok := element.(encodedRecord)
	if !ok {
		return Record{}, b.wrongType("", b.mapName(), element)
	}
	m, err := b.mapNode("", encoded.node)
	if err != nil {
		return Record{}, err
	}
	r := Record{Raw: encoded.raw}
	recordType, err := b.requiredString(m, "Type", "Type")
	if err != nil {
		return Record{}, err
	}
	r.Type = RecordType(recordType)
	if r.Info, err = b.info(m["Info"]); err != nil {
		return Record{}, err
	}
	if r.PrimaryKey, err = b.primaryKey(m); err != nil {
		return Record{}, err
	}
	if r.Columns, err = b.columns(m["Columns"]); err != nil {
		return Record{}, err
	}
	return r, nil
}

// info builds the RecordInfo; an absent or null Info is the zero RecordInfo.
func (b builder) info(node any) (RecordInfo, error) {
	if node == nil {
		return RecordInfo{}, nil
	}
	m, err := b.mapNode("Info", node)
	if err != nil {
		return RecordInfo{}, err
	}
	ts, err := b.optionalInteger(m, "Timestamp", "Info.Timestamp")
	if err != nil || ts == nil {
		return RecordInfo{}, err
	}
	return RecordInfo{Timestamp: *ts}, nil
}

// primaryKey builds the primary key columns of record map m.
func (b builder) primaryKey(m map[string]any) ([]ots.PrimaryKeyColumn, error) {
	node, ok := m["PrimaryKey"]
	if !ok {
		return nil, b.fail("PrimaryKey", errors.New("missing"))
	}
	elements, err := b.arrayNode("PrimaryKey", node)
	if err != nil {
		return nil, err
	}
	pk := make([]ots.PrimaryKeyColumn, len(elements))
	for i, element := range elements {
		label := elementLabel("PrimaryKey", i, "")
		cm, err := b.mapNode(label, element)
		if err != nil {
			return nil, err
		}
		if pk[i].ColumnName, err = b.requiredString(cm, "ColumnName", label+".ColumnName"); err != nil {
			return nil, err
		}
		if pk[i].Value, err = b.value(elementLabel("PrimaryKey", i, pk[i].ColumnName), cm["Value"]); err != nil {
			return nil, err
		}
	}
	return pk, nil
}

// columns builds the attribute column changes; absent, null and empty Columns give nil.
func (b builder) columns(node any) ([]Column, error) {
	if node == nil {
		return nil, nil
	}
	elements, err := b.arrayNode("Columns", node)
	if err != nil || len(elements) == 0 {
		return nil, err
	}
	columns := make([]Column, len(elements))
	for i, element := range elements {
		if columns[i], err = b.column(i, element); err != nil {
			return nil, err
		}
	}
	return columns, nil
}

// column builds the i-th attribute column change.
func (b builder) column(i int, node any) (Column, error) {
	label := elementLabel("Columns", i, "")
	m, err := b.mapNode(label, node)
	if err != nil {
		return Column{}, err
	}
	var c Column
	if c.ColumnName, err = b.requiredString(m, "ColumnName", label+".ColumnName"); err != nil {
		return Column{}, err
	}
	label = elementLabel("Columns", i, c.ColumnName)
	columnType, err := b.requiredString(m, "Type", label+".Type")
	if err != nil {
		return Column{}, err
	}
	c.Type = ColumnType(columnType)
	if c.Value, err = b.value(label, m["Value"]); err != nil {
		return Column{}, err
	}
	if c.Timestamp, err = b.optionalInteger(m, "Timestamp", label+".Timestamp"); err != nil {
		return Column{}, err
	}
	return c, nil
}

// value converts a cell or primary key value node; absent and null give no value.
func (b builder) value(field string, node any) (ots.Value, error) {
	switch n := node.(type) {
	case nil:
		return ots.Value{}, nil
	case int64:
		return ots.Integer(n), nil
	case float64:
		return ots.Double(n), nil
	case bool:
		return ots.Boolean(n), nil
	case string:
		return ots.String(n), nil
	case []byte:
		return ots.Binary(n), nil
	case outOfRange:
		return ots.Value{}, b.fail(field, n)
	case map[string]any:
		if b.format == formatJSON {
			return b.jsonBinary(field, n)
		}
	}
	return ots.Value{}, b.wrongType(field, b.valueName(), node)
}

// jsonBinary decodes the JSON form of a BINARY value, {"Binary": "<standard base64>"}.
func (b builder) jsonBinary(field string, m map[string]any) (ots.Value, error) {
	encoded, ok := m[jsonBinaryKey].(string)
	if !ok || len(m) != 1 {
		return ots.Value{}, b.fail(field, fmt.Errorf("want %s, got another object", b.valueName()))
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil {
		return ots.Value{}, b.fail(field, fmt.Errorf("Binary is not standard base64: %w", err))
	}
	return ots.Binary(raw), nil
}

// jsonBinaryKey is the only key of the JSON object that carries a BINARY value.
const jsonBinaryKey = "Binary"

// elementLabel names the i-th element of a primary key or column list in errors:
// `Columns[2] "level"`, or `Columns[2]` while its name is unknown.
func elementLabel(list string, i int, name string) string {
	label := list + "[" + strconv.Itoa(i) + "]"
	if name != "" {
		label += " " + strconv.Quote(name)
	}
	return label
}
