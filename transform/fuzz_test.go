package transform

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/ots"
)

// fuzzRules are the rules FuzzPlan plans every event with: the default filter keeping
// every column, a filter on two columns with a projection, a filter that is true on an
// empty row, and two mappings.
var fuzzRules = []Config{
	{},
	{Filter: `level > 1 && message != "drop"`, Columns: "level,message"},
	{Filter: "level == nil", Columns: "message"},
	logCleaning,
	renamed,
}

// FuzzPlan decodes arbitrary bytes with events.Decode and, when they are an event, plans
// it with every rule of fuzzRules and checks what Plan's documentation promises.
// Seeds are the trigger events of testdata (the documentation's sample and the scenario,
// JSON and CBOR) and random one-key sequences of the property test in both encodings.
func FuzzPlan(f *testing.F) {
	for _, payload := range testkit.TriggerEvents(f) {
		f.Add(payload)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 10 {
		ev := &events.Event{Version: events.Version, Records: randomSequence(rng, i%2 == 0)}
		for _, encode := range []func(*events.Event) ([]byte, error){events.EncodeCBOR, events.EncodeJSON} {
			payload, err := encode(ev)
			require.NoError(f, err)
			f.Add(payload)
		}
	}
	rules := make([]*Rule, len(fuzzRules))
	for i, cfg := range fuzzRules {
		rule, err := Compile(cfg)
		require.NoError(f, err)
		rules[i] = rule
	}

	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := events.Decode(payload)
		if err != nil {
			return
		}
		for _, rule := range rules {
			requireKeptPromises(t, rule, ev, rule.Plan(ev))
		}
	})
}

// FuzzMapping compiles arbitrary texts as COLUMNS and, when one is a mapping, plans events of
// rows of arbitrary values with it and resolves such a row: nothing may panic, the plan keeps
// Plan's promises, and a row resolves as it does with each entry run on its own. Seeds are the
// mappings of the documentation and the tests.
func FuzzMapping(f *testing.F) {
	for _, columns := range []string{
		logCleaning.Columns, renamed.Columns,
		`{"level": level, "severity": level >= 3 ? "error" : level >= 2 ? "warn" : "info", "message": lower(trim(message ?? ""))}`,
		`{"duration_ms": let ms = extract(message, "took ([0-9]+) ms"); ms != nil ? int(ms) : nil, "size_kb": size / 1024.0}`,
		`{"text": message, "bytes": blob, "n": len(blob), "first": blob[0], "ratio": ratio * 100, "flag": ratio > 0.5}`,
		`{"a": level % ratio, "b": split(message, ",")[level], "c": fromJSON(message), "d": int(message) + level}`,
		`{"t": type(ratio), "s": string(level), "u": upper(message) + string(blob), "r": repeat(message, level)}`,
	} {
		f.Add(columns, int64(3), "took 250 ms, 7", 0.75, []byte{1, 2})
	}
	f.Add(`{"x": level / ratio}`, int64(0), "", math.NaN(), []byte(nil))
	f.Add(`{"parsed": fromJSON(message), "twice": level * 2}`, int64(3), "[1, 2]", 0.75, []byte(nil))
	f.Fuzz(func(t *testing.T, columns string, level int64, message string, ratio float64, blob []byte) {
		rule, err := Compile(Config{Filter: "level > 1 || message != nil", Columns: columns})
		if err != nil {
			require.Nil(t, rule)
			return
		}
		cells := []events.Column{put("level", ots.Integer(level)), put("message", ots.String(message)), put("ratio", ots.Double(ratio)), put("blob", ots.Binary(blob))}
		ev := &events.Event{Version: events.Version, Records: []events.Record{
			putRow(1, cells...),
			updateRow(2, cells[1:]...),
			updateRow(3, cells[2]),
			putRow(4, cells[0], cells[3]), updateRow(4, cells[1]),
		}}
		requireKeptPromises(t, rule, ev, rule.Plan(ev))
		row := []ots.Cell{cell("level", ots.Integer(level)), cell("message", ots.String(message)), cell("ratio", ots.Double(ratio)), cell("blob", ots.Binary(blob))}
		got, err := rule.Resolve(pk(1), row, true)
		if rule.mapping != nil && rule.mapping.program != nil {
			entryByEntry, compileErr := Compile(rule.Config())
			require.NoError(t, compileErr)
			entryByEntry.mapping.program = nil
			want, wantErr := entryByEntry.Resolve(pk(1), row, true)
			require.Equal(t, want, got, "the entries computed in one run give what they give one by one")
			require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(err), "the entries computed in one run fail as the first failing entry does")
		}
		if err != nil {
			require.Equal(t, change(ots.DeleteRow, 1), got, "a row the rule cannot evaluate is not in the view")
			return
		}
		for _, c := range got.Columns {
			require.NoError(t, ots.CheckAttribute(c.Name, c.Value, pk(1)), "a row Resolve puts is one Tablestore takes")
		}
	})
}

// requireKeptPromises checks p, the plan of ev under rule, against Plan's documentation.
func requireKeptPromises(t *testing.T, rule *Rule, ev *events.Event, p Plan) {
	t.Helper()
	keyOf := make([]string, len(ev.Records)) // every record's key, in canonical form
	refused := make([]bool, len(ev.Records)) // whether Tablestore refuses the record's key
	firstRecord := map[string]int{}          // of the keys Tablestore takes
	for i := range ev.Records {
		keyOf[i] = canonicalKey(ev.Records[i].PrimaryKey)
		refused[i] = checkPrimaryKey(ev.Records[i].PrimaryKey) != nil
		if _, seen := firstRecord[keyOf[i]]; !seen && !refused[i] {
			firstRecord[keyOf[i]] = i
		}
	}
	require.Equal(t, len(firstRecord), p.Keys, "Keys counts the distinct primary keys Tablestore takes")

	// One Mutation per key at most, in the order of each key's first record, holding that
	// key's records in ascending order and no others.
	mutationOf := map[string]*Mutation{}
	mutationIndex := map[string]int{} // the index in p.Mutations of mutationOf's
	planned := 0
	read := map[int]bool{}
	for j, at := range p.Reads {
		require.True(t, at >= 0 && at < len(p.Mutations), "read %d out of range", at)
		if j > 0 {
			require.Less(t, p.Reads[j-1], at, "Reads by ascending index, once each")
		}
		read[at] = true
	}
	for i := range p.Mutations {
		m := &p.Mutations[i]
		require.NotEmpty(t, m.Records, "mutation %d has no records", i)
		key := keyOf[m.Records[0]]
		require.NotContains(t, mutationOf, key, "key %s planned twice", key)
		mutationOf[key], mutationIndex[key] = m, i
		require.Equal(t, firstRecord[key], m.Records[0], "mutation %d starts with its key's first record", i)
		require.Equal(t, ev.Records[m.Records[0]].PrimaryKey, m.PrimaryKey, "the key as its first record carried it")
		if i > 0 {
			require.Less(t, p.Mutations[i-1].Records[0], m.Records[0], "mutations in order of their keys' first records")
		}
		require.True(t, slices.IsSorted(m.Records))
		for _, r := range m.Records {
			require.Equal(t, key, keyOf[r], "mutation %d holds record %d of another key", i, r)
		}
		planned += len(m.Records)
		requireWellFormedColumns(t, rule, m, read[i])
	}
	unplanned := 0
	for i := range ev.Records {
		if mutationOf[keyOf[i]] == nil {
			unplanned++
		}
	}
	require.Equal(t, len(ev.Records), planned+unplanned, "a planned key's mutation holds all its records")

	// Decode lets only valid records through, so a record is invalid because Tablestore
	// refuses its primary key: then it is not planned; because it holds in a projected column
	// what Tablestore refuses (unwritable): then its key is read unless a later PutRow or
	// DeleteRow replaces the row; or because the rule cannot evaluate its key's full image:
	// then the key is deleted and all its records are invalid.
	invalid := map[int]bool{}
	for j, inv := range p.Invalid {
		require.True(t, inv.Index >= 0 && inv.Index < len(ev.Records), "invalid record %d out of range", inv.Index)
		require.Error(t, inv.Err)
		if j > 0 {
			require.Less(t, p.Invalid[j-1].Index, inv.Index, "Invalid by ascending index, once each")
		}
		invalid[inv.Index] = true
	}
	for i := range ev.Records {
		require.True(t, invalid[i] || !refused[i], "record %d, whose primary key Tablestore refuses, is invalid", i)
	}
	for i := range invalid {
		m := mutationOf[keyOf[i]]
		if refused[i] {
			require.Nil(t, m, "record %d, whose primary key Tablestore refuses, is not planned", i)
			continue
		}
		require.NotNil(t, m, "invalid record %d has no mutation", i)
		if rule.unwritable(&ev.Records[i]) != nil {
			replaced := slices.ContainsFunc(m.Records, func(r int) bool { return r > i && ev.Records[r].Type != events.UpdateRow })
			require.True(t, replaced || read[mutationIndex[keyOf[i]]], "the key of unwritable record %d is read, unless a later PutRow or DeleteRow replaces the row", i)
			continue
		}
		require.Equal(t, ots.DeleteRow, m.Kind, "the key of invalid record %d is deleted", i)
		for _, r := range m.Records {
			require.True(t, invalid[r], "record %d shares its key with invalid record %d", r, i)
		}
	}

	require.Equal(t, p, rule.Plan(ev), "planning again gives the same plan")
}

// requireWellFormedColumns checks a mutation's Columns against its kind: a put holds the
// projected image sorted by name, every cell with a value; an update holds at least one
// projected cell change, one per column; a delete or a read holds none.
func requireWellFormedColumns(t *testing.T, rule *Rule, m *Mutation, read bool) {
	t.Helper()
	names := make([]string, len(m.Columns))
	for i, c := range m.Columns {
		names[i] = c.Name
		mapped := rule.mapping != nil && rule.mapping.entry(c.Name) != nil
		require.True(t, rule.Projects(c.Name) || mapped, "%s of %v holds column %q the rule does not project or map", m.Kind, m.PrimaryKey, c.Name)
	}
	switch {
	case read:
		require.Zero(t, m.Kind, "a read of the source row writes nothing")
		require.Empty(t, m.Columns)
	case m.Kind == ots.PutRow:
		require.True(t, slices.IsSorted(names), "put columns sorted by name: %q", names)
		require.Len(t, slices.Compact(slices.Clone(names)), len(names), "put columns once each: %q", names)
		for _, c := range m.Columns {
			require.False(t, c.Value.IsNone(), "put column %q without a value", c.Name)
		}
	case m.Kind == ots.UpdateRowIfExists:
		require.NotEmpty(t, m.Columns, "an update without columns is no mutation")
		slices.Sort(names)
		require.Len(t, slices.Compact(names), len(m.Columns), "update columns once each")
	case m.Kind == ots.DeleteRow:
		require.Empty(t, m.Columns)
	default:
		t.Fatalf("mutation of unknown kind %v", m.Kind)
	}
}

// canonicalKey renders a primary key so that two keys render the same exactly when their
// column names, value kinds and values are equal.
func canonicalKey(pk []ots.PrimaryKeyColumn) string {
	var b strings.Builder
	for _, c := range pk {
		b.WriteString(strconv.Quote(c.ColumnName))
		b.WriteString(c.Value.Kind().String())
		b.WriteString(c.Value.String())
		b.WriteByte(';')
	}
	return b.String()
}
