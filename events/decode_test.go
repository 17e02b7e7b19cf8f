package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/otsetl/otsetl/ots"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeUpdateRowFixture(t *testing.T) {
	fixture := updateRowFixture(t)

	e, err := Decode(fixture)
	require.NoError(t, err)

	assert.Equal(t, "Sync-v1", e.Version)
	require.Len(t, e.Records, 1)
	r := e.Records[0]
	assert.Equal(t, UpdateRow, r.Type)
	assert.Equal(t, int64(1506416585740836), r.Info.Timestamp)
	require.Len(t, r.PrimaryKey, 1)
	assert.Equal(t, "id", r.PrimaryKey[0].ColumnName)
	id, ok := r.PrimaryKey[0].Value.Str()
	assert.True(t, ok)
	assert.Equal(t, "u1", id)

	require.Len(t, r.Columns, 3)
	level := r.Columns[0]
	assert.Equal(t, Put, level.Type)
	assert.Equal(t, "level", level.ColumnName)
	levelValue, ok := level.Value.Int()
	assert.True(t, ok)
	assert.Equal(t, int64(2), levelValue)
	assert.Equal(t, ptr(1506416585741), level.Timestamp)

	old := r.Columns[1]
	assert.Equal(t, DeleteOneVersion, old.Type)
	assert.Equal(t, "old", old.ColumnName)
	assert.True(t, old.Value.IsNone())
	assert.Equal(t, ptr(1506416585741), old.Timestamp)

	gone := r.Columns[2]
	assert.Equal(t, DeleteAllVersions, gone.Type)
	assert.Equal(t, "gone", gone.ColumnName)
	assert.True(t, gone.Value.IsNone())
	assert.Nil(t, gone.Timestamp)

	// The record is the rest of the payload after the map head, "Version", "Sync-v1",
	// "Records" and the array head.
	assert.Equal(t, fixture[26:], r.Raw)
}

func TestDecodeCBORValueKinds(t *testing.T) {
	put := func(name string, value any) map[string]any {
		return map[string]any{"Type": "Put", "ColumnName": name, "Value": value, "Timestamp": int64(7)}
	}
	payload := cborOf(t, map[string]any{
		"Version": "Sync-v1",
		"Records": []any{map[string]any{
			"Type":       "PutRow",
			"Info":       map[string]any{"Timestamp": int64(1)},
			"PrimaryKey": []any{map[string]any{"ColumnName": "bin", "Value": []byte{0, 1}}},
			"Columns": []any{
				put("max", int64(math.MaxInt64)),
				put("min", int64(math.MinInt64)),
				put("neg", int64(-1)),
				put("half", cbor.RawMessage{0xf9, 0x3e, 0x00}),               // float16 1.5
				put("single", cbor.RawMessage{0xfa, 0x3f, 0xc0, 0x00, 0x00}), // float32 1.5
				put("double", 1.5),                                           // float64
				put("negzero", cbor.RawMessage{0xf9, 0x80, 0x00}),            // float16 -0.0
				put("nan", cbor.RawMessage{0xf9, 0x7e, 0x00}),                // float16 NaN
				put("inf", cbor.RawMessage{0xfa, 0x7f, 0x80, 0x00, 0x00}),    // float32 +Inf
				put("yes", true),
				put("no", false),
				put("text", "héllo"),
				put("empty", ""),
				put("bytes", []byte{}),
			},
		}},
	})

	e, err := Decode(payload)
	require.NoError(t, err)

	want := []ots.Value{
		ots.Integer(math.MaxInt64), ots.Integer(math.MinInt64), ots.Integer(-1),
		ots.Double(1.5), ots.Double(1.5), ots.Double(1.5), ots.Double(math.Copysign(0, -1)), ots.Double(math.Float64frombits(0x7ff8000000000000)), ots.Double(math.Inf(1)),
		ots.Boolean(true), ots.Boolean(false), ots.String("héllo"), ots.String(""), ots.Binary(nil),
	}
	r := e.Records[0]
	require.True(t, r.PrimaryKey[0].Value.Equal(ots.Binary([]byte{0, 1})), "got %v", r.PrimaryKey[0].Value)
	require.Len(t, r.Columns, len(want))
	for i, w := range want {
		assert.True(t, w.Equal(r.Columns[i].Value), "%s: want %v %v, got %v %v",
			r.Columns[i].ColumnName, w.Kind(), w, r.Columns[i].Value.Kind(), r.Columns[i].Value)
	}
}

func TestDecodeCBORNullAndUndefinedAreNoValue(t *testing.T) {
	for name, raw := range map[string]cbor.RawMessage{"null": {0xf6}, "undefined": {0xf7}} {
		t.Run(name, func(t *testing.T) {
			payload := cborOf(t, map[string]any{
				"Version": "Sync-v1",
				"Records": []any{map[string]any{
					"Type":       "UpdateRow",
					"PrimaryKey": []any{map[string]any{"ColumnName": "id", "Value": int64(1)}},
					"Columns":    []any{map[string]any{"Type": "DeleteAllVersions", "ColumnName": "gone", "Value": raw, "Timestamp": raw}},
				}},
			})
			e, err := Decode(payload)
			require.NoError(t, err)
			assert.True(t, e.Records[0].Columns[0].Value.IsNone())
			assert.Nil(t, e.Records[0].Columns[0].Timestamp)
		})
	}
}

func TestDecodeJSONValueKinds(t *testing.T) {
	payload := []byte(`{"Version": "Sync-v1", "Records": [{
		"Type": "PutRow",
		"Info": {"Timestamp": 1},
		"PrimaryKey": [{"ColumnName": "bin", "Value": {"Binary": "AAE="}}],
		"Columns": [
			{"Type": "Put", "ColumnName": "int", "Value": 2},
			{"Type": "Put", "ColumnName": "fraction", "Value": 2.0},
			{"Type": "Put", "ColumnName": "exponent", "Value": 1e3},
			{"Type": "Put", "ColumnName": "negzero", "Value": -0.0},
			{"Type": "Put", "ColumnName": "intzero", "Value": -0},
			{"Type": "Put", "ColumnName": "min", "Value": -9223372036854775808},
			{"Type": "Put", "ColumnName": "max", "Value": 9223372036854775807},
			{"Type": "Put", "ColumnName": "tiny", "Value": 1e-400},
			{"Type": "Put", "ColumnName": "yes", "Value": true},
			{"Type": "Put", "ColumnName": "text", "Value": "a<b>&\u00e9"},
			{"Type": "Put", "ColumnName": "empty", "Value": ""},
			{"Type": "Put", "ColumnName": "nobytes", "Value": {"Binary": ""}}
		]}]}`)

	e, err := Decode(payload)
	require.NoError(t, err)

	want := []ots.Value{
		ots.Integer(2), ots.Double(2), ots.Double(1000), ots.Double(math.Copysign(0, -1)), ots.Integer(0),
		ots.Integer(math.MinInt64), ots.Integer(math.MaxInt64), ots.Double(0),
		ots.Boolean(true), ots.String("a<b>&é"), ots.String(""), ots.Binary(nil),
	}
	r := e.Records[0]
	require.True(t, r.PrimaryKey[0].Value.Equal(ots.Binary([]byte{0, 1})), "got %v", r.PrimaryKey[0].Value)
	require.Len(t, r.Columns, len(want))
	for i, w := range want {
		assert.True(t, w.Equal(r.Columns[i].Value), "%s: want %v %v, got %v %v",
			r.Columns[i].ColumnName, w.Kind(), w, r.Columns[i].Value.Kind(), r.Columns[i].Value)
		assert.Nil(t, r.Columns[i].Timestamp, "a Put may leave out its Timestamp")
	}
}

func TestDecodeJSONKeepsRecordBytes(t *testing.T) {
	first := `{"Type": "DeleteRow", "PrimaryKey": [{"ColumnName": "id", "Value": 1}]}`
	second := "{\n\t\"Type\":\"DeleteRow\",\"PrimaryKey\":[{\"ColumnName\":\"id\",\"Value\":2}],\"Columns\":[]}"
	payload := "\n \t{\"Records\" : [ " + first + " ,\n" + second + "], \"Version\": \"Sync-v1\"}\n"

	e, err := Decode([]byte(payload))
	require.NoError(t, err)
	require.Len(t, e.Records, 2)
	assert.Equal(t, first, string(e.Records[0].Raw))
	assert.Equal(t, second, string(e.Records[1].Raw))
	assert.Nil(t, e.Records[0].Columns)
	assert.Nil(t, e.Records[1].Columns)
}

func TestDecodeIndefiniteLengths(t *testing.T) {
	text := func(s string) []byte { return cborOf(t, s) }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	const (
		indefiniteBytes = 0x5f
		indefiniteText  = 0x7f
		indefiniteArray = 0x9f
		indefiniteMap   = 0xbf
		stop            = 0xff
	)
	record := join([]byte{indefiniteMap},
		text("Type"), text("DeleteRow"),
		text("PrimaryKey"), []byte{indefiniteArray, indefiniteMap},
		text("ColumnName"), text("id"),
		text("Value"), []byte{indefiniteBytes}, cborOf(t, []byte{1}), cborOf(t, []byte{2, 3}), []byte{stop},
		[]byte{stop, stop, stop})
	payload := join([]byte{indefiniteMap},
		text("Version"), []byte{indefiniteText}, text("Sync"), text("-v1"), []byte{stop},
		text("Records"), []byte{indefiniteArray}, record, []byte{stop},
		[]byte{stop})

	e, err := Decode(payload)
	require.NoError(t, err)
	requireSameEvent(t, &Event{Version: Version, Records: []Record{{
		Type:       DeleteRow,
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Binary([]byte{1, 2, 3})}},
	}}}, e)
	assert.Equal(t, record, e.Records[0].Raw)
}

func TestDecodeIgnoresUnknownKeys(t *testing.T) {
	tree := map[string]any{
		"Version": "Sync-v1",
		"Shard":   map[string]any{"Id": "s1", "Nested": []any{1, 2}},
		"Records": []any{map[string]any{
			"Type":       "UpdateRow",
			"Sequence":   []any{int64(1), "x"},
			"Info":       map[string]any{"Timestamp": int64(5), "Epoch": int64(3)},
			"PrimaryKey": []any{map[string]any{"ColumnName": "id", "Value": int64(1), "Type": "INTEGER"}},
			"Columns":    []any{map[string]any{"Type": "DeleteAllVersions", "ColumnName": "c", "Origin": "x"}},
		}},
	}
	want := &Event{Version: Version, Records: []Record{{
		Type:       UpdateRow,
		Info:       RecordInfo{Timestamp: 5},
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}},
		Columns:    []Column{{Type: DeleteAllVersions, ColumnName: "c"}},
	}}}

	for name, payload := range map[string][]byte{"CBOR": cborOf(t, tree), "JSON": jsonOf(t, tree)} {
		t.Run(name, func(t *testing.T) {
			e, err := Decode(payload)
			require.NoError(t, err)
			requireSameEvent(t, want, e)
		})
	}

	t.Run("CBOR items no field can hold", func(t *testing.T) {
		tree["Shard"] = cbor.Tag{Number: 42, Content: "x"}
		tree["Records"].([]any)[0].(map[string]any)["Sequence"] = cbor.SimpleValue(16)
		e, err := Decode(cborOf(t, tree))
		require.NoError(t, err)
		requireSameEvent(t, want, e)
	})

	t.Run("keys match exactly", func(t *testing.T) {
		_, err := Decode([]byte(`{"version": "Sync-v1", "Records": []}`))
		require.EqualError(t, err, "events: Version: missing")
	})
}

func TestDecodeOptionalFields(t *testing.T) {
	payload := []byte(`{"Version": "Sync-v1", "Records": [
		{"Type": "DeleteRow", "PrimaryKey": [{"ColumnName": "id", "Value": 1}]},
		{"Type": "DeleteRow", "Info": null, "PrimaryKey": [{"ColumnName": "id", "Value": 2}], "Columns": null},
		{"Type": "DeleteRow", "Info": {}, "PrimaryKey": [{"ColumnName": "id", "Value": 3}], "Columns": []},
		{"Type": "UpdateRow", "Info": {"Timestamp": null}, "PrimaryKey": [{"ColumnName": "id", "Value": 4}],
		 "Columns": [{"Type": "Put", "ColumnName": "c", "Value": 1, "Timestamp": null}]}
	]}`)

	e, err := Decode(payload)
	require.NoError(t, err)
	require.Len(t, e.Records, 4)
	for i, r := range e.Records {
		assert.Zero(t, r.Info.Timestamp, "record %d", i)
	}
	for _, r := range e.Records[:3] {
		assert.Nil(t, r.Columns)
	}
	assert.Nil(t, e.Records[3].Columns[0].Timestamp)
}

func TestDecodeEmptyRecords(t *testing.T) {
	tree := map[string]any{"Version": "Sync-v1", "Records": []any{}}
	for name, payload := range map[string][]byte{"CBOR": cborOf(t, tree), "JSON": jsonOf(t, tree)} {
		t.Run(name, func(t *testing.T) {
			e, err := Decode(payload)
			require.NoError(t, err)
			assert.Equal(t, Version, e.Version)
			assert.Empty(t, e.Records)
		})
	}
}

func TestDecodeTenThousandRecords(t *testing.T) {
	const n = 10000
	event := &Event{Version: Version, Records: make([]Record, n)}
	for i := range event.Records {
		event.Records[i] = Record{
			Type:       PutRow,
			Info:       RecordInfo{Timestamp: int64(i)},
			PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(i))}},
			Columns:    []Column{{Type: Put, ColumnName: "level", Value: ots.Integer(int64(i % 3)), Timestamp: ptr(int64(i))}},
		}
	}
	cborPayload, err := EncodeCBOR(event)
	require.NoError(t, err)
	jsonPayload, err := EncodeJSON(event)
	require.NoError(t, err)

	for name, payload := range map[string][]byte{"CBOR": cborPayload, "JSON": jsonPayload} {
		t.Run(name, func(t *testing.T) {
			e, err := Decode(payload)
			require.NoError(t, err)
			requireSameEvent(t, event, e)
			for i, r := range e.Records {
				require.NotEmpty(t, r.Raw, "record %d", i)
			}

			_, err = DecodeOptions{MaxArrayElements: n - 1}.Decode(payload)
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprintf("array longer than MaxArrayElements %d (at byte ", n-1))
		})
	}
}

// errorCase edits a valid two-record event so that it breaks one rule.
type errorCase struct {
	name string
	edit func(event map[string]any)
	// want is the error for the CBOR payload, and for the JSON one unless wantJSON is set.
	want string
	// wantJSON is the error for the JSON payload when it differs; "-" skips JSON, which
	// cannot express the edit.
	wantJSON string
}

func validTree() map[string]any {
	record := func(id int64) map[string]any {
		return map[string]any{
			"Type":       "UpdateRow",
			"Info":       map[string]any{"Timestamp": int64(1506416585740836)},
			"PrimaryKey": []any{map[string]any{"ColumnName": "id", "Value": id}},
			"Columns": []any{
				map[string]any{"Type": "Put", "ColumnName": "level", "Value": int64(2), "Timestamp": int64(1506416585741)},
				map[string]any{"Type": "DeleteAllVersions", "ColumnName": "note"},
			},
		}
	}
	return map[string]any{"Version": "Sync-v1", "Records": []any{record(1), record(2)}}
}

// second returns the second record of a tree from validTree; the edits break it so that
// errors must name record 1.
func second(event map[string]any) map[string]any {
	return event["Records"].([]any)[1].(map[string]any)
}

func primaryKey0(event map[string]any) map[string]any {
	return second(event)["PrimaryKey"].([]any)[0].(map[string]any)
}

func column(event map[string]any, i int) map[string]any {
	return second(event)["Columns"].([]any)[i].(map[string]any)
}

var errorCases = []errorCase{
	{name: "unsupported version",
		edit: func(e map[string]any) { e["Version"] = "Sync-v2" },
		want: `events: Version: unsupported version "Sync-v2" (want "Sync-v1")`},
	{name: "missing version",
		edit: func(e map[string]any) { delete(e, "Version") },
		want: "events: Version: missing"},
	{name: "version not a string",
		edit: func(e map[string]any) { e["Version"] = 1 },
		want: "events: Version: want a string, got integer 1"},
	{name: "missing records",
		edit: func(e map[string]any) { delete(e, "Records") },
		want: "events: Records: missing"},
	{name: "records a map",
		edit:     func(e map[string]any) { e["Records"] = map[string]any{} },
		want:     "events: Records: want an array, got a map",
		wantJSON: "events: Records: want an array, got an object"},
	{name: "records null",
		edit: func(e map[string]any) { e["Records"] = nil },
		want: "events: Records: want an array, got null"},
	{name: "record not a map",
		edit:     func(e map[string]any) { e["Records"].([]any)[1] = 5 },
		want:     "events: record 1: want a map, got integer 5",
		wantJSON: "events: record 1: want an object, got integer 5"},
	{name: "record type not a string",
		edit: func(e map[string]any) { second(e)["Type"] = 5 },
		want: "events: record 1: Type: want a string, got integer 5"},
	{name: "record type a byte string",
		edit:     func(e map[string]any) { second(e)["Type"] = []byte("Put") },
		want:     "events: record 1: Type: want a string, got byte string of 3 bytes",
		wantJSON: "-"},
	{name: "missing record type",
		edit: func(e map[string]any) { delete(second(e), "Type") },
		want: "events: record 1: Type: missing"},
	{name: "unknown record type",
		edit: func(e map[string]any) { second(e)["Type"] = "Upsert" },
		want: `events: record 1: Type: unknown record type "Upsert" (want PutRow, UpdateRow or DeleteRow)`},
	{name: "info not a map",
		edit:     func(e map[string]any) { second(e)["Info"] = "x" },
		want:     `events: record 1: Info: want a map, got string "x"`,
		wantJSON: `events: record 1: Info: want an object, got string "x"`},
	{name: "info timestamp a string",
		edit: func(e map[string]any) { second(e)["Info"] = map[string]any{"Timestamp": "x"} },
		want: `events: record 1: Info.Timestamp: want an integer, got string "x"`},
	{name: "info timestamp a float",
		edit: func(e map[string]any) { second(e)["Info"] = map[string]any{"Timestamp": 1.5} },
		want: "events: record 1: Info.Timestamp: want an integer, got number 1.5"},
	{name: "info timestamp above MaxInt64",
		edit: func(e map[string]any) { second(e)["Info"] = map[string]any{"Timestamp": uint64(math.MaxUint64)} },
		want: "events: record 1: Info.Timestamp: integer 18446744073709551615 overflows int64"},
	{name: "negative info timestamp",
		edit: func(e map[string]any) { second(e)["Info"] = map[string]any{"Timestamp": -1} },
		want: "events: record 1: Info.Timestamp: negative timestamp -1"},
	{name: "missing primary key",
		edit: func(e map[string]any) { delete(second(e), "PrimaryKey") },
		want: "events: record 1: PrimaryKey: missing"},
	{name: "empty primary key",
		edit: func(e map[string]any) { second(e)["PrimaryKey"] = []any{} },
		want: "events: record 1: PrimaryKey: no primary key columns"},
	{name: "primary key not an array",
		edit: func(e map[string]any) { second(e)["PrimaryKey"] = "id" },
		want: `events: record 1: PrimaryKey: want an array, got string "id"`},
	{name: "primary key column not a map",
		edit:     func(e map[string]any) { second(e)["PrimaryKey"] = []any{5} },
		want:     "events: record 1: PrimaryKey[0]: want a map, got integer 5",
		wantJSON: "events: record 1: PrimaryKey[0]: want an object, got integer 5"},
	{name: "missing primary key column name",
		edit: func(e map[string]any) { delete(primaryKey0(e), "ColumnName") },
		want: "events: record 1: PrimaryKey[0].ColumnName: missing"},
	{name: "primary key column name not a string",
		edit: func(e map[string]any) { primaryKey0(e)["ColumnName"] = 7 },
		want: "events: record 1: PrimaryKey[0].ColumnName: want a string, got integer 7"},
	{name: "empty primary key column name",
		edit: func(e map[string]any) { primaryKey0(e)["ColumnName"] = "" },
		want: "events: record 1: PrimaryKey[0].ColumnName: empty column name"},
	{name: "missing primary key value",
		edit: func(e map[string]any) { delete(primaryKey0(e), "Value") },
		want: `events: record 1: PrimaryKey[0] "id": missing Value`},
	{name: "null primary key value",
		edit: func(e map[string]any) { primaryKey0(e)["Value"] = nil },
		want: `events: record 1: PrimaryKey[0] "id": missing Value`},
	{name: "double primary key value",
		edit: func(e map[string]any) { primaryKey0(e)["Value"] = 1.5 },
		want: `events: record 1: PrimaryKey[0] "id": DOUBLE is not a primary key type (want INTEGER, STRING or BINARY)`},
	{name: "boolean primary key value",
		edit: func(e map[string]any) { primaryKey0(e)["Value"] = true },
		want: `events: record 1: PrimaryKey[0] "id": BOOLEAN is not a primary key type (want INTEGER, STRING or BINARY)`},
	{name: "primary key value above MaxInt64",
		edit: func(e map[string]any) { primaryKey0(e)["Value"] = uint64(math.MaxUint64) },
		want: `events: record 1: PrimaryKey[0] "id": integer 18446744073709551615 overflows int64`},
	{name: "columns not an array",
		edit:     func(e map[string]any) { second(e)["Columns"] = map[string]any{} },
		want:     "events: record 1: Columns: want an array, got a map",
		wantJSON: "events: record 1: Columns: want an array, got an object"},
	{name: "column not a map",
		edit:     func(e map[string]any) { second(e)["Columns"].([]any)[0] = "x" },
		want:     `events: record 1: Columns[0]: want a map, got string "x"`,
		wantJSON: `events: record 1: Columns[0]: want an object, got string "x"`},
	{name: "missing column name",
		edit: func(e map[string]any) { delete(column(e, 0), "ColumnName") },
		want: "events: record 1: Columns[0].ColumnName: missing"},
	{name: "empty column name",
		edit: func(e map[string]any) { column(e, 0)["ColumnName"] = "" },
		want: "events: record 1: Columns[0].ColumnName: empty column name"},
	{name: "column type not a string",
		edit: func(e map[string]any) { column(e, 0)["Type"] = 5 },
		want: `events: record 1: Columns[0] "level".Type: want a string, got integer 5`},
	{name: "missing column type",
		edit: func(e map[string]any) { delete(column(e, 0), "Type") },
		want: `events: record 1: Columns[0] "level".Type: missing`},
	{name: "unknown column type",
		edit: func(e map[string]any) { column(e, 0)["Type"] = "Increment" },
		want: `events: record 1: Columns[0] "level".Type: unknown column type "Increment" (want Put, DeleteOneVersion or DeleteAllVersions)`},
	{name: "value above MaxInt64",
		edit: func(e map[string]any) { column(e, 0)["Value"] = uint64(math.MaxUint64) },
		want: `events: record 1: Columns[0] "level": integer 18446744073709551615 overflows int64`},
	{name: "value below MinInt64",
		edit: func(e map[string]any) {
			column(e, 0)["Value"] = cbor.RawMessage{0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		},
		want:     `events: record 1: Columns[0] "level": integer -18446744073709551616 overflows int64`,
		wantJSON: "-"},
	{name: "JSON value below MinInt64",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = json.RawMessage("-9223372036854775809") },
		want:     "-",
		wantJSON: `events: record 1: Columns[0] "level": integer -9223372036854775809 overflows int64`},
	{name: "JSON value beyond float64",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = json.RawMessage("-1e400") },
		want:     "-",
		wantJSON: `events: record 1: Columns[0] "level": number -1e400 overflows float64`},
	{name: "value an array",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = []any{1} },
		want:     `events: record 1: Columns[0] "level": want ` + cborValueKinds + `, got an array`,
		wantJSON: `events: record 1: Columns[0] "level": want ` + jsonValueKinds + `, got an array`},
	{name: "value a map",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = map[string]any{"x": 1} },
		want:     `events: record 1: Columns[0] "level": want ` + cborValueKinds + `, got a map`,
		wantJSON: `events: record 1: Columns[0] "level": want ` + jsonValueKinds + `, got another object`},
	{name: "binary object in CBOR",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = map[string]any{"Binary": "AAE="} },
		want:     `events: record 1: Columns[0] "level": want ` + cborValueKinds + `, got a map`,
		wantJSON: "-"},
	{name: "binary object with another key",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = map[string]any{"Binary": "AAE=", "Kind": "BINARY"} },
		want:     "-",
		wantJSON: `events: record 1: Columns[0] "level": want ` + jsonValueKinds + `, got another object`},
	{name: "binary object not base64",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = map[string]any{"Binary": "not base64"} },
		want:     "-",
		wantJSON: `events: record 1: Columns[0] "level": Binary is not standard base64: illegal base64 data at input byte 3`},
	{name: "value a tag",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = cbor.Tag{Number: 42, Content: 1} },
		want:     `events: record 1: Columns[0] "level": want ` + cborValueKinds + `, got CBOR tag 42`,
		wantJSON: "-"},
	{name: "value a bignum",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = cbor.Tag{Number: 2, Content: []byte{1}} },
		want:     `events: record 1: Columns[0] "level": want ` + cborValueKinds + `, got CBOR tag 2`,
		wantJSON: "-"},
	{name: "value a simple value",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = cbor.SimpleValue(16) },
		want:     `events: record 1: Columns[0] "level": want ` + cborValueKinds + `, got CBOR simple value 16`,
		wantJSON: "-"},
	{name: "value not valid UTF-8",
		edit:     func(e map[string]any) { column(e, 0)["Value"] = cbor.RawMessage{0x62, 0xc3, 0x28} },
		want:     `events: record 1: Columns[0] "level": text string is not valid UTF-8`,
		wantJSON: "-"},
	{name: "column timestamp a string",
		edit: func(e map[string]any) { column(e, 0)["Timestamp"] = "x" },
		want: `events: record 1: Columns[0] "level".Timestamp: want an integer, got string "x"`},
	{name: "negative column timestamp",
		edit: func(e map[string]any) { column(e, 0)["Timestamp"] = -5 },
		want: `events: record 1: Columns[0] "level".Timestamp: negative timestamp -5`},
	{name: "put without value",
		edit: func(e map[string]any) { delete(column(e, 0), "Value") },
		want: `events: record 1: Columns[0] "level": a Put needs a Value`},
	{name: "put with null value",
		edit: func(e map[string]any) { column(e, 0)["Value"] = nil },
		want: `events: record 1: Columns[0] "level": a Put needs a Value`},
	{name: "delete one version without timestamp",
		edit: func(e map[string]any) {
			c := column(e, 0)
			c["Type"] = "DeleteOneVersion"
			delete(c, "Value")
			delete(c, "Timestamp")
		},
		want: `events: record 1: Columns[0] "level": a DeleteOneVersion needs a Timestamp`},
	{name: "delete one version with value",
		edit: func(e map[string]any) { column(e, 0)["Type"] = "DeleteOneVersion" },
		want: `events: record 1: Columns[0] "level": a DeleteOneVersion carries no Value`},
	{name: "delete all versions with value",
		edit: func(e map[string]any) { column(e, 1)["Value"] = 3 },
		want: `events: record 1: Columns[1] "note": a DeleteAllVersions carries no Value`},
	{name: "delete all versions with timestamp",
		edit: func(e map[string]any) { column(e, 1)["Timestamp"] = 3 },
		want: `events: record 1: Columns[1] "note": a DeleteAllVersions carries no Timestamp`},
	{name: "delete row with columns",
		edit: func(e map[string]any) { second(e)["Type"] = "DeleteRow" },
		want: "events: record 1: Columns: a DeleteRow carries no columns, got 2"},
	{name: "put row with a delete cell",
		edit: func(e map[string]any) { second(e)["Type"] = "PutRow" },
		want: `events: record 1: Columns[1] "note": a PutRow writes only Put cells, got DeleteAllVersions`},
}

const (
	cborValueKinds = "a value (integer, float, boolean, text string or byte string)"
	jsonValueKinds = `a value (number, boolean, string, or {"Binary": "<base64>"} for binary)`
)

func TestDecodeErrors(t *testing.T) {
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			tree := validTree()
			tc.edit(tree)
			wantJSON := tc.wantJSON
			if wantJSON == "" {
				wantJSON = tc.want
			}
			for _, f := range []struct {
				name, want string
				encode     func(testing.TB, any) []byte
			}{{"CBOR", tc.want, cborOf}, {"JSON", wantJSON, jsonOf}} {
				if f.want == "-" {
					continue
				}
				_, err := Decode(f.encode(t, tree))
				require.EqualError(t, err, f.want, f.name)
				var de *DecodeError
				require.ErrorAs(t, err, &de, f.name)
				wantRecord := -1
				if strings.HasPrefix(f.want, "events: record 1: ") {
					wantRecord = 1
				}
				assert.Equal(t, wantRecord, de.Record, f.name)
			}
		})
	}
}

// cborMap encodes a definite-length map of the given key-value pairs in order, so that a
// test can repeat a key.
func cborMap(t testing.TB, pairs ...any) []byte {
	t.Helper()
	require.Zero(t, len(pairs)%2)
	require.Less(t, len(pairs)/2, 24)
	out := []byte{0xa0 | byte(len(pairs)/2)}
	for _, item := range pairs {
		out = append(out, cborOf(t, item)...)
	}
	return out
}

func TestDecodeErrorsNameTheMapOfAFaultyKey(t *testing.T) {
	pk := map[string]any{"ColumnName": "id", "Value": 1}
	valid := cbor.RawMessage(cborMap(t, "Type", "DeleteRow", "PrimaryKey", []any{pk}))
	record := func(pairs ...any) cbor.RawMessage {
		return cborMap(t, append([]any{"Type", "UpdateRow", "PrimaryKey", []any{pk}}, pairs...)...)
	}
	for _, tc := range []struct {
		name         string
		record       cbor.RawMessage
		field, fault string
	}{
		{"the record", record("Extra", 1, "Extra", 2), "", `duplicate key "Extra"`},
		{"Info", record("Info", cbor.RawMessage(cborMap(t, "Timestamp", 1, "Timestamp", 2))), "Info", `duplicate key "Timestamp"`},
		{"a primary key column", cborMap(t, "Type", "DeleteRow", "PrimaryKey", []any{cbor.RawMessage(cborMap(t, "ColumnName", "id", "Value", 1, "Value", 2))}),
			`PrimaryKey[0] "id"`, `duplicate key "Value"`},
		{"a column, after its name", record("Columns", []any{cbor.RawMessage(cborMap(t, "ColumnName", "level", "Type", "Put", "Type", "Put"))}),
			`Columns[0] "level"`, `duplicate key "Type"`},
		{"a column, before its name", record("Columns", []any{cbor.RawMessage(cborMap(t, "Type", "Put", 7, 1, "ColumnName", "level"))}),
			`Columns[0] "level"`, "want a string key, got integer 7"},
		{"a column, not valid UTF-8", record("Columns", []any{cbor.RawMessage(cborMap(t, "ColumnName", "level", cbor.RawMessage{0x61, 0xff}, 1))}),
			`Columns[0] "level"`, "key is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(cborMap(t, "Version", Version, "Records", []any{valid, tc.record}))
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			assert.Equal(t, 1, de.Record)
			assert.Equal(t, tc.field, de.Field)
			assert.EqualError(t, de.Err, tc.fault)
		})
	}
}

func TestDecodeMalformedPayloads(t *testing.T) {
	validRecord := cbor.RawMessage(cborMap(t, "Type", "DeleteRow", "PrimaryKey", []any{map[string]any{"ColumnName": "id", "Value": 1}}))
	cborEvent := func(records ...any) []byte {
		return cborMap(t, "Version", "Sync-v1", "Records", records)
	}
	cases := []struct {
		name    string
		payload []byte
		want    string
	}{
		{"garbage", []byte("hello"), "events: payload is neither a CBOR map nor a JSON object: first byte 0x68"},
		{"CBOR array", cborOf(t, []any{1}), "events: payload is neither a CBOR map nor a JSON object: first byte 0x81"},
		{"JSON array", []byte(` [{}]`), "events: payload is neither a CBOR map nor a JSON object: first byte 0x5b"},
		{"empty", nil, "events: payload is empty"},
		{"whitespace", []byte(" \r\n\t"), "events: payload is empty"},
		{"CBOR trailing data", append(cborEvent(), 0x00), "events: cbor: data after the event (at byte 26)"},
		{"CBOR truncated", updateRowFixture(t)[:100], "events: cbor: unexpected EOF (at byte 100)"},
		{"CBOR reserved additional information", eventParts{recordExtra: []byte{0x1c}}.payload(),
			"events: cbor: reserved additional information 28 (at byte 122)"},
		{"CBOR break code out of place", eventParts{value: []byte{breakByte}}.payload(),
			"events: cbor: break code outside an indefinite length (at byte 115)"},
		{"CBOR text chunk in a byte string", eventParts{value: []byte{0x5f, 0x61, 'a', breakByte}}.payload(),
			"events: cbor: text string inside an indefinite-length byte string (at byte 116)"},
		{"JSON trailing data", []byte(`{"Version": "Sync-v1", "Records": []} {}`), "events: json: unexpected data after the top-level object"},
		{"JSON syntax", []byte(`{"Version": "Sync-v1", "Records": [}`), "events: json: invalid character '}' looking for beginning of value (at byte 35)"},
		{"JSON truncated", []byte(`{"Version": "Sync-v1", "Records": [`), "events: json: unexpected EOF (at byte 35)"},
		{"CBOR duplicate key", cborMap(t, "Version", "Sync-v1", "Version", "Sync-v1", "Records", []any{}),
			`events: duplicate key "Version"`},
		{"CBOR duplicate key in a record", cborEvent(validRecord, cbor.RawMessage(cborMap(t, "Type", "DeleteRow", "Type", "DeleteRow"))),
			`events: record 1: duplicate key "Type"`},
		{"JSON duplicate key", []byte(`{"Version": "Sync-v1", "Version": "Sync-v1", "Records": []}`),
			`events: json: duplicate key "Version"`},
		{"JSON duplicate key in a record", []byte(`{"Version": "Sync-v1", "Records": [{"Type": "DeleteRow", "Type": "PutRow"}]}`),
			`events: record 0: json: duplicate key "Type"`},
		{"JSON escaped duplicate key", []byte(`{"Version": "Sync-v1", "Records": [{"Type": "DeleteRow", "\u0054ype": "PutRow"}]}`),
			`events: record 0: json: duplicate key "Type"`},
		{"CBOR non-text key in a record", cborEvent(cbor.RawMessage(cborMap(t, "Type", "DeleteRow", 1, 2))),
			"events: record 0: want a string key, got integer 1"},
		{"CBOR invalid UTF-8", cborEvent(cbor.RawMessage(cborMap(t, "Type", cbor.RawMessage{0x62, 0xc3, 0x28}))),
			"events: record 0: Type: text string is not valid UTF-8"},
		{"JSON invalid UTF-8", []byte("{\"Version\": \"Sync-v1\xff\", \"Records\": []}"), "events: json: payload is not valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.payload)
			require.EqualError(t, err, tc.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
		})
	}
}

func TestDecodeTruncatedCBOR(t *testing.T) {
	fixture := updateRowFixture(t)
	for n := 1; n < len(fixture); n++ {
		_, err := Decode(fixture[:n])
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "prefix of %d bytes", n)
		var de *DecodeError
		require.ErrorAs(t, err, &de, "prefix of %d bytes", n)
		require.Equal(t, -1, de.Record, "prefix of %d bytes", n)
	}
}

func TestDecodeTruncatedJSON(t *testing.T) {
	payload, err := EncodeJSON(&Event{Version: Version, Records: []Record{{
		Type:       UpdateRow,
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Binary([]byte("k"))}},
		Columns:    []Column{{Type: Put, ColumnName: "level", Value: ots.Double(2), Timestamp: ptr(1)}},
	}}})
	require.NoError(t, err)
	payload = bytes.TrimSpace(payload)
	for n := 1; n < len(payload); n++ {
		_, err := Decode(payload[:n])
		var de *DecodeError
		require.ErrorAs(t, err, &de, "prefix of %d bytes", n)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "prefix of %d bytes", n)
	}
}

func TestDecodeLimits(t *testing.T) {
	fixture := updateRowFixture(t)

	t.Run("payload size", func(t *testing.T) {
		_, err := DecodeOptions{MaxPayloadBytes: len(fixture) - 1}.Decode(fixture)
		require.EqualError(t, err, "events: payload is 262 bytes, above the limit of 261")
		e, err := DecodeOptions{MaxPayloadBytes: len(fixture)}.Decode(fixture)
		require.NoError(t, err)
		assert.Len(t, e.Records, 1)
	})

	// nested wraps a value in depth arrays.
	nested := func(depth int) any {
		var v any = 1
		for range depth {
			v = []any{v}
		}
		return v
	}
	eventWithExtra := func(extra any) map[string]any {
		return map[string]any{"Version": "Sync-v1", "Records": []any{}, "Extra": extra}
	}
	t.Run("nesting", func(t *testing.T) {
		// The top-level map is level 1, so Extra may nest 7 arrays under the default of 8.
		for name, encode := range map[string]func(testing.TB, any) []byte{"CBOR": cborOf, "JSON": jsonOf} {
			_, err := Decode(encode(t, eventWithExtra(nested(7))))
			require.NoError(t, err, name)

			_, err = Decode(encode(t, eventWithExtra(nested(8))))
			require.Error(t, err, name)
			assert.Regexp(t, `^events: `+strings.ToLower(name)+`: nested deeper than MaxNestedLevels 8 \(at byte \d+\)$`, err.Error())

			_, err = DecodeOptions{MaxNestedLevels: 9}.Decode(encode(t, eventWithExtra(nested(8))))
			require.NoError(t, err, name)
		}
	})

	t.Run("nesting inside a record", func(t *testing.T) {
		tree := validTree()
		column(tree, 0)["Value"] = nested(4)
		_, err := Decode(jsonOf(t, tree))
		require.Error(t, err)
		assert.Regexp(t, `^events: record 1: json: nested deeper than MaxNestedLevels 8 \(at byte \d+\)$`, err.Error())
		_, err = Decode(cborOf(t, tree))
		require.Error(t, err)
		assert.Regexp(t, `^events: cbor: nested deeper than MaxNestedLevels 8 \(at byte \d+\)$`, err.Error())
	})

	t.Run("map pairs", func(t *testing.T) {
		extra := map[string]any{}
		for i := range 17 {
			extra[fmt.Sprint(i)] = i
		}
		for name, encode := range map[string]func(testing.TB, any) []byte{"CBOR": cborOf, "JSON": jsonOf} {
			_, err := DecodeOptions{MaxMapPairs: 16}.Decode(encode(t, eventWithExtra(extra)))
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), "larger than MaxMapPairs 16 (at byte ", name)
			_, err = DecodeOptions{MaxMapPairs: 17}.Decode(encode(t, eventWithExtra(extra)))
			require.NoError(t, err, name)
		}
	})

	t.Run("array elements", func(t *testing.T) {
		extra := make([]any, 17)
		for name, encode := range map[string]func(testing.TB, any) []byte{"CBOR": cborOf, "JSON": jsonOf} {
			_, err := DecodeOptions{MaxArrayElements: 16}.Decode(encode(t, eventWithExtra(extra)))
			require.Error(t, err, name)
			assert.Contains(t, err.Error(), "array longer than MaxArrayElements 16 (at byte ", name)
		}
	})

	t.Run("invalid options", func(t *testing.T) {
		_, err := DecodeOptions{MaxNestedLevels: 2}.Decode(fixture)
		require.EqualError(t, err, "events: invalid DecodeOptions: MaxNestedLevels 2 is out of range [4, 65535]")
		var de *DecodeError
		assert.False(t, errors.As(err, &de))

		_, err = DecodeOptions{MaxPayloadBytes: -1}.Decode(fixture)
		require.EqualError(t, err, "events: invalid DecodeOptions: MaxPayloadBytes -1 is negative")
	})

	t.Run("zero options are the defaults", func(t *testing.T) {
		e, err := DecodeOptions{}.Decode(fixture)
		require.NoError(t, err)
		assert.Len(t, e.Records, 1)
	})
}

func TestValidate(t *testing.T) {
	require.EqualError(t, (*Event)(nil).Validate(), "events: nil event")
	require.NoError(t, (&Event{Version: Version}).Validate())

	e := &Event{Version: Version, Records: []Record{{
		Type:       UpdateRow,
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}},
		Columns:    []Column{{Type: DeleteOneVersion, ColumnName: "c", Timestamp: ptr(-1)}},
	}}}
	require.EqualError(t, e.Validate(), `events: record 0: Columns[0] "c".Timestamp: negative timestamp -1`)
}

// TestErrorsQuoteLongNamesAndValuesBriefly: a forged event with a megabyte column name or
// value gives a short message, never a megabyte log line.
func TestErrorsQuoteLongNamesAndValuesBriefly(t *testing.T) {
	long := strings.Repeat("n", 1<<20)
	tree := validTree()
	column(tree, 0)["ColumnName"] = long
	column(tree, 0)["Type"] = "Increment"
	_, err := Decode(cborOf(t, tree))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 300)
	assert.Contains(t, err.Error(), `Columns[0] "`+strings.Repeat("n", ots.MaxQuoted)+`"….Type: unknown column type "Increment"`)

	tree = validTree()
	second(tree)["Type"] = long
	_, err = Decode(cborOf(t, tree))
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 300)
}
