package events

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"

	"github.com/otsetl/otsetl/ots"
)

// decodeCBOR decodes a CBOR event in one pass over a copy of its bytes.
func (o DecodeOptions) decodeCBOR(payload []byte) (*Event, error) {
	r := newEventReader(bytes.Clone(payload), o, false)
	return r.decode()
}

// eventReader reads an event from CBOR data items: the cursor checks well-formedness and the
// limits as it goes, the reader the fields, noting the first fault of content as a
// DecodeError that names the record and field. Record.Raw and BINARY values are slices of the
// data. It also reads JSON events, which decodeJSON hands it as CBOR items.
type eventReader struct {
	cursor
	json                bool         // the items come from JSON, whose values may be {"Binary": …}
	mapName, valueKinds string       // what errors call a map, and the forms of a value
	record              int          // index of the record being read, -1 outside Records
	list, index         int          // the list (noList if none) and index of the element being read
	err                 *DecodeError // the first fault of content
	errAt               place        // where it lies
	primaryKeys         chunks[ots.PrimaryKeyColumn]
	columns             chunks[Column]
	timestamps          chunks[int64]
	others              map[otherKey]bool // the keys of the members not read, by map
}

// newEventReader returns a reader of data, the CBOR items of a CBOR or JSON event.
func newEventReader(data []byte, limits DecodeOptions, json bool) eventReader {
	r := eventReader{cursor: cursor{data: data, limits: limits}, json: json, record: -1, mapName: "a map",
		valueKinds: "a value (integer, float, boolean, text string or byte string)"}
	if json {
		r.mapName = "an object"
		r.valueKinds = `a value (number, boolean, string, or {"Binary": "<base64>"} for binary)`
	}
	return r
}

// decode reads the event. A fault of well-formedness or limits anywhere is reported before a
// fault of content, as fxamacker/cbor (which checks well-formedness first) would report it:
// after any fault, or data after the event, the payload is checked for well-formedness alone.
func (r *eventReader) decode() (*Event, error) {
	e := r.event()
	if r.ok() && r.off == len(r.data) {
		return e, nil
	}
	check := cursor{data: r.data, limits: r.limits}
	if err := check.wellFormed(); err != nil {
		return nil, eventError(err)
	}
	if r.err != nil {
		return nil, r.err
	}
	return nil, eventError(r.fault)
}

// event reads the top-level map.
func (r *eventReader) event() *Event {
	e, m := &Event{}, members{}
	ok := r.openMap(&m, "", false, 1<<fieldVersion|1<<fieldRecords)
	for ok && r.nextMember(&m) {
		if m.field == fieldVersion {
			e.Version, ok = text[string](r, "Version", versions)
		} else {
			e.Records, ok = list(r, "Records", false, &chunks[Record]{}, r.readRecord)
			r.record = -1
		}
	}
	if !r.complete(&m, ok, 1<<fieldVersion|1<<fieldRecords) {
		return nil
	}
	return e
}

// readRecord reads the i-th element of Records into record, keeping its bytes as Raw.
func (r *eventReader) readRecord(i int, record *Record) bool {
	r.record = i
	start, m := r.off, members{}
	ok := r.openMap(&m, "", false, 1<<fieldType|1<<fieldInfo|1<<fieldPrimaryKey|1<<fieldColumns)
	for ok && r.nextMember(&m) {
		switch m.field {
		case fieldType:
			record.Type, ok = text[RecordType](r, "Type", recordTypes)
		case fieldInfo:
			var info members
			ok = r.openMap(&info, "Info", true, 1<<fieldTimestamp)
			for ok && r.nextMember(&info) {
				record.Info.Timestamp, _, ok = r.optionalInteger("Info.Timestamp")
			}
		case fieldPrimaryKey:
			record.PrimaryKey, ok = list(r, "PrimaryKey", false, &r.primaryKeys, func(i int, pk *ots.PrimaryKeyColumn) bool {
				return r.readElement(primaryKeyList, i, &pk.ColumnName, &pk.Value, nil)
			})
		default:
			var columns []Column
			columns, ok = list(r, "Columns", true, &r.columns, func(i int, c *Column) bool {
				return r.readElement(columnsList, i, &c.ColumnName, &c.Value, c)
			})
			if len(columns) > 0 { // Columns stays nil for none
				record.Columns = columns
			}
		}
	}
	if !r.complete(&m, ok, 1<<fieldType|1<<fieldPrimaryKey) {
		return false
	}
	record.Raw = r.data[start:r.off:r.off]
	return true
}

// readElement reads the i-th element of list: its name and value, and for a column (Columns)
// its Type and Timestamp.
func (r *eventReader) readElement(list, i int, name *string, value *ots.Value, column *Column) bool {
	r.list, r.index = list, i
	fields := uint32(1<<fieldColumnName | 1<<fieldValue)
	if column != nil {
		fields |= 1<<fieldType | 1<<fieldTimestamp
	}
	var m members
	ok := r.openMap(&m, "", false, fields)
	for ok && r.nextMember(&m) {
		switch m.field {
		case fieldType:
			column.Type, ok = text[ColumnType](r, ".Type", columnTypes)
		case fieldColumnName:
			*name, ok = text[string](r, ".ColumnName", nil)
		case fieldValue:
			*value, ok = r.value()
		default:
			var timestamp int64
			var present bool
			timestamp, present, ok = r.optionalInteger(".Timestamp")
			if present {
				column.Timestamp = &take(r, &r.timestamps, 1)[0]
				*column.Timestamp = timestamp
			}
		}
	}
	if !r.complete(&m, ok, fields&(1<<fieldColumnName|1<<fieldType)) {
		r.nameFault(m, *name)
		return false
	}
	r.list = noList
	return true
}

// nameFault names the column in a fault met in the element of map m: name, read before the
// fault, or else the ColumnName that follows, looking ahead in m.
func (r *eventReader) nameFault(m members, name string) {
	if r.err == nil || r.errAt.list == "" {
		return
	}
	if m.has(fieldColumnName) || r.errAt.sub == ".ColumnName" {
		r.errAt.name = name
		r.err.Field = r.errAt.String()
		return
	}
	ahead := r.cursor
	for ahead.more(&m.pairs) {
		h := ahead.head()
		if h.major != majorTextString {
			return
		}
		key, _ := ahead.stringContent(h)
		h = ahead.head()
		if h.major == majorTextString && string(key) == "ColumnName" {
			content, _ := ahead.stringContent(h)
			r.errAt.name = string(content)
			r.err.Field = r.errAt.String()
			return
		}
		ahead.skipContent(h)
	}
}

// Faults of content that are always the same.
var (
	errInvalidUTF8 = errors.New("text string is not valid UTF-8")
	errInvalidKey  = errors.New("key is not valid UTF-8")
	errMissing     = errors.New("missing")
)

// The lists whose elements errors name, and their names.
const (
	noList = iota
	primaryKeyList
	columnsList
)

var listNames = [...]string{"", "PrimaryKey", "Columns"}

// place names a field in errors: sub, after the index-th element of list if any.
type place struct {
	list  string // "PrimaryKey", "Columns", or empty
	index int
	name  string
	sub   string // e.g. ".Type", or a record or event field such as "Info.Timestamp"
}

// String formats the place, e.g. `Columns[2] "level".Timestamp`.
func (p place) String() string {
	if p.list == "" {
		return p.sub
	}
	return elementLabel(p.list, p.index, p.name) + p.sub
}

// ok reports whether no fault has been met.
func (r *eventReader) ok() bool { return r.fault == nil && r.err == nil }

// reject notes a fault in the field sub of the current record or element and returns false.
func (r *eventReader) reject(sub string, err error) bool {
	if r.err == nil {
		r.errAt = place{list: listNames[r.list], index: r.index, sub: sub} // readElement adds the name
		r.err = &DecodeError{Record: r.record, Field: r.errAt.String(), Err: err}
	}
	return false
}

// wrongType notes that the item of head h is not what the field sub wants, and moves past it.
func (r *eventReader) wrongType(sub, want string, h itemHead) bool {
	if h.major == majorTextString {
		content, valid := r.stringContent(h)
		if !valid {
			return r.reject(sub, errInvalidUTF8)
		}
		return r.reject(sub, fmt.Errorf("want %s, got %s", want, describeString(string(content))))
	}
	return r.reject(sub, fmt.Errorf("want %s, got %s", want, r.describe(h)))
}

// describe names the item of head h, not a text string, in an error (e.g. "integer 5"), and
// moves past it.
func (r *eventReader) describe(h itemHead) string {
	switch h.major {
	case majorUnsigned, majorNegative:
		return "integer " + integerText(h)
	case majorByteString:
		content, _ := r.stringContent(h)
		return "byte string of " + strconv.Itoa(len(content)) + " bytes"
	case majorArray:
		r.skipContent(h)
		return "an array"
	case majorMap:
		r.skipContent(h)
		return r.mapName
	case majorTag:
		if kind, text := r.bigNumber(h); kind != "" {
			return kind + " " + text
		}
		r.skipContent(h)
		return "CBOR tag " + strconv.FormatUint(h.argument, 10)
	}
	if f, isFloat := floatOf(h); isFloat {
		return "number " + strconv.FormatFloat(f, 'g', -1, 64)
	}
	switch h.additional {
	case simpleNull, simpleUndefined:
		return "null"
	case simpleFalse:
		return "boolean false"
	case simpleTrue:
		return "boolean true"
	}
	return "CBOR simple value " + strconv.FormatUint(h.argument, 10)
}

// chunks hands out slices carved from larger allocations, so that an event's primary keys,
// columns and timestamps cost a few allocations; each slice's capacity is its length.
type chunks[T any] struct {
	last []T // the last allocation, whose elements from next on are free
	next int
	used int // elements handed out
}

// take returns n zero elements from c. A new allocation holds as many as the rest of r's data
// will need if it needs them at the rate of the data read so far, and an eighth more, but no
// more than twice those handed out and 1024; n and 4 at least.
func take[T any](r *eventReader, c *chunks[T], n int) []T {
	if n > len(c.last)-c.next {
		rest := int64(len(r.data) - r.off)
		estimate := int64(c.used)*rest/int64(max(r.off, 1)) + int64(c.used/8)
		size := max(n, 4, int(min(estimate, int64(2*c.used+1024))))
		c.last, c.next = make([]T, size), 0
	}
	s := c.last[c.next : c.next+n : c.next+n]
	c.next += n
	c.used += n
	return s
}
