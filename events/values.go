package events

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"unsafe"

	"github.com/x448/float16"

	"github.com/otsetl/otsetl/ots"
)

// tagSelfDescribed is self-described CBOR (RFC 8949 §3.4.6), a tag that leaves the meaning of
// the item it encloses as it is.
const tagSelfDescribed = 55799

// untag reads on from the tag head h, just read, through tags 55799, and for a value (a
// cell's or a primary key column's) through tags 21 to 23, which only a byte string may carry:
// encoded reports one of those. It returns the head of the item inside, and the levels of
// nesting the tags add to it if it is an array or map. Readers call it when they read a tag's
// head where they want an item.
func (r *eventReader) untag(h itemHead, value bool) (_ itemHead, tags int, encoded bool) {
	for h.major == majorTag {
		expected := value && h.argument >= 21 && h.argument <= 23 // an expected later encoding
		if !expected && h.argument != tagSelfDescribed {
			break
		}
		encoded = encoded || expected
		h = r.enclosed(&tags)
	}
	if h.major != majorArray && h.major != majorMap {
		r.depth -= tags // the levels of the tags end with the item
		tags = 0
	}
	return h, tags, encoded
}

// text reads a text string of valid UTF-8, which shares the data unless it equals a string
// of known.
func text[T ~string](r *eventReader, sub string, known []string) (T, bool) {
	h := r.head()
	if h.major == majorTag {
		h, _, _ = r.untag(h, false)
	}
	if h.major != majorTextString {
		return "", r.wrongType(sub, "a string", h)
	}
	if !h.indefinite() {
		content := r.data[r.off : r.off+int(h.argument)]
		for _, s := range known {
			if s == string(content) {
				r.off += len(content)
				return T(s), true
			}
		}
	}
	content, valid := r.stringContent(h)
	if !valid {
		return "", r.reject(sub, errInvalidUTF8)
	}
	return T(shared(content)), true
}

// optionalInteger reads an integer within int64, or null or undefined (not present).
func (r *eventReader) optionalInteger(sub string) (value int64, present, ok bool) {
	h := r.head()
	if h.major == majorTag {
		h, _, _ = r.untag(h, false)
	}
	switch {
	case h.none():
		return 0, false, true
	case h.major == majorUnsigned || h.major == majorNegative:
		value, ok = r.integer(sub, h)
		return value, true, ok
	case r.json && h.major == majorTag && h.argument == tagJSONInteger:
		kind, text := r.bigNumber(h)
		return 0, false, r.reject(sub, overflows(kind, text))
	}
	return 0, false, r.wrongType(sub, "an integer", h)
}

// value reads a cell or primary key value; null and undefined give no value.
func (r *eventReader) value() (ots.Value, bool) {
	h, tags, encoded := r.head(), 0, false
	if h.major == majorTag {
		h, tags, encoded = r.untag(h, true)
	}
	if encoded && h.major != majorByteString {
		return ots.Value{}, r.wrongType("", "a byte string inside tags 21 to 23", h)
	}
	switch h.major {
	case majorUnsigned, majorNegative:
		i, ok := r.integer("", h)
		return ots.Integer(i), ok
	case majorByteString:
		content, _ := r.stringContent(h)
		return ots.Binary(content), true
	case majorTextString:
		content, valid := r.stringContent(h)
		if !valid {
			return ots.Value{}, r.reject("", errInvalidUTF8)
		}
		return ots.String(shared(content)), true
	case majorMap:
		if r.json {
			return r.binary(h, tags)
		}
	case majorTag:
		if kind, text := r.bigNumber(h); kind != "" {
			return ots.Value{}, r.reject("", overflows(kind, text))
		}
	case majorSimple:
		if f, isFloat := floatOf(h); isFloat {
			return ots.Double(f), true
		}
		switch h.additional {
		case simpleNull, simpleUndefined:
			return ots.Value{}, true
		case simpleFalse:
			return ots.Boolean(false), true
		case simpleTrue:
			return ots.Boolean(true), true
		}
	}
	return ots.Value{}, r.wrongType("", r.valueKinds, h)
}

// floatOf returns the value of a float head of any width, converted as fxamacker/cbor does.
func floatOf(h itemHead) (float64, bool) {
	if h.major != majorSimple {
		return 0, false
	}
	switch h.additional {
	case additionalHalf:
		return float64(float16.Frombits(uint16(h.argument)).Float32()), true
	case additionalSingle:
		return float64(math.Float32frombits(uint32(h.argument))), true
	case additionalDouble:
		return math.Float64frombits(h.argument), true
	}
	return 0, false
}

// integer returns the value of an integer head, or notes one beyond int64 as a fault of sub.
func (r *eventReader) integer(sub string, h itemHead) (int64, bool) {
	if h.argument > math.MaxInt64 {
		return 0, r.reject(sub, overflows("integer", integerText(h)))
	}
	if h.major == majorNegative {
		return -1 - int64(h.argument), true
	}
	return int64(h.argument), true
}

// integerText formats the value of an integer head, which may lie beyond int64.
func integerText(h itemHead) string {
	switch {
	case h.major == majorUnsigned:
		return strconv.FormatUint(h.argument, 10)
	case h.argument == math.MaxUint64:
		return "-18446744073709551616"
	}
	return "-" + strconv.FormatUint(h.argument+1, 10)
}

// JSON numbers beyond int64 (integers) or float64 (others) reach the reader as tagged text.
const tagJSONInteger, tagJSONNumber = 1<<63 + 'I', 1<<63 + 'N'

// bigNumber reads the kind ("integer" or "number") and text of a tagged JSON number, if h is
// the head of one.
func (r *eventReader) bigNumber(h itemHead) (kind, text string) {
	if !r.json || h.major != majorTag {
		return "", ""
	}
	switch h.argument {
	case tagJSONInteger:
		kind = "integer"
	case tagJSONNumber:
		kind = "number"
	default:
		return "", ""
	}
	content, _ := r.stringContent(r.head())
	return kind, string(content)
}

// overflows is the fault of an integer beyond int64 or a number beyond float64.
func overflows(kind, text string) error {
	if kind == "integer" {
		return fmt.Errorf("integer %s overflows int64", text)
	}
	return fmt.Errorf("number %s overflows float64", text)
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

// binary reads the JSON form of a BINARY value, {"Binary": "<standard base64>"}, whose map
// head h has just been read inside tags that add tags levels of nesting.
func (r *eventReader) binary(h itemHead, tags int) (ots.Value, bool) {
	var encoded []byte
	m := membersOf(h, tags, 1<<fieldBinary, r.off)
	for r.nextMember(&m) {
		if h := r.head(); h.major == majorTextString {
			encoded, _ = r.stringContent(h)
		} else {
			r.skipContent(h)
		}
	}
	if !r.ok() {
		return ots.Value{}, false
	}
	if m.index != 0 || encoded == nil {
		return ots.Value{}, r.reject("", fmt.Errorf("want %s, got another object", r.valueKinds))
	}
	b, err := base64.StdEncoding.Strict().DecodeString(string(encoded))
	if err != nil {
		//lint:ignore ST1005 Binary is the name of the JSON member.
		return ots.Value{}, r.reject("", fmt.Errorf("Binary is not standard base64: %w", err))
	}
	return ots.Binary(b), true
}
