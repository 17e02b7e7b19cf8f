package events

import (
	"fmt"
	"math/bits"
	"unicode/utf8"

	"github.com/otsetl/otsetl/ots"
)

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

// membersOf returns the members of the map whose head h has just been read, inside tags that
// add tags levels of nesting; at is the offset of its first member.
func membersOf(h itemHead, tags int, fields uint32, at int) members {
	return members{pairs: itemsOf(h, tags), fields: fields, index: -1, at: at}
}

// otherKey is the key of a member the reader does not read, in the map whose first member is
// at offset at.
type otherKey struct {
	at  int
	key string
}

// has reports whether the field of id i has been met.
func (m *members) has(i int) bool { return m.seen&(1<<i) != 0 }

// sub is the field that errors about the keys of m name. Errors name the record and the
// element they are in anyway; of the other maps the reader reads, only Info is a field.
func (m *members) sub() string {
	if m.fields == 1<<fieldTimestamp {
		return "Info"
	}
	return ""
}

// openMap reads the head of the map sub into m; null and undefined, if optional, are empty.
func (r *eventReader) openMap(m *members, sub string, optional bool, fields uint32) bool {
	h, tags := r.head(), 0
	if h.major == majorTag {
		h, tags, _ = r.untag(h, false)
	}
	if optional && h.none() {
		return true
	}
	if h.major != majorMap {
		return r.wrongType(sub, r.mapName, h)
	}
	*m = membersOf(h, tags, fields, r.off)
	return true
}

// nextMember moves to the value of the next member of m with a field, skipping others, and
// reports false at the end or a fault. Keys must be distinct text strings of valid UTF-8, as
// fxamacker/cbor wants them when it decodes a map into a struct.
func (r *eventReader) nextMember(m *members) bool {
	// m has no fields if openMap found null; after a fault of content, its reader returns false.
	for m.fields != 0 && r.more(&m.pairs) {
		m.index++
		key, ok := r.shortKey()
		if !ok {
			var err error
			if key, err = r.key(); err != nil {
				return r.keyFault(m, err)
			}
		}
		m.field = fieldOf(key)
		if m.field >= 0 && m.fields&(1<<m.field) != 0 {
			if m.has(m.field) {
				return r.keyFault(m, duplicateKey(key))
			}
			m.seen |= 1 << m.field
			return true
		}
		// A member the reader does not read (a field of another map's, too).
		if !utf8.Valid(key) {
			return r.keyFault(m, errInvalidKey)
		}
		other := otherKey{m.at, string(key)}
		if r.others[other] {
			return r.keyFault(m, duplicateKey(key))
		}
		if r.others == nil {
			r.others = make(map[otherKey]bool)
		}
		r.others[other] = true
		r.skip() // checked for well-formedness only
	}
	return false
}

// keyFault notes the fault of the key of the current member of m, after moving past the
// member's value so that nameFault can read on from the next key.
func (r *eventReader) keyFault(m *members, err error) bool {
	r.skip()
	return r.reject(m.sub(), err)
}

// duplicateKey is the fault of a key that a map repeats.
func duplicateKey(key []byte) error {
	return fmt.Errorf("duplicate key %q", ots.Brief(string(key)))
}

// shortKey reads a map key that is a text string of at most 23 bytes, whose head is its first
// byte; it reports false, reading nothing, for any other key.
func (r *eventReader) shortKey() ([]byte, bool) {
	start := r.off
	if start == len(r.data) {
		return nil, false
	}
	length := int(r.data[start]) - majorTextString<<5 // if the initial byte is a text string's
	end := start + 1 + length
	if length < 0 || length >= additionalOneByte || end > len(r.data) {
		return nil, false
	}
	r.off = end
	return r.data[start+1 : end : end], true
}

// key reads a map key that shortKey does not, which must be a text string of valid UTF-8.
func (r *eventReader) key() ([]byte, error) {
	h := r.head()
	if h.major != majorTextString {
		return nil, fmt.Errorf("want a string key, got %s", r.describe(h))
	}
	key, valid := r.stringContent(h)
	if !valid {
		return nil, errInvalidKey
	}
	return key, nil
}

// list reads the array sub (null or undefined give nil if optional) into a slice from c, each
// element with read.
func list[T any](r *eventReader, sub string, optional bool, c *chunks[T], read func(int, *T) bool) ([]T, bool) {
	h, tags := r.head(), 0
	if h.major == majorTag {
		h, tags, _ = r.untag(h, false)
	}
	if optional && h.none() {
		return nil, true
	}
	if h.major != majorArray {
		return nil, r.wrongType(sub, "an array", h)
	}
	it := itemsOf(h, tags)
	elements := []T{}
	if it.left > 0 { // a definite length; an item takes a byte at least
		elements = take(r, c, min(it.left, len(r.data)-r.off))
	}
	for i := 0; r.more(&it); i++ {
		if i == len(elements) {
			var zero T
			elements = append(elements, zero)
		}
		if !read(i, &elements[i]) {
			return nil, false
		}
	}
	return elements, r.ok()
}

// complete reports whether the map m was read without a fault (ok, and none noted) and has the
// required fields (bit id for the field of that id); it notes the first one it lacks as missing.
func (r *eventReader) complete(m *members, ok bool, required uint32) bool {
	if !ok || !r.ok() {
		return false
	}
	lacking := required &^ m.seen
	if lacking == 0 {
		return true
	}
	sub := fieldNames[bits.TrailingZeros32(lacking)]
	if r.list != noList {
		sub = "." + sub
	}
	return r.reject(sub, errMissing)
}
