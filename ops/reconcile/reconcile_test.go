package reconcile_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/deadletter"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/reconcile"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/rangesync"
	"github.com/otsetl/otsetl/transform"
)

// TestBackfillOfATableWithHistory syncs 6,000 source rows of about 400 bytes (2.4 MB: three
// splits of 1 MiB) into an empty result: the 3,000 rows with level > 1 are missing, written
// and re-checked, and the result equals the view.
func TestBackfillOfATableWithHistory(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	source := levelRows(6000, 400)
	f.put(t, sourceTable, source)

	var calls atomic.Int64
	var lastScanned, lastEstimate atomic.Int64
	cfg := f.config(transform.Config{})
	cfg.Show = 3
	cfg.OnProgress = func(scanned, estimate int64) {
		calls.Add(1)
		lastScanned.Store(scanned)
		lastEstimate.Store(estimate)
	}
	report, err := reconcile.Run(t.Context(), cfg)
	require.NoError(t, err)

	assert.Equal(t, reconcile.Counts{SourceRows: 6000, Missing: 3000, Written: 3000, Rechecked: 3000}, report.Counts)
	assert.Equal(t, 3, report.Splits)
	assert.Equal(t, levelView(source, nil), f.rows(t, resultTable))
	require.Len(t, report.MissingKeys, 3, "Show keys of the class")
	for _, d := range report.MissingKeys {
		var n int64
		_, err := fmt.Sscanf(d.PrimaryKey, "id=%d", &n)
		require.NoError(t, err)
		message := fmt.Sprintf("message %d ", n)
		assert.Equal(t, []reconcile.ColumnDifference{
			{Column: "level", Want: fmt.Sprintf("INTEGER %d", n%4)},
			{Column: "message", Want: fmt.Sprintf(`STRING "%s%s"…(%d bytes)`, message, strings.Repeat("x", 64-len(message)), len(message)+400)},
		}, d.Columns, "the view's columns, values cut to 64 bytes")
	}
	assert.Positive(t, calls.Load())
	assert.Equal(t, int64(6000), lastScanned.Load())
	assert.Equal(t, int64(6000), lastEstimate.Load(), "the estimate is exact once every split is done")
	assert.Contains(t, report.String(), "6,000 source rows, 0 result rows: 3,000 missing, 0 extra, 0 differing; 3,000 written, 0 deleted; 3,000 rechecked, 0 changed during sync; 0 invalid; 3 splits;")
}

// TestDryRunReportsThePlantedDamageAndSyncRepairsIt damages an exact result table in every
// way — rows deleted, extra rows, wrong values, an extra column, a missing column, a value of
// another kind — and checks that a dry run reports exactly those keys and writes nothing,
// that a sync repairs them, and that a sync of the exact table then writes nothing at all.
func TestDryRunReportsThePlantedDamageAndSyncRepairsIt(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	counter := newRequestCounter(t, f.srv.Endpoint)
	f.endpoint = counter.URL
	source := levelRows(400, 20)
	f.put(t, sourceTable, source)
	view := levelView(source, nil)
	f.put(t, resultTable, view)

	f.delete(t, resultTable, 2, 3, 6) // missing
	f.put(t, resultTable, map[int64][]ots.Cell{
		1:    {cell("level", ots.Integer(1))},                   // extra: not in the view
		1000: {cell("level", ots.Integer(3))},                   // extra: no source row
		7:    {cell("level", ots.Integer(3))},                   // differing: message missing
		10:   append(view[10], cell("z", ots.Boolean(true))),    // differing: a column too many
		11:   {view[11][0], cell("message", ots.String("old"))}, // differing: a wrong value
		14:   {cell("level", ots.Double(2)), view[14][1]},       // differing: DOUBLE 2 is not INTEGER 2
	})
	damaged := f.rows(t, resultTable)
	writesBefore := counter.count("BatchWriteRow")

	cfg := f.config(transform.Config{})
	cfg.DryRun = true
	report, err := reconcile.Run(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, reconcile.Counts{SourceRows: 400, ResultRows: 199, Missing: 3, Extra: 2, Differing: 4}, report.Counts)
	assert.True(t, report.DryRun)
	assert.Equal(t, []string{"id=2", "id=3", "id=6"}, keysOf(report.MissingKeys))
	assert.Equal(t, []string{"id=1", "id=1000"}, keysOf(report.ExtraKeys))
	assert.Equal(t, []string{"id=10", "id=11", "id=14", "id=7"}, keysOf(report.DifferingKeys))
	for _, d := range report.DifferingKeys {
		switch d.PrimaryKey {
		case "id=7":
			assert.Equal(t, []reconcile.ColumnDifference{{Column: "message", Want: describeMessage(view[7])}}, d.Columns)
		case "id=10":
			assert.Equal(t, []reconcile.ColumnDifference{{Column: "z", Have: "BOOLEAN true"}}, d.Columns)
		case "id=11":
			assert.Equal(t, []reconcile.ColumnDifference{{Column: "message", Have: `STRING "old"`, Want: describeMessage(view[11])}}, d.Columns)
		case "id=14":
			assert.Equal(t, []reconcile.ColumnDifference{{Column: "level", Have: "DOUBLE 2", Want: "INTEGER 2"}}, d.Columns)
		}
	}
	assert.Equal(t, writesBefore, counter.count("BatchWriteRow"), "a dry run writes nothing")
	assert.Equal(t, damaged, f.rows(t, resultTable))
	assert.Contains(t, report.String(), "dry run, nothing written")

	cfg.DryRun = false
	report, err = reconcile.Run(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, reconcile.Counts{SourceRows: 400, ResultRows: 199, Missing: 3, Extra: 2, Differing: 4, Written: 7, Deleted: 2, Rechecked: 9}, report.Counts)
	assert.Equal(t, view, f.rows(t, resultTable))

	writesBefore, readsBefore := counter.count("BatchWriteRow"), counter.count("BatchGetRow")
	report, err = reconcile.Run(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, reconcile.Counts{SourceRows: 400, ResultRows: 200}, report.Counts)
	assert.Equal(t, writesBefore, counter.count("BatchWriteRow"), "a sync of an exact table writes nothing")
	assert.Equal(t, readsBefore, counter.count("BatchGetRow"), "and re-checks nothing")
}

// describeMessage is how a report shows the message cell of a levelRows row.
func describeMessage(cells []ots.Cell) string {
	s, _ := cells[1].Value.Str()
	return fmt.Sprintf("STRING %q", s)
}

// TestSyncAppliesTheFunctionsRule syncs under a filter on two columns and a projection:
// the view keeps only the projected columns, a row without the filter's columns is not in
// it, and a row holding none of the projected or filtered columns is not even read.
func TestSyncAppliesTheFunctionsRule(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	f.put(t, sourceTable, map[int64][]ots.Cell{
		1: {cell("level", ots.Integer(3)), cell("message", ots.String("keep")), cell("other", ots.Integer(1))},
		2: {cell("level", ots.Integer(3)), cell("message", ots.String("drop"))},
		3: {cell("level", ots.Integer(1)), cell("message", ots.String("keep"))},
		4: {cell("message", ots.String("keep"))},
		5: {cell("other", ots.Integer(5))},
	})
	f.put(t, resultTable, map[int64][]ots.Cell{
		1: {cell("level", ots.Integer(3)), cell("message", ots.String("keep")), cell("other", ots.Integer(1))},
		5: {cell("other", ots.Integer(5))},
	})
	rule := transform.Config{Filter: `level > 1 && message != "drop"`, Columns: "level,message"}
	report, err := reconcile.Run(t.Context(), f.config(rule))
	require.NoError(t, err)
	assert.Equal(t, map[int64][]ots.Cell{1: {cell("level", ots.Integer(3)), cell("message", ots.String("keep"))}}, f.rows(t, resultTable))
	assert.Equal(t, reconcile.Counts{SourceRows: 4, ResultRows: 2, Extra: 1, Differing: 1, Written: 1, Deleted: 1, Rechecked: 2}, report.Counts,
		"row 5 has no column the rule reads: the scan does not return it")
}

// TestSyncAfterAChangeOfMapping: result follows one rule, then the rule changes from all
// columns to a mapping, from one mapping to another, and back to all columns; each sync
// rewrites every row whose result row changed (every row in the view here), and leaves
// result equal to the new view, as the test computes it by hand.
func TestSyncAfterAChangeOfMapping(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	source := map[int64][]ots.Cell{}
	for n := range int64(40) {
		source[n] = []ots.Cell{cell("level", ots.Integer(n%4)), cell("message", ots.String(fmt.Sprintf(" message %d ", n)))}
		if n%3 == 0 {
			source[n] = append(source[n], cell("size", ots.Integer(n*512)))
		}
	}
	f.put(t, sourceTable, source)
	// view is the result rows of the source rows that pass level > 1, by result.
	view := func(result func(level int64, message string, size ots.Value) []ots.Cell) map[int64][]ots.Cell {
		out := map[int64][]ots.Cell{}
		for n, cells := range source {
			if n%4 > 1 {
				var size ots.Value
				if len(cells) == 3 {
					size = cells[2].Value
				}
				out[n] = result(n%4, fmt.Sprintf(" message %d ", n), size)
			}
		}
		return out
	}
	steps := []struct {
		name    string
		columns string
		want    map[int64][]ots.Cell
	}{
		{"all columns", "", view(func(level int64, message string, size ots.Value) []ots.Cell {
			cells := []ots.Cell{cell("level", ots.Integer(level)), cell("message", ots.String(message))}
			if !size.IsNone() {
				cells = append(cells, cell("size", size))
			}
			return cells
		})},
		{"a mapping", `{"level": level, "severity": level >= 3 ? "error" : "warn", "message": trim(message)}`,
			view(func(level int64, message string, _ ots.Value) []ots.Cell {
				severity := map[int64]string{2: "warn", 3: "error"}[level]
				return []ots.Cell{cell("level", ots.Integer(level)), cell("message", ots.String(strings.TrimSpace(message))), cell("severity", ots.String(severity))}
			})},
		{"another mapping", `{"severity": level, "text": upper(trim(message)), "size_kb": size / 1024.0}`,
			view(func(level int64, message string, size ots.Value) []ots.Cell {
				cells := []ots.Cell{cell("severity", ots.Integer(level))}
				if bytes, ok := size.Int(); ok {
					cells = append(cells, cell("size_kb", ots.Double(float64(bytes)/1024)))
				}
				return append(cells, cell("text", ots.String(strings.ToUpper(strings.TrimSpace(message)))))
			})},
		{"all columns again", "", nil},
	}
	steps[3].want = steps[0].want
	for i, step := range steps {
		report, err := reconcile.Run(t.Context(), f.config(transform.Config{Columns: step.columns}))
		require.NoError(t, err, step.name)
		assert.Equal(t, step.want, f.rows(t, resultTable), "%s: result equals the new view", step.name)
		if i == 0 {
			assert.Equal(t, int64(len(step.want)), report.Missing, step.name)
			continue
		}
		assert.Equal(t, int64(len(step.want)), report.Differing, "%s: every row of the view changed", step.name)
		assert.Equal(t, int64(len(step.want)), report.Written, step.name)
		again, err := reconcile.Run(t.Context(), f.config(transform.Config{Columns: step.columns}))
		require.NoError(t, err)
		assert.Zero(t, again.Written+again.Deleted, "%s: a second sync finds nothing to do", step.name)
	}
}

// TestRowsTheRuleCannotEvaluate: a row whose level is a STRING is not in the view, so its
// key is deleted from the result; without a dead-letter table the run fails naming it, with
// one it is dead-lettered as the function would, keyed by the SHA-256 of its JSON.
func TestRowsTheRuleCannotEvaluate(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	f.srv.CreateTable(t, otslocaltest.Table{Name: deadLetterTable, PrimaryKey: []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindString}}})
	f.put(t, sourceTable, map[int64][]ots.Cell{
		1: {cell("level", ots.String("3"))},
		2: {cell("level", ots.Integer(2))},
	})
	f.put(t, resultTable, map[int64][]ots.Cell{1: {cell("level", ots.Integer(3))}})

	report, err := reconcile.Run(t.Context(), f.config(transform.Config{}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `1 source row(s) cannot be evaluated by the rule and DEAD_LETTER_TABLE is unset (their keys are not in the view): (id=1): filter "level > 1": column "level" holds STRING "3"`)
	assert.Equal(t, int64(1), report.Invalid)
	assert.Equal(t, []rangesync.InvalidRow{{PrimaryKey: "id=1", Error: report.InvalidRows[0].Error}}, report.InvalidRows)
	assert.Equal(t, map[int64][]ots.Cell{2: {cell("level", ots.Integer(2))}}, f.rows(t, resultTable), "the invalid row's key is deleted all the same")

	cfg := f.config(transform.Config{})
	cfg.Function.DeadLetterTable = deadLetterTable
	report, err = reconcile.Run(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, int64(1), report.Invalid)
	assert.Equal(t, int64(1), report.DeadLettered)
	letters := f.srv.Scan(t, deadLetterTable)
	require.Len(t, letters, 1)
	decoded, ok := letters[0].Columns[0].Value.Str()
	require.True(t, ok)
	sum := sha256.Sum256([]byte(decoded))
	assert.Equal(t, []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.String(hex.EncodeToString(sum[:]))}}, letters[0].PrimaryKey)
	rec, err := events.Decode([]byte(`{"Version":"Sync-v1","Records":[` + decoded + `]}`))
	require.NoError(t, err)
	assert.Equal(t, events.PutRow, rec.Records[0].Type)
	assert.Equal(t, id(1), rec.Records[0].PrimaryKey)
	assert.Equal(t, ots.String("3"), rec.Records[0].Columns[0].Value)
	names := make([]string, len(letters[0].Columns))
	for i, c := range letters[0].Columns {
		names[i] = c.Name
	}
	assert.Equal(t, []string{deadletter.ColumnDecoded, deadletter.ColumnError, deadletter.ColumnRecord, deadletter.ColumnSourceTable, deadletter.ColumnTime}, names)
	assert.Contains(t, letters[0].Columns[1].Value.String(), `sync: row (id=1): filter \"level > 1\"`)
}

// TestBadConfigurationFailsBeforeAnythingIsWritten: each problem is a ConfigError naming it,
// and the result table is left as it was.
func TestBadConfigurationFailsBeforeAnythingIsWritten(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	f.srv.CreateTable(t, otslocaltest.Table{Name: "other_key", PrimaryKey: []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindString}}})
	f.put(t, sourceTable, levelRows(10, 5))
	strict := otslocaltest.NewServer(t, otslocal.Options{AccessKeyID: "right-id", AccessKeySecret: "right-secret"})
	checkpoint := filepath.Join(t.TempDir(), "checkpoint.json")
	require.NoError(t, os.WriteFile(checkpoint, []byte(`{"version":3,"sync":{"endpoint":"http://x","instance":"x","sourceTable":"s","resultTable":"r","filter":"level > 1"},"splits":[]}`), 0o644))
	older := filepath.Join(t.TempDir(), "older.json")
	require.NoError(t, os.WriteFile(older, []byte(`{"version":2,"sync":{"endpoint":"http://x","instance":"x","sourceTable":"s","resultTable":"r","filter":"level > 1","columns":["level"]},"splits":[]}`), 0o644))
	garbage := filepath.Join(t.TempDir(), "garbage.json")
	require.NoError(t, os.WriteFile(garbage, []byte("not json"), 0o644))

	for _, tc := range []struct {
		name   string
		change func(*reconcile.Config)
		want   string
	}{
		{"missing source", func(c *reconcile.Config) { c.Function.SourceTable = "nope" }, `table "nope" does not exist in instance "otslocaltest"`},
		{"missing result", func(c *reconcile.Config) { c.Function.ResultTable = "nope" }, `table "nope" does not exist in instance "otslocaltest"`},
		{"other primary key", func(c *reconcile.Config) { c.Function.ResultTable = "other_key" },
			`the result table "other_key" has the primary key (id STRING), the source table "source_data" (id INTEGER): they must be the same`},
		{"result is the source", func(c *reconcile.Config) { c.Function.ResultTable = sourceTable }, `RESULT_TABLE and SOURCE_TABLE are both "source_data"`},
		{"dead-letter table with another key", func(c *reconcile.Config) { c.Function.DeadLetterTable = resultTable },
			`the dead-letter table "result" has the primary key (id INTEGER); it needs (id STRING)`},
		{"bad filter", func(c *reconcile.Config) { c.Function.Rule.Filter = "level >" }, `FILTER/COLUMNS: filter "level >"`},
		{"bad mapping", func(c *reconcile.Config) { c.Function.Rule.Columns = `{"a": level,}` + "}" }, `FILTER/COLUMNS: columns "{\"a\": level,}}"`},
		{"mapping to a primary key column", func(c *reconcile.Config) { c.Function.Rule.Columns = `{"level": level, "id": message}` },
			`COLUMNS: "id" is the name of a primary key column (id INTEGER): the result row cannot hold it as an attribute column`},
		{"refused credentials", func(c *reconcile.Config) { c.Function.Endpoint = strict.Endpoint }, strict.Endpoint + " refused the credentials: OTSAuthFailed"},
		{"checkpoint of another sync", func(c *reconcile.Config) { c.Checkpoint = checkpoint }, "is of another sync (http://x, instance x, s -> r"},
		{"checkpoint that is not one", func(c *reconcile.Config) { c.Checkpoint = garbage }, "is not a sync checkpoint"},
		{"checkpoint of an older layout", func(c *reconcile.Config) { c.Checkpoint = older }, "has version 2; this otsetl reads version 3: remove it to sync afresh"},
		{"checkpoint with a dry run", func(c *reconcile.Config) { c.Checkpoint, c.DryRun = checkpoint, true }, "a dry run writes nothing, so it has no checkpoint to keep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config(transform.Config{})
			tc.change(&cfg)
			report, err := reconcile.Run(t.Context(), cfg)
			var configErr *reconcile.ConfigError
			require.ErrorAs(t, err, &configErr)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, report)
			assert.Empty(t, f.rows(t, resultTable), "nothing was written")
		})
	}
}

// TestKeysChangedDuringSyncAreDecidedAgain changes the source row of a key between the
// scan and the re-check (while the first BatchWriteRow is on its way): the re-check sees
// the change, decides again and writes the new view, so the result holds the source's
// latest state. A row that keeps changing at every write is reported as unsettled after
// MaxAttempts writes and fails the run.
func TestKeysChangedDuringSyncAreDecidedAgain(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	counter := newRequestCounter(t, f.srv.Endpoint)
	f.endpoint = counter.URL
	f.put(t, sourceTable, map[int64][]ots.Cell{1: {cell("level", ots.Integer(2))}, 2: {cell("level", ots.Integer(3))}})

	counter.before = func(action string, n int) {
		if action == "BatchWriteRow" && n == 0 {
			f.putFromHook(t, 1, ots.Integer(9))
		}
	}
	report, err := reconcile.Run(t.Context(), f.config(transform.Config{}))
	require.NoError(t, err)
	assert.Equal(t, reconcile.Counts{SourceRows: 2, Missing: 2, Written: 3, Rechecked: 3, ChangedDuringSync: 1}, report.Counts)
	assert.Equal(t, map[int64][]ots.Cell{1: {cell("level", ots.Integer(9))}, 2: {cell("level", ots.Integer(3))}}, f.rows(t, resultTable))

	// A change that does not change the view (the same value, a new version) is confirmed
	// without another write.
	f.delete(t, resultTable, 1)
	counter.before = func(action string, n int) {
		if action == "BatchWriteRow" {
			f.putFromHook(t, 1, ots.Integer(9))
		}
	}
	writes := counter.count("BatchWriteRow")
	report, err = reconcile.Run(t.Context(), f.config(transform.Config{}))
	require.NoError(t, err)
	assert.Equal(t, reconcile.Counts{SourceRows: 2, ResultRows: 1, Missing: 1, Written: 1, Rechecked: 1, ChangedDuringSync: 1}, report.Counts)
	assert.Equal(t, writes+1, counter.count("BatchWriteRow"))

	var level atomic.Int64
	level.Store(10)
	f.delete(t, resultTable, 1)
	counter.before = func(action string, n int) {
		if action == "BatchWriteRow" {
			f.putFromHook(t, 1, ots.Integer(level.Add(1)))
		}
	}
	report, err = reconcile.Run(t.Context(), f.config(transform.Config{}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "1 key(s) kept changing through 5 writes each and may differ from the view: id=1")
	assert.Equal(t, int64(1), report.Unsettled)
	assert.Equal(t, []string{"id=1"}, report.UnsettledKeys)
	assert.Equal(t, int64(reconcile.MaxAttempts), report.Written)
}

// TestCheckpointResumesAStoppedRun resumes the run stoppedRun stops: the result equals the
// view, the counts cover both runs, and the finished run removes the checkpoint.
func TestCheckpointResumesAStoppedRun(t *testing.T) {
	f, cfg, source, started, stopped := stoppedRun(t)
	saved, err := os.ReadFile(cfg.Checkpoint)
	require.NoError(t, err, "the stopped run leaves its checkpoint")
	assert.Equal(t, 1, strings.Count(string(saved), `"done": true`), "the first split was done")
	assert.Equal(t, 1, strings.Count(string(saved), `"after": [`), "the second split was started")
	partial := len(f.rows(t, resultTable))
	assert.Greater(t, partial, 1000)
	assert.Less(t, partial, 2000)

	report, err := reconcile.Run(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, levelView(source, nil), f.rows(t, resultTable))
	assert.Equal(t, 3, report.Splits)
	assert.Equal(t, 2, report.ResumedSplits)
	assert.Equal(t, int64(6000), report.SourceRows, "every source row counted once over both runs")
	assert.Equal(t, int64(3000), report.Missing+report.ResultRows, "a key in the view is found missing by one run, or present by the second")
	assert.WithinRange(t, report.VerifiedFrom, started.Truncate(0), stopped, "verified from the stopped run's start")
	_, err = os.Stat(cfg.Checkpoint)
	assert.True(t, errors.Is(err, os.ErrNotExist), "a finished run removes its checkpoint")
}
