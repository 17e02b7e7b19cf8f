package events

import (
	"bytes"
	"math"
	"strconv"
	"testing"

	"github.com/otsetl/otsetl/ots"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeCBORReproducesFixture(t *testing.T) {
	fixture := updateRowFixture(t)
	e, err := Decode(fixture)
	require.NoError(t, err)

	encoded, err := EncodeCBOR(e)
	require.NoError(t, err)
	assert.Equal(t, fixture, encoded)
}

// everyValueEvent holds every value kind, the integer and float extremes, -0.0, empty
// strings and binaries, and every record and cell type.
func everyValueEvent() *Event {
	put := func(name string, v ots.Value) Column {
		return Column{Type: Put, ColumnName: name, Value: v, Timestamp: ptr(1506416585741)}
	}
	return &Event{Version: Version, Records: []Record{
		{
			Type: PutRow,
			Info: RecordInfo{Timestamp: 1506416585740836},
			PrimaryKey: []ots.PrimaryKeyColumn{
				{ColumnName: "int", Value: ots.Integer(math.MinInt64)},
				{ColumnName: "str", Value: ots.String("")},
				{ColumnName: "bin", Value: ots.Binary(nil)},
			},
			Columns: []Column{
				put("max", ots.Integer(math.MaxInt64)),
				put("min", ots.Integer(math.MinInt64)),
				put("zero", ots.Integer(0)),
				put("two", ots.Double(2)),
				put("negzero", ots.Double(math.Copysign(0, -1))),
				put("zerodouble", ots.Double(0)),
				put("big", ots.Double(1e21)),
				put("small", ots.Double(1e-7)),
				put("fraction", ots.Double(123456789.125)),
				put("maxdouble", ots.Double(math.MaxFloat64)),
				put("denormal", ots.Double(5e-324)),
				put("negative", ots.Double(-1.5)),
				put("true", ots.Boolean(true)),
				put("false", ots.Boolean(false)),
				put("empty", ots.String("")),
				put("html", ots.String(`<a href="x">&amp;</a>`)),
				put("unicode", ots.String("日本語 \u2028 \x00")),
				put("nobytes", ots.Binary([]byte{})),
				put("bytes", ots.Binary([]byte{0, 0xff, 'a'})),
				{Type: Put, ColumnName: "untimed", Value: ots.Integer(1)},
			},
		},
		{
			Type:       UpdateRow,
			PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "int", Value: ots.Integer(math.MaxInt64)}},
			Columns: []Column{
				put("level", ots.Integer(-1)),
				{Type: DeleteOneVersion, ColumnName: "old", Timestamp: ptr(0)},
				{Type: DeleteAllVersions, ColumnName: "gone"},
			},
		},
		{
			Type:       DeleteRow,
			Info:       RecordInfo{Timestamp: math.MaxInt64},
			PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "bin", Value: ots.Binary([]byte("k"))}},
		},
	}}
}

func TestRoundTrip(t *testing.T) {
	for name, event := range map[string]*Event{
		"every value":  everyValueEvent(),
		"no records":   {Version: Version},
		"empty record": {Version: Version, Records: []Record{{Type: DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "k", Value: ots.String("")}}}}},
	} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, event.Validate())
			for format, encode := range map[string]func(*Event) ([]byte, error){"CBOR": EncodeCBOR, "JSON": EncodeJSON} {
				payload, err := encode(event)
				require.NoError(t, err, format)
				decoded, err := Decode(payload)
				require.NoError(t, err, format)
				requireSameEvent(t, event, decoded)

				again, err := encode(decoded)
				require.NoError(t, err, format)
				assert.Equal(t, payload, again, "%s: re-encoding the decoded event gives the same bytes", format)
			}
		})
	}
}

func TestRoundTripNonFiniteDoublesInCBOR(t *testing.T) {
	quietNaN := math.Float64frombits(0x7ff8000000000000)
	payloadNaN := math.Float64frombits(0x7ff0000000000001)
	event := &Event{Version: Version, Records: []Record{{
		Type:       PutRow,
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}},
		Columns: []Column{
			{Type: Put, ColumnName: "nan", Value: ots.Double(quietNaN)},
			{Type: Put, ColumnName: "signalling", Value: ots.Double(payloadNaN)},
			{Type: Put, ColumnName: "inf", Value: ots.Double(math.Inf(1))},
			{Type: Put, ColumnName: "-inf", Value: ots.Double(math.Inf(-1))},
		},
	}}}
	payload, err := EncodeCBOR(event)
	require.NoError(t, err)
	assert.True(t, bytes.Contains(payload, []byte{0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 1}), "NaN payload kept in a float64")
	decoded, err := Decode(payload)
	require.NoError(t, err)
	requireSameEvent(t, event, decoded)
}

func TestEncodeCBORValueEncodings(t *testing.T) {
	cases := []struct {
		name  string
		value ots.Value
		want  []byte
	}{
		{"small integer", ots.Integer(1), []byte{0x01}},
		{"negative integer", ots.Integer(-1), []byte{0x20}},
		{"MaxInt64", ots.Integer(math.MaxInt64), []byte{0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"MinInt64", ots.Integer(math.MinInt64), []byte{0x3b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"double that fits a half", ots.Double(1.5), []byte{0xfb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}},
		{"negative zero", ots.Double(math.Copysign(0, -1)), []byte{0xfb, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"infinity", ots.Double(math.Inf(1)), []byte{0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0}},
		{"true", ots.Boolean(true), []byte{0xf5}},
		{"false", ots.Boolean(false), []byte{0xf4}},
		{"text", ots.String("ab"), []byte{0x62, 'a', 'b'}},
		{"empty text", ots.String(""), []byte{0x60}},
		{"bytes", ots.Binary([]byte{1, 2}), []byte{0x42, 1, 2}},
		{"empty bytes", ots.Binary(nil), []byte{0x40}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload, err := EncodeCBOR(&Event{Version: Version, Records: []Record{{
				Type:       UpdateRow,
				PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}},
				Columns:    []Column{{Type: Put, ColumnName: "c", Value: tc.value, Timestamp: ptr(9)}},
			}}})
			require.NoError(t, err)
			want := bytes.Join([][]byte{cborOf(t, "Value"), tc.want, cborOf(t, "Timestamp"), {0x09}}, nil)
			assert.True(t, bytes.Contains(payload, want), "% x does not contain % x", payload, want)
		})
	}
}

func TestEncodeCBOROmitsAbsentValueAndTimestamp(t *testing.T) {
	payload, err := EncodeCBOR(&Event{Version: Version, Records: []Record{{
		Type:       DeleteRow,
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}},
	}, {
		Type:       UpdateRow,
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}},
		Columns:    []Column{{Type: DeleteAllVersions, ColumnName: "gone"}},
	}}})
	require.NoError(t, err)

	want := cborMap(t,
		"Version", "Sync-v1",
		"Records", []cbor.RawMessage{
			cborMap(t, "Type", "DeleteRow", "Info", cbor.RawMessage(cborMap(t, "Timestamp", 0)),
				"PrimaryKey", []cbor.RawMessage{cborMap(t, "ColumnName", "id", "Value", 1)},
				"Columns", []any{}),
			cborMap(t, "Type", "UpdateRow", "Info", cbor.RawMessage(cborMap(t, "Timestamp", 0)),
				"PrimaryKey", []cbor.RawMessage{cborMap(t, "ColumnName", "id", "Value", 1)},
				"Columns", []cbor.RawMessage{cborMap(t, "Type", "DeleteAllVersions", "ColumnName", "gone")}),
		})
	assert.Equal(t, want, payload)
}

func TestEncodeCBORWritesInvalidEvents(t *testing.T) {
	payload, err := EncodeCBOR(&Event{Version: "Sync-v9"})
	require.NoError(t, err)
	_, err = Decode(payload)
	require.EqualError(t, err, `events: Version: unsupported version "Sync-v9" (want "Sync-v1")`)
}

func TestEncodeJSON(t *testing.T) {
	payload, err := EncodeJSON(&Event{Version: Version, Records: []Record{{
		Type:       UpdateRow,
		Info:       RecordInfo{Timestamp: 1506416585740836},
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Binary([]byte{0, 1})}},
		Columns: []Column{
			{Type: Put, ColumnName: "level", Value: ots.Double(2), Timestamp: ptr(1506416585741)},
			{Type: Put, ColumnName: "note", Value: ots.String("<b>&")},
			{Type: DeleteAllVersions, ColumnName: "gone"},
		},
	}, {
		Type:       DeleteRow,
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(-7)}},
	}}})
	require.NoError(t, err)
	assert.Equal(t, `{
  "Version": "Sync-v1",
  "Records": [
    {
      "Type": "UpdateRow",
      "Info": {
        "Timestamp": 1506416585740836
      },
      "PrimaryKey": [
        {
          "ColumnName": "id",
          "Value": {
            "Binary": "AAE="
          }
        }
      ],
      "Columns": [
        {
          "Type": "Put",
          "ColumnName": "level",
          "Value": 2.0,
          "Timestamp": 1506416585741
        },
        {
          "Type": "Put",
          "ColumnName": "note",
          "Value": "<b>&"
        },
        {
          "Type": "DeleteAllVersions",
          "ColumnName": "gone"
        }
      ]
    },
    {
      "Type": "DeleteRow",
      "Info": {
        "Timestamp": 0
      },
      "PrimaryKey": [
        {
          "ColumnName": "id",
          "Value": -7
        }
      ],
      "Columns": []
    }
  ]
}
`, string(payload))
}

func TestEncodeJSONDoubles(t *testing.T) {
	for _, tc := range []struct {
		value float64
		want  string
	}{
		{2, "2.0"},
		{math.Copysign(0, -1), "-0.0"},
		{0, "0.0"},
		{-1.5, "-1.5"},
		{1e20, "100000000000000000000.0"},
		{1e21, "1e+21"},
		{1e-7, "1e-7"},
		{0.000001, "0.000001"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{5e-324, "5e-324"},
	} {
		text, err := jsonValue(ots.Double(tc.value))
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(text))
		assert.True(t, bytes.ContainsAny(text, ".e"), "%s reads back as a DOUBLE", text)
		readBack, err := strconv.ParseFloat(string(text), 64)
		require.NoError(t, err)
		assert.Equal(t, math.Float64bits(tc.value), math.Float64bits(readBack), "%s reads back", text)
	}
}

func TestEncodeJSONRejectsNonFiniteDoubles(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		event := &Event{Version: Version, Records: []Record{
			{Type: DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}}},
			{Type: PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(2)}},
				Columns: []Column{{Type: Put, ColumnName: "ok", Value: ots.Double(1)}, {Type: Put, ColumnName: "x", Value: ots.Double(f)}}},
		}}
		want := `Columns[1] "x": DOUBLE ` + ots.Double(f).String() + " has no JSON representation"

		_, err := EncodeJSON(event)
		require.EqualError(t, err, "events: cannot encode record 1: "+want)

		_, err = MarshalRecordJSON(&event.Records[1])
		require.EqualError(t, err, "events: cannot encode record: "+want)
	}
}

func TestMarshalRecordJSON(t *testing.T) {
	record := everyValueEvent().Records[1]
	text, err := MarshalRecordJSON(&record)
	require.NoError(t, err)
	assert.Equal(t, `{"Type":"UpdateRow","Info":{"Timestamp":0},"PrimaryKey":[{"ColumnName":"int","Value":9223372036854775807}],`+
		`"Columns":[{"Type":"Put","ColumnName":"level","Value":-1,"Timestamp":1506416585741},`+
		`{"Type":"DeleteOneVersion","ColumnName":"old","Timestamp":0},{"Type":"DeleteAllVersions","ColumnName":"gone"}]}`,
		string(text))

	// The record reads back as part of an event.
	e, err := Decode([]byte(`{"Version": "Sync-v1", "Records": [` + string(text) + `]}`))
	require.NoError(t, err)
	requireSameEvent(t, &Event{Version: Version, Records: []Record{record}}, e)
	assert.Equal(t, text, e.Records[0].Raw)
}

func TestEncodeNil(t *testing.T) {
	_, err := EncodeCBOR(nil)
	require.EqualError(t, err, "events: nil event")
	_, err = EncodeJSON(nil)
	require.EqualError(t, err, "events: nil event")
	_, err = MarshalRecordJSON(nil)
	require.EqualError(t, err, "events: nil record")
}
