package events

import (
	"bytes"
	"math"
	"slices"
	"unicode/utf8"

	"github.com/otsetl/otsetl/ots"
)

// readPlainEvent decodes a CBOR event in one pass over its bytes, without a payload tree,
// when the payload is one well-formed item within limits (as fxamacker/cbor's
// DecMode.Wellformed checks it, see cursor) and the event is plain, the form an encoder of
// the documented shape writes:
//
//   - every map's keys are distinct definite-length text strings of valid UTF-8 (at most
//     maxOtherKeys of them besides the fields the decoder reads), and no value starts with a
//     tag;
//   - no tag appears anywhere but in members of the event that the decoder does not read;
//   - the fields hold what the builder asks of them (Version a text string, Records an array
//     of maps, Type and ColumnName text strings, PrimaryKey an array of maps, Info a map or
//     null, Columns an array of maps or null, Timestamp an integer or null), values are
//     integers within int64, floats of any width, booleans, null, undefined, text strings or
//     byte strings, and every text string is valid UTF-8.
//
// Lengths may be definite or indefinite. For a plain event it returns what cborDocument and
// builder.event give; for any other payload, malformed ones included, it reports false and
// leaves it to them, and so to their errors. Record.Raw and BINARY values are slices of
// payload.
func readPlainEvent(payload []byte, limits DecodeOptions) (*Event, bool) {
	r := plainReader{cursor: cursor{data: payload, limits: limits}}
	e, ok := r.event()
	return e, ok && r.wellFormed()
}

// plainReader reads a plain event, and holds what the records of the event share.
type plainReader struct {
	cursor
	primaryKeys chunks[ots.PrimaryKeyColumn]
	columns     chunks[Column]
	timestamps  chunks[int64]
	names       [maxNames]string // the first column names met
	nameCount   int
}

// The fields the reader reads in each map, by index. For each map, a function finds the
// index of a key, or -1 for a member the reader does not read; a switch on constant strings
// compares them in place.
const (
	eventVersion, eventRecords                              = 0, 1
	recordType, recordInfo, recordPrimaryKey, recordColumns = 0, 1, 2, 3
	infoTimestamp                                           = 0
	primaryKeyColumnName, primaryKeyValue                   = 0, 1
	columnType, columnName, columnValue, columnTimestamp    = 0, 1, 2, 3
)

// eventField finds a field of the top-level map.
func eventField(key []byte) int {
	switch string(key) {
	case "Version":
		return eventVersion
	case "Records":
		return eventRecords
	}
	return -1
}

// recordField finds a field of a record.
func recordField(key []byte) int {
	switch string(key) {
	case "Type":
		return recordType
	case "Info":
		return recordInfo
	case "PrimaryKey":
		return recordPrimaryKey
	case "Columns":
		return recordColumns
	}
	return -1
}

// infoField finds a field of Info.
func infoField(key []byte) int {
	if string(key) == "Timestamp" {
		return infoTimestamp
	}
	return -1
}

// primaryKeyColumnField finds a field of a primary key column.
func primaryKeyColumnField(key []byte) int {
	switch string(key) {
	case "ColumnName":
		return primaryKeyColumnName
	case "Value":
		return primaryKeyValue
	}
	return -1
}

// columnField finds a field of an attribute column change.
func columnField(key []byte) int {
	switch string(key) {
	case "Type":
		return columnType
	case "ColumnName":
		return columnName
	case "Value":
		return columnValue
	case "Timestamp":
		return columnTimestamp
	}
	return -1
}

// noFields finds no field: the reader reads none in the maps inside members it skips.
func noFields([]byte) int { return -1 }

// The strings that every event or record repeats, which cost no allocation.
var (
	versions    = []string{Version}
	recordTypes = []string{string(PutRow), string(UpdateRow), string(DeleteRow)}
	columnTypes = []string{string(Put), string(DeleteOneVersion), string(DeleteAllVersions)}
)

// The readers below read the next item, head first, and report whether it is plain; after
// false, where the cursor stands is of no account. They may report true for an item the
// cursor found malformed: readPlainEvent asks the cursor in the end.

// event reads the top-level map.
func (r *plainReader) event() (*Event, bool) {
	e := &Event{}
	m, ok := r.openMap(r.head(), eventField)
	for ok && r.nextMember(&m) {
		switch m.field {
		case eventVersion:
			e.Version, ok = r.knownString(versions)
		case eventRecords:
			e.Records, ok = r.records()
		default: // the tree path keeps any other member as it is, unless it starts with a tag
			ok = r.peek() != majorTag
			r.skip()
		}
	}
	return e, ok && m.plain && m.has(eventVersion) && m.has(eventRecords)
}

// records reads the Records array, keeping each record's bytes as its Raw.
func (r *plainReader) records() ([]Record, bool) {
	elements, ok := r.openArray(r.head())
	if !ok {
		return nil, false
	}
	records := make([]Record, 0, elements.announced())
	for r.more(&elements) {
		start := r.off
		records = append(records, Record{})
		record := &records[len(records)-1]
		if !r.record(record) {
			return nil, false
		}
		record.Raw = r.data[start:r.off:r.off]
	}
	return records, true
}

// record reads an element of Records into record.
func (r *plainReader) record(record *Record) bool {
	m, ok := r.openMap(r.head(), recordField)
	for ok && r.nextMember(&m) {
		switch m.field {
		case recordType:
			var name string
			name, ok = r.knownString(recordTypes)
			record.Type = RecordType(name)
		case recordInfo:
			record.Info, ok = r.info()
		case recordPrimaryKey:
			record.PrimaryKey, ok = r.primaryKey()
		case recordColumns:
			record.Columns, ok = r.columnList()
		default:
			ok = r.plainItem()
		}
	}
	return ok && m.plain && m.has(recordType) && m.has(recordPrimaryKey)
}

// info reads Info; null and undefined give the zero RecordInfo.
func (r *plainReader) info() (RecordInfo, bool) {
	var info RecordInfo
	h := r.head()
	if h.none() {
		return info, true
	}
	m, ok := r.openMap(h, infoField)
	for ok && r.nextMember(&m) {
		if m.field == infoTimestamp {
			info.Timestamp, _, ok = r.optionalInteger()
		} else {
			ok = r.plainItem()
		}
	}
	return info, ok && m.plain
}

// primaryKey reads the PrimaryKey array.
func (r *plainReader) primaryKey() ([]ots.PrimaryKeyColumn, bool) {
	elements, ok := r.openArray(r.head())
	if !ok {
		return nil, false
	}
	pk := r.primaryKeys.take(r.count(elements))
	for i := 0; r.more(&elements); i++ {
		if !r.primaryKeyColumn(&pk[i]) {
			return nil, false
		}
	}
	return pk, true
}

// primaryKeyColumn reads an element of PrimaryKey into column.
func (r *plainReader) primaryKeyColumn(column *ots.PrimaryKeyColumn) bool {
	m, ok := r.openMap(r.head(), primaryKeyColumnField)
	for ok && r.nextMember(&m) {
		switch m.field {
		case primaryKeyColumnName:
			column.ColumnName, ok = r.columnName()
		case primaryKeyValue:
			column.Value, ok = r.value()
		default:
			ok = r.plainItem()
		}
	}
	return ok && m.plain && m.has(primaryKeyColumnName)
}

// columnList reads Columns; null, undefined and an empty array give nil.
func (r *plainReader) columnList() ([]Column, bool) {
	h := r.head()
	if h.none() {
		return nil, true
	}
	elements, ok := r.openArray(h)
	if !ok {
		return nil, false
	}
	var columns []Column
	if count := r.count(elements); count > 0 {
		columns = r.columns.take(count)
	}
	for i := 0; r.more(&elements); i++ {
		if !r.column(&columns[i]) {
			return nil, false
		}
	}
	return columns, true
}

// column reads an element of Columns into column.
func (r *plainReader) column(column *Column) bool {
	m, ok := r.openMap(r.head(), columnField)
	for ok && r.nextMember(&m) {
		switch m.field {
		case columnType:
			var name string
			name, ok = r.knownString(columnTypes)
			column.Type = ColumnType(name)
		case columnName:
			column.ColumnName, ok = r.columnName()
		case columnValue:
			column.Value, ok = r.value()
		case columnTimestamp:
			var timestamp int64
			var present bool
			if timestamp, present, ok = r.optionalInteger(); present {
				column.Timestamp = &r.timestamps.take(1)[0]
				*column.Timestamp = timestamp
			}
		default:
			ok = r.plainItem()
		}
	}
	return ok && m.plain && m.has(columnType) && m.has(columnName)
}

// columnName reads a primary key or attribute column's name. The few names that the records
// of an event repeat are allocated once each.
func (r *plainReader) columnName() (string, bool) {
	known := r.names[:r.nameCount]
	name, ok := r.knownString(known)
	if ok && r.nameCount < maxNames && !slices.Contains(known, name) {
		r.names[r.nameCount] = name
		r.nameCount++
	}
	return name, ok
}

// maxNames bounds the column names a plainReader keeps, which it compares one by one.
const maxNames = 16

// knownString reads a text string of valid UTF-8. One of definite length equal to a string
// of known is that string, with neither a check nor an allocation.
func (r *plainReader) knownString(known []string) (string, bool) {
	h := r.head()
	switch {
	case h.major != majorTextString:
		return "", false
	case h.indefinite():
		content, valid := r.textContent(h)
		return string(content), valid
	}
	content := r.definiteContent(h)
	if i := slices.Index(known, string(content)); i >= 0 {
		return known[i], true
	}
	return string(content), utf8.Valid(content)
}

// optionalInteger reads an integer within int64, or null or undefined, for which present is
// false.
func (r *plainReader) optionalInteger() (value int64, present, ok bool) {
	switch h := r.head(); {
	case h.none():
		return 0, false, true
	case h.major == majorUnsigned || h.major == majorNegative:
		value, ok = integerOf(h)
		return value, true, ok
	}
	return 0, false, false
}

// value reads a cell or primary key value; null and undefined give no value.
func (r *plainReader) value() (ots.Value, bool) {
	h := r.head()
	switch h.major {
	case majorUnsigned, majorNegative:
		i, ok := integerOf(h)
		return ots.Integer(i), ok
	case majorByteString:
		return ots.Binary(r.stringContent(h)), true
	case majorTextString:
		content, valid := r.textContent(h)
		if !valid {
			return ots.Value{}, false
		}
		return ots.String(string(content)), true
	case majorSimple:
		switch h.additional {
		case simpleFalse, simpleTrue:
			return ots.Boolean(h.additional == simpleTrue), true
		case simpleNull, simpleUndefined:
			return ots.Value{}, true
		case additionalHalf:
			return ots.Double(halfToFloat64(uint16(h.argument))), true
		case additionalSingle:
			return ots.Double(float64(math.Float32frombits(uint32(h.argument)))), true
		case additionalDouble:
			return ots.Double(math.Float64frombits(h.argument)), true
		}
	}
	return ots.Value{}, false
}

// plainItem reads a member the reader has no field for, and reports whether the tree path
// decodes it without fault as far as the reader can tell: no tag, text strings of valid
// UTF-8, maps of plain keys, all the way down.
func (r *plainReader) plainItem() bool {
	h := r.head()
	switch h.major {
	case majorTextString:
		_, valid := r.textContent(h)
		return valid
	case majorArray:
		for elements := r.itemsOf(h); r.more(&elements); {
			if !r.plainItem() {
				return false
			}
		}
		return true
	case majorMap:
		m, _ := r.openMap(h, noFields)
		for r.nextMember(&m) {
			if !r.plainItem() {
				return false
			}
		}
		return m.plain
	case majorTag:
		return false
	}
	r.skipContent(h)
	return true
}

// plainMembers walks the members of a map as long as its keys are plain: distinct
// definite-length text strings of valid UTF-8, at most maxOtherKeys of them besides the
// fields the reader knows in that map. fxamacker/cbor decodes such a map into a
// map[string]cbor.RawMessage without fault, member by member as it stands, so the tree path
// sees the same members.
type plainMembers struct {
	pairs   items            // the pairs still to come
	fieldOf func([]byte) int // the index of a known field (at most 32), -1 for another key
	seen    uint32           // bit i is set once the field of index i has been met
	others  [][]byte         // the other keys met so far
	plain   bool
	field   int // index of the current member's field, -1 for another key
}

// maxOtherKeys bounds the keys besides the known fields of a plain map, which are compared
// pairwise.
const maxOtherKeys = 16

// openMap walks the map whose head h has just been read, with the known fields fieldOf finds,
// and reports false for any other item.
func (r *plainReader) openMap(h itemHead, fieldOf func([]byte) int) (plainMembers, bool) {
	if h.major != majorMap {
		return plainMembers{}, false
	}
	return plainMembers{pairs: r.itemsOf(h), fieldOf: fieldOf, plain: true}, true
}

// nextMember reads the key of the next member of the map m, leaving the cursor at its value,
// and reports false at the end of the map or at a member that is not plain.
func (r *plainReader) nextMember(m *plainMembers) bool {
	if !r.more(&m.pairs) {
		return false
	}
	key, ok := r.definiteText()
	if !ok {
		m.plain = false
		return false
	}
	m.field = m.fieldOf(key)
	if !m.addKey(key) {
		m.plain = false
		return false
	}
	return true
}

// addKey records the current key and reports whether the keys so far are plain. A known
// field is valid UTF-8 and needs no more than a bit.
func (m *plainMembers) addKey(key []byte) bool {
	if m.field >= 0 {
		bit := uint32(1) << m.field
		if m.seen&bit != 0 {
			return false
		}
		m.seen |= bit
		return true
	}
	if len(m.others) == maxOtherKeys || !utf8.Valid(key) ||
		slices.ContainsFunc(m.others, func(other []byte) bool { return bytes.Equal(other, key) }) {
		return false
	}
	m.others = append(m.others, key)
	return true
}

// has reports whether the field of index i has been met.
func (m *plainMembers) has(i int) bool { return m.seen&(1<<i) != 0 }

// openArray returns the elements of the array whose head h has just been read, and reports
// false for any other item. No element that starts with a tag is plain: every reader of an
// element declines a tag.
func (r *plainReader) openArray(h itemHead) (items, bool) {
	if h.major != majorArray {
		return items{}, false
	}
	return r.itemsOf(h), true
}

// count returns the number of elements of an array, which the cursor stands in front of,
// counting them ahead for an indefinite length; a fault met on the way is the cursor's.
func (r *plainReader) count(elements items) int {
	if !elements.indefinite {
		return elements.left
	}
	ahead := r.cursor
	count := 0
	for ; ahead.more(&elements); count++ {
		ahead.skip()
	}
	if ahead.malformed {
		r.fail()
	}
	return count
}

// chunks hands out small slices carved from larger allocations, so that the primary keys,
// columns and timestamps of an event's records cost a few allocations rather than one each.
// Every slice's capacity is its length: appending to one never writes into another.
type chunks[T any] struct {
	free []T
	size int // length of the last allocation
}

// Allocation lengths double from minChunk up to maxChunk, or take what one slice needs.
const (
	minChunk = 4
	maxChunk = 1024
)

// take returns a slice of n zero elements.
func (c *chunks[T]) take(n int) []T {
	if n > len(c.free) {
		c.size = min(max(2*c.size, minChunk), maxChunk)
		c.free = make([]T, max(n, c.size))
	}
	s := c.free[:n:n]
	c.free = c.free[n:]
	return s
}
