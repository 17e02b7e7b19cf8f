package events

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ots"
)

func TestDecodeMatchesFxamackerOnDocumentedEncodings(t *testing.T) {
	sample, err := os.ReadFile(filepath.Join(officialDir, "sample.cbor"))
	require.NoError(t, err)
	everyValue, err := EncodeCBOR(everyValueEvent())
	require.NoError(t, err)
	for name, payload := range map[string][]byte{
		"official sample": sample, "UpdateRow fixture": updateRowFixture(t), "every value": everyValue,
	} {
		t.Run(name, func(t *testing.T) {
			assert.True(t, requireDecodeMatchesOracle(t, payload, DefaultDecodeOptions), "Decode refused it")
		})
	}
}

func TestDecodeMatchesFxamackerOnGeneratedEvents(t *testing.T) {
	const payloads = 5000
	accepted := 0
	for seed := range uint64(payloads) {
		g := eventGenerator{rng: rand.New(rand.NewPCG(seed, 0))}
		payload := g.payload()
		require.NoError(t, cbor.Wellformed(payload), "seed %d", seed)
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			if requireDecodeMatchesOracle(t, payload, DefaultDecodeOptions) {
				accepted++
			}
		})
	}
	// Most generated events are valid; the others exercise the errors.
	assert.Greater(t, accepted, payloads/4)
	assert.Less(t, accepted, payloads*9/10)
}

func TestDecodeMatchesFxamackerOnEdits(t *testing.T) {
	event := func(record any) []byte {
		return cborOf(t, map[string]any{"Version": "Sync-v1", "Records": []any{record}})
	}
	record := func(edit func(r, pk, column map[string]any)) []byte {
		pk := map[string]any{"ColumnName": "id", "Value": 1}
		column := map[string]any{"Type": "Put", "ColumnName": "c", "Value": 2}
		r := map[string]any{"Type": "PutRow", "PrimaryKey": []any{pk}, "Columns": []any{column}}
		edit(r, pk, column)
		return event(r)
	}
	for name, tc := range map[string]struct {
		payload []byte
		valid   bool
	}{
		"as it is":                          {record(func(_, _, _ map[string]any) {}), true},
		"self-described value":              {record(func(_, _, c map[string]any) { c["Value"] = cbor.Tag{Number: 55799, Content: 2} }), true},
		"tag in an unknown member":          {record(func(r, _, _ map[string]any) { r["Extra"] = []any{cbor.Tag{Number: 1, Content: 0}} }), true},
		"invalid date in an unknown member": {record(func(r, _, _ map[string]any) { r["Extra"] = cbor.Tag{Number: 0, Content: 1} }), true},
		"invalid UTF-8 in a member":         {record(func(r, _, _ map[string]any) { r["Extra"] = cbor.RawMessage{0x61, 0xff} }), true},
		"repeated key in a member":          {record(func(r, _, _ map[string]any) { r["Extra"] = cbor.RawMessage(cborMap(t, "k", 1, "k", 2)) }), true},
		"integer key":                       {cborMap(t, "Version", "Sync-v1", "Records", []any{}, 1, 2), false},
		"tagged key":                        {cborMap(t, "Version", "Sync-v1", "Records", []any{}, cbor.Tag{Number: 42, Content: "k"}, 2), false},
		"repeated key":                      {cborMap(t, "Version", "Sync-v1", "Records", []any{}, "Records", []any{}), false},
		"repeated unknown key":              {cborMap(t, "Version", "Sync-v1", "Records", []any{}, "k", 1, "k", 2), false},
		"missing type":                      {record(func(r, _, _ map[string]any) { delete(r, "Type") }), false},
		"missing name":                      {record(func(_, pk, _ map[string]any) { delete(pk, "ColumnName") }), false},
		"type not a string":                 {record(func(_, _, c map[string]any) { c["Type"] = 1 }), false},
		"tagged type":                       {record(func(_, _, c map[string]any) { c["Type"] = cbor.Tag{Number: 42, Content: "Put"} }), false},
		"value out of range":                {record(func(_, pk, _ map[string]any) { pk["Value"] = uint64(math.MaxUint64) }), false},
		"value an array":                    {record(func(_, _, c map[string]any) { c["Value"] = []any{} }), false},
		"simple value":                      {record(func(_, _, c map[string]any) { c["Value"] = cbor.SimpleValue(16) }), false},
		"invalid UTF-8 in a value":          {record(func(_, _, c map[string]any) { c["Value"] = cbor.RawMessage{0x61, 0xff} }), false},
		"date value":                        {record(func(_, _, c map[string]any) { c["Value"] = cbor.Tag{Number: 1, Content: 0} }), false},
		"record not a map":                  {event(5), false},
		"invalid UTF-8 in a key":            {cborMap(t, "Version", "Sync-v1", "Records", []any{}, cbor.RawMessage{0x61, 0xff}, 1), false},
		"key in chunks": {bytes.Join([][]byte{{0xa2, 0x7f, 0x63, 'V', 'e', 'r', 0x64, 's', 'i', 'o', 'n', 0xff},
			cborOf(t, "Sync-v1"), cborOf(t, "Records"), {0x80}}, nil), true},
		"byte string key": {cborMap(t, "Version", "Sync-v1", "Records", []any{}, []byte("k"), 1), false},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.valid, requireDecodeMatchesOracle(t, tc.payload, DefaultDecodeOptions))
		})
	}
}

func TestDecodeSkipsUnknownMembers(t *testing.T) {
	// Decode reads a member it has no field for only to check that it is well-formed, as
	// fxamacker/cbor skips it when it decodes the map into a struct.
	invalid := []byte{0x62, 0xc3, 0x28}
	for name, payload := range map[string][]byte{
		"event member":  eventParts{eventExtra: invalid}.payload(),
		"record member": eventParts{recordExtra: invalid}.payload(),
	} {
		t.Run(name, func(t *testing.T) {
			e, err := Decode(payload)
			require.NoError(t, err)
			assert.Equal(t, "level", e.Records[0].Columns[0].ColumnName)
		})
	}
}

// requireRejectedAsWellformed checks a payload that fxamacker/cbor's Wellformed rejects under
// limits: Decode rejects it as Wellformed does, with a fault of the same kind for the event as
// a whole.
func requireRejectedAsWellformed(t testing.TB, payload []byte, limits DecodeOptions) {
	t.Helper()
	wellformed := oracleMode(t, limits).Wellformed(payload)
	require.Error(t, wellformed)
	_, err := limits.Decode(payload)
	requireWellformedFault(t, wellformed, err)
}

// eventParts are the items of a valid event of one PutRow that a test replaces with raw CBOR:
// a member "Extra" of the event and one of the record, which Decode skips, the name and the
// value of the record's column, which it reads. A nil part stays as it is. The record's
// Columns may have an indefinite length.
type eventParts struct {
	eventExtra, recordExtra, name, value []byte
	indefiniteColumns                    bool
}

// payload encodes the event.
func (p eventParts) payload() []byte {
	text := func(s string) []byte { return append([]byte{majorTextString<<5 | byte(len(s))}, s...) }
	or := func(part, plain []byte) []byte {
		if part == nil {
			return plain
		}
		return part
	}
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	column := join([]byte{0xa3}, text("Type"), text("Put"),
		text("ColumnName"), or(p.name, text("level")), text("Value"), or(p.value, []byte{0x02}))
	columns := join([]byte{0x81}, column)
	if p.indefiniteColumns {
		columns = join([]byte{0x9f}, column, []byte{breakByte})
	}
	pk := join([]byte{0x81, 0xa2}, text("ColumnName"), text("id"), text("Value"), []byte{0x01})
	record := join([]byte{0xa4}, text("Type"), text("PutRow"), text("PrimaryKey"), pk,
		text("Columns"), columns, text("Extra"), or(p.recordExtra, []byte{0xf6}))
	return join([]byte{0xa3}, text("Version"), text(Version), text("Records"), []byte{0x81}, record,
		text("Extra"), or(p.eventExtra, []byte{0xf6}))
}

func TestDecodeRejectsMalformedItems(t *testing.T) {
	places := map[string]func(item []byte) eventParts{
		"event member":  func(item []byte) eventParts { return eventParts{eventExtra: item} },
		"record member": func(item []byte) eventParts { return eventParts{recordExtra: item} },
		"column name":   func(item []byte) eventParts { return eventParts{name: item} },
		"cell value":    func(item []byte) eventParts { return eventParts{value: item} },
		"cell value in Columns of indefinite length": func(item []byte) eventParts {
			return eventParts{value: item, indefiniteColumns: true}
		},
	}
	for place, at := range places {
		require.True(t, requireDecodeMatchesOracle(t, at(nil).payload(), DefaultDecodeOptions), place)
		require.True(t, requireDecodeMatchesOracle(t, at(nil).payload(), tightLimits), place)
	}

	repeat := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name   string
		item   []byte
		limits DecodeOptions
	}{
		{"additional information 28", []byte{0x1c}, DefaultDecodeOptions},
		{"additional information 29", []byte{0x5d}, DefaultDecodeOptions},
		{"additional information 30", []byte{0x7e}, DefaultDecodeOptions},
		{"indefinite-length unsigned integer", []byte{0x1f}, DefaultDecodeOptions},
		{"indefinite-length negative integer", []byte{0x3f}, DefaultDecodeOptions},
		{"indefinite-length tag", []byte{0xdf, 0x00}, DefaultDecodeOptions},
		{"break outside an indefinite length", []byte{breakByte}, DefaultDecodeOptions},
		{"simple value 0 in two bytes", []byte{0xf8, 0x00}, DefaultDecodeOptions},
		{"simple value 31 in two bytes", []byte{0xf8, 0x1f}, DefaultDecodeOptions},
		{"text chunk in a byte string", []byte{0x5f, 0x61, 'a', breakByte}, DefaultDecodeOptions},
		{"byte chunk in a text string", []byte{0x7f, 0x41, 'a', breakByte}, DefaultDecodeOptions},
		{"indefinite-length chunk", []byte{0x7f, 0x7f, breakByte, breakByte}, DefaultDecodeOptions},
		{"integer chunk", []byte{0x7f, 0x01, breakByte}, DefaultDecodeOptions},
		{"text string beyond the data", []byte{0x7a, 0x7f, 0xff, 0xff, 0xff, 'a'}, DefaultDecodeOptions},
		{"byte string beyond any int", join([]byte{0x5b}, repeat(0xff, 8)), DefaultDecodeOptions},
		{"array beyond the data", []byte{0x9a, 0x00, 0x01, 0x00, 0x00}, DefaultDecodeOptions},
		{"map beyond the data", []byte{0xb9, 0x01, 0x00}, DefaultDecodeOptions},
		{"array beyond any int", join([]byte{0x9b}, repeat(0xff, 8)), DefaultDecodeOptions},
		{"map with a key and no value", []byte{0xbf, 0x61, 'k', breakByte}, DefaultDecodeOptions},
		{"array beyond MaxArrayElements", []byte{0x9a, 0x00, 0x03, 0x0d, 0x41}, DefaultDecodeOptions},
		{"map beyond MaxMapPairs", []byte{0xb9, 0x04, 0x01}, DefaultDecodeOptions},
		{"arrays beyond MaxNestedLevels", join(repeat(0x81, 7), []byte{0x80}), DefaultDecodeOptions},
		{"tags beyond MaxNestedLevels", join(repeat(0xc1, 9), []byte{0x00}), DefaultDecodeOptions},
		{"tags in an array beyond MaxNestedLevels", join([]byte{0x81}, repeat(0xc1, 8), []byte{0x00}), DefaultDecodeOptions},
		{"tight: array beyond MaxArrayElements", join([]byte{0x91}, repeat(0x00, 17)), tightLimits},
		{"tight: indefinite-length array beyond MaxArrayElements",
			join([]byte{0x9f}, repeat(0x00, 17), []byte{breakByte}), tightLimits},
		{"tight: map beyond MaxMapPairs", join([]byte{0xb1}, repeat(0x00, 34)), tightLimits},
		{"tight: indefinite-length map beyond MaxMapPairs",
			join([]byte{0xbf}, repeat(0x00, 34), []byte{breakByte}), tightLimits},
		{"tight: arrays beyond MaxNestedLevels", join(repeat(0x81, 4), []byte{0x80}), tightLimits},
	}
	for _, tc := range cases {
		for place, at := range places {
			t.Run(tc.name+"/"+place, func(t *testing.T) {
				requireRejectedAsWellformed(t, at(tc.item).payload(), tc.limits)
			})
		}
	}
}

func TestDecodeRejectsMalformedEvents(t *testing.T) {
	plain := eventParts{}.payload()
	// records encodes an event whose Records are head, n records and end.
	records := func(head []byte, n int, end ...byte) []byte {
		record := cborOf(t, map[string]any{"Type": "DeleteRow", "PrimaryKey": []any{map[string]any{"ColumnName": "id", "Value": 1}}})
		return bytes.Join([][]byte{
			{0xa2}, cborOf(t, "Version"), cborOf(t, Version), cborOf(t, "Records"), head, bytes.Repeat(record, n), end,
		}, nil)
	}
	require.True(t, requireDecodeMatchesOracle(t, records([]byte{0x90}, 16), tightLimits))
	require.True(t, requireDecodeMatchesOracle(t, records([]byte{0x9f}, 16, breakByte), tightLimits))

	for name, tc := range map[string]struct {
		payload []byte
		limits  DecodeOptions
	}{
		"extraneous data":                                   {append(bytes.Clone(plain), 0x00), DefaultDecodeOptions},
		"records deeper than MaxNestedLevels":               {plain, DecodeOptions{MaxNestedLevels: 4}},
		"records beyond MaxArrayElements":                   {records([]byte{0x91}, 17), tightLimits},
		"indefinite-length records beyond MaxArrayElements": {records([]byte{0x9f}, 17, breakByte), tightLimits},
		"records without their break":                       {records([]byte{0x9f}, 1), DefaultDecodeOptions},
	} {
		t.Run(name, func(t *testing.T) { requireRejectedAsWellformed(t, tc.payload, tc.limits) })
	}
}

func TestDecodeRejectsTruncatedEvents(t *testing.T) {
	everyValue, err := EncodeCBOR(everyValueEvent())
	require.NoError(t, err)
	for name, payload := range map[string][]byte{
		"UpdateRow fixture":                updateRowFixture(t),
		"every value":                      everyValue,
		"Columns of indefinite length":     eventParts{indefiniteColumns: true}.payload(),
		"text string of indefinite length": eventParts{value: []byte{0x7f, 0x61, 'a', 0x61, 'b', breakByte}}.payload(),
	} {
		require.True(t, requireDecodeMatchesOracle(t, payload, DefaultDecodeOptions), name)
		for n := 1; n < len(payload); n++ {
			requireRejectedAsWellformed(t, payload[:n], DefaultDecodeOptions)
		}
	}
}

func TestDecodeCopiesThePayload(t *testing.T) {
	payload, err := EncodeCBOR(everyValueEvent())
	require.NoError(t, err)
	e, err := Decode(payload)
	require.NoError(t, err)
	raw := bytes.Clone(e.Records[0].Raw)
	bin, _ := e.Records[2].PrimaryKey[0].Value.Bytes()
	clear(payload)
	assert.Equal(t, raw, e.Records[0].Raw)
	assert.Equal(t, []byte("k"), bin)

	// Records share allocations; appending to one slice leaves the others as they are.
	second := bytes.Clone(e.Records[1].Raw)
	_ = append(e.Records[0].Raw, 0)
	_ = append(e.Records[0].PrimaryKey, ots.PrimaryKeyColumn{ColumnName: "x"})
	_ = append(e.Records[0].Columns, Column{ColumnName: "x"})
	assert.Equal(t, second, e.Records[1].Raw)
	assert.Equal(t, "int", e.Records[1].PrimaryKey[0].ColumnName)
	assert.Equal(t, "level", e.Records[1].Columns[0].ColumnName)
}

// TestValidUTF8AgreesWithTheStandardLibrary puts a non-ASCII byte, a valid sequence and a
// broken one at every position of texts of every length the shorter way takes, and beyond.
func TestValidUTF8AgreesWithTheStandardLibrary(t *testing.T) {
	for n := range 20 {
		for at := range n {
			for _, insert := range []string{"\xff", "é", "\xc3", "€"} {
				text := []byte(strings.Repeat("a", n))
				text = append(text[:at], append([]byte(insert), text[at:]...)...)
				assert.Equal(t, utf8.Valid(text), validUTF8(text), "%q", text)
			}
		}
		assert.True(t, validUTF8([]byte(strings.Repeat("a", n))))
	}
}

// eventGenerator makes random CBOR events of the documented shape, mostly valid, with now and
// then a field of the wrong kind or missing, an unknown member, a tag, a repeated or
// non-text key, or an invalid string, and writes them with random encoding choices:
// indefinite lengths, strings in chunks, wider heads than needed, floats of every width.
type eventGenerator struct {
	rng *rand.Rand
	out []byte
}

// pairs is a map in the order its pairs are written; keys need not be distinct text.
type pairs []pair

type pair struct{ key, value any }

// rawText is a text string item of any bytes, valid UTF-8 or not.
type rawText []byte

// undefined is CBOR's undefined.
type undefined struct{}

// payload returns the encoding of a random event.
func (g *eventGenerator) payload() []byte {
	g.out = nil
	g.write(g.event())
	return g.out
}

func (g *eventGenerator) chance(percent int) bool { return g.rng.IntN(100) < percent }

func (g *eventGenerator) event() pairs {
	records := make([]any, g.rng.IntN(4))
	for i := range records {
		records[i] = g.record()
	}
	return g.mapOf(pairs{{"Version", g.pick(Version, "Sync-v2", 1)}, {"Records", g.pick(records, pairs{}, nil)}})
}

func (g *eventGenerator) record() any {
	pk := make([]any, 1+g.rng.IntN(2))
	for i := range pk {
		pk[i] = g.mapOf(pairs{{"ColumnName", g.name()}, {"Value", g.pick(g.rng.Int64(), g.text(), []byte("k"))}})
	}
	columns := make([]any, g.rng.IntN(4))
	for i := range columns {
		columns[i] = g.column()
	}
	info := g.mapOf(pairs{{"Timestamp", g.pick(g.rng.Int64N(1<<52), nil, -1)}})
	return g.pick(g.mapOf(pairs{
		{"Type", g.pick(string(PutRow), string(UpdateRow), string(DeleteRow), "Upsert", []byte("PutRow"))},
		{"Info", g.pick(info, nil, undefined{}, "x")},
		{"PrimaryKey", g.pick(pk, []any{}, "id")},
		{"Columns", g.pick(columns, nil, []any{}, pairs{})},
	}), "record")
}

func (g *eventGenerator) column() any {
	return g.mapOf(pairs{
		{"Type", g.pick(string(Put), string(DeleteOneVersion), string(DeleteAllVersions), 5)},
		{"ColumnName", g.name()},
		{"Value", g.value()},
		{"Timestamp", g.pick(g.rng.Int64N(1<<42), nil, "1")},
	})
}

// mapOf returns the pairs in random order, now and then without one, with a repeated one, or
// with an unknown member.
func (g *eventGenerator) mapOf(p pairs) pairs {
	if g.chance(3) {
		i := g.rng.IntN(len(p))
		p = append(p[:i], p[i+1:]...)
	}
	if g.chance(1) && len(p) > 0 {
		p = append(p, p[g.rng.IntN(len(p))])
	}
	if g.chance(4) {
		p = append(p, pair{g.pick("Extra", "Type2", 7, nil, cbor.Tag{Number: 42, Content: "k"}), g.value()})
	}
	g.rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p
}

// pick returns the first choice most of the time, another now and then.
func (g *eventGenerator) pick(first any, others ...any) any {
	if len(others) == 0 || g.chance(96) {
		return first
	}
	return others[g.rng.IntN(len(others))]
}

func (g *eventGenerator) name() any {
	if g.chance(20) {
		return fmt.Sprintf("c%d", g.rng.IntN(40)) // more names than eventReader keeps
	}
	return g.pick([]string{"id", "level", "message", "é"}[g.rng.IntN(4)], "", 3, rawText{0xc3})
}

func (g *eventGenerator) text() any {
	return g.pick([]string{"", "hello", "日本語", "a\u2028b"}[g.rng.IntN(4)], rawText{0xff, 'a'})
}

func (g *eventGenerator) value() any {
	half := make([]byte, 2)
	binary.BigEndian.PutUint16(half, uint16(g.rng.Uint32()))
	single := binary.BigEndian.AppendUint32(nil, g.rng.Uint32())
	double := binary.BigEndian.AppendUint64(nil, g.rng.Uint64())
	choices := []any{
		g.rng.Int64(), g.rng.Int64N(100), -g.rng.Int64N(100), int64(math.MinInt64), int64(math.MaxInt64),
		cbor.RawMessage(append([]byte{0xf9}, half...)),
		cbor.RawMessage(append([]byte{0xfa}, single...)),
		cbor.RawMessage(append([]byte{0xfb}, double...)),
		true, false, nil, undefined{}, g.text(), []byte{}, []byte{0, 1, 2},
	}
	if g.chance(5) {
		choices = []any{
			uint64(math.MaxUint64), cbor.RawMessage{0x3b, 0x80, 0, 0, 0, 0, 0, 0, 0}, // -2^63-1
			[]any{1, "a"}, pairs{{"a", 1}}, cbor.Tag{Number: 42, Content: 1}, cbor.Tag{Number: 55799, Content: 1},
			cbor.Tag{Number: 0, Content: 1}, cbor.RawMessage{0xf0}, cbor.RawMessage{0xf8, 0xff}, // simple values 16, 255
		}
	}
	return choices[g.rng.IntN(len(choices))]
}

// write appends the encoding of v.
func (g *eventGenerator) write(v any) {
	switch v := v.(type) {
	case nil:
		g.out = append(g.out, 0xf6)
	case undefined:
		g.out = append(g.out, 0xf7)
	case bool:
		g.out = append(g.out, map[bool]byte{false: 0xf4, true: 0xf5}[v])
	case int:
		g.write(int64(v))
	case int64:
		if v < 0 {
			g.head(majorNegative, uint64(-1-v))
		} else {
			g.head(majorUnsigned, uint64(v))
		}
	case uint64:
		g.head(majorUnsigned, v)
	case string:
		g.writeString(majorTextString, []byte(v))
	case rawText:
		g.writeString(majorTextString, v)
	case []byte:
		g.writeString(majorByteString, v)
	case cbor.RawMessage:
		g.out = append(g.out, v...)
	case cbor.Tag:
		g.head(majorTag, v.Number)
		g.write(v.Content)
	case []any:
		g.container(majorArray, len(v), func(i int) { g.write(v[i]) })
	case pairs:
		g.container(majorMap, len(v), func(i int) {
			if key, ok := v[i].key.(string); ok && !g.chance(2) {
				g.head(majorTextString, uint64(len(key))) // most keys are short, definite text strings
				g.out = append(g.out, key...)
			} else {
				g.write(v[i].key)
			}
			g.write(v[i].value)
		})
	default:
		panic(fmt.Sprintf("eventGenerator: cannot write %T", v))
	}
}

// head appends a head, now and then with a wider argument than it needs.
func (g *eventGenerator) head(major byte, argument uint64) {
	initial := major << 5
	switch {
	case argument < 24 && !g.chance(5):
		g.out = append(g.out, initial|byte(argument))
	case argument <= math.MaxUint8 && !g.chance(5):
		g.out = append(g.out, initial|additionalOneByte, byte(argument))
	case argument <= math.MaxUint16 && !g.chance(5):
		g.out = binary.BigEndian.AppendUint16(append(g.out, initial|additionalHalf), uint16(argument))
	case argument <= math.MaxUint32 && !g.chance(5):
		g.out = binary.BigEndian.AppendUint32(append(g.out, initial|additionalSingle), uint32(argument))
	default:
		g.out = binary.BigEndian.AppendUint64(append(g.out, initial|additionalDouble), argument)
	}
}

// writeString appends a byte or text string, now and then in chunks, which may split a
// character.
func (g *eventGenerator) writeString(major byte, content []byte) {
	if !g.chance(10) {
		g.head(major, uint64(len(content)))
		g.out = append(g.out, content...)
		return
	}
	g.out = append(g.out, major<<5|additionalIndefinite)
	for len(content) > 0 {
		n := 1 + g.rng.IntN(len(content))
		g.head(major, uint64(n))
		g.out = append(g.out, content[:n]...)
		content = content[n:]
	}
	g.out = append(g.out, breakByte)
}

// container appends an array or map of n items, now and then of indefinite length.
func (g *eventGenerator) container(major byte, n int, item func(int)) {
	indefinite := g.chance(10)
	if indefinite {
		g.out = append(g.out, major<<5|additionalIndefinite)
	} else {
		g.head(major, uint64(n))
	}
	for i := range n {
		item(i)
	}
	if indefinite {
		g.out = append(g.out, breakByte)
	}
}

// BenchmarkDecodeCBOR measures Decode alone on a CBOR event of 1,000 records of mixed PutRow,
// UpdateRow and DeleteRow, per record (ns/record).
func BenchmarkDecodeCBOR(b *testing.B) {
	const n = 1000
	records := make([]Record, n)
	for i := range records {
		pk := []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(int64(i))}}
		switch i % 3 {
		case 0:
			records[i] = Record{Type: PutRow, Info: RecordInfo{Timestamp: 1790000000000000}, PrimaryKey: pk, Columns: []Column{
				{Type: Put, ColumnName: "level", Value: ots.Integer(int64(i % 4)), Timestamp: ptr(1790000000000)},
				{Type: Put, ColumnName: "message", Value: ots.String(fmt.Sprintf("message %d", i)), Timestamp: ptr(1790000000000)},
			}}
		case 1:
			records[i] = Record{Type: UpdateRow, Info: RecordInfo{Timestamp: 1790000000000001}, PrimaryKey: pk, Columns: []Column{
				{Type: Put, ColumnName: "message", Value: ots.String("updated"), Timestamp: ptr(1790000000001)},
				{Type: DeleteAllVersions, ColumnName: "level"},
			}}
		default:
			records[i] = Record{Type: DeleteRow, Info: RecordInfo{Timestamp: 1790000000000002}, PrimaryKey: pk}
		}
	}
	payload, err := EncodeCBOR(&Event{Version: Version, Records: records})
	require.NoError(b, err)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
