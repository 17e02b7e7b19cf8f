package events

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/fxamacker/cbor/v2"
	"github.com/x448/float16"

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
		r.mapName, r.valueKinds = "an object", `a value (number, boolean, string, or {"Binary": "<base64>"} for binary)`
	}
	return r
}

// decode reads the event. A fault of well-formedness or limits anywhere is reported before a
// fault of content, as fxamacker/cbor (which checks well-formedness first) reports it: after
// any fault, or data after the event, the payload is checked for well-formedness alone.
func (r *eventReader) decode() (*Event, error) {
	e := r.event()
	if r.ok() && r.off == len(r.data) {
		return e, nil
	}
	if err := (&cursor{data: r.data, limits: r.limits}).wellFormed(); err != nil {
		return nil, eventError(err)
	} else if r.err != nil {
		return nil, r.err
	}
	return nil, eventError(r.fault)
}

// Faults of content; the first is worded as fxamacker/cbor words it.
var (
	errInvalidUTF8 = errors.New("cbor: invalid UTF-8 string")
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

// rejectCBOR is reject for a fault of CBOR itself, which inside Records names no field.
func (r *eventReader) rejectCBOR(sub string, err error) bool {
	if r.record >= 0 {
		r.list, sub = noList, ""
	}
	return r.reject(sub, err)
}

// acceptedTag reports whether the reader reads through a tag wherever it reads an item (not a
// key): self-described CBOR (55799, RFC 8949 §3.4.6) leaves the item's meaning as it is.
func acceptedTag(number uint64) bool { return number == 55799 }

// tagged reads on from the tag head h through accepted tags to the head of the item they
// enclose, and returns it with the nesting they add to an array or map. Readers read heads
// with head and call tagged for a tag, which item does for them.
func (r *eventReader) tagged(h itemHead) (itemHead, int) {
	h, extra := r.untag(h, acceptedTag)
	if h.major != majorArray && h.major != majorMap {
		r.depth, extra = r.depth-extra, 0
	}
	return h, extra
}

// wrongType notes that the item of head h is not what the field sub wants, and moves past it.
func (r *eventReader) wrongType(sub, want string, h itemHead) bool {
	var got string
	switch f, isFloat := floatOf(h); {
	case h.major <= majorNegative:
		got = "integer " + integerText(h)
	case h.major == majorByteString:
		content, _ := r.stringContent(h)
		got = "byte string of " + strconv.Itoa(len(content)) + " bytes"
	case h.major == majorTextString:
		content, valid := r.stringContent(h)
		if !valid {
			return r.rejectCBOR(sub, errInvalidUTF8)
		}
		got = describeString(string(content))
	case h.major == majorArray || h.major == majorMap:
		got = either(h.major == majorArray, "an array", r.mapName)
		r.skipContent(h)
	case h.major == majorTag:
		if kind, text := r.bigNumber(h); kind != "" {
			got = kind + " " + text
		} else {
			got = "CBOR tag " + strconv.FormatUint(h.argument, 10)
			r.skipContent(h)
		}
	case isFloat:
		got = "number " + strconv.FormatFloat(f, 'g', -1, 64)
	case h.none():
		got = "null"
	case h.additional == simpleFalse || h.additional == simpleTrue:
		got = "boolean " + strconv.FormatBool(h.additional == simpleTrue)
	default:
		got = "CBOR simple value " + strconv.FormatUint(h.argument, 10)
	}
	return r.reject(sub, fmt.Errorf("want %s, got %s", want, got))
}

// floatOf returns the value of a float head of any width, converted as fxamacker/cbor does.
func floatOf(h itemHead) (float64, bool) {
	switch {
	case h.major != majorSimple:
	case h.additional == additionalHalf:
		return float64(float16.Frombits(uint16(h.argument)).Float32()), true
	case h.additional == additionalSingle:
		return float64(math.Float32frombits(uint32(h.argument))), true
	case h.additional == additionalDouble:
		return math.Float64frombits(h.argument), true
	}
	return 0, false
}

// integerText formats the value of an integer head, which may lie beyond int64.
func integerText(h itemHead) string {
	if h.major == majorUnsigned {
		return strconv.FormatUint(h.argument, 10)
	} else if h.argument == math.MaxUint64 {
		return "-18446744073709551616"
	}
	return "-" + strconv.FormatUint(h.argument+1, 10)
}

// integer returns the value of an integer head, or notes one beyond int64 as a fault of sub.
func (r *eventReader) integer(sub string, h itemHead) (int64, bool) {
	if h.argument > math.MaxInt64 {
		return 0, r.reject(sub, overflows("integer", integerText(h)))
	} else if h.major == majorNegative {
		return -1 - int64(h.argument), true
	}
	return int64(h.argument), true
}

// JSON numbers beyond int64 (integers) or float64 (others) reach the reader as tagged text.
const tagJSONInteger, tagJSONNumber = 1<<63 + 'I', 1<<63 + 'N'

// bigNumber reads the kind ("integer", "number") and text of a tagged JSON number, if h is one.
func (r *eventReader) bigNumber(h itemHead) (kind, text string) {
	if !r.json || h.major != majorTag || h.argument != tagJSONInteger && h.argument != tagJSONNumber {
		return "", ""
	}
	content, _ := r.stringContent(r.head())
	return either(h.argument == tagJSONInteger, "integer", "number"), string(content)
}

// overflows is the fault of an integer beyond int64 or a number beyond float64.
func overflows(kind, text string) error {
	return fmt.Errorf("%s %s overflows %s", kind, text, either(kind == "integer", "int64", "float64"))
}

// either returns a if cond holds, else b.
func either[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// text reads a text string of valid UTF-8, which shares the data unless it equals a string
// of known.
func text[T ~string](r *eventReader, sub string, known []string) (T, bool) {
	h := r.head()
	if h.major == majorTag {
		h, _ = r.tagged(h)
	}
	if h.major != majorTextString {
		return "", r.wrongType(sub, "a string", h)
	}
	if end := r.off + int(h.argument); !h.indefinite() {
		for _, s := range known {
			if s == string(r.data[r.off:end]) {
				r.off = end
				return T(s), true
			}
		}
	}
	if content, valid := r.stringContent(h); valid {
		return T(shared(content)), true
	}
	return "", r.rejectCBOR(sub, errInvalidUTF8)
}

// optionalInteger reads an integer within int64, or null or undefined (not present).
func (r *eventReader) optionalInteger(sub string) (value int64, present, ok bool) {
	h := r.head()
	if h.major == majorTag {
		h, _ = r.tagged(h)
	}
	switch {
	case h.none():
		return 0, false, true
	case h.major <= majorNegative:
		value, ok = r.integer(sub, h)
		return value, true, ok
	case r.json && h.major == majorTag && h.argument == tagJSONInteger:
		return 0, false, r.reject(sub, overflows(r.bigNumber(h)))
	default:
		return 0, false, r.wrongType(sub, "an integer", h)
	}
}

// value reads a cell or primary key value; null and undefined give no value.
func (r *eventReader) value() (ots.Value, bool) {
	h, extra, hint := r.head(), 0, false
	if h.major == majorTag { // expected later encodings (21–23, RFC 8949 §3.4.5.2) hint at binary
		h, extra = r.untag(h, func(n uint64) bool { hint = hint || n-21 < 3; return acceptedTag(n) || n-21 < 3 })
		if h.major != majorArray && h.major != majorMap {
			r.depth, extra = r.depth-extra, 0
		}
	}
	switch {
	case hint && h.major != majorByteString:
		return ots.Value{}, r.wrongType("", "a byte string inside tags 21 to 23", h)
	case h.major <= majorNegative:
		i, ok := r.integer("", h)
		return ots.Integer(i), ok
	case h.major == majorByteString:
		content, _ := r.stringContent(h)
		return ots.Binary(content), true
	case h.major == majorTextString:
		if content, valid := r.stringContent(h); valid {
			return ots.String(shared(content)), true
		}
		return ots.Value{}, r.rejectCBOR("", errInvalidUTF8)
	}
	switch f, isFloat := floatOf(h); {
	case isFloat:
		return ots.Double(f), true
	case h.none():
		return ots.Value{}, true
	case h.additional == simpleFalse || h.additional == simpleTrue:
		return ots.Boolean(h.additional == simpleTrue), true
	case r.json && h.major == majorMap:
		return r.binary(h, extra)
	}
	if kind, text := r.bigNumber(h); kind != "" {
		return ots.Value{}, r.reject("", overflows(kind, text))
	}
	return ots.Value{}, r.wrongType("", r.valueKinds, h)
}

// shared returns content as a string without copying it. content is a part of the reader's
// own copy of the payload (or a join of a string's chunks), which nothing writes once the
// event is read: column names and STRING values share that copy as Record.Raw and BINARY
// values do, and cost no allocation of their own.
func shared(content []byte) string {
	if len(content) == 0 {
		return ""
	}
	return unsafe.String(&content[0], len(content))
}

// binary reads the JSON form of a BINARY value, {"Binary": "<standard base64>"}.
func (r *eventReader) binary(h itemHead, extra int) (ots.Value, bool) {
	var encoded []byte
	m := members{pairs: r.itemsOf(h, extra), fields: 1 << fieldBinary, index: -1, at: r.off}
	for r.nextMember(&m) {
		if h := r.head(); h.major == majorTextString {
			encoded, _ = r.stringContent(h)
		} else {
			r.skipContent(h)
		}
	}
	if !r.ok() {
		return ots.Value{}, false
	} else if m.index != 0 || encoded == nil {
		return ots.Value{}, r.reject("", fmt.Errorf("want %s, got another object", r.valueKinds))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(string(encoded))
	if err != nil {
		//lint:ignore ST1005 Binary is the name of the JSON member.
		return ots.Value{}, r.reject("", fmt.Errorf("Binary is not standard base64: %w", err))
	}
	return ots.Binary(b), true
}

// The fields the reader reads, by id; each map reads a set of them, as bits. ColumnName comes
// before Type, Version before Records and Type before PrimaryKey, the order in which a
// missing one is reported.
const (
	fieldColumnName = iota
	fieldVersion
	fieldRecords
	fieldType
	fieldInfo
	fieldPrimaryKey
	fieldColumns
	fieldTimestamp
	fieldValue
	fieldBinary // of a JSON BINARY value
)

// fieldOf finds the id of a field by its key, -1 for another key.
func fieldOf(key []byte) int {
	switch string(key) {
	case "ColumnName":
		return fieldColumnName
	case "Version":
		return fieldVersion
	case "Records":
		return fieldRecords
	case "Type":
		return fieldType
	case "Info":
		return fieldInfo
	case "PrimaryKey":
		return fieldPrimaryKey
	case "Columns":
		return fieldColumns
	case "Timestamp":
		return fieldTimestamp
	case "Value":
		return fieldValue
	case "Binary":
		return fieldBinary
	}
	return -1
}

// The names of the fields, by id, and the strings that events repeat.
var (
	fieldNames  = [...]string{"ColumnName", "Version", "Records", "Type", "Info", "PrimaryKey", "Columns", "Timestamp", "Value", "Binary"}
	versions    = []string{Version}
	recordTypes = []string{string(PutRow), string(UpdateRow), string(DeleteRow)}
	columnTypes = []string{string(Put), string(DeleteOneVersion), string(DeleteAllVersions)}
)

// members walks the members of a map the reader interprets.
type members struct {
	pairs  items
	fields uint32 // the fields the reader reads, bit id for the field of that id
	seen   uint32 // the fields met
	index  int    // pair index of the current member
	field  int    // id of its field
	at     int    // offset of the first member, which tells the map from others
}

// otherKey is the key of a member the reader does not read, in the map whose first member is
// at offset at.
type otherKey struct {
	at  int
	key string
}

// has reports whether the field of id i has been met.
func (m *members) has(i int) bool { return m.seen&(1<<i) != 0 }

// openMap reads the head of the map sub into m; null and undefined, if optional, are empty.
func (r *eventReader) openMap(m *members, sub string, optional bool, fields uint32) bool {
	h, extra := r.head(), 0
	if h.major == majorTag {
		h, extra = r.tagged(h)
	}
	switch {
	case optional && h.none():
		return true
	case h.major != majorMap:
		return r.wrongType(sub, r.mapName, h)
	default:
		*m = members{pairs: r.itemsOf(h, extra), fields: fields, index: -1, at: r.off}
		return true
	}
}

// nextMember moves to the value of the next member of m with a field, skipping others, and
// reports false at the end or a fault. Keys must be distinct text strings of valid UTF-8, as
// fxamacker/cbor wants them when it decodes a map into a struct.
func (r *eventReader) nextMember(m *members) bool {
	for m.fields != 0 && r.more(&m.pairs) { // after a fault of content, its reader returns false
		m.index++
		key, ok := r.shortKey()
		if !ok {
			if key, ok = r.key(); !ok {
				return false
			}
		}
		if m.field = fieldOf(key); m.field >= 0 && m.fields&(1<<m.field) == 0 {
			m.field = -1
		}
		switch {
		case m.field >= 0 && !m.has(m.field):
			m.seen |= 1 << m.field
			return true
		case m.field >= 0:
		case !utf8.Valid(key):
			return r.rejectCBOR("", errInvalidUTF8)
		case !r.others[otherKey{m.at, string(key)}]:
			if r.others == nil {
				r.others = make(map[otherKey]bool)
			}
			r.others[otherKey{m.at, string(key)}] = true
			r.skip() // checked for well-formedness only
			continue
		}
		return r.rejectCBOR("", fmt.Errorf("cbor: found duplicate map key %q at map element index %d", ots.Brief(string(key)), m.index))
	}
	return false
}

// shortKey reads a map key that is a text string of at most 23 bytes, whose head is its first
// byte; it reports false, reading nothing, for any other key.
func (r *eventReader) shortKey() ([]byte, bool) {
	if off := r.off; off < len(r.data) {
		if n := r.data[off] - majorTextString<<5; n < additionalOneByte && off+int(n) < len(r.data) {
			r.off = off + 1 + int(n)
			return r.data[off+1 : r.off : r.off], true
		}
	}
	return nil, false
}

// key reads a map key, a text string.
func (r *eventReader) key() ([]byte, bool) {
	switch h := r.head(); {
	case r.fault != nil:
		return nil, false
	case h.major != majorTextString:
		return nil, r.rejectCBOR("", fmt.Errorf("cbor: cannot unmarshal %s into Go value of type string", typeNames[h.major]))
	default:
		key, valid := r.stringContent(h)
		return key, valid || r.rejectCBOR("", errInvalidUTF8)
	}
}

// list reads the array sub (null or undefined give nil if optional) into a slice from c.
func list[T any](r *eventReader, sub string, optional bool, c *chunks[T], read func(int, *T) bool) ([]T, bool) {
	h, extra := r.head(), 0
	if h.major == majorTag {
		h, extra = r.tagged(h)
	}
	if optional && h.none() {
		return nil, true
	} else if h.major != majorArray {
		return nil, r.wrongType(sub, "an array", h)
	}
	it := r.itemsOf(h, extra)
	elements := []T{}
	if it.left > 0 { // a definite length; an item takes a byte at least
		elements = take(r, c, min(it.left, len(r.data)-r.off))
	}
	for i := 0; r.more(&it); i++ {
		if i == len(elements) {
			elements = append(elements, *new(T))
		}
		if !read(i, &elements[i]) {
			return nil, false
		}
	}
	return elements, r.ok()
}

// complete reports whether the map m was read without a fault, noting the first of the
// required fields (bit id for id) that it lacks as missing.
func (r *eventReader) complete(m *members, ok bool, required uint32) bool {
	return ok && r.ok() && required&^m.seen == 0 || r.incomplete(m, ok, required)
}

// incomplete is complete for a map that lacks a field or met a fault.
func (r *eventReader) incomplete(m *members, ok bool, required uint32) bool {
	return ok && r.ok() && r.reject(either(r.list != noList, ".", "")+fieldNames[bits.TrailingZeros32(required&^m.seen)], errMissing)
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
			for ok = r.openMap(&info, "Info", true, 1<<fieldTimestamp); ok && r.nextMember(&info); {
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
			if timestamp, present, ok = r.optionalInteger(".Timestamp"); present {
				column.Timestamp = &take(r, &r.timestamps, 1)[0]
				*column.Timestamp = timestamp
			}
		}
	}
	if ok = r.complete(&m, ok, fields&(1<<fieldColumnName|1<<fieldType)); ok {
		r.list = noList
	} else {
		r.nameFault(m, *name)
	}
	return ok
}

// nameFault names the column in a fault met in the element of map m: name, read before the
// fault, or else the ColumnName that follows, looking ahead in m.
func (r *eventReader) nameFault(m members, name string) {
	if r.err == nil || r.errAt.list == "" {
		return
	} else if m.has(fieldColumnName) || r.errAt.sub == ".ColumnName" {
		r.errAt.name = name
		r.err.Field = r.errAt.String()
		return
	}
	for c := r.cursor; c.more(&m.pairs); {
		h := c.head()
		if h.major != majorTextString {
			return
		}
		key, _ := c.stringContent(h)
		if h = c.head(); h.major == majorTextString && string(key) == "ColumnName" {
			content, _ := c.stringContent(h)
			r.errAt.name = string(content)
			r.err.Field = r.errAt.String()
			return
		}
		c.skipContent(h)
	}
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
		estimate := int64(c.used)*int64(len(r.data)-r.off)/int64(max(r.off, 1)) + int64(c.used/8)
		c.last, c.next = make([]T, max(n, 4, int(min(estimate, int64(2*c.used+1024))))), 0
	}
	s := c.last[c.next : c.next+n : c.next+n]
	c.next += n
	c.used += n
	return s
}

// cursor reads the data items (RFC 8949 §3) of a CBOR payload in place, checking them as
// fxamacker/cbor's Wellformed does (valid.go) under the limits, and keeps the first fault with
// Wellformed's error; then it stands at the end, where every head reads as the integer 0.
type cursor struct {
	data   []byte
	off    int           // offset of the next byte to read
	limits DecodeOptions // MaxNestedLevels, MaxArrayElements and MaxMapPairs apply
	depth  int           // arrays, maps and chained tags open at off, as Wellformed counts them
	fault  error         // the first fault of well-formedness or limits
}

// CBOR major types (RFC 8949 §3.1), the top three bits of an item's first byte.
const (
	majorUnsigned = iota
	majorNegative
	majorByteString
	majorTextString
	majorArray
	majorMap
	majorTag
	majorSimple
)

// Additional information (RFC 8949 §3, §3.3), simple values and the break code (§3.2.1).
const (
	additionalOneByte    = 24
	additionalHalf       = 25
	additionalSingle     = 26
	additionalDouble     = 27
	additionalIndefinite = 31
	simpleFalse          = 20
	simpleTrue           = 21
	simpleNull           = 22
	simpleUndefined      = 23
	breakByte            = 0xff
)

// typeNames are fxamacker/cbor's names of the major types, which its errors use.
var typeNames = [8]string{"positive integer", "negative integer", "byte string", "UTF-8 text string", "array", "map", "tag", "primitives"}

// itemHead is the head of a data item; argument is a value, length, count, tag or float bits.
type itemHead struct {
	major, additional byte
	argument          uint64
}

// indefinite reports whether the head opens an indefinite-length string, array or map.
func (h itemHead) indefinite() bool { return h.additional == additionalIndefinite }

// none reports whether the head is null or undefined, which stand for no value.
func (h itemHead) none() bool {
	return h.major == majorSimple && (h.additional == simpleNull || h.additional == simpleUndefined)
}

// fail notes a fault, unless one is noted already, and moves to the end of the data.
func (c *cursor) fail(err error) {
	if c.fault == nil {
		c.fault = err
	}
	c.off = len(c.data)
}

// head reads and checks the head of the next item, counting an array or map into the nesting.
func (c *cursor) head() itemHead {
	if c.off == len(c.data) {
		c.fail(io.ErrUnexpectedEOF)
		return itemHead{}
	}
	initial := c.data[c.off]
	c.off++
	h := itemHead{major: initial >> 5, additional: initial & 0x1f, argument: uint64(initial & 0x1f)}
	var err error
	if h.additional >= additionalOneByte {
		h, err = c.argument(h)
	}
	if err == nil && (h.major-majorByteString < 2 && h.argument > uint64(len(c.data)-c.off) || // 0 if indefinite
		h.major-majorArray < 2 && c.nest(h)) {
		err = c.admit(h)
	}
	if err != nil {
		c.fail(err)
		return itemHead{}
	}
	return h
}

// argument reads the argument that follows the initial byte of h, as wellformedHead does, and
// returns h with it.
func (c *cursor) argument(h itemHead) (itemHead, error) {
	if h.additional > additionalDouble {
		if h.additional == additionalIndefinite && h.major >= majorByteString && h.major <= majorMap {
			h.argument = 0
			return h, nil
		}
		return h, headFault(h)
	}
	size := 1 << (h.additional - additionalOneByte)
	if len(c.data)-c.off < size {
		return h, io.ErrUnexpectedEOF
	}
	switch b := c.data[c.off:]; size {
	case 1:
		h.argument = uint64(b[0])
	case 2:
		h.argument = uint64(binary.BigEndian.Uint16(b))
	case 4:
		h.argument = uint64(binary.BigEndian.Uint32(b))
	default:
		h.argument = binary.BigEndian.Uint64(b)
	}
	c.off += size
	if size == 1 && h.major == majorSimple && h.argument < 32 {
		return h, headFault(h)
	}
	return h, nil
}

// headFault is Wellformed's fault for a head that is a break code out of place, has
// additional information 28 to 30 (or 31 where no indefinite length is), or is a two-byte
// simple value below 32.
func headFault(h itemHead) error {
	switch {
	case h.additional <= additionalDouble:
		return fmt.Errorf("cbor: invalid simple value %d for type primitives", h.argument)
	case h.additional == additionalIndefinite && h.major == majorSimple:
		return errors.New(`cbor: unexpected "break" code`)
	}
	return fmt.Errorf("cbor: invalid additional information %d for type %s", h.additional, typeNames[h.major])
}

// nest counts the array or map of head h into the nesting, and reports whether it may be
// beyond a limit.
func (c *cursor) nest(h itemHead) bool {
	c.depth++
	return c.depth > c.limits.MaxNestedLevels || h.argument > uint64(min(c.limits.MaxArrayElements, c.limits.MaxMapPairs))
}

// admit returns Wellformed's fault, if any, for the head of a string, array or map just read.
func (c *cursor) admit(h itemHead) error {
	switch {
	case h.major <= majorTextString && h.argument > math.MaxInt64:
		return fmt.Errorf("cbor: %s length %d is too large, causing integer overflow", typeNames[h.major], h.argument)
	case h.major <= majorTextString:
		return io.ErrUnexpectedEOF
	case c.depth > c.limits.MaxNestedLevels:
		return fmt.Errorf("cbor: exceeded max nested level %d", c.limits.MaxNestedLevels)
	case h.argument > math.MaxInt64:
		return fmt.Errorf("cbor: %s length %d is too large, it would cause integer overflow", typeNames[h.major], h.argument)
	case h.major == majorArray && h.argument > uint64(c.limits.MaxArrayElements):
		return fmt.Errorf("cbor: exceeded max number of elements %d for CBOR array", c.limits.MaxArrayElements)
	case h.major == majorMap && h.argument > uint64(c.limits.MaxMapPairs):
		return fmt.Errorf("cbor: exceeded max number of key-value pairs %d for CBOR map", c.limits.MaxMapPairs)
	}
	return nil
}

// untag reads on through the tags accept takes after the tag head h, returning the next head
// and the nesting added: a level for each tag after the first, as Wellformed counts them.
func (c *cursor) untag(h itemHead, accept func(uint64) bool) (itemHead, int) {
	extra := 0
	for h.major == majorTag && accept(h.argument) {
		if h = c.head(); h.major == majorTag {
			extra++
			if c.depth++; c.depth > c.limits.MaxNestedLevels {
				c.fail(fmt.Errorf("cbor: exceeded max nested level %d", c.limits.MaxNestedLevels))
			}
		}
	}
	return h, extra
}

// items counts off the elements of an array or the pairs of a map.
type items struct {
	left  int  // a definite length's items still to come; -1 less those read for an indefinite one
	pairs bool // the items are the pairs of a map
	extra int  // nesting added by the tags around the container
}

// itemsOf returns the items of the array or map whose head h has just been read.
func (c *cursor) itemsOf(h itemHead, extra int) items {
	return items{left: either(h.indefinite(), -1, int(h.argument)), pairs: h.major == majorMap, extra: extra}
}

// more reports whether another item (a pair, in a map) follows, counting it off; at the end it
// reads any break code and counts the container out of the nesting.
func (c *cursor) more(it *items) bool {
	if it.left > 0 && c.fault == nil {
		it.left--
		return true
	}
	return c.moreOrEnd(it)
}

// moreOrEnd is more past the fast way of a definite length.
func (c *cursor) moreOrEnd(it *items) bool {
	switch read := -1 - it.left; {
	case it.left >= 0:
	case !it.pairs && read > c.limits.MaxArrayElements:
		c.fail(fmt.Errorf("cbor: exceeded max number of elements %d for CBOR array", c.limits.MaxArrayElements))
	case it.pairs && read > c.limits.MaxMapPairs:
		c.fail(fmt.Errorf("cbor: exceeded max number of key-value pairs %d for CBOR map", c.limits.MaxMapPairs))
	case c.off == len(c.data):
		c.fail(io.ErrUnexpectedEOF)
	case c.data[c.off] == breakByte:
		c.off++
	default:
		it.left--
		return true
	}
	c.depth -= 1 + it.extra
	return false
}

// skip moves past the next item, checking it and all it holds.
func (c *cursor) skip() { c.skipContent(c.head()) }

// skipContent moves past what follows the head h of an item, just read.
func (c *cursor) skipContent(h itemHead) {
	extra := 0
	if h.major == majorTag {
		h, extra = c.untag(h, func(uint64) bool { return true })
	}
	switch h.major {
	case majorByteString, majorTextString:
		c.stringContent(h)
	case majorArray, majorMap:
		for it := c.itemsOf(h, extra); c.more(&it); {
			if c.skip(); it.pairs {
				c.skip()
			}
		}
		return
	}
	c.depth -= extra
}

// wellFormed checks the whole payload as Wellformed does and returns the first fault.
func (c *cursor) wellFormed() error {
	if c.skip(); c.fault == nil && c.off != len(c.data) {
		c.fault = fmt.Errorf("cbor: %d bytes of extraneous data starting at index %d", len(c.data)-c.off, c.off)
	}
	return c.fault
}

// stringContent reads a string's content (chunks joined) and whether text is valid UTF-8, each
// chunk on its own, as fxamacker/cbor checks it.
func (c *cursor) stringContent(h itemHead) (content []byte, valid bool) {
	if !h.indefinite() {
		content, c.off = c.data[c.off:c.off+int(h.argument):c.off+int(h.argument)], c.off+int(h.argument)
		return content, h.major != majorTextString || validUTF8(content)
	}
	content, valid = []byte{}, true
	for c.fault == nil {
		if c.off == len(c.data) {
			c.fail(io.ErrUnexpectedEOF)
			break
		}
		switch next := c.data[c.off]; {
		case next == breakByte:
			c.off++
			return content, valid
		case next>>5 != h.major:
			c.fail(fmt.Errorf("cbor: wrong element type %s for indefinite-length %s", typeNames[next>>5], typeNames[h.major]))
		case next&0x1f == additionalIndefinite:
			c.fail(fmt.Errorf("cbor: indefinite-length %s chunk is not definite-length", typeNames[h.major]))
		default:
			if chunk := c.head(); c.fault == nil {
				part, partValid := c.stringContent(chunk)
				content, valid = append(content, part...), valid && partValid
			}
		}
	}
	return content, valid
}

// validUTF8 is utf8.Valid, with a shorter way for the short ASCII texts of events: a text of
// up to 16 bytes without a byte of its high bit set, checked two overlapping words at a time.
func validUTF8(b []byte) bool {
	var bits uint64 // the bits of b's bytes, or-ed
	switch n := len(b); {
	case n > 16:
		return utf8.Valid(b)
	case n >= 8:
		bits = binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		bits = uint64(binary.LittleEndian.Uint32(b) | binary.LittleEndian.Uint32(b[n-4:]))
	default:
		for _, c := range b {
			bits |= uint64(c)
		}
	}
	return bits&0x8080808080808080 == 0 || utf8.Valid(b)
}

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
	w, err := wireEventOf(e, func(v ots.Value) (any, error) { return v.Any(), nil })
	if err != nil {
		return nil, err
	}
	return cborEncMode.Marshal(w)
}
