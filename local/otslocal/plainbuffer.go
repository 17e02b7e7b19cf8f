package otslocal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// PlainBuffer is the row encoding Tablestore nests inside its protobuf messages
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/plainbuffer; Go SDK
// tablestore/plain_buffer.go and util.go). This file holds the server's own codec:
//
//	buffer := LE32(0x75) row+
//	row    := 0x01 cell* [0x02 cell*] [0x08] 0x09 rowCRC
//	cell   := 0x03 0x04 LE32(len) name [0x05 value] [0x06 opType] [0x07 LE64(ts ms)] 0x0A cellCRC
//	value  := LE32(1+len(payload)) valueType payload
//
// All integers are little-endian. Both checksums are CRC-8 (polynomial 0x07, initial 0) and
// are verified on every decoded cell and row.

const plainBufferHeader = 0x75

// PlainBuffer tags.
const (
	tagRowPK           = 0x01
	tagRowData         = 0x02
	tagCell            = 0x03
	tagCellName        = 0x04
	tagCellValue       = 0x05
	tagCellType        = 0x06
	tagCellTimestamp   = 0x07
	tagDeleteRowMarker = 0x08
	tagRowChecksum     = 0x09
	tagCellChecksum    = 0x0A
)

// Cell operation types of an UpdateRow row change.
const (
	opDeleteAllVersions = 0x01
	opDeleteOneVersion  = 0x03
	opIncrement         = 0x04
)

// PlainBuffer value types.
const (
	vtInteger       = 0x00
	vtDouble        = 0x01
	vtBoolean       = 0x02
	vtString        = 0x03
	vtBlob          = 0x07
	vtInfMin        = 0x09
	vtInfMax        = 0x0A
	vtAutoIncrement = 0x0B
)

// columnValue is one typed PlainBuffer value.
type columnValue struct {
	typ   byte
	bits  uint64 // INTEGER (two's complement), DOUBLE (IEEE-754 bits) or BOOLEAN (0 or 1)
	bytes []byte // STRING (UTF-8) or BLOB payload
}

// cell is a primary key or attribute cell. The has* flags record which optional parts
// the cell carries on the wire.
type cell struct {
	name         string
	value        columnValue
	hasValue     bool
	opType       byte
	hasOpType    bool
	timestamp    int64 // ms since the Unix epoch
	hasTimestamp bool
}

// row is one PlainBuffer row: primary key cells in order, attribute cells in order and
// the delete marker DeleteRow carries.
type row struct {
	primaryKey   []cell
	cells        []cell
	deleteMarker bool
}

func integerValue(v int64) columnValue {
	return columnValue{typ: vtInteger, bits: uint64(v)}
}

func (v columnValue) integer() int64 {
	return int64(v.bits)
}

// valueTypeName names a value type as the service does in its messages ("VT_INTEGER").
func valueTypeName(typ byte) string {
	switch typ {
	case vtInteger:
		return "VT_INTEGER"
	case vtDouble:
		return "VT_DOUBLE"
	case vtBoolean:
		return "VT_BOOLEAN"
	case vtString:
		return "VT_STRING"
	case vtBlob:
		return "VT_BLOB"
	case vtInfMin:
		return "VT_INF_MIN"
	case vtInfMax:
		return "VT_INF_MAX"
	case vtAutoIncrement:
		return "VT_AUTO_INCREMENT"
	}
	return fmt.Sprintf("VT_UNKNOWN(%d)", typ)
}

var crc8Table = func() (table [256]byte) {
	for i := range table {
		x := byte(i)
		for range 8 {
			if x&0x80 != 0 {
				x = x<<1 ^ 0x07
			} else {
				x <<= 1
			}
		}
		table[i] = x
	}
	return table
}()

func crc8Byte(crc, b byte) byte {
	return crc8Table[crc^b]
}

func crc8Bytes(crc byte, data []byte) byte {
	for _, b := range data {
		crc = crc8Byte(crc, b)
	}
	return crc
}

func crc8Uint32(crc byte, v uint32) byte {
	return crc8Bytes(crc, binary.LittleEndian.AppendUint32(nil, v))
}

func crc8Uint64(crc byte, v uint64) byte {
	return crc8Bytes(crc, binary.LittleEndian.AppendUint64(nil, v))
}

// checksum folds the value into crc: the type byte, then the payload without the
// length prefix (Go SDK util.go, ColumnValue.getCheckSum).
func (v columnValue) checksum(crc byte) byte {
	crc = crc8Byte(crc, v.typ)
	switch v.typ {
	case vtInteger, vtDouble:
		crc = crc8Uint64(crc, v.bits)
	case vtBoolean:
		crc = crc8Byte(crc, byte(v.bits))
	case vtString, vtBlob:
		crc = crc8Uint32(crc, uint32(len(v.bytes)))
		crc = crc8Bytes(crc, v.bytes)
	}
	return crc
}

// checksum is the cell CRC: name, value, timestamp, then op type. The timestamp comes
// before the op type, the reverse of the wire order (Go SDK plain_buffer.go, getCheckSum).
func (c cell) checksum() byte {
	crc := crc8Bytes(0, []byte(c.name))
	if c.hasValue {
		crc = c.value.checksum(crc)
	}
	if c.hasTimestamp {
		crc = crc8Uint64(crc, uint64(c.timestamp))
	}
	if c.hasOpType {
		crc = crc8Byte(crc, c.opType)
	}
	return crc
}

// checksum is the row CRC: the cell CRCs of the primary key and the attribute cells, then
// 1 or 0 for the delete marker.
func (r row) checksum() byte {
	var crc byte
	for _, c := range r.primaryKey {
		crc = crc8Byte(crc, c.checksum())
	}
	for _, c := range r.cells {
		crc = crc8Byte(crc, c.checksum())
	}
	if r.deleteMarker {
		return crc8Byte(crc, 1)
	}
	return crc8Byte(crc, 0)
}

// encodeRows writes one header followed by the rows, the layout of every row field in
// a response (GetRange concatenates its rows after a single header).
func encodeRows(rows ...row) []byte {
	buf := binary.LittleEndian.AppendUint32(nil, plainBufferHeader)
	for _, r := range rows {
		buf = appendRow(buf, r)
	}
	return buf
}

// appendRow writes one row without a header. TAG_ROW_PK is always written, TAG_ROW_DATA
// only when the row has attribute cells, as the SDKs do.
func appendRow(buf []byte, r row) []byte {
	buf = append(buf, tagRowPK)
	for _, c := range r.primaryKey {
		buf = appendCell(buf, c)
	}
	if len(r.cells) > 0 {
		buf = append(buf, tagRowData)
		for _, c := range r.cells {
			buf = appendCell(buf, c)
		}
	}
	if r.deleteMarker {
		buf = append(buf, tagDeleteRowMarker)
	}
	return append(buf, tagRowChecksum, r.checksum())
}

func appendCell(buf []byte, c cell) []byte {
	buf = append(buf, tagCell, tagCellName)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(c.name)))
	buf = append(buf, c.name...)
	if c.hasValue {
		buf = append(buf, tagCellValue)
		buf = appendValue(buf, c.value)
	}
	if c.hasOpType {
		buf = append(buf, tagCellType, c.opType)
	}
	if c.hasTimestamp {
		buf = append(buf, tagCellTimestamp)
		buf = binary.LittleEndian.AppendUint64(buf, uint64(c.timestamp))
	}
	return append(buf, tagCellChecksum, c.checksum())
}

func appendValue(buf []byte, v columnValue) []byte {
	switch v.typ {
	case vtInteger, vtDouble:
		buf = binary.LittleEndian.AppendUint32(buf, 9)
		buf = append(buf, v.typ)
		return binary.LittleEndian.AppendUint64(buf, v.bits)
	case vtBoolean:
		buf = binary.LittleEndian.AppendUint32(buf, 2)
		return append(buf, v.typ, byte(v.bits))
	case vtString, vtBlob:
		buf = binary.LittleEndian.AppendUint32(buf, uint32(5+len(v.bytes)))
		buf = append(buf, v.typ)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(v.bytes)))
		return append(buf, v.bytes...)
	default: // INF_MIN, INF_MAX, AUTO_INCREMENT: the type byte alone
		buf = binary.LittleEndian.AppendUint32(buf, 1)
		return append(buf, v.typ)
	}
}

// Decoding errors. Messages follow the service's PlainBuffer errors where it has one.
var (
	errPlainBufferTruncated = parameterInvalid("Invalid PlainBuffer: unexpected end of data.")
	errRowMissingChecksum   = parameterInvalid("Invalid row: missing checksum.")
	errCellMissingName      = parameterInvalid("Invalid cell: missing cell name.")
)

// decodeRows reads a header and at least one row, verifying every checksum. Any
// malformed, truncated or corrupted input is a 400 OTSParameterInvalid.
//
// Zero bytes after the last row are ignored, as the service does: the Node.js SDK sizes
// some buffers too large (a byte per INF_MIN, INF_MAX or AUTO_INCREMENT value, more for
// update cells with a timestamp; tablestore lib/protocol/plain_buffer_builder.js) and
// sends the zero padding along.
func decodeRows(data []byte) ([]row, error) {
	d := decoder{buf: data}
	header, err := d.readUint32()
	if err != nil {
		return nil, err
	}
	if header != plainBufferHeader {
		return nil, parameterInvalid("Cell data broken, mismatch header, actual: %d, expect: %d.", header, plainBufferHeader)
	}
	var rows []row
	for d.remaining() > 0 {
		if len(rows) > 0 && onlyZeros(d.buf[d.off:]) {
			break
		}
		r, err := d.readRow()
		if err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, parameterInvalid("Invalid PlainBuffer: no row after the header.")
	}
	return rows, nil
}

func onlyZeros(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// decodeRow reads a buffer that must hold exactly one row, as every request row field does.
func decodeRow(data []byte) (row, error) {
	rows, err := decodeRows(data)
	if err != nil {
		return row{}, err
	}
	if len(rows) != 1 {
		return row{}, parameterInvalid("Invalid PlainBuffer: expect one row, got %d.", len(rows))
	}
	return rows[0], nil
}

// decoder reads PlainBuffer with a bounds check before every access.
type decoder struct {
	buf []byte
	off int
}

func (d *decoder) remaining() int {
	return len(d.buf) - d.off
}

func (d *decoder) readByte() (byte, error) {
	if d.remaining() < 1 {
		return 0, errPlainBufferTruncated
	}
	b := d.buf[d.off]
	d.off++
	return b, nil
}

func (d *decoder) readBytes(n int) ([]byte, error) {
	if n < 0 || d.remaining() < n {
		return nil, errPlainBufferTruncated
	}
	b := d.buf[d.off : d.off+n : d.off+n]
	d.off += n
	return b, nil
}

func (d *decoder) readUint32() (uint32, error) {
	b, err := d.readBytes(4)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) readUint64() (uint64, error) {
	b, err := d.readBytes(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// length reads an LE32 length and checks that that many bytes follow.
func (d *decoder) readLength() (int, error) {
	n, err := d.readUint32()
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt32 || int(n) > d.remaining() {
		return 0, errPlainBufferTruncated
	}
	return int(n), nil
}

func (d *decoder) readRow() (row, error) {
	var r row
	tag, err := d.readByte()
	if err != nil {
		return r, err
	}
	if tag == tagRowPK {
		if r.primaryKey, tag, err = d.readCells(); err != nil {
			return r, err
		}
	}
	if tag == tagRowData {
		if r.cells, tag, err = d.readCells(); err != nil {
			return r, err
		}
	}
	if tag == tagDeleteRowMarker {
		r.deleteMarker = true
		if tag, err = d.readByte(); err != nil {
			return r, err
		}
	}
	if tag != tagRowChecksum {
		return r, errRowMissingChecksum
	}
	sent, err := d.readByte()
	if err != nil {
		return r, err
	}
	if computed := r.checksum(); sent != computed {
		return r, parameterInvalid("Row data broken, checksum is mismatch, %d:%d", sent, computed)
	}
	return r, nil
}

// cells reads cells while they come and returns the first tag after them.
func (d *decoder) readCells() ([]cell, byte, error) {
	var cells []cell
	for {
		tag, err := d.readByte()
		if err != nil || tag != tagCell {
			return cells, tag, err
		}
		c, err := d.readCell()
		if err != nil {
			return nil, 0, err
		}
		cells = append(cells, c)
	}
}

func (d *decoder) readCell() (cell, error) {
	var c cell
	tag, err := d.readByte()
	if err != nil {
		return c, err
	}
	if tag != tagCellName {
		return c, errCellMissingName
	}
	n, err := d.readLength()
	if err != nil {
		return c, err
	}
	name, err := d.readBytes(n)
	if err != nil {
		return c, err
	}
	c.name = string(name)
	if tag, err = d.readByte(); err != nil {
		return c, err
	}
	if tag == tagCellValue {
		if c.value, err = d.readValue(); err != nil {
			return c, err
		}
		c.hasValue = true
		if tag, err = d.readByte(); err != nil {
			return c, err
		}
	}
	if tag == tagCellType {
		if c.opType, err = d.readByte(); err != nil {
			return c, err
		}
		c.hasOpType = true
		if tag, err = d.readByte(); err != nil {
			return c, err
		}
	}
	if tag == tagCellTimestamp {
		ts, err := d.readUint64()
		if err != nil {
			return c, err
		}
		c.timestamp, c.hasTimestamp = int64(ts), true
		if tag, err = d.readByte(); err != nil {
			return c, err
		}
	}
	if tag != tagCellChecksum {
		return c, parameterInvalid("Invalid Column(%s): missing checksum.", c.name)
	}
	sent, err := d.readByte()
	if err != nil {
		return c, err
	}
	if computed := c.checksum(); sent != computed {
		return c, parameterInvalid("Cell data broken, checksum is mismatch, %d:%d", sent, computed)
	}
	return c, nil
}

// value reads LE32(total) type payload and checks that total matches the type.
func (d *decoder) readValue() (columnValue, error) {
	total, err := d.readLength()
	if err != nil {
		return columnValue{}, err
	}
	body, err := d.readBytes(total)
	if err != nil {
		return columnValue{}, err
	}
	if total == 0 {
		return columnValue{}, parameterInvalid("Invalid cell value: missing value type.")
	}
	v := columnValue{typ: body[0]}
	payload := body[1:]
	switch v.typ {
	case vtInteger, vtDouble:
		if len(payload) != 8 {
			return v, valueLengthMismatch(v.typ, total)
		}
		v.bits = binary.LittleEndian.Uint64(payload)
	case vtBoolean:
		if len(payload) != 1 || payload[0] > 1 {
			return v, parameterInvalid("Invalid cell value: malformed %s.", valueTypeName(v.typ))
		}
		v.bits = uint64(payload[0])
	case vtString, vtBlob:
		if len(payload) < 4 || uint64(binary.LittleEndian.Uint32(payload)) != uint64(len(payload)-4) {
			return v, valueLengthMismatch(v.typ, total)
		}
		v.bytes = bytes.Clone(payload[4:]) // never alias the request body
	case vtInfMin, vtInfMax, vtAutoIncrement:
		if len(payload) != 0 {
			return v, valueLengthMismatch(v.typ, total)
		}
	default:
		return v, parameterInvalid("Invalid cell value: unknown value type %d.", v.typ)
	}
	return v, nil
}

func valueLengthMismatch(typ byte, total int) *otsError {
	return parameterInvalid("Invalid cell value: length %d does not match %s.", total, valueTypeName(typ))
}
