package otslocal

import (
	"encoding/binary"
	"slices"
)

// SimpleRowMatrix is the second data block type a GetRange response may carry
// (data_block_type DBT_SIMPLE_ROW_MATRIX), when its request's data_block_type_hint asks for
// it. The layout is the one the SDKs decode (Go SDK tablestore/matrix.go, parseMatrixRows;
// Java SDK model/SimpleRowMatrixBlockParser.java and SimpleRowMatrixBlockConstants.java):
//
//	block   := LE32(0x304d5253) LE32(dataOffset) LE32(optionsOffset) LE32(pkCount) LE32(attrCount)
//	           (LE16(len) name){pkCount+attrCount}
//	           0x0A entirePK(0|1) 0x03 LE32(rowCount)             ← optionsOffset
//	           (0x02 value{pkCount+attrCount}){rowCount}          ← dataOffset
//	           0x01 crc
//	value   := 0x00 LE64 | 0x01 LE64(IEEE bits) | 0x02 byte | 0x03 LE32(len) utf8 | 0x07 LE32(len) bytes | 0x06 (null)
//
// Fields are the primary key columns in schema order, then the attribute columns. crc is the
// CRC-8 of PlainBuffer over every byte before it, the checksum tag included; the Java SDK
// verifies it, the Go SDK skips it. A row has one value per field and no timestamps: a
// column the row lacks is null, and a column with several versions shows its newest one
// the read selects.
const (
	matrixAPIVersion          = 0x304d5253
	matrixTagChecksum         = 0x01
	matrixTagRow              = 0x02
	matrixTagRowCount         = 0x03
	matrixTagEntirePrimaryKey = 0x0A
	vtNull                    = 0x06 // a field the row does not have
)

// encodeSimpleRowMatrix encodes the rows of a read as one SimpleRowMatrix block. The fields
// are the primary key columns the read returns, followed by every attribute column any
// row holds, in ascending name order; the block records whether the primary key columns
// are all of the schema's. With no rows the block has the schema's primary key fields and
// no row.
func encodeSimpleRowMatrix(schema []primaryKeySchema, rows []row) []byte {
	var primaryKeyNames, attributeNames []string
	if len(rows) > 0 {
		for _, c := range rows[0].primaryKey {
			primaryKeyNames = append(primaryKeyNames, c.name)
		}
	} else {
		for _, column := range schema {
			primaryKeyNames = append(primaryKeyNames, column.name)
		}
	}
	for _, r := range rows {
		for _, c := range r.cells {
			attributeNames = append(attributeNames, c.name)
		}
	}
	slices.Sort(attributeNames)
	attributeNames = slices.Compact(attributeNames)

	buf := binary.LittleEndian.AppendUint32(nil, matrixAPIVersion)
	buf = append(buf, make([]byte, 8)...) // dataOffset and optionsOffset, set below
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(primaryKeyNames)))
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(attributeNames)))
	for _, name := range slices.Concat(primaryKeyNames, attributeNames) {
		buf = binary.LittleEndian.AppendUint16(buf, uint16(len(name)))
		buf = append(buf, name...)
	}
	binary.LittleEndian.PutUint32(buf[8:], uint32(len(buf)))
	buf = append(buf, matrixTagEntirePrimaryKey, boolByte(len(primaryKeyNames) == len(schema)), matrixTagRowCount)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(rows)))
	binary.LittleEndian.PutUint32(buf[4:], uint32(len(buf)))
	for _, r := range rows {
		buf = append(buf, matrixTagRow)
		for _, c := range r.primaryKey {
			buf = appendMatrixValue(buf, c.value)
		}
		// Both the fields and the cells are in ascending name order, the cells of a column
		// newest first: a merge finds each field's newest cell.
		next := 0
		for _, name := range attributeNames {
			for next < len(r.cells) && r.cells[next].name < name {
				next++
			}
			if next < len(r.cells) && r.cells[next].name == name {
				buf = appendMatrixValue(buf, r.cells[next].value)
			} else {
				buf = append(buf, vtNull)
			}
		}
	}
	buf = append(buf, matrixTagChecksum)
	return append(buf, crc8Bytes(0, buf))
}

// appendMatrixValue writes a value as a SimpleRowMatrix field: the type byte, then the
// payload, with a length before STRING and BLOB bytes.
func appendMatrixValue(buf []byte, v columnValue) []byte {
	buf = append(buf, v.typ)
	switch v.typ {
	case vtInteger, vtDouble:
		return binary.LittleEndian.AppendUint64(buf, v.bits)
	case vtBoolean:
		return append(buf, byte(v.bits))
	default: // STRING, BLOB: stored rows hold no other types
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(v.bytes)))
		return append(buf, v.bytes...)
	}
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
