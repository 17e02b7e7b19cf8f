package transform

import (
	"strings"
	"testing"

	"github.com/otsetl/otsetl/ots"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"syntax", Config{Filter: "level >"}, "filter \"level >\": unexpected token EOF (1:7)\n | level >\n | ......^"},
		{"integer result", Config{Filter: "1"}, `filter "1": expected bool, but got int`},
		{"string result", Config{Filter: `"abc"`}, `filter "\"abc\"": expected bool, but got string`},
		{"type mismatch", Config{Filter: `"a" + 1 > 0`}, "filter \"\\\"a\\\" + 1 > 0\": invalid operation: + (mismatched types string and int) (1:5)\n | \"a\" + 1 > 0\n | ....^"},
		{"unknown function", Config{Filter: "foo(level)"}, "filter \"foo(level)\": foo is not a builtin function (1:1)\n | foo(level)\n | ^"},
		{"method call", Config{Filter: "message.Trim() == level"}, "filter \"message.Trim() == level\": message.Trim is not a builtin function (1:9)\n | message.Trim() == level\n | ........^"},
		{"whole $env", Config{Filter: `len($env) > 0`}, "filter \"len($env) > 0\": $env may only be indexed by a constant column name, as $env[\"level\"] (1:5)\n | len($env) > 0\n | ....^"},
		{"computed $env index", Config{Filter: `$env[message] > 1`}, "filter \"$env[message] > 1\": $env may only be indexed by a constant column name, as $env[\"level\"] (1:1)\n | $env[message] > 1\n | ^"},
		{"fails on every row", Config{Filter: `int("x") > 0`}, `filter "int(\"x\") > 0": invalid operation: int(x) (1:1)`},
		{"empty column", Config{Columns: "message,"}, `columns "message,": an empty column name`},
		{"duplicate column", Config{Columns: "message, level,message"}, `columns "message, level,message": column "message" is listed twice`},
		{"long column", Config{Columns: strings.Repeat("c", 256)}, `columns "` + strings.Repeat("c", 256) + `": column "` + strings.Repeat("c", 64) + `" is longer than 255 bytes`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rule, err := Compile(tc.cfg)
			require.EqualError(t, err, tc.want)
			assert.Nil(t, rule)
		})
	}
}

func TestConfigAsApplied(t *testing.T) {
	assert.Equal(t, Config{Filter: DefaultFilter, Columns: "level , message"}, compile(t, Config{Filter: " \t", Columns: " level , message\n"}).Config())
	assert.Equal(t, Config{Filter: "level > 2", Columns: `{"a": level}`}, compile(t, Config{Filter: "level > 2 ", Columns: ` {"a": level}`}).Config())
	projected := compile(t, Config{Columns: " level , message"})
	assert.True(t, projected.Projects("level"), "names are trimmed")
	assert.True(t, projected.Projects("message"))
}

func TestFilterColumns(t *testing.T) {
	tests := []struct {
		filter string
		want   []string
	}{
		{"", []string{"level"}},
		{"true", []string{}},
		{`level > 1 && message != ""`, []string{"level", "message"}},
		{`message != "" && level > 1 || level == nil`, []string{"level", "message"}},
		{`len(message) > 2 && upper(note) startsWith "A"`, []string{"message", "note"}},
		{`all(tags, # > 1) && any(items, .price > 10)`, []string{"items", "tags"}},
		{`let x = level; x > 1 && y`, []string{"level", "y"}},
		{`let level = level * 2; level > 1`, []string{"level"}},
		{`let x = a; let y = x + b; y > c && x < y`, []string{"a", "b", "c"}},
		{`let x = 1; let x = 2; x > 0`, nil}, // expr refuses to redeclare a variable
		{`$env["my-column"] == 1 && $env.level > 1 && $env?.other == nil && get($env, "a b") != ""`, []string{"a b", "level", "my-column", "other"}},
		{`level ?? 0 > 1`, nil}, // expr refuses to mix ?? and >
	}
	for _, tc := range tests {
		t.Run(tc.filter, func(t *testing.T) {
			rule, err := Compile(Config{Filter: tc.filter})
			if tc.want == nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, rule.FilterColumns())
		})
	}
}

func TestFilterColumnsReturnsACopy(t *testing.T) {
	rule := compile(t, Config{Filter: `level > 1 && message != ""`})
	rule.FilterColumns()[0] = "changed"
	assert.Equal(t, []string{"level", "message"}, rule.FilterColumns())
}

func TestProjects(t *testing.T) {
	all := compile(t, defaultRule)
	assert.True(t, all.Projects("level"))
	assert.True(t, all.Projects("anything"))

	some := compile(t, Config{Columns: "message,note"})
	assert.True(t, some.Projects("message"))
	assert.True(t, some.Projects("note"))
	assert.False(t, some.Projects("level"))
}

func TestResultColumns(t *testing.T) {
	assert.Nil(t, compile(t, defaultRule).ResultColumns(), "every column kept")
	assert.Equal(t, []string{"note", "message", "level"}, compile(t, Config{Columns: " note, message ,level"}).ResultColumns(), "COLUMNS's order")
	mapped := compile(t, Config{Columns: `{"severity": level >= 3 ? "error" : "warn", "level": level, "origin": "app"}`})
	assert.Equal(t, []string{"level", "origin", "severity"}, mapped.ResultColumns(), "the mapping's, by name")
	mapped.ResultColumns()[0] = "changed"
	assert.Equal(t, "level", mapped.ResultColumns()[0], "a new slice")
}

func TestReadColumns(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"all columns projected", defaultRule, nil},
		{"projection and filter", messageOnly, []string{"level", "message"}},
		{"filter column projected", Config{Columns: "message,level"}, []string{"level", "message"}},
		{"several filter columns", Config{Filter: "c > 1 && a > 0", Columns: "b,a"}, []string{"a", "b", "c"}},
		{"filter true on an empty row", Config{Filter: "level == nil", Columns: "message"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, compile(t, tc.cfg).ReadColumns())
		})
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		row     []ots.Cell
		found   bool
		want    ots.RowChange
		wantErr string
	}{
		{
			name:  "row passes",
			row:   []ots.Cell{cell("message", ots.String("m")), cell("level", ots.Integer(3))},
			found: true,
			want:  change(ots.PutRow, 7, cell("level", ots.Integer(3)), cell("message", ots.String("m"))),
		},
		{
			name:  "row passes, projected",
			cfg:   messageOnly,
			row:   []ots.Cell{cell("level", ots.Integer(3)), cell("message", ots.String("m"))},
			found: true,
			want:  change(ots.PutRow, 7, cell("message", ots.String("m"))),
		},
		{
			name:  "row fails",
			row:   []ots.Cell{cell("level", ots.Integer(1))},
			found: true,
			want:  change(ots.DeleteRow, 7),
		},
		{
			name:  "row lacks the filter column",
			row:   []ots.Cell{cell("message", ots.String("m"))},
			found: true,
			want:  change(ots.DeleteRow, 7),
		},
		{
			name:  "a cell without a value is absent",
			row:   []ots.Cell{cell("level", ots.Value{})},
			found: true,
			want:  change(ots.DeleteRow, 7),
		},
		{
			name:  "the first cell of a column is its latest version",
			row:   []ots.Cell{cell("level", ots.Integer(3)), cell("level", ots.Integer(0))},
			found: true,
			want:  change(ots.PutRow, 7, cell("level", ots.Integer(3))),
		},
		{
			name: "row not found",
			want: change(ots.DeleteRow, 7),
		},
		{
			name:  "row not found under a filter true on empty rows",
			cfg:   trueOnEmpty,
			found: false,
			want:  change(ots.DeleteRow, 7),
		},
		{
			name:  "empty row under a filter true on empty rows",
			cfg:   trueOnEmpty,
			found: true,
			want:  change(ots.PutRow, 7),
		},
		{
			name:    "invalid row",
			row:     []ots.Cell{cell("level", ots.String("3"))},
			found:   true,
			want:    change(ots.DeleteRow, 7),
			wantErr: `filter "level > 1": column "level" holds STRING "3": invalid operation: string > int (1:7)`,
		},
		{
			name:    "a row Tablestore would not take in the result table",
			row:     []ots.Cell{cell("level", ots.Integer(3)), cell("id", ots.String("shadow"))},
			found:   true,
			want:    change(ots.DeleteRow, 7),
			wantErr: `the source row cannot be written: column "id" has the name of a primary key column`,
		},
		{
			name:  "what the projection drops is never written",
			cfg:   messageOnly,
			row:   []ots.Cell{cell("level", ots.Integer(3)), cell("id", ots.String("shadow")), cell("message", ots.String("m"))},
			found: true,
			want:  change(ots.PutRow, 7, cell("message", ots.String("m"))),
		},
		{
			name:    "invalid row, DOUBLE against a STRING comparison",
			cfg:     Config{Filter: `message > "m"`},
			row:     []ots.Cell{cell("message", ots.Double(2.5))},
			found:   true,
			want:    change(ots.DeleteRow, 7),
			wantErr: `filter "message > \"m\"": column "message" holds DOUBLE 2.5: invalid operation: float64 > string (1:9)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compile(t, tc.cfg).Resolve(pk(7), tc.row, tc.found)
			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tc.wantErr)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}
