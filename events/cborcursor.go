package events

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// cursor reads the data items (RFC 8949 §3) of a CBOR payload one after another, in place,
// and checks them as fxamacker/cbor's DecMode.Wellformed does (valid.go) under the limits of
// a DecodeOptions: heads of reserved or misplaced additional information, simple values
// below 32 in two bytes, strings and counts beyond the data, indefinite-length string chunks
// that are not definite strings of the same major type, nesting, array and map sizes. At the
// first fault it notes that the payload is malformed and moves to the end of the data, where
// every read fails again: a head reads as the integer 0 and every indefinite length ends. So
// every reader stops soon, and wellFormed reports false.
type cursor struct {
	data      []byte
	off       int           // offset of the next byte to read
	limits    DecodeOptions // MaxNestedLevels, MaxArrayElements and MaxMapPairs apply
	depth     int           // arrays, maps and chained tags open at off, as Wellformed counts them
	malformed bool          // set at the first fault
}

// CBOR major types (RFC 8949 §3.1), the top three bits of an item's first byte.
const (
	majorUnsigned   = 0
	majorNegative   = 1
	majorByteString = 2
	majorTextString = 3
	majorArray      = 4
	majorMap        = 5
	majorTag        = 6
	majorSimple     = 7
)

// Additional information (RFC 8949 §3, §3.3): the size of the argument that follows the
// initial byte, the float widths of major type 7, and the indefinite length.
const (
	additionalOneByte    = 24
	additionalHalf       = 25
	additionalSingle     = 26
	additionalDouble     = 27
	additionalIndefinite = 31
)

// Simple values of major type 7 (RFC 8949 §3.3).
const (
	simpleFalse     = 20
	simpleTrue      = 21
	simpleNull      = 22
	simpleUndefined = 23
	// minTwoByteSimple is the least simple value that a two-byte head (additional
	// information 24) may carry; the others take one byte (RFC 8949 §3.3).
	minTwoByteSimple = 32
)

// breakByte ends the items of an indefinite length (RFC 8949 §3.2.1).
const breakByte = 0xff

// itemHead is the head of a data item: its major type, additional information and argument
// (an integer's value, a length, an item or pair count, a tag number, a float's bits).
type itemHead struct {
	major      byte
	additional byte
	argument   uint64
}

// indefinite reports whether the head opens an indefinite-length string, array or map.
func (h itemHead) indefinite() bool { return h.additional == additionalIndefinite }

// none reports whether the head is null or undefined, which stand for no value.
func (h itemHead) none() bool {
	return h.major == majorSimple && (h.additional == simpleNull || h.additional == simpleUndefined)
}

// fail notes a fault and moves to the end of the data.
func (c *cursor) fail() {
	c.malformed = true
	c.off = len(c.data)
}

// wellFormed reports whether all read so far is well-formed and within the limits, and
// nothing follows it: the payload is one well-formed item once the top-level item is read.
func (c *cursor) wellFormed() bool { return !c.malformed && c.off == len(c.data) }

// peek returns the major type of the next item; past the end of the data it fails and
// returns that of a break code.
func (c *cursor) peek() byte {
	if c.off == len(c.data) {
		c.fail()
		return breakByte >> 5
	}
	return c.data[c.off] >> 5
}

// head reads the head of the next item and checks it: a simple value in two bytes is 32 or
// more, a definite-length string fits in the data, and an array or map, which it counts into
// the nesting, keeps within the limits (see nest). A faulty head fails and reads as the zero
// itemHead, the integer 0, which holds nothing.
func (c *cursor) head() itemHead {
	if c.off == len(c.data) {
		c.fail()
		return itemHead{}
	}
	initial := c.data[c.off]
	c.off++
	h := itemHead{major: initial >> 5, additional: initial & 0x1f, argument: uint64(initial & 0x1f)}
	ok := true
	if h.additional >= additionalOneByte {
		h, ok = c.argument(h)
	}
	switch h.major {
	case majorByteString, majorTextString:
		ok = ok && (h.indefinite() || h.argument <= uint64(len(c.data)-c.off))
	case majorArray, majorMap:
		ok = ok && c.nest(h)
	case majorSimple:
		ok = ok && (h.additional != additionalOneByte || h.argument >= minTwoByteSimple)
	}
	if !ok {
		c.fail()
		return itemHead{}
	}
	return h
}

// argument reads the argument that follows the initial byte of h, none for an indefinite
// length, and reports false when the data ends before it, for the reserved additional
// information 28 to 30, and for an indefinite length where none can be (integers, tags, and
// the break code outside an indefinite length).
func (c *cursor) argument(h itemHead) (itemHead, bool) {
	b := c.data[c.off:]
	switch h.additional {
	case additionalOneByte:
		if len(b) < 1 {
			return h, false
		}
		h.argument, c.off = uint64(b[0]), c.off+1
	case additionalHalf:
		if len(b) < 2 {
			return h, false
		}
		h.argument, c.off = uint64(binary.BigEndian.Uint16(b)), c.off+2
	case additionalSingle:
		if len(b) < 4 {
			return h, false
		}
		h.argument, c.off = uint64(binary.BigEndian.Uint32(b)), c.off+4
	case additionalDouble:
		if len(b) < 8 {
			return h, false
		}
		h.argument, c.off = binary.BigEndian.Uint64(b), c.off+8
	case additionalIndefinite:
		h.argument = 0
		return h, h.major >= majorByteString && h.major <= majorMap
	default:
		return h, false
	}
	return h, true
}

// nest counts the array or map of head h, just read, into the nesting, and reports whether
// it nests no deeper than MaxNestedLevels and announces no more than MaxArrayElements
// elements or MaxMapPairs pairs, nor more than the rest of the data can hold (an item takes
// a byte at least).
func (c *cursor) nest(h itemHead) bool {
	c.depth++
	limit, room := c.limits.MaxArrayElements, uint64(len(c.data)-c.off)
	if h.major == majorMap {
		limit, room = c.limits.MaxMapPairs, room/2
	}
	return c.depth <= c.limits.MaxNestedLevels &&
		(h.indefinite() || h.argument <= uint64(limit) && h.argument <= room)
}

// items counts off the elements of an array or the pairs of a map.
type items struct {
	left       int  // items still to come; for an indefinite length, still allowed
	indefinite bool // the items end at a break code
}

// itemsOf returns the items of the array or map whose head h has just been read: for an
// indefinite length, MaxArrayElements elements or MaxMapPairs pairs are allowed. The zero
// itemHead of a fault has none.
func (c *cursor) itemsOf(h itemHead) items {
	switch {
	case !h.indefinite():
		return items{left: int(h.argument)}
	case h.major == majorArray:
		return items{left: c.limits.MaxArrayElements, indefinite: true}
	}
	return items{left: c.limits.MaxMapPairs, indefinite: true}
}

// announced returns the number of items the head announced, 0 for an indefinite length.
func (it items) announced() int {
	if it.indefinite {
		return 0
	}
	return it.left
}

// more reports whether another item (a pair, in a map) of a container follows, counting it
// off. At the end it reads the break code of an indefinite length and counts the container
// out of the nesting, so a walk over a container stops at the first false. An indefinite
// length with more items than allowed fails.
func (c *cursor) more(it *items) bool {
	if it.indefinite {
		return c.moreIndefinite(it)
	}
	if it.left == 0 {
		c.depth--
		return false
	}
	it.left--
	return true
}

// moreIndefinite is more for an indefinite length.
func (c *cursor) moreIndefinite(it *items) bool {
	switch {
	case c.atBreak():
		c.depth--
		return false
	case it.left == 0:
		c.fail()
		return false
	}
	it.left--
	return true
}

// atBreak reads a break code if one comes next, and reports whether it did; past the end of
// the data it fails and reports true.
func (c *cursor) atBreak() bool {
	switch {
	case c.off == len(c.data):
		c.fail()
		return true
	case c.data[c.off] == breakByte:
		c.off++
		return true
	}
	return false
}

// nextChunk reads the head of the next chunk of an indefinite-length string of the given
// major type, and reports false at the break code that ends the string. A chunk that is not a
// definite-length string of the same major type fails.
func (c *cursor) nextChunk(major byte) (itemHead, bool) {
	if c.atBreak() {
		return itemHead{}, false
	}
	if h := c.head(); h.major == major && !h.indefinite() {
		return h, true
	}
	c.fail()
	return itemHead{}, false
}

// skip moves past the next item.
func (c *cursor) skip() { c.skipContent(c.head()) }

// skipContent moves past what follows the head h of an item, just read.
func (c *cursor) skipContent(h itemHead) {
	switch {
	case h.major == majorTag:
		c.skipTagContent()
	case h.major <= majorNegative || h.major == majorSimple:
	case h.major <= majorTextString && h.indefinite():
		for chunk, ok := c.nextChunk(h.major); ok; chunk, ok = c.nextChunk(h.major) {
			c.off += int(chunk.argument)
		}
	case h.major <= majorTextString:
		c.off += int(h.argument)
	default: // an array or a map
		for it := c.itemsOf(h); c.more(&it); {
			c.skip()
			if h.major == majorMap {
				c.skip()
			}
		}
	}
}

// skipTagContent moves past the content of a tag whose head has just been read. Each further
// tag of a chain nests the content one level deeper, as Wellformed counts it.
func (c *cursor) skipTagContent() {
	chained := 0
	for ; c.peek() == majorTag; chained++ {
		c.head()
	}
	if c.depth += chained; c.depth > c.limits.MaxNestedLevels {
		c.fail()
	}
	c.skip()
	c.depth -= chained
}

// stringContent reads the content of the byte or text string whose head h has just been read:
// a slice of the data for a definite length, a new slice joining the chunks otherwise.
func (c *cursor) stringContent(h itemHead) []byte {
	if h.indefinite() {
		content, _ := c.joinChunks(h.major)
		return content
	}
	return c.definiteContent(h)
}

// textContent reads the content of the text string whose head h has just been read, and
// reports whether it is valid UTF-8: every chunk on its own, as fxamacker/cbor checks it.
func (c *cursor) textContent(h itemHead) (content []byte, valid bool) {
	if h.indefinite() {
		return c.joinChunks(h.major)
	}
	content = c.definiteContent(h)
	return content, utf8.Valid(content)
}

// definiteText reads the next item if it is a definite-length text string, and returns its
// content as a slice of the data. A short one, as map keys are, takes a shorter way than
// head.
func (c *cursor) definiteText() ([]byte, bool) {
	if rest := len(c.data) - c.off; rest > 0 {
		if length := int(c.data[c.off]) - majorTextString<<5; length >= 0 && length < additionalOneByte && length < rest {
			start := c.off + 1
			c.off = start + length
			return c.data[start:c.off:c.off], true
		}
	}
	h := c.head()
	if h.major != majorTextString || h.indefinite() {
		return nil, false
	}
	return c.definiteContent(h), true
}

// definiteContent reads the content of the definite-length string whose head h has just been
// read, as a slice of the data.
func (c *cursor) definiteContent(h itemHead) []byte {
	end := c.off + int(h.argument)
	content := c.data[c.off:end:end]
	c.off = end
	return content
}

// joinChunks reads the chunks of an indefinite-length string of the given major type whose
// head has just been read, and joins their contents, checking that every chunk of a text
// string is valid UTF-8.
func (c *cursor) joinChunks(major byte) (content []byte, valid bool) {
	content, valid = []byte{}, true
	for h, ok := c.nextChunk(major); ok; h, ok = c.nextChunk(major) {
		chunk := c.definiteContent(h)
		content = append(content, chunk...)
		valid = valid && (major != majorTextString || utf8.Valid(chunk))
	}
	return content, valid
}

// integerOf returns the value of an unsigned or negative integer head (major type 0 or 1),
// and false when it lies beyond int64.
func integerOf(h itemHead) (int64, bool) {
	if h.argument > math.MaxInt64 {
		return 0, false
	}
	if h.major == majorNegative {
		return -1 - int64(h.argument), true
	}
	return int64(h.argument), true
}

// halfToFloat64 converts IEEE 754 binary16 bits to the float64 of the same value, as
// fxamacker/cbor decodes a half-precision float: every finite half is exact in float64, and a
// NaN keeps its sign and payload and is made quiet.
func halfToFloat64(bits uint16) float64 {
	const (
		fractionBits = 10
		maxExponent  = 0x1f
		bias         = 15
	)
	exponent := int(bits>>fractionBits) & maxExponent
	fraction := uint64(bits) & (1<<fractionBits - 1)
	var f float64
	switch exponent {
	case maxExponent:
		f = math.Inf(1)
		if fraction != 0 {
			f = math.Float64frombits(0x7ff8000000000000 | fraction<<(52-fractionBits))
		}
	case 0: // zero or subnormal: fraction × 2^(1-bias-fractionBits)
		f = math.Ldexp(float64(fraction), 1-bias-fractionBits)
	default:
		f = math.Ldexp(float64(fraction|1<<fractionBits), exponent-bias-fractionBits)
	}
	if bits&0x8000 != 0 {
		f = math.Copysign(f, -1)
	}
	return f
}
