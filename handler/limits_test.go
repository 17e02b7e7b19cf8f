package handler_test

import (
	"crypto/sha256"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/deadletter"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// updateRow is an UpdateRow of id putting cells.
func updateRow(id int64, cells ...ots.Cell) events.Record {
	rec := putRow(id, cells...)
	rec.Type = events.UpdateRow
	return rec
}

// cellsByName returns a row's cells by column name.
func cellsByName(cells []ots.Cell) map[string]ots.Value {
	out := make(map[string]ots.Value, len(cells))
	for _, c := range cells {
		out[c.Name] = c.Value
	}
	return out
}

// TestValuesTablestoreRefusesAreInvalidRecords sends, through the function over HTTP, events
// whose first record holds what Tablestore refuses in a row: without DEAD_LETTER_TABLE the
// invocation fails naming the record, the column, the kind and the value (quoted briefly)
// and writes nothing; with it the record is dead-lettered, the rest of the batch is written,
// and the record's key gets the source table's row, which never holds such values. No
// request that Tablestore refuses is ever sent: the invocations end without a TablestoreError.
func TestValuesTablestoreRefusesAreInvalidRecords(t *testing.T) {
	longName := strings.Repeat("n", ots.MaxNameBytes+1)
	cases := []struct {
		name   string
		record events.Record
		want   string
		// keyed: the record's key is a key Tablestore holds, whose row comes from the source.
		keyed bool
	}{
		{"DOUBLE NaN", putRow(1, cell("level", ots.Integer(3)), cell("ratio", ots.Double(math.NaN()))),
			`record 0 (id=1): column "ratio" holds DOUBLE NaN; Tablestore stores no NaN or infinity`, true},
		{"DOUBLE infinity in an UpdateRow", updateRow(1, cell("ratio", ots.Double(math.Inf(1)))),
			`record 0 (id=1): column "ratio" holds DOUBLE +Inf; Tablestore stores no NaN or infinity`, true},
		{"an attribute value over 2 MB", putRow(1, cell("level", ots.Integer(3)), cell("blob", ots.Binary(make([]byte, ots.MaxAttributeValueBytes+1)))),
			`record 0 (id=1): column "blob" holds BINARY 0x` + strings.Repeat("00", ots.MaxQuoted) + `…(2097153 bytes), longer than Tablestore's limit of 2097152 bytes for an attribute value`, true},
		{"a column name over 255 bytes", updateRow(1, cell(longName, ots.Integer(1))),
			`record 0 (id=1): column name "` + ots.Brief(longName) + `" (256 bytes) is not 1-255 bytes long`, true},
		{"an attribute named like the primary key", updateRow(1, cell("id", ots.Integer(9))),
			`record 0 (id=1): column "id" has the name of a primary key column`, true},
		{"a primary key value over 1 KB", events.Record{Type: events.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.String(strings.Repeat("k", ots.MaxPrimaryKeyValueBytes+1))}},
			Columns: []events.Column{{Type: events.Put, ColumnName: "level", Value: ots.Integer(3)}}},
			`record 0 (id="` + strings.Repeat("k", ots.MaxQuoted) + `"…(1025 bytes)): primary key column "id" holds STRING "` + strings.Repeat("k", ots.MaxQuoted) + `"…(1025 bytes), longer than Tablestore's limit of 1024 bytes for a primary key value`, false},
		{"a primary key column name Tablestore does not allow", events.Record{Type: events.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "user id", Value: ots.Integer(1)}}},
			`record 0 ("user id"=1): primary key column name "user id" is not a Tablestore name`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload := encode(t, tc.record, putRow(2, cell("level", ots.Integer(2))))

			failing := newFixture(t, nil)
			for range 2 { // a redelivery fails the same way
				_, err := failing.invoke(payload)
				var ie *fcruntime.InvocationError
				require.ErrorAs(t, err, &ie)
				assert.Equal(t, handler.ErrorTypeInvalidRecord, ie.ErrorType)
				assert.Contains(t, ie.ErrorMessage, "1 record(s) cannot be evaluated by the rule or written to Tablestore and DEAD_LETTER_TABLE is unset: "+tc.want)
				assert.Less(t, len(ie.ErrorMessage), 600, "values are quoted briefly")
			}
			assert.Empty(t, failing.table("result"), "nothing is written")

			f := newFixture(t, map[string]string{handler.EnvDeadLetterTable: "dead_letters"})
			// The source table holds the row the event stands for, as Tablestore keeps it.
			require.NoError(t, tableio.Apply(t.Context(), f.srv.SDK, "source_data", []events.Record{
				putRow(1, cell("level", ots.Integer(3)), cell("ratio", ots.Double(0.5))),
				putRow(2, cell("level", ots.Integer(2))),
			}))
			for range 2 { // redelivery overwrites its own dead letter
				sum, err := f.invoke(payload)
				require.NoError(t, err)
				assert.Equal(t, 1, sum.DeadLettered)
				assert.Zero(t, sum.Retries)
			}
			want := map[string][]ots.Cell{"id=2": {cell("level", ots.Integer(2))}}
			if tc.keyed {
				want["id=1"] = []ots.Cell{cell("level", ots.Integer(3)), cell("ratio", ots.Double(0.5))}
			}
			assert.Equal(t, want, f.table("result"), "the record's key has the source's row")
			letters := f.table("dead_letters")
			require.Len(t, letters, 1)
			for _, cells := range letters {
				reason, _ := cellsByName(cells)[deadletter.ColumnError].Str()
				assert.True(t, strings.HasPrefix(reason, tc.want), "%q", reason)
			}
		})
	}
}

// TestRowsLargerThanOneRequestReachTheResult: a legal source row of three 1.9 MB cells,
// written by separate UpdateRows, is more than one BatchWriteRow carries (4 MB); the function
// writes it in parts, whether the event holds its whole image, only the UpdateRows (a
// conditional update), or an UpdateRow of the filter's column (the row is read back whole
// from the source), and again on redelivery.
func TestRowsLargerThanOneRequestReachTheResult(t *testing.T) {
	big := func(b byte) ots.Value { return ots.String(strings.Repeat(string(rune('a'+b)), 1900<<10)) }
	updates := []events.Record{updateRow(7, cell("a", big(0))), updateRow(7, cell("b", big(1))), updateRow(7, cell("c", big(2)))}
	image := append([]events.Record{putRow(7, cell("level", ots.Integer(3)))}, updates...)
	wantRow := map[string]ots.Value{"level": ots.Integer(3), "a": big(0), "b": big(1), "c": big(2)}

	f := newFixture(t, nil)
	require.NoError(t, tableio.Apply(t.Context(), f.srv.SDK, "source_data", image))
	assertRow := func(step string) {
		t.Helper()
		rows := f.table("result")
		require.Len(t, rows, 1, step)
		got := cellsByName(rows["id=7"])
		assert.Len(t, got, len(wantRow), step)
		for name, v := range wantRow {
			assert.True(t, got[name].Equal(v), "%s: column %s is whole", step, name)
		}
	}
	for range 2 {
		sum, err := f.invoke(encode(t, image...))
		require.NoError(t, err, "the whole image")
		assert.Equal(t, handler.Summary{Records: 4, Keys: 1, Puts: 1, WriteRequests: 2}, summaryCounts(sum))
		assertRow("the whole image")
	}

	sum, err := f.invoke(encode(t, updates...))
	require.NoError(t, err, "the UpdateRows alone")
	assert.Equal(t, handler.Summary{Records: 3, Keys: 1, Updates: 1, WriteRequests: 2}, summaryCounts(sum))
	assertRow("the UpdateRows alone")

	level := updateRow(7, cell("level", ots.Integer(3)))
	sum, err = f.invoke(encode(t, level))
	require.NoError(t, err, "an UpdateRow of level")
	assert.Equal(t, handler.Summary{Records: 1, Keys: 1, Puts: 1, Reads: 1, WriteRequests: 2, ReadRequests: 1}, summaryCounts(sum))
	assertRow("an UpdateRow of level, read back from the source")
}

// summaryCounts is s without its lag, which depends on the clock.
func summaryCounts(s handler.Summary) handler.Summary {
	s.LagMs = 0
	return s
}

// TestDeadLettersOfLargeRecordsFit: a record of almost 2 MB that the rule cannot evaluate
// makes a dead letter of its bytes and its JSON, together over what one request carries;
// both are cut to their first MB, the error says so, and the id stays the hash of the whole
// record.
func TestDeadLettersOfLargeRecordsFit(t *testing.T) {
	f := newFixture(t, map[string]string{handler.EnvDeadLetterTable: "dead_letters"})
	huge := strings.Repeat("é", (ots.MaxAttributeValueBytes-64)/2) // a legal value, in two-byte runes
	payload := encode(t, putRow(3, cell("level", ots.String(huge))), putRow(4, cell("level", ots.Integer(2))))
	ev, err := events.Decode(payload)
	require.NoError(t, err)
	raw := ev.Records[0].Raw
	require.Greater(t, len(raw), 1<<20)

	sum, err := f.invoke(payload)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.DeadLettered)
	assert.Equal(t, map[string][]ots.Cell{"id=4": {cell("level", ots.Integer(2))}}, f.table("result"))

	hash := sha256.Sum256(raw)
	letters := f.table("dead_letters")
	require.Len(t, letters, 1)
	letter := cellsByName(letters[`id="`+hex.EncodeToString(hash[:])+`"`])
	require.NotEmpty(t, letter, "keyed by the hash of the whole record")
	record, _ := letter[deadletter.ColumnRecord].Bytes()
	assert.Equal(t, raw[:1<<20], record)
	decoded, _ := letter[deadletter.ColumnDecoded].Str()
	assert.LessOrEqual(t, len(decoded), 1<<20)
	assert.Greater(t, len(decoded), 1<<20-4)
	assert.True(t, utf8.ValidString(decoded))
	reason, _ := letter[deadletter.ColumnError].Str()
	assert.Contains(t, reason, `record 0 (id=3): filter "level > 1": column "level" holds STRING "ééé`)
	assert.Contains(t, reason, "the first 1048576 bytes of each are kept")
}
