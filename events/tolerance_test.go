package events

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/x448/float16"

	"github.com/otsetl/otsetl/ots"
)

var writeCorpus = flag.Bool("write-corpus", false, "write relaxed encodings of random events to testdata/fuzz as seeds")

// randomEvent returns a valid event of up to four records of every type, with multi-column
// primary keys and values of every kind, NaN, infinities and -0.0 among the doubles.
func randomEvent(rng *rand.Rand) *Event {
	names := []string{"id", "level", "message", "é", "日本", "k"}
	value := func(primaryKey bool) ots.Value {
		switch rng.IntN(map[bool]int{true: 3, false: 6}[primaryKey]) {
		case 0:
			return ots.Integer([]int64{0, -1, 23, 24, 255, 256, 65536, math.MaxInt64, math.MinInt64, rng.Int64()}[rng.IntN(10)])
		case 1:
			return ots.String([]string{"", "a", "héllo", "日本語", string(rune(0x10ffff))}[rng.IntN(5)])
		case 2:
			return ots.Binary([][]byte{{}, {0}, {0xff, 0, 1}, []byte("binary")}[rng.IntN(4)])
		case 3:
			return ots.Boolean(rng.IntN(2) == 0)
		}
		return ots.Double([]float64{0, math.Copysign(0, -1), 1.5, -2, 0.1, 65504, 1e300, 5e-324, math.Inf(1), math.Inf(-1),
			math.NaN(), math.Float64frombits(0x7ff0000000000001), rng.NormFloat64()}[rng.IntN(13)])
	}
	e := &Event{Version: Version, Records: make([]Record, rng.IntN(5))}
	for i := range e.Records {
		r := &e.Records[i]
		r.Type, r.Info.Timestamp = []RecordType{PutRow, UpdateRow, DeleteRow}[rng.IntN(3)], rng.Int64N(1<<53)
		for j := range 1 + rng.IntN(3) {
			r.PrimaryKey = append(r.PrimaryKey, ots.PrimaryKeyColumn{ColumnName: names[j], Value: value(true)})
		}
		for j := range rng.IntN(4) * map[bool]int{true: 0, false: 1}[r.Type == DeleteRow] {
			c := Column{Type: Put, ColumnName: names[rng.IntN(len(names))] + strconv.Itoa(j), Value: value(false), Timestamp: ptr(rng.Int64N(1 << 42))}
			if r.Type == UpdateRow {
				c.Type = []ColumnType{Put, DeleteOneVersion, DeleteAllVersions}[rng.IntN(3)]
			}
			if c.Type != Put {
				c.Value = ots.Value{}
			}
			if c.Type == DeleteAllVersions || c.Type == Put && rng.IntN(4) == 0 {
				c.Timestamp = nil
			}
			r.Columns = append(r.Columns, c)
		}
	}
	return e
}

// relaxedEncoder writes an event in CBOR as RFC 8949 allows it, drawing every choice at random:
// head widths beyond the shortest, floats in any width that holds them exactly, indefinite
// lengths with strings in random chunks, members in any order, unknown members (tagged ones
// too), tag 55799 on any item but a key, tags 21 to 23 on binary values, and null or undefined
// for an absent Info timestamp, cell value or cell timestamp. counts tallies the choices.
type relaxedEncoder struct {
	rng    *rand.Rand
	out    []byte
	counts map[string]int
}

// chance reports true one time in n.
func (w *relaxedEncoder) chance(n int) bool { return w.rng.IntN(n) == 0 }

// head writes a head of a random width that holds argument.
func (w *relaxedEncoder) head(major byte, argument uint64) {
	widths := []int{}
	for i, limit := range []uint64{23, math.MaxUint8, math.MaxUint16, math.MaxUint32, math.MaxUint64} {
		if argument <= limit {
			widths = append(widths, i)
		}
	}
	width := widths[0]
	if w.chance(4) {
		width = widths[w.rng.IntN(len(widths))]
	}
	if width > widths[0] {
		w.counts["wider heads"]++
	}
	if width == 0 {
		w.out = append(w.out, major<<5|byte(argument))
		return
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], argument)
	w.out = append(append(w.out, major<<5|byte(23+width)), b[8-1<<(width-1):]...)
}

// selfDescribed now and then writes tag 55799, which may enclose any item but a key. (A chain
// of tags nests its content a level deeper, which the default limits bound.)
func (w *relaxedEncoder) selfDescribed() {
	if w.chance(12) {
		w.counts["tags 55799"]++
		w.head(majorTag, 55799)
	}
}

// str writes a byte or text string, now and then in chunks (text ones cut between characters).
func (w *relaxedEncoder) str(major byte, s []byte) {
	if !w.chance(5) {
		w.head(major, uint64(len(s)))
		w.out = append(w.out, s...)
		return
	}
	w.counts["indefinite-length strings"]++
	w.out = append(w.out, major<<5|additionalIndefinite)
	for len(s) > 0 || w.chance(3) {
		n := w.rng.IntN(len(s) + 1)
		for major == majorTextString && n < len(s) && !utf8.RuneStart(s[n]) {
			n++
		}
		w.head(major, uint64(n))
		w.out, s = append(w.out, s[:n]...), s[n:]
	}
	w.out = append(w.out, breakByte)
}

// container writes an array or map of n items, now and then of indefinite length.
func (w *relaxedEncoder) container(major byte, n int, item func(int)) {
	w.selfDescribed()
	indefinite := w.chance(5)
	if indefinite {
		w.counts[map[byte]string{majorArray: "indefinite-length arrays", majorMap: "indefinite-length maps"}[major]]++
		w.out = append(w.out, major<<5|additionalIndefinite)
	} else {
		w.head(major, uint64(n))
	}
	for i := range n {
		item(i)
	}
	if indefinite {
		w.out = append(w.out, breakByte)
	}
}

// member is a map member: its key and a writer of its value; a nil value is left out.
type member struct {
	key   string
	value func()
}

// object writes a map of the members given, in random order, with unknown members now and then.
func (w *relaxedEncoder) object(members ...member) {
	members = slices.DeleteFunc(members, func(m member) bool { return m.value == nil })
	for i := 0; w.chance(6); i++ {
		w.counts["unknown members"]++
		members = append(members, member{"Extra" + strconv.Itoa(i), w.unknownValue})
	}
	if w.rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] }); len(members) > 1 {
		w.counts["maps in shuffled order"]++
	}
	w.container(majorMap, len(members), func(i int) {
		w.str(majorTextString, []byte(members[i].key))
		members[i].value()
	})
}

// unknownValue writes any well-formed item, tagged now and then with tags Decode refuses on
// the fields it reads.
func (w *relaxedEncoder) unknownValue() {
	if w.chance(2) {
		w.counts["tagged unknown members"]++
		w.head(majorTag, []uint64{0, 1, 2, 24, 42}[w.rng.IntN(5)])
	}
	switch w.rng.IntN(3) {
	case 0:
		w.container(majorArray, 2, func(int) { w.head(majorUnsigned, w.rng.Uint64()) })
	case 1:
		w.str(majorTextString, []byte("extra"))
	default:
		w.out = append(w.out, 0xf0) // simple value 16
	}
}

// absent writes null or undefined for a member that may be absent, or leaves it out (nil).
func (w *relaxedEncoder) absent() func() {
	if w.chance(2) {
		return nil
	}
	return func() {
		w.counts["null or undefined members"]++
		w.selfDescribed()
		w.out = append(w.out, []byte{0xf6, 0xf7}[w.rng.IntN(2)])
	}
}

// integer writes an INTEGER value or timestamp.
func (w *relaxedEncoder) integer(i int64) {
	w.selfDescribed()
	if i < 0 {
		w.head(majorNegative, uint64(-1-i))
	} else {
		w.head(majorUnsigned, uint64(i))
	}
}

// text writes a STRING value, a name or a type.
func (w *relaxedEncoder) text(s string) {
	w.selfDescribed()
	w.str(majorTextString, []byte(s))
}

// value writes a value of any kind; none is left out or null.
func (w *relaxedEncoder) value(v ots.Value) func() {
	if v.IsNone() {
		return w.absent()
	}
	return func() {
		switch x := v.Any().(type) {
		case int64:
			w.integer(x)
		case string:
			w.text(x)
		case bool:
			w.selfDescribed()
			w.out = append(w.out, map[bool]byte{false: 0xf4, true: 0xf5}[x])
		case []byte:
			w.selfDescribed()
			if w.chance(4) {
				w.counts["tags 21 to 23"]++
				w.head(majorTag, 21+w.rng.Uint64N(3))
				w.selfDescribed()
			}
			w.str(majorByteString, x)
		case float64:
			w.selfDescribed()
			w.float(x)
		}
	}
}

// float writes a DOUBLE in a random width that holds it exactly, NaN payloads included.
func (w *relaxedEncoder) float(f float64) {
	half, single := float16.Fromfloat32(float32(f)), float32(f)
	switch bits := math.Float64bits(f); {
	case math.Float64bits(float64(half.Float32())) == bits && w.chance(2):
		w.counts["half-precision floats"]++
		w.out = binary.BigEndian.AppendUint16(append(w.out, 0xf9), half.Bits())
	case math.Float64bits(float64(single)) == bits && w.chance(2):
		w.counts["single-precision floats"]++
		w.out = binary.BigEndian.AppendUint32(append(w.out, 0xfa), math.Float32bits(single))
	default:
		w.out = binary.BigEndian.AppendUint64(append(w.out, 0xfb), bits)
	}
}

// event writes e.
func (w *relaxedEncoder) event(e *Event) []byte {
	w.out = w.out[:0]
	w.object(member{"Version", func() { w.text(e.Version) }}, member{"Records", func() {
		w.container(majorArray, len(e.Records), func(i int) { w.record(&e.Records[i]) })
	}})
	return w.out
}

// record writes a record.
func (w *relaxedEncoder) record(r *Record) {
	info := func() { w.object(member{"Timestamp", func() { w.integer(r.Info.Timestamp) }}) }
	if r.Info.Timestamp == 0 && w.chance(2) {
		info = w.absent()
	}
	columns := func() {
		w.container(majorArray, len(r.Columns), func(i int) {
			c := r.Columns[i]
			timestamp := w.absent()
			if c.Timestamp != nil {
				timestamp = func() { w.integer(*c.Timestamp) }
			}
			w.object(member{"Type", func() { w.text(string(c.Type)) }}, member{"ColumnName", func() { w.text(c.ColumnName) }},
				member{"Value", w.value(c.Value)}, member{"Timestamp", timestamp})
		})
	}
	if len(r.Columns) == 0 && w.chance(2) {
		columns = w.absent()
	}
	w.object(member{"Type", func() { w.text(string(r.Type)) }}, member{"Info", info}, member{"Columns", columns},
		member{"PrimaryKey", func() {
			w.container(majorArray, len(r.PrimaryKey), func(i int) {
				pk := r.PrimaryKey[i]
				w.object(member{"ColumnName", func() { w.text(pk.ColumnName) }}, member{"Value", w.value(pk.Value)})
			})
		}})
}

func TestDecodeAcceptsEveryEncoding(t *testing.T) {
	const events = 5000
	rng := rand.New(rand.NewPCG(8949, 55799))
	w := relaxedEncoder{rng: rng, counts: map[string]int{}}
	var corpus [][]byte
	for n := range events {
		e := randomEvent(rng)
		require.NoError(t, e.Validate())
		plain, err := EncodeCBOR(e)
		require.NoError(t, err)
		want, err := Decode(plain)
		require.NoError(t, err)
		requireSameEvent(t, e, want)

		relaxed := w.event(e)
		got, err := Decode(relaxed)
		require.NoError(t, err, "event %d: % x", n, relaxed)
		requireSameEvent(t, want, got)
		if n%200 == 0 {
			corpus = append(corpus, slices.Clone(relaxed))
		}
	}
	t.Logf("%d events, each decoded from EncodeCBOR's encoding and a relaxed one; choices drawn:", events)
	for _, choice := range slices.Sorted(func(yield func(string) bool) {
		for k := range w.counts {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Logf("  %-28s %d", choice, w.counts[choice])
		assert.Positive(t, w.counts[choice], choice)
	}
	assert.Len(t, w.counts, 12, "every kind of choice is drawn")
	if *writeCorpus {
		for _, target := range []string{"FuzzDecode", "FuzzDecodeMatchesFxamacker"} {
			dir := filepath.Join("testdata", "fuzz", target)
			require.NoError(t, os.MkdirAll(dir, 0o755))
			for i, payload := range corpus {
				body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", payload)
				require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("relaxed-%02d", i)), []byte(body), 0o644))
			}
		}
	}
}

// taggedEvent encodes an event of one PutRow whose cell value is the CBOR item value.
func taggedEvent(t *testing.T, value cbor.RawMessage) []byte {
	return cborMap(t, "Version", "Sync-v1", "Records", []cbor.RawMessage{cborMap(t,
		"Type", "PutRow", "PrimaryKey", []any{map[string]any{"ColumnName": "id", "Value": 1}},
		"Columns", []cbor.RawMessage{cborMap(t, "Type", "Put", "ColumnName", "c", "Value", value)})})
}

func TestDecodeTags(t *testing.T) {
	selfDescribed := []byte{0xd9, 0xd9, 0xf7}
	tag := func(number uint64, content []byte) cbor.RawMessage { // in an eight-byte head, as RFC 8949 allows
		return append(binary.BigEndian.AppendUint64([]byte{majorTag<<5 | additionalDouble}, number), content...)
	}
	bytes2 := cborOf(t, []byte{1, 2})
	valueKinds := `events: record 0: Columns[0] "c": want ` + cborValueKinds + `, got `
	accepted := map[string]struct {
		payload []byte
		want    ots.Value
	}{
		"55799 on the payload":          {append(slices.Clone(selfDescribed), taggedEvent(t, cborOf(t, 2))...), ots.Integer(2)},
		"55799 twice on the payload":    {append(append(slices.Clone(selfDescribed), selfDescribed...), taggedEvent(t, cborOf(t, 2))...), ots.Integer(2)},
		"55799 on a value":              {taggedEvent(t, tag(55799, cborOf(t, "x"))), ots.String("x")},
		"55799 in a wide head":          {taggedEvent(t, append([]byte{0xda, 0, 0, 0xd9, 0xf7}, cborOf(t, true)...)), ots.Boolean(true)},
		"21 on a byte string":           {taggedEvent(t, tag(21, bytes2)), ots.Binary([]byte{1, 2})},
		"22 on a byte string":           {taggedEvent(t, tag(22, bytes2)), ots.Binary([]byte{1, 2})},
		"23 and 55799 on a byte string": {taggedEvent(t, tag(23, tag(55799, bytes2))), ots.Binary([]byte{1, 2})},
		"half float":                    {taggedEvent(t, cbor.RawMessage{0xf9, 0x3c, 0x00}), ots.Double(1)},
		"single float":                  {taggedEvent(t, cbor.RawMessage{0xfa, 0x7f, 0xc0, 0, 0}), ots.Double(math.Float64frombits(0x7ff8000000000000))},
		"integer in an eight-byte head": {taggedEvent(t, cbor.RawMessage{0x1b, 0, 0, 0, 0, 0, 0, 0, 1}), ots.Integer(1)},
		"text string in chunks":         {taggedEvent(t, cbor.RawMessage{0x7f, 0x62, 0xc3, 0xa9, 0x60, 0xff}), ots.String("é")},
		"bignum in an unknown member": {cborMap(t, "Version", "Sync-v1", "Records", []cbor.RawMessage{cborMap(t,
			"Type", "PutRow", "PrimaryKey", []any{map[string]any{"ColumnName": "id", "Value": 1}}, "Extra", tag(2, bytes2),
			"Columns", []cbor.RawMessage{cborMap(t, "Type", "Put", "ColumnName", "c", "Value", tag(55799, cborOf(t, 1)))})}), ots.Integer(1)},
	}
	for name, tc := range accepted {
		t.Run(name, func(t *testing.T) {
			e, err := Decode(tc.payload)
			require.NoError(t, err)
			got := e.Records[0].Columns[0].Value
			assert.True(t, tc.want.Equal(got), "want %v %v, got %v %v", tc.want.Kind(), tc.want, got.Kind(), got)
		})
	}

	refused := map[string]struct {
		payload []byte
		want    string
	}{
		"0, a date":                  {taggedEvent(t, tag(0, cborOf(t, "2017-09-26T09:03:05Z"))), valueKinds + "CBOR tag 0"},
		"1, an epoch date":           {taggedEvent(t, tag(1, cborOf(t, 1))), valueKinds + "CBOR tag 1"},
		"2, a bignum":                {taggedEvent(t, tag(2, bytes2)), valueKinds + "CBOR tag 2"},
		"3, a negative bignum":       {taggedEvent(t, tag(3, bytes2)), valueKinds + "CBOR tag 3"},
		"4, a decimal fraction":      {taggedEvent(t, tag(4, cborOf(t, []int{-1, 15}))), valueKinds + "CBOR tag 4"},
		"24, embedded CBOR":          {taggedEvent(t, tag(24, cborOf(t, []byte{0x01}))), valueKinds + "CBOR tag 24"},
		"an unknown tag":             {taggedEvent(t, tag(42, cborOf(t, 1))), valueKinds + "CBOR tag 42"},
		"55799 then a bignum":        {taggedEvent(t, tag(55799, tag(2, bytes2))), valueKinds + "CBOR tag 2"},
		"21 on a text string":        {taggedEvent(t, tag(21, cborOf(t, "x"))), `events: record 0: Columns[0] "c": want a byte string inside tags 21 to 23, got string "x"`},
		"22 on an integer":           {taggedEvent(t, tag(22, cborOf(t, 1))), `events: record 0: Columns[0] "c": want a byte string inside tags 21 to 23, got integer 1`},
		"55799 on a key":             {cborMap(t, "Version", "Sync-v1", cbor.RawMessage(tag(55799, cborOf(t, "Records"))), []any{}), "events: want a string key, got CBOR tag 55799"},
		"21 on a field not a value":  {cborMap(t, "Version", cbor.RawMessage(tag(21, cborOf(t, "Sync-v1"))), "Records", []any{}), "events: Version: want a string, got CBOR tag 21"},
		"a tag on the payload's map": {tag(1, taggedEvent(t, cborOf(t, 1))), "events: want a map, got CBOR tag 1"},
		"55799 on the payload alone": {append(slices.Clone(selfDescribed), 0x01), "events: want a map, got integer 1"},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(tc.payload)
			require.EqualError(t, err, tc.want)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
		})
	}
}
