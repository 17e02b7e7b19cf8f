package events

import (
	"encoding/binary"
	"math"
	"unicode/utf8"
)

// cursor reads the data items (RFC 8949 §3) of a CBOR payload one after another, in place.
// It expects well-formed items, as fxamacker/cbor's DecMode.Wellformed accepts them, and
// leaves bounds checks to that: decodeCBOR runs it over the whole payload first.
type cursor struct {
	data []byte
	off  int // offset of the next byte to read
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

// left returns the number of elements of an array or pairs of a map that the head announces,
// or -1 for an indefinite length (an indefinite-length string's chunks included).
func (h itemHead) left() int {
	if h.indefinite() {
		return -1
	}
	return int(h.argument)
}

// peek returns the major type of the next item.
func (c *cursor) peek() byte { return c.data[c.off] >> 5 }

// head reads the head of the next item.
func (c *cursor) head() itemHead {
	initial := c.data[c.off]
	c.off++
	h := itemHead{major: initial >> 5, additional: initial & 0x1f}
	if h.additional < additionalOneByte {
		h.argument = uint64(h.additional)
		return h
	}
	return c.argument(h)
}

// argument reads the argument that follows the initial byte of h, none for an indefinite
// length.
func (c *cursor) argument(h itemHead) itemHead {
	b := c.data[c.off:]
	switch h.additional {
	case additionalOneByte:
		h.argument, c.off = uint64(b[0]), c.off+1
	case additionalHalf:
		h.argument, c.off = uint64(binary.BigEndian.Uint16(b)), c.off+2
	case additionalSingle:
		h.argument, c.off = uint64(binary.BigEndian.Uint32(b)), c.off+4
	case additionalDouble:
		h.argument, c.off = binary.BigEndian.Uint64(b), c.off+8
	}
	return h
}

// more reports whether another item (a pair, in a map) of a container follows, counting it
// off: left is the number still to come, or -1 for an indefinite length, whose break more
// reads at the end.
func (c *cursor) more(left *int) bool {
	switch {
	case *left > 0:
		*left--
		return true
	case *left == 0:
		return false
	case c.data[c.off] == breakByte:
		c.off++
		*left = 0
		return false
	}
	return true
}

// skip moves past the next item.
func (c *cursor) skip() {
	h := c.head()
	switch {
	case h.major == majorTag:
		c.skip()
	case h.major <= majorNegative || h.major == majorSimple:
	case h.major <= majorTextString && !h.indefinite():
		c.off += int(h.argument)
	default: // an array, a map or an indefinite-length string
		for left := h.left(); c.more(&left); {
			c.skip()
			if h.major == majorMap {
				c.skip()
			}
		}
	}
}

// stringContent reads the content of the byte or text string whose head h has just been read:
// a slice of the data for a definite length, a new slice joining the chunks otherwise.
func (c *cursor) stringContent(h itemHead) []byte {
	if h.indefinite() {
		content, _ := c.joinChunks(false)
		return content
	}
	return c.definiteContent(h)
}

// textContent reads the content of the text string whose head h has just been read, and
// reports whether it is valid UTF-8: every chunk on its own, as fxamacker/cbor checks it.
func (c *cursor) textContent(h itemHead) (content []byte, valid bool) {
	if h.indefinite() {
		return c.joinChunks(true)
	}
	content = c.definiteContent(h)
	return content, utf8.Valid(content)
}

// definiteContent reads the content of the definite-length string whose head h has just been
// read, as a slice of the data.
func (c *cursor) definiteContent(h itemHead) []byte {
	end := c.off + int(h.argument)
	content := c.data[c.off:end:end]
	c.off = end
	return content
}

// joinChunks reads the chunks of an indefinite-length string whose head has just been read, and
// joins their contents, checking that every chunk is valid UTF-8 when check is set.
func (c *cursor) joinChunks(check bool) (content []byte, valid bool) {
	content, valid = []byte{}, true
	for left := -1; c.more(&left); {
		chunk := c.definiteContent(c.head())
		content, valid = append(content, chunk...), valid && (!check || utf8.Valid(chunk))
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
