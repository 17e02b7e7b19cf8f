package otslocal

import (
	"encoding/hex"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	require.NoError(t, err)
	return b
}

func stringValue(s string) columnValue { return columnValue{typ: vtString, bytes: []byte(s)} }

func TestCRC8CheckValue(t *testing.T) {
	// CRC-8 with polynomial 0x07 and initial value 0 ("CRC-8/ATM") checks to 0xF4.
	assert.Equal(t, byte(0xF4), crc8Bytes(0, []byte("123456789")))
}

// The published test vectors: a read key and a row with one versioned attribute.
func TestPlainBufferVectors(t *testing.T) {
	tests := []struct {
		name    string
		row     row
		encoded string
	}{
		{
			name:    "read key pk=INTEGER 1",
			row:     row{primaryKey: []cell{{name: "pk", value: integerValue(1), hasValue: true}}},
			encoded: "75 00 00 00 01 03 04 02 00 00 00 70 6b 05 09 00 00 00 00 01 00 00 00 00 00 00 00 0a 4c 09 a7",
		},
		{
			name: "pk=STRING a, c=INTEGER 5 at 1700000000000",
			row: row{
				primaryKey: []cell{{name: "pk", value: stringValue("a"), hasValue: true}},
				cells:      []cell{{name: "c", value: integerValue(5), hasValue: true, timestamp: 1700000000000, hasTimestamp: true}},
			},
			encoded: "75 00 00 00 01 03 04 02 00 00 00 70 6b 05 06 00 00 00 03 01 00 00 00 61 0a d4 02 03 04 01 00 00 00 63" +
				" 05 09 00 00 00 00 05 00 00 00 00 00 00 00 07 00 68 e5 cf 8b 01 00 00 0a 04 09 d0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := mustHex(t, tt.encoded)
			assert.Equal(t, want, encodeRows(tt.row))

			decoded, err := decodeRow(want)
			require.NoError(t, err)
			assert.Equal(t, tt.row, decoded)
		})
	}
}

// sdkEncodings are rows as the Go SDK's exported encoders write them into requests.
func sdkEncodings() map[string][]byte {
	key := &tablestore.PrimaryKey{}
	key.AddPrimaryKeyColumn("region", "hangzhou")
	key.AddPrimaryKeyColumn("id", int64(-42))
	key.AddPrimaryKeyColumn("blob", []byte{0x00, 0xff})

	lower := &tablestore.PrimaryKey{}
	lower.AddPrimaryKeyColumnWithMinValue("region")
	lower.AddPrimaryKeyColumnWithMaxValue("id")

	autoIncrement := &tablestore.PrimaryKey{}
	autoIncrement.AddPrimaryKeyColumn("region", "")
	autoIncrement.AddPrimaryKeyColumnWithAutoIncrement("id")

	put := &tablestore.PutRowChange{TableName: "t", PrimaryKey: key}
	put.AddColumn("int", int64(math.MinInt64))
	put.AddColumn("double", 3.25)
	put.AddColumn("bool", true)
	put.AddColumn("string", "héllo")
	put.AddColumn("empty", "")
	put.AddColumn("binary", []byte{1, 2, 3})
	put.AddColumnWithTimestamp("versioned", int64(7), 1700000000123)

	update := &tablestore.UpdateRowChange{TableName: "t", PrimaryKey: key}
	update.PutColumn("put", "v")
	update.PutColumnWithTimestamp("put_at", false, 1700000000000)
	update.DeleteColumn("gone")
	update.DeleteColumnWithTimestamp("one_version", 1700000000000)
	update.IncrementColumn("counter", int64(-3))

	remove := &tablestore.DeleteRowChange{TableName: "t", PrimaryKey: key}

	return map[string][]byte{
		"read key":           key.Build(false),
		"range bound":        lower.Build(false),
		"auto increment key": autoIncrement.Build(false),
		"put row change":     put.Serialize(),
		"update row change":  update.Serialize(),
		"delete row change":  remove.Serialize(),
	}
}

// Every SDK encoding decodes, and encodes back to the very same bytes.
func TestPlainBufferRoundTripsSDKEncodings(t *testing.T) {
	for name, encoded := range sdkEncodings() {
		t.Run(name, func(t *testing.T) {
			decoded, err := decodeRow(encoded)
			require.NoError(t, err)
			assert.Equal(t, encoded, encodeRows(decoded))
		})
	}
}

func TestPlainBufferDecodesSDKRowChanges(t *testing.T) {
	encodings := sdkEncodings()
	wantKey := []cell{
		{name: "region", value: stringValue("hangzhou"), hasValue: true},
		{name: "id", value: integerValue(-42), hasValue: true},
		{name: "blob", value: columnValue{typ: vtBlob, bytes: []byte{0x00, 0xff}}, hasValue: true},
	}

	put, err := decodeRow(encodings["put row change"])
	require.NoError(t, err)
	assert.Equal(t, wantKey, put.primaryKey)
	assert.False(t, put.deleteMarker)
	assert.Equal(t, []cell{
		{name: "int", value: integerValue(math.MinInt64), hasValue: true},
		{name: "double", value: columnValue{typ: vtDouble, bits: math.Float64bits(3.25)}, hasValue: true},
		{name: "bool", value: columnValue{typ: vtBoolean, bits: 1}, hasValue: true},
		{name: "string", value: stringValue("héllo"), hasValue: true},
		{name: "empty", value: columnValue{typ: vtString, bytes: []byte{}}, hasValue: true},
		{name: "binary", value: columnValue{typ: vtBlob, bytes: []byte{1, 2, 3}}, hasValue: true},
		{name: "versioned", value: integerValue(7), hasValue: true, timestamp: 1700000000123, hasTimestamp: true},
	}, put.cells)

	update, err := decodeRow(encodings["update row change"])
	require.NoError(t, err)
	assert.Equal(t, []cell{
		{name: "put", value: stringValue("v"), hasValue: true},
		{name: "put_at", value: columnValue{typ: vtBoolean}, hasValue: true, timestamp: 1700000000000, hasTimestamp: true},
		{name: "gone", opType: opDeleteAllVersions, hasOpType: true},
		{name: "one_version", opType: opDeleteOneVersion, hasOpType: true, timestamp: 1700000000000, hasTimestamp: true},
		{name: "counter", value: integerValue(-3), hasValue: true, opType: opIncrement, hasOpType: true},
	}, update.cells)

	remove, err := decodeRow(encodings["delete row change"])
	require.NoError(t, err)
	assert.Equal(t, wantKey, remove.primaryKey)
	assert.True(t, remove.deleteMarker)
	assert.Empty(t, remove.cells)

	bound, err := decodeRow(encodings["range bound"])
	require.NoError(t, err)
	assert.Equal(t, []cell{
		{name: "region", value: columnValue{typ: vtInfMin}, hasValue: true},
		{name: "id", value: columnValue{typ: vtInfMax}, hasValue: true},
	}, bound.primaryKey)

	autoIncrement, err := decodeRow(encodings["auto increment key"])
	require.NoError(t, err)
	assert.Equal(t, columnValue{typ: vtAutoIncrement}, autoIncrement.primaryKey[1].value)
}

func TestPlainBufferRejectsMalformedInput(t *testing.T) {
	valid := mustHex(t, "75 00 00 00 01 03 04 02 00 00 00 70 6b 05 09 00 00 00 00 01 00 00 00 00 00 00 00 0a 4c 09 a7")
	with := func(offset int, b byte) []byte {
		data := append([]byte(nil), valid...)
		data[offset] = b
		return data
	}
	tests := []struct {
		name    string
		data    []byte
		message string
	}{
		{"empty", nil, "Invalid PlainBuffer: unexpected end of data."},
		{"header only", valid[:4], "Invalid PlainBuffer: no row after the header."},
		{"wrong header", with(0, 0x76), "Cell data broken, mismatch header, actual: 118, expect: 117."},
		{"flipped cell checksum", with(28, 0x4d), "Cell data broken, checksum is mismatch, 77:76"},
		{"flipped row checksum", with(30, 0xa8), "Row data broken, checksum is mismatch, 168:167"},
		{"missing row checksum", with(29, 0x02), "Invalid row: missing checksum."},
		{"missing cell checksum", with(27, 0x0b), "Invalid Column(pk): missing checksum."},
		{"missing cell name", with(6, 0x05), "Invalid cell: missing cell name."},
		{"name longer than the buffer", with(7, 0xff), "Invalid PlainBuffer: unexpected end of data."},
		{"value length does not match INTEGER", with(14, 0x08), "Invalid cell value: length 8 does not match VT_INTEGER."},
		{"unknown value type", with(18, 0x05), "Invalid cell value: unknown value type 5."},
		{"two rows where one is expected", append(append([]byte(nil), valid...), valid[4:]...), "Invalid PlainBuffer: expect one row, got 2."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRow(tt.data)
			require.Error(t, err)
			oe := asOTSError(err)
			assert.Equal(t, http.StatusBadRequest, oe.httpStatus)
			assert.Equal(t, codeParameterInvalid, oe.code)
			assert.Equal(t, tt.message, oe.message)
		})
	}
}

func TestPlainBufferIgnoresZeroPaddingAfterTheRow(t *testing.T) {
	for name, encoded := range sdkEncodings() {
		want, err := decodeRow(encoded)
		require.NoError(t, err, name)
		padded, err := decodeRow(append(append([]byte(nil), encoded...), 0, 0, 0))
		require.NoError(t, err, name)
		assert.Equal(t, want, padded, name)
	}
}

func TestPlainBufferRejectsEveryTruncation(t *testing.T) {
	for name, encoded := range sdkEncodings() {
		for n := range len(encoded) {
			_, err := decodeRows(encoded[:n])
			assert.Error(t, err, "%s cut to %d bytes", name, n)
		}
	}
}

func TestPlainBufferRejectsNonCanonicalBoolean(t *testing.T) {
	data := encodeRows(row{
		primaryKey: []cell{{name: "pk", value: integerValue(1), hasValue: true}},
		cells:      []cell{{name: "b", value: columnValue{typ: vtBoolean, bits: 2}, hasValue: true}},
	})
	_, err := decodeRow(data)
	require.Error(t, err)
	assert.Equal(t, "Invalid cell value: malformed VT_BOOLEAN.", asOTSError(err).message)
}

// FuzzDecodePlainBuffer checks that no input panics the decoder, that every rejection
// is a 400 OTSParameterInvalid, and that whatever decodes re-encodes to a buffer that
// decodes to the same rows.
func FuzzDecodePlainBuffer(f *testing.F) {
	for _, encoded := range sdkEncodings() {
		f.Add(encoded)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := decodeRows(data)
		if err != nil {
			oe := asOTSError(err)
			require.Equal(t, http.StatusBadRequest, oe.httpStatus)
			require.Equal(t, codeParameterInvalid, oe.code)
			return
		}
		again, err := decodeRows(encodeRows(rows...))
		require.NoError(t, err)
		require.Equal(t, rows, again)
	})
}
