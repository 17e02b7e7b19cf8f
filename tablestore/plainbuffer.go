package tablestore

import (
	"encoding/binary"
	"math"

	"github.com/otsetl/otsetl/ots"
)

// This file encodes the rows of a BatchWriteRow request in PlainBuffer, Tablestore's row
// format, byte for byte as the Go SDK's row changes serialize them (tablestore/util.go
// PutRowChange, UpdateRowChange and DeleteRowChange Serialize; plain_buffer.go writeRow and
// writeCell), without the SDK's intermediate objects. The layout and the checksums are those
// of Tablestore's "PlainBuffer" documentation; the tests compare every byte with the SDK's.

// PlainBuffer's header, tags, value types and cell operation (Go SDK tablestore/plain_buffer.go).
const (
	pbHeader           = 0x75
	pbTagRowPK         = 0x01
	pbTagRowData       = 0x02
	pbTagCell          = 0x03
	pbTagCellName      = 0x04
	pbTagCellValue     = 0x05
	pbTagCellType      = 0x06
	pbTagDeleteMarker  = 0x08
	pbTagRowChecksum   = 0x09
	pbTagCellChecksum  = 0x0a
	pbTypeInteger      = 0x0
	pbTypeDouble       = 0x1
	pbTypeBoolean      = 0x2
	pbTypeString       = 0x3
	pbTypeBinary       = 0x7
	pbDeleteAllVersion = 0x1
)

// crc8Table is CRC-8 with polynomial 0x07, no reflection and no final xor, the checksum of
// PlainBuffer cells and rows.
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

// crc8 folds data into crc.
func crc8(crc byte, data ...byte) byte {
	return crc8Of(crc, data)
}

// crc8Of folds the bytes of data into crc.
func crc8Of[T string | []byte](crc byte, data T) byte {
	for i := 0; i < len(data); i++ {
		crc = crc8Table[crc^data[i]]
	}
	return crc
}

// appendRowChange appends the PlainBuffer row change of kind (put, delete or
// update-if-exists) to b: the header, the primary key cells, then the cells of a put (each
// with a value) or of an update (a value puts it, none deletes all its versions), then the
// delete marker of a delete and the row checksum. Values must be of the kinds the
// row change's checks allow; the cells carry no timestamp.
func appendRowChange(b []byte, kind ots.RowChangeKind, pk []ots.PrimaryKeyColumn, cells []ots.Cell) []byte {
	b = binary.LittleEndian.AppendUint32(b, pbHeader)
	b = append(b, pbTagRowPK)
	var rowCRC, cellCRC byte
	for _, col := range pk {
		b, cellCRC = appendCell(b, col.ColumnName, col.Value)
		rowCRC = crc8(rowCRC, cellCRC)
	}
	if kind != ots.DeleteRow && len(cells) > 0 {
		b = append(b, pbTagRowData)
		for _, c := range cells {
			b, cellCRC = appendCell(b, c.Name, c.Value)
			rowCRC = crc8(rowCRC, cellCRC)
		}
	}
	marker := byte(0)
	if kind == ots.DeleteRow {
		b = append(b, pbTagDeleteMarker)
		marker = 1
	}
	return append(b, pbTagRowChecksum, crc8(rowCRC, marker))
}

// appendCell appends one cell to b, with its checksum, and returns the checksum: a value of
// KindNone makes a cell that deletes all versions of the column.
func appendCell(b []byte, name string, v ots.Value) ([]byte, byte) {
	b = append(b, pbTagCell, pbTagCellName)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
	b = append(b, name...)
	crc := crc8Of(0, name)
	if v.IsNone() {
		b = append(b, pbTagCellType, pbDeleteAllVersion)
		crc = crc8(crc, pbDeleteAllVersion)
		return append(b, pbTagCellChecksum, crc), crc
	}
	b = append(b, pbTagCellValue)
	switch v.Kind() {
	case ots.KindInteger, ots.KindDouble:
		typ, bits := byte(pbTypeInteger), uint64(0)
		if i, ok := v.Int(); ok {
			bits = uint64(i)
		} else {
			f, _ := v.Float()
			typ, bits = pbTypeDouble, math.Float64bits(f)
		}
		b = binary.LittleEndian.AppendUint32(b, 9)
		b = append(b, typ)
		b = binary.LittleEndian.AppendUint64(b, bits)
		crc = crc8(crc, typ)
		crc = crc8(crc, byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24), byte(bits>>32), byte(bits>>40), byte(bits>>48), byte(bits>>56))
	case ots.KindBoolean:
		flag := byte(0)
		if t, _ := v.Bool(); t {
			flag = 1
		}
		b = binary.LittleEndian.AppendUint32(b, 2)
		b = append(b, pbTypeBoolean, flag)
		crc = crc8(crc, pbTypeBoolean, flag)
	case ots.KindString:
		s, _ := v.Str()
		b, crc = appendBytesValue(b, crc, pbTypeString, s)
	case ots.KindBinary:
		bin, _ := v.Bytes()
		b, crc = appendBytesValue(b, crc, pbTypeBinary, bin)
	}
	return append(b, pbTagCellChecksum, crc), crc
}

// appendBytesValue appends a STRING or BINARY value (typ) after its tag, folding it into crc.
func appendBytesValue[T string | []byte](b []byte, crc, typ byte, data T) ([]byte, byte) {
	n := uint32(len(data))
	b = binary.LittleEndian.AppendUint32(b, 5+n)
	b = append(b, typ)
	b = binary.LittleEndian.AppendUint32(b, n)
	b = append(b, data...)
	crc = crc8(crc, typ, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	return b, crc8Of(crc, data)
}
