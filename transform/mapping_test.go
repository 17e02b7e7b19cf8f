package transform

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

// logCleaning is the example of a mapping: a column kept, one derived, one cleaned.
var logCleaning = Config{Columns: `{"level": level, "severity": level >= 3 ? "error" : "warn", "message": trim(message ?? "")}`}

// renamed keeps two columns under new names and derives a third from a column the filter
// does not read.
var renamed = Config{Columns: `{"lvl": level, "text": message, "note_length": len(note)}`}

func TestCompileMappingErrors(t *testing.T) {
	tests := []struct {
		name, columns, want string
	}{
		{"syntax", `{"a": level +}`, "columns \"{\\\"a\\\": level +}\": unexpected token Bracket(\"}\") (1:14)\n | {\"a\": level +}\n | .............^"},
		{"not a map", `{"a": level}.a`, "columns \"{\\\"a\\\": level}.a\": want one map literal of the result's columns, as {\"level\": level, \"text\": message} (1:14)\n | {\"a\": level}.a\n | .............^"},
		{"computed key", `{(message): level}`, "columns \"{(message): level}\": a key must be a constant string, the result column's name (1:3)\n | {(message): level}\n | ..^"},
		{"empty key", `{"": level}`, "columns \"{\\\"\\\": level}\": not a column name Tablestore takes: column name \"\" (0 bytes) is not 1-255 bytes long (1:2)\n | {\"\": level}\n | .^"},
		{"long key", `{"` + strings.Repeat("k", 256) + `": 1}`, "not a column name Tablestore takes: column name \"" + strings.Repeat("k", 64) + "\" (256 bytes) is not 1-255 bytes long (1:2)"},
		{"key twice", `{"a": level, "b": 1, "a": message}`, "columns \"{\\\"a\\\": level, \\\"b\\\": 1, \\\"a\\\": message}\": column \"a\" is given twice (1:22)\n | {\"a\": level, \"b\": 1, \"a\": message}\n | .....................^"},
		{"unknown function", `{"a": level, "b": trm(message)}`, "columns \"{\\\"a\\\": level, \\\"b\\\": trm(message)}\": trm is not a builtin function (1:19)\n | {\"a\": level, \"b\": trm(message)}\n | ..................^"},
		{"whole $env", `{"a": len($env)}`, "$env may only be indexed by a constant column name, as $env[\"level\"] (1:11)"},
		{"type error", `{"a": "x" + 1}`, "invalid operation: + (mismatched types string and int) (1:11)"},
		{"an array", `{"a": [level]}`, "column \"a\" would hold a []interface {}, which has no Tablestore type; want an integer (INTEGER), a float (DOUBLE), a bool (BOOLEAN), a string (STRING), bytes (BINARY) or nil (no column) (1:2)"},
		{"a map", `{"a": {"b": level}}`, "column \"a\" would hold a map[string]interface {}, which has no Tablestore type"},
		{"a duration", `{"a": duration("1h")}`, "column \"a\" would hold a time.Duration, which has no Tablestore type"},
		{"now", `{"a": level, "seen": string(now())}`, "now() makes a column depend on when a row is processed, not on the row alone: the result could never equal the view (1:29)"},
		{"a constant that fails", `{"a": level, "b": int("x")}`, "column \"b\" reads no column and fails on every row: invalid operation: int(x) (1:19)"},
		{"a constant Tablestore refuses", `{"a": level, "b": 0.0 / 0}`, "column \"b\" reads no column and fails on every row: column \"b\" holds DOUBLE NaN; Tablestore stores no NaN or infinity (1:14)"},
		{"several lines", "{\n  \"a\": level,\n  \"b\": upper(message) + 1\n}", "invalid operation: + (mismatched types string and int) (3:23)\n |   \"b\": upper(message) + 1\n | ......................^"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rule, err := Compile(Config{Columns: tc.columns})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, rule)
		})
	}
}

func TestCompileMappingReadsAndWrites(t *testing.T) {
	rule := compile(t, Config{Filter: "level > 1", Columns: ` { "sev": level >= 3 ? "e" : "w", "text": $env["the message"], "n": let x = note; len(x), "c": 7, "msg": get($env, "m2") } `})
	assert.Equal(t, `{ "sev": level >= 3 ? "e" : "w", "text": $env["the message"], "n": let x = note; len(x), "c": 7, "msg": get($env, "m2") }`, rule.Config().Columns, "trimmed, as it applies")
	assert.Equal(t, []string{"level", "m2", "note", "the message"}, rule.mapping.reads)
	var names []string
	for _, entry := range rule.mapping.entries {
		names = append(names, entry.name)
	}
	assert.Equal(t, []string{"c", "msg", "n", "sev", "text"}, names, "entries by name")
	assert.Equal(t, "the message", rule.mapping.entry("text").column, "a bare column is copied without the VM")
	assert.Nil(t, rule.mapping.entry("text").program)
	assert.False(t, rule.Projects("level"), "a mapping keeps no column as it is")
	assert.Equal(t, []string{"level", "m2", "note", "the message"}, rule.ReadColumns())
	assert.Nil(t, compile(t, Config{Filter: "true", Columns: `{"c": 1}`}).ReadColumns(), "a rule that reads nothing reads every column, so that a read finds the row")
	assert.Nil(t, compile(t, Config{Filter: "level == nil", Columns: `{"m": message}`}).ReadColumns(), "a filter true on an empty row reads every column")
}

func TestCheckPrimaryKey(t *testing.T) {
	schema := []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}, {Name: "sub", Type: ots.KindString}}
	assert.NoError(t, compile(t, logCleaning).CheckPrimaryKey(schema))
	assert.NoError(t, compile(t, Config{Columns: "id,level"}).CheckPrimaryKey(schema), "a projection keeps only attribute columns")
	err := compile(t, Config{Columns: `{"level": level, "sub": message}`}).CheckPrimaryKey(schema)
	assert.EqualError(t, err, `"sub" is the name of a primary key column (id INTEGER, sub STRING): the result row cannot hold it as an attribute column`)
}

func TestResolveMapping(t *testing.T) {
	levelAndMessage := []ots.Cell{cell("level", ots.Integer(3)), cell("message", ots.String("  disk full \n"))}
	tests := []struct {
		name    string
		columns string
		row     []ots.Cell
		want    []ots.Cell
		wantErr string
	}{
		{
			name:    "the issue's example",
			columns: logCleaning.Columns,
			row:     levelAndMessage,
			want:    []ots.Cell{cell("level", ots.Integer(3)), cell("message", ots.String("disk full")), cell("severity", ots.String("error"))},
		},
		{
			name:    "a missing column the entry defaults",
			columns: logCleaning.Columns,
			row:     []ots.Cell{cell("level", ots.Integer(2))},
			want:    []ots.Cell{cell("level", ots.Integer(2)), cell("message", ots.String("")), cell("severity", ots.String("warn"))},
		},
		{
			name:    "every type",
			columns: `{"int": level * 2, "int64": level, "float": level / 2, "double": ratio, "bool": level > 2, "string": upper(message), "bytes": blob, "byte": blob[2], "byte count": len(blob), "nil": nil, "shifted": bitushr(-1, 1)}`,
			row:     append([]ots.Cell{cell("blob", ots.Binary([]byte{0, 1, 255})), cell("ratio", ots.Double(math.Copysign(0, -1)))}, levelAndMessage...),
			want: []ots.Cell{
				cell("bool", ots.Boolean(true)), cell("byte", ots.Integer(255)), cell("byte count", ots.Integer(3)), cell("bytes", ots.Binary([]byte{0, 1, 255})),
				cell("double", ots.Double(math.Copysign(0, -1))), cell("float", ots.Double(1.5)), cell("int", ots.Integer(6)), cell("int64", ots.Integer(3)),
				cell("shifted", ots.Integer(math.MaxInt64)), cell("string", ots.String("  DISK FULL \n")),
			},
		},
		{
			name:    "a regular expression extracts a number, a unit is converted",
			columns: `{"ms": let ms = extract(message, "took ([0-9]+) ms"); ms != nil ? int(ms) : nil, "word": extract(message, "[a-z]+"), "seconds": ms_total / 1000.0}`,
			row:     []ots.Cell{cell("level", ots.Integer(2)), cell("message", ots.String("took 250 ms")), cell("ms_total", ots.Integer(1500))},
			want:    []ots.Cell{cell("ms", ots.Integer(250)), cell("seconds", ots.Double(1.5)), cell("word", ots.String("took"))},
		},
		{
			name:    "a regular expression that does not match leaves its column out",
			columns: `{"ms": let ms = extract(message, "took ([0-9]+) ms"); ms != nil ? int(ms) : nil}`,
			row:     []ots.Cell{cell("message", ots.String("took long"))},
		},
		{
			name:    "extract on a column that is not a STRING is an invalid row",
			columns: `{"ms": extract(message, "[0-9]+")}`,
			row:     []ots.Cell{cell("message", ots.Integer(250))},
			wantErr: `columns entry "ms" (extract(message, "[0-9]+")): column "message" holds INTEGER 250: extract: the text is a int64; want a string (1:8)`,
		},
		{
			name:    "an entry failing on a missing column leaves its column out, as the filter is false then",
			columns: `{"level": level, "loud": upper(message)}`,
			row:     []ots.Cell{cell("level", ots.Integer(3))},
			want:    []ots.Cell{cell("level", ots.Integer(3))},
		},
		{
			name:    "entries computed in one run: one failing on a missing column leaves only its column out",
			columns: `{"loud": upper(message), "twice": level * 2, "sev": level >= 3 ? "e" : "w"}`,
			row:     []ots.Cell{cell("level", ots.Integer(3))},
			want:    []ots.Cell{cell("sev", ots.String("e")), cell("twice", ots.Integer(6))},
		},
		{
			name:    "entries computed in one run: a type error names the entry that failed",
			columns: `{"loud": upper(message), "twice": level * 2}`,
			row:     []ots.Cell{cell("level", ots.Integer(3)), cell("message", ots.Integer(5))},
			wantErr: `columns entry "loud" (upper(message)): column "message" holds INTEGER 5: interface conversion: interface {} is int64, not string (1:10)`,
		},
		{
			name:    "entries computed in one run: a value of no Tablestore type names its entry",
			columns: `{"twice": level * 2, "parsed": fromJSON(message)}`,
			row:     []ots.Cell{cell("level", ots.Integer(3)), cell("message", ots.String("[1, 2]"))},
			wantErr: `columns entry "parsed" (fromJSON(message)): column "message" holds STRING "[1, 2]": the value is a []interface {}, which has no Tablestore type`,
		},
		{
			name:    "entries over expr's memory budget together and within it one by one",
			columns: `{"a": len(1..level*200000), "b": len(1..level*200000)}`,
			row:     []ots.Cell{cell("level", ots.Integer(3))},
			want:    []ots.Cell{cell("a", ots.Integer(600000)), cell("b", ots.Integer(600000))},
		},
		{
			name:    "every value nil: a row without attribute columns",
			columns: `{"m": message}`,
			row:     []ots.Cell{cell("level", ots.Integer(3))},
		},
		{
			name:    "a type error is an invalid row",
			columns: `{"level": level, "loud": upper(message)}`,
			row:     []ots.Cell{cell("level", ots.Integer(3)), cell("message", ots.Integer(5))},
			wantErr: `columns entry "loud" (upper(message)): column "message" holds INTEGER 5: interface conversion: interface {} is int64, not string (1:26)`,
		},
		{
			name:    "a division by zero is an invalid row",
			columns: `{"rest": level % zero}`,
			row:     []ots.Cell{cell("level", ots.Integer(3)), cell("zero", ots.Integer(0))},
			wantErr: `columns entry "rest" (level % zero): column "level" holds INTEGER 3, column "zero" holds INTEGER 0: runtime error: integer divide by zero (1:16)`,
		},
		{
			name:    "a panic inside expr is an invalid row",
			columns: `{"third": split(message, " ")[2]}`,
			row:     []ots.Cell{cell("level", ots.Integer(3)), cell("message", ots.String("a b"))},
			wantErr: `columns entry "third" (split(message, " ")[2]): column "message" holds STRING "a b": index out of range: 2 (array length is 2) (1:30)`,
		},
		{
			name:    "NaN is an invalid row",
			columns: `{"ratio": (level - 3) / (level - 3)}`,
			row:     levelAndMessage,
			wantErr: `columns entry "ratio" ((level - 3) / (level - 3)): column "level" holds INTEGER 3: column "ratio" holds DOUBLE NaN; Tablestore stores no NaN or infinity`,
		},
		{
			name:    "a value over 2 MB is an invalid row",
			columns: `{"big": blob + blob}`,
			row:     []ots.Cell{cell("level", ots.Integer(3)), cell("blob", ots.String(strings.Repeat("x", 1<<20+1)))},
			wantErr: `longer than Tablestore's limit of 2097152 bytes for an attribute value`,
		},
		{
			name:    "a primary key column's name is an invalid row",
			columns: `{"id": level}`,
			row:     levelAndMessage,
			wantErr: `columns entry "id" (level): column "level" holds INTEGER 3: column "id" has the name of a primary key column`,
		},
		{
			name:    "a value of no Tablestore type is an invalid row",
			columns: `{"parsed": fromJSON(message)}`,
			row:     []ots.Cell{cell("message", ots.String("[1, 2]"))},
			wantErr: `columns entry "parsed" (fromJSON(message)): column "message" holds STRING "[1, 2]": the value is a []interface {}, which has no Tablestore type`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rule := compile(t, Config{Filter: "true", Columns: tc.columns})
			got, err := rule.Resolve(pk(7), tc.row, true)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				assert.Equal(t, change(ots.DeleteRow, 7), got, "a row the rule cannot evaluate is not in the view")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, change(ots.PutRow, 7, tc.want...), got)
		})
	}
}

// TestValueOf covers the Go types valueOf takes that expr's own arithmetic never gives.
func TestValueOf(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want ots.Value
	}{
		{int8(-8), ots.Integer(-8)}, {int16(-16), ots.Integer(-16)}, {int32(-32), ots.Integer(-32)},
		{uint8(8), ots.Integer(8)}, {uint16(16), ots.Integer(16)}, {uint32(32), ots.Integer(32)},
		{uint(64), ots.Integer(64)}, {uint64(math.MaxInt64), ots.Integer(math.MaxInt64)}, {float32(0.5), ots.Double(0.5)},
	} {
		got, err := valueOf(tc.in)
		require.NoError(t, err, "%T", tc.in)
		assert.Equal(t, tc.want, got, "%T", tc.in)
	}
	_, err := valueOf(uint64(math.MaxUint64))
	assert.EqualError(t, err, "the value 18446744073709551615 is beyond the range of an INTEGER (a signed 64-bit integer)")
	_, err = valueOf(time.Second)
	assert.EqualError(t, err, "the value is a time.Duration, which has no Tablestore type; want an integer (INTEGER), a float (DOUBLE), a bool (BOOLEAN), a string (STRING), bytes (BINARY) or nil (no column)")
}

func TestCompileExtractErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Columns: `{"ms": extract(message, pattern)}`}, "extract's pattern must be a constant string (1:25)"},
		{Config{Columns: `{"ms": extract(message, "(")}`}, "extract's pattern: error parsing regexp: missing closing ): `(` (1:25)"},
		{Config{Filter: `extract(message, "[") != nil`}, "extract's pattern: error parsing regexp: missing closing ]: `[` (1:18)"},
		{Config{Columns: `{"ms": extract(message)}`}, "not enough arguments to call extract (1:8)"},
	} {
		_, err := Compile(tc.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	rule := compile(t, Config{Filter: `extract(message, "^E([0-9]+)") != nil`, Columns: "message"})
	assert.Equal(t, []string{"message"}, rule.FilterColumns(), "extract is a function, not a column")
	got, err := rule.Resolve(pk(1), []ots.Cell{cell("message", ots.String("E42 disk"))}, true)
	require.NoError(t, err)
	assert.Equal(t, change(ots.PutRow, 1, cell("message", ots.String("E42 disk"))), got)
}

func TestResolveMappingFilterFirst(t *testing.T) {
	rule := compile(t, Config{Filter: "level > 1", Columns: `{"loud": upper(message)}`})
	got, err := rule.Resolve(pk(7), []ots.Cell{cell("level", ots.Integer(1)), cell("message", ots.Integer(5))}, true)
	require.NoError(t, err, "the mapping runs only on a row that passes")
	assert.Equal(t, change(ots.DeleteRow, 7), got)
}

// TestPlanMapping has one case per row of the per-key decision table, under a mapping.
func TestPlanMapping(t *testing.T) {
	runPlanCases(t, []planCase{
		{
			name:    "a full image that passes puts the mapped row",
			cfg:     logCleaning,
			records: []events.Record{putRow(1, put("level", ots.Integer(3)), put("message", ots.String(" a "))), updateRow(1, put("note", ots.String("n")))},
			want: []Mutation{mutation(ots.PutRow, 1, []int{0, 1},
				cell("level", ots.Integer(3)), cell("message", ots.String("a")), cell("severity", ots.String("error")))},
		},
		{
			name:    "a full image that fails deletes",
			cfg:     logCleaning,
			records: []events.Record{putRow(1, put("level", ots.Integer(1)), put("message", ots.Integer(5)))},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0})},
		},
		{
			name:        "a full image the mapping cannot evaluate deletes, and its records are invalid",
			cfg:         Config{Columns: `{"loud": upper(message)}`},
			records:     []events.Record{putRow(1, put("level", ots.Integer(3)), put("message", ots.Integer(5))), updateRow(1, put("note", ots.String("n")))},
			want:        []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
			wantInvalid: []string{`0: columns entry "loud" (upper(message)): column "message" holds INTEGER 5: interface conversion: interface {} is int64, not string (1:10)`, `1: columns entry "loud" (upper(message)): column "message" holds INTEGER 5: interface conversion: interface {} is int64, not string (1:10)`},
		},
		{
			name:    "an UpdateRow of columns nobody reads changes nothing",
			cfg:     renamed,
			records: []events.Record{updateRow(1, put("other", ots.String("o")), deleteAll("more"), deleteOne("other", 5))},
		},
		{
			name:    "an UpdateRow of a renamed column updates its new name if the row is in the view",
			cfg:     renamed,
			records: []events.Record{updateRow(1, put("message", ots.String("hi")), put("other", ots.Integer(1)))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0}, cell("text", ots.String("hi")))},
		},
		{
			name:    "a deleted column deletes its column under its new name",
			cfg:     renamed,
			records: []events.Record{updateRow(1, deleteAll("message"), put("other", ots.String("o")))},
			want:    []Mutation{mutation(ots.UpdateRowIfExists, 1, []int{0}, cell("text", ots.Value{}))},
		},
		{
			name: "an UpdateRow of a column an entry computes from reads the source: the row before may have been one the mapping could not evaluate",
			cfg:  renamed,
			records: []events.Record{
				updateRow(1, put("message", ots.String("hi"))),
				updateRow(1, put("note", ots.String("four"))),
			},
			want: []Mutation{readSource(1, []int{0, 1})},
		},
		{
			name:    "an UpdateRow of a filter column reads the source",
			cfg:     logCleaning,
			records: []events.Record{updateRow(1, put("level", ots.Integer(3)))},
			want:    []Mutation{readSource(1, []int{0})},
		},
		{
			name:    "a DeleteOneVersion of a column the mapping reads reads the source",
			cfg:     renamed,
			records: []events.Record{updateRow(1, deleteOne("message", 5))},
			want:    []Mutation{readSource(1, []int{0})},
		},
		{
			name:    "the last record a DeleteRow deletes",
			cfg:     renamed,
			records: []events.Record{updateRow(1, put("message", ots.String("hi"))), deleteRow(1)},
			want:    []Mutation{mutation(ots.DeleteRow, 1, []int{0, 1})},
		},
		{
			name: "keys fold apart, mapped columns of one key do not reach the next",
			cfg:  Config{Columns: `{"a": level, "b": level * 10, "c": level * 100, "d": level * 1000}`},
			records: []events.Record{
				putRow(1, put("level", ots.Integer(2))), putRow(2, put("level", ots.Integer(3))), putRow(3, put("level", ots.Integer(1))), putRow(4, put("level", ots.Integer(2))),
			},
			want: []Mutation{
				mutation(ots.PutRow, 1, []int{0}, cell("a", ots.Integer(2)), cell("b", ots.Integer(20)), cell("c", ots.Integer(200)), cell("d", ots.Integer(2000))),
				mutation(ots.PutRow, 2, []int{1}, cell("a", ots.Integer(3)), cell("b", ots.Integer(30)), cell("c", ots.Integer(300)), cell("d", ots.Integer(3000))),
				mutation(ots.DeleteRow, 3, []int{2}),
				mutation(ots.PutRow, 4, []int{3}, cell("a", ots.Integer(2)), cell("b", ots.Integer(20)), cell("c", ots.Integer(200)), cell("d", ots.Integer(2000))),
			},
		},
	})
}

func TestPlanMappingOutputsShareNoCapacity(t *testing.T) {
	cfg := Config{Columns: `{"a": level, "b": level * 10, "c": level * 100}`}
	var records []events.Record
	for id := range int64(40) {
		records = append(records, putRow(id, put("level", ots.Integer(2+id%2))))
	}
	p := plan(t, cfg, records...)
	require.Len(t, p.Mutations, 40)
	for i, m := range p.Mutations {
		require.Len(t, m.Columns, 3)
		require.Equal(t, 3, cap(m.Columns), "mutation %d", i)
		require.Equal(t, cell("b", ots.Integer((2+int64(i)%2)*10)), m.Columns[1], "mutation %d", i)
	}
}

// TestTheDesignsMappingExamples compiles the mapping of docs/design.md, "Transform columns",
// and each entry of its table of examples, and checks what the mapping makes of a log line.
func TestTheDesignsMappingExamples(t *testing.T) {
	design, err := os.ReadFile(filepath.Join("..", "docs", "design.md"))
	require.NoError(t, err)
	_, section, found := strings.Cut(string(design), "## Transform columns\n")
	require.True(t, found)
	section, _, _ = strings.Cut(section, "\n## ")
	_, block, found := strings.Cut(section, "```\n")
	require.True(t, found)
	block, _, _ = strings.Cut(block, "```")
	rule := compile(t, Config{Columns: block})
	got, err := rule.Resolve(pk(1), []ots.Cell{
		cell("level", ots.Integer(3)), cell("message", ots.String("  Disk FULL, took 250 ms ")), cell("size_bytes", ots.Integer(2048)), cell("hostname", ots.String("web-1")),
	}, true)
	require.NoError(t, err)
	assert.Equal(t, change(ots.PutRow, 1,
		cell("duration_ms", ots.Integer(250)), cell("host", ots.String("web-1")), cell("level", ots.Integer(3)),
		cell("message", ots.String("disk full, took 250 ms")), cell("severity", ots.String("error")), cell("size_kb", ots.Double(2))), got)

	entries := regexp.MustCompile("(?m)^\\| [^|]+ \\| `(\"[^`]+)` ").FindAllStringSubmatch(section, -1)
	require.Len(t, entries, 6, "the table of examples")
	for _, entry := range entries {
		_, err := Compile(Config{Columns: "{" + entry[1] + "}"})
		assert.NoError(t, err, entry[1])
	}
}
