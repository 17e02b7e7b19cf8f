package events

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// cursor reads the data items (RFC 8949 §3) of a CBOR payload in place. It checks them as it
// goes, for well-formedness as fxamacker/cbor's Wellformed checks it (valid.go) and for the
// limits, and keeps the first fault; then it stands at the end, where every head reads as the
// integer 0.
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

// majorNames name the major types in errors.
var majorNames = [8]string{"unsigned integer", "negative integer", "byte string", "text string", "array", "map", "tag", "simple value"}

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

// fail notes a fault of the item at offset at, unless one is noted already, and moves to the
// end of the data.
func (c *cursor) fail(at int, err error) {
	if c.fault == nil {
		c.fault = fmt.Errorf("cbor: %w (at byte %d)", err, at)
	}
	c.off = len(c.data)
}

// head reads and checks the head of the next item. An array or map counts into the nesting.
func (c *cursor) head() itemHead {
	start := c.off
	if start == len(c.data) {
		c.fail(start, io.ErrUnexpectedEOF)
		return itemHead{}
	}
	initial := c.data[start]
	c.off++
	h := itemHead{major: initial >> 5, additional: initial & 0x1f, argument: uint64(initial & 0x1f)}
	if h.additional >= additionalOneByte {
		var err error
		if h, err = c.argument(h); err != nil {
			c.fail(start, err)
			return itemHead{}
		}
	}
	switch h.major {
	case majorByteString, majorTextString:
		if h.argument > uint64(len(c.data)-c.off) { // an indefinite length's argument is 0
			c.fail(start, lengthFault(h))
			return itemHead{}
		}
	case majorArray, majorMap:
		c.depth++
		limit := c.limits.MaxArrayElements
		if h.major == majorMap {
			limit = c.limits.MaxMapPairs
		}
		if c.depth > c.limits.MaxNestedLevels || h.argument > uint64(limit) {
			c.fail(start, c.containerFault(h))
			return itemHead{}
		}
	}
	return h
}

// argument reads the argument that follows an initial byte whose additional information is 24
// or more, as Wellformed's wellformedHead does, and returns h with it.
func (c *cursor) argument(h itemHead) (itemHead, error) {
	switch {
	case h.additional == additionalIndefinite && h.major >= majorByteString && h.major <= majorMap:
		h.argument = 0
		return h, nil
	case h.additional == additionalIndefinite && h.major == majorSimple:
		return h, errors.New("break code outside an indefinite length")
	case h.additional == additionalIndefinite:
		return h, fmt.Errorf("%s of indefinite length", majorNames[h.major])
	case h.additional > additionalDouble:
		return h, fmt.Errorf("reserved additional information %d", h.additional)
	}
	size := 1 << (h.additional - additionalOneByte)
	if len(c.data)-c.off < size {
		return h, io.ErrUnexpectedEOF
	}
	b := c.data[c.off:]
	switch size {
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
		return h, fmt.Errorf("simple value %d in a two-byte head", h.argument)
	}
	return h, nil
}

// lengthFault is the fault of a string whose length runs past the data.
func lengthFault(h itemHead) error {
	if h.argument > math.MaxInt64 {
		return fmt.Errorf("%s length %d overflows int64", majorNames[h.major], h.argument)
	}
	return io.ErrUnexpectedEOF
}

// containerFault is the fault of the array or map of head h, just counted into the nesting,
// that is nested too deep or too long, as Wellformed orders them.
func (c *cursor) containerFault(h itemHead) error {
	switch {
	case c.depth > c.limits.MaxNestedLevels:
		return nestingFault(c.limits)
	case h.argument > math.MaxInt64:
		return fmt.Errorf("%s length %d overflows int64", majorNames[h.major], h.argument)
	case h.major == majorArray:
		return arrayFault(c.limits)
	}
	return mapFault(c.limits, "map")
}

// enclosed reads the head of the item that a tag, whose head was just read, encloses. A tag
// inside a tag adds a level of nesting, as Wellformed counts them, and one to *tags.
func (c *cursor) enclosed(tags *int) itemHead {
	start := c.off
	h := c.head()
	if h.major == majorTag {
		*tags++
		c.depth++
		if c.depth > c.limits.MaxNestedLevels {
			c.fail(start, nestingFault(c.limits))
		}
	}
	return h
}

// items counts off the elements of an array or the pairs of a map.
type items struct {
	left  int  // a definite length's items still to come; -1 less those read for an indefinite one
	pairs bool // the items are the pairs of a map
	tags  int  // the levels of nesting the tags around the container add
}

// itemsOf returns the items of the array or map whose head h has just been read, inside tags
// that add tags levels of nesting.
func itemsOf(h itemHead, tags int) items {
	left := int(h.argument)
	if h.indefinite() {
		left = -1
	}
	return items{left: left, pairs: h.major == majorMap, tags: tags}
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

// moreOrEnd is more past its fast way: at the end of a definite length, or for an indefinite
// one.
func (c *cursor) moreOrEnd(it *items) bool {
	if it.left < 0 {
		read := -1 - it.left
		switch {
		case !it.pairs && read > c.limits.MaxArrayElements:
			c.fail(c.off, arrayFault(c.limits))
		case it.pairs && read > c.limits.MaxMapPairs:
			c.fail(c.off, mapFault(c.limits, "map"))
		case c.off == len(c.data):
			c.fail(c.off, io.ErrUnexpectedEOF)
		case c.data[c.off] == breakByte:
			c.off++
		default:
			it.left--
			return true
		}
	}
	c.depth -= 1 + it.tags
	return false
}

// skip moves past the next item, checking it and all it holds.
func (c *cursor) skip() { c.skipContent(c.head()) }

// skipContent moves past what follows the head h of an item, just read.
func (c *cursor) skipContent(h itemHead) {
	tags := 0
	for h.major == majorTag {
		h = c.enclosed(&tags)
	}
	switch h.major {
	case majorByteString, majorTextString:
		c.stringContent(h)
	case majorArray, majorMap:
		for it := itemsOf(h, tags); c.more(&it); {
			c.skip()
			if it.pairs {
				c.skip()
			}
		}
		return
	}
	c.depth -= tags
}

// wellFormed checks the whole payload as Wellformed does and returns the first fault.
func (c *cursor) wellFormed() error {
	c.skip()
	if c.fault == nil && c.off != len(c.data) {
		c.fail(c.off, errors.New("data after the event"))
	}
	return c.fault
}

// stringContent reads a string's content (chunks joined) and whether text is valid UTF-8, each
// chunk on its own, as fxamacker/cbor checks it.
func (c *cursor) stringContent(h itemHead) (content []byte, valid bool) {
	if !h.indefinite() {
		end := c.off + int(h.argument)
		content, c.off = c.data[c.off:end:end], end
		return content, h.major != majorTextString || validUTF8(content)
	}
	content, valid = []byte{}, true
	for c.fault == nil {
		if c.off == len(c.data) {
			c.fail(c.off, io.ErrUnexpectedEOF)
			break
		}
		next := c.data[c.off]
		switch {
		case next == breakByte:
			c.off++
			return content, valid
		case next>>5 != h.major:
			c.fail(c.off, fmt.Errorf("%s inside an indefinite-length %s", majorNames[next>>5], majorNames[h.major]))
		case next&0x1f == additionalIndefinite:
			c.fail(c.off, fmt.Errorf("indefinite-length chunk inside an indefinite-length %s", majorNames[h.major]))
		default:
			chunk := c.head()
			if c.fault == nil {
				part, partValid := c.stringContent(chunk)
				content = append(content, part...)
				valid = valid && partValid
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
