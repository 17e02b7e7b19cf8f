package handler_test

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/local/osslocal/osslocaltest"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/task"
	"github.com/otsetl/otsetl/transform"
)

// syncTask is a valid sync task of the fixture's function for the whole table, primary key
// id INTEGER, from after (nil: the start).
func (f *fixture) syncTask(after []ots.PrimaryKeyColumn) task.Task {
	t := task.Task{
		Version: task.Version, Kind: task.KindSync, Fingerprint: f.cfg.Fingerprint(),
		PrimaryKey: []task.SchemaColumn{{Name: "id", Type: "INTEGER"}},
		Lower:      []ots.TextKeyColumn{}, Upper: []ots.TextKeyColumn{}, BudgetMs: 30_000, Sync: &task.SyncOptions{Show: 5},
	}
	if after != nil {
		t.After = ots.TextKey(after)
	}
	return t
}

// runTask sends a task invocation and decodes its result.
func (f *fixture) runTask(payload []byte) (*task.Result, error) {
	f.t.Helper()
	body, err := f.invoker.Invoke(f.t.Context(), fcruntime.Invocation{RequestID: "task-" + f.t.Name(), Credentials: testCreds}, payload)
	if err != nil {
		return nil, err
	}
	result, _, err := task.ParseResult(body, task.KindSync, []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}})
	return result, err
}

// taskJSON encodes a task, or a map standing for one.
func taskJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return data
}

// TestTaskInvocationSyncsTheRange: a sync task makes the result equal to the view of the
// source with the function's own rule, from after the key it is given, and answers with the
// counts; run again, it finds nothing to fix.
func TestTaskInvocationSyncsTheRange(t *testing.T) {
	f := newFixture(t, map[string]string{handler.EnvFilter: "level > 1"})
	var changes []ots.RowChange
	for id := range int64(10) {
		changes = append(changes, ots.RowChange{Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}},
			Columns: []ots.Cell{cell("level", ots.Integer(id%4))}})
	}
	f.write(t, f.cfg.SourceTable, changes)
	f.write(t, f.cfg.ResultTable, []ots.RowChange{{Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}},
		Columns: []ots.Cell{cell("level", ots.Integer(1))}}}) // extra: level 1 is not in the view

	after := []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(4)}}
	result, err := f.runTask(taskJSON(t, f.syncTask(after)))
	require.NoError(t, err)
	assert.True(t, result.Done)
	assert.Equal(t, int64(5), result.Sync.SourceRows, "ids 5 to 9, after id 4")
	assert.Equal(t, int64(2), result.Sync.Missing, "ids 6 and 7")
	assert.Equal(t, []string{"id=6", "id=7"}, []string{result.Sync.MissingKeys[0].PrimaryKey, result.Sync.MissingKeys[1].PrimaryKey})
	assert.Equal(t, map[string][]ots.Cell{
		"id=1": {cell("level", ots.Integer(1))},
		"id=6": {cell("level", ots.Integer(2))},
		"id=7": {cell("level", ots.Integer(3))},
	}, f.table(f.cfg.ResultTable), "the keys up to id 4 are left alone")

	result, err = f.runTask(taskJSON(t, f.syncTask(nil)))
	require.NoError(t, err)
	assert.Equal(t, int64(10), result.Sync.SourceRows)
	assert.Equal(t, int64(1), result.Sync.Extra)
	assert.Equal(t, int64(2), result.Sync.Missing, "ids 2 and 3")
	assert.Equal(t, []string{"id=2", "id=3", "id=6", "id=7"}, slices.Sorted(maps.Keys(f.table(f.cfg.ResultTable))), "the view: levels 2 and 3")
	assert.Contains(t, f.logs.String(), `"msg":"task succeeded"`)
}

// write writes changes into table with the function's writer.
func (f *fixture) write(t *testing.T, table string, changes []ots.RowChange) {
	t.Helper()
	client, err := tablestore.NewClient(tablestore.Config{Endpoint: f.srv.Endpoint, Instance: otslocaltest.Instance}, testCreds)
	require.NoError(t, err)
	_, err = client.Write(t.Context(), table, changes)
	require.NoError(t, err)
}

// TestBadTasksFailWithInvalidRequestAndTouchNothing sends tasks that do not parse, and a task
// of another configuration: each fails with its errorType, naming what is wrong, and no
// table is read or written.
func TestBadTasksFailWithInvalidRequestAndTouchNothing(t *testing.T) {
	f := newFixture(t, nil)
	f.write(t, f.cfg.SourceTable, []ots.RowChange{{Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(1)}},
		Columns: []ots.Cell{cell("level", ots.Integer(3))}}})
	edit := func(change func(m map[string]any)) []byte {
		var m map[string]any
		require.NoError(t, json.Unmarshal(taskJSON(t, f.syncTask(nil)), &m))
		change(m)
		return taskJSON(t, m)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		errType string
		want    string
	}{
		{"another version", edit(func(m map[string]any) { m["version"] = 2 }), handler.ErrorTypeInvalidRequest, "version 2; this otsetl runs version 1"},
		{"a string version", edit(func(m map[string]any) { m["version"] = "1" }), handler.ErrorTypeInvalidRequest, "not a task object"},
		{"another kind", edit(func(m map[string]any) { m["kind"] = "export" }), handler.ErrorTypeInvalidRequest, `kind "export"; want "sync"`},
		{"an unknown field", edit(func(m map[string]any) { m["table"] = "other" }), handler.ErrorTypeInvalidRequest, `unknown field "table"`},
		{"no budget", edit(func(m map[string]any) { delete(m, "budgetMs") }), handler.ErrorTypeInvalidRequest, "budgetMs 0"},
		{"a key of another type", edit(func(m map[string]any) {
			m["lower"] = []any{map[string]any{"name": "id", "type": "STRING", "value": "1"}}
		}), handler.ErrorTypeInvalidRequest, `lower: column "id": type "STRING"`},
		{"an after outside the range", edit(func(m map[string]any) {
			m["upper"] = []any{map[string]any{"name": "id", "type": "INTEGER", "value": "5"}}
			m["after"] = []any{map[string]any{"name": "id", "type": "INTEGER", "value": "9"}}
		}), handler.ErrorTypeInvalidRequest, "after (id=9) lies outside the range"},
		{"lower after upper", edit(func(m map[string]any) {
			m["lower"] = []any{map[string]any{"name": "id", "type": "INTEGER", "value": "9"}}
			m["upper"] = []any{map[string]any{"name": "id", "type": "INTEGER", "value": "5"}}
		}), handler.ErrorTypeInvalidRequest, "lower (id=9) is not before upper (id=5)"},
		{"broken JSON", []byte(`{"version": 1, "kind": "sync", `), handler.ErrorTypeInvalidRequest, "not a task object"},
		{"data after the task", append(taskJSON(t, f.syncTask(nil)), []byte(` {}`)...), handler.ErrorTypeInvalidRequest, "data after the task object"},
		{"another rule", edit(func(m map[string]any) { m["fingerprint"] = strings.Repeat("0", 64) }), handler.ErrorTypeConfigurationMismatch,
			"the task expects another configuration (fingerprint 000000000000…) than the function runs with"},
		{"another mapping", edit(func(m map[string]any) {
			other := f.cfg
			other.Rule.Columns = `{"level": level}`
			m["fingerprint"] = other.Fingerprint()
		}), handler.ErrorTypeConfigurationMismatch, `filter "level > 1", columns ""): deploy the s.yaml the task was made from`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.runTask(tc.payload)
			var failed *fcruntime.InvocationError
			require.True(t, errors.As(err, &failed), "%v", err)
			assert.Equal(t, tc.errType, failed.ErrorType)
			assert.Contains(t, failed.ErrorMessage, tc.want)
			assert.Empty(t, f.table(f.cfg.ResultTable), "nothing written")
		})
	}
	assert.Regexp(t, `"msg":"task failed","requestId":"[^"]+","errorType":"InvalidRequest","error":"task: version 2; this otsetl runs version 1"`, f.logs.String())
}

// TestTasksAndEventsAreToldApart: the payloads of either kind go where they belong, by the
// one rule of task.IsTask: a JSON object with a top-level "version".
func TestTasksAndEventsAreToldApart(t *testing.T) {
	f := newFixture(t, nil)
	event, err := events.EncodeJSON(&events.Event{Version: events.Version, Records: []events.Record{putRow(3, cell("level", ots.Integer(3)))}})
	require.NoError(t, err)
	for payload, isTask := range map[string]bool{
		string(event):                        false,
		string(encode(t, putRow(4))):         false,
		` {"version": 1}`:                    true,
		`{"Records": [], "version": "Sync"}`: true,
		`{"Version": "Sync-v1", "Records": [], "nested": {"version": 1}}`: false,
		`[{"version": 1}]`: false,
		`{"version"`:       true,
		`{"records": [`:    false,
		``:                 false,
	} {
		assert.Equal(t, isTask, task.IsTask([]byte(payload)), "%q", payload)
	}
	sum, err := f.invoke(event)
	require.NoError(t, err, "a JSON event is an event")
	assert.Equal(t, 1, sum.Puts)
	_, err = f.invoke([]byte(`{"Version": "Sync-v1", "Records": [], "version": 1}`))
	var failed *fcruntime.InvocationError
	require.True(t, errors.As(err, &failed), "%v", err)
	assert.Equal(t, handler.ErrorTypeInvalidRequest, failed.ErrorType, "a top-level version makes a task, which this is not")
}

// TestTaskInvocationAppliesTheMapping: with COLUMNS a map literal, a sync task writes the
// result rows the mapping computes, and a second task finds them equal; a task whose primary
// key names a column the mapping computes is refused before anything is read or written.
func TestTaskInvocationAppliesTheMapping(t *testing.T) {
	f := newFixture(t, map[string]string{handler.EnvColumns: ` {"severity": level >= 3 ? "error" : "warn", "text": upper(trim(message))} `})
	var changes []ots.RowChange
	for id := range int64(6) {
		changes = append(changes, ots.RowChange{Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}},
			Columns: []ots.Cell{cell("level", ots.Integer(id%4)), cell("message", ots.String(" line "))}})
	}
	f.write(t, f.cfg.SourceTable, changes)

	result, err := f.runTask(taskJSON(t, f.syncTask(nil)))
	require.NoError(t, err)
	assert.Equal(t, int64(2), result.Sync.Missing, "ids 2 and 3, of levels 2 and 3")
	mapped := func(severity string) []ots.Cell {
		return []ots.Cell{cell("severity", ots.String(severity)), cell("text", ots.String("LINE"))}
	}
	assert.Equal(t, map[string][]ots.Cell{"id=2": mapped("warn"), "id=3": mapped("error")}, f.table(f.cfg.ResultTable))
	again, err := f.runTask(taskJSON(t, f.syncTask(nil)))
	require.NoError(t, err)
	assert.Equal(t, int64(2), again.Sync.ResultRows)
	assert.Zero(t, again.Sync.Missing+again.Sync.Extra+again.Sync.Differing+again.Sync.Written+again.Sync.Deleted, "the mapped rows are the view")

	keyed := f.syncTask(nil)
	keyed.PrimaryKey = []task.SchemaColumn{{Name: "text", Type: "STRING"}}
	_, err = f.runTask(taskJSON(t, keyed))
	var failed *fcruntime.InvocationError
	require.True(t, errors.As(err, &failed), "%v", err)
	assert.Equal(t, handler.ErrorTypeInvalidRequest, failed.ErrorType)
	assert.Contains(t, failed.ErrorMessage, `the source table's primary key does not go with the function's COLUMNS: "text" is the name of a primary key column (text STRING)`)
	assert.Equal(t, map[string][]ots.Cell{"id=2": mapped("warn"), "id=3": mapped("error")}, f.table(f.cfg.ResultTable), "nothing written")
}

// TestFingerprintCoversTablesAndRule: the fingerprint changes with the instance, each table,
// FILTER and COLUMNS (a list, a mapping, another mapping), and with nothing a compiled rule
// does not see (blanks around the texts, the default filter written out) nor with the
// endpoint or the instance's id.
func TestFingerprintCoversTablesAndRule(t *testing.T) {
	base := handler.Config{Instance: "i", Endpoint: "https://i.cn-hangzhou.ots.aliyuncs.com", SourceTable: "source_data", ResultTable: "result",
		Rule: transform.Config{Columns: `{"severity": level}`}}
	same := []func(*handler.Config){
		func(c *handler.Config) { c.Rule.Filter = transform.DefaultFilter },
		func(c *handler.Config) { c.Rule.Columns = "\n " + c.Rule.Columns + " " },
		func(c *handler.Config) { c.Endpoint = "https://i.cn-hangzhou.vpc.tablestore.aliyuncs.com" },
		func(c *handler.Config) { c.InstanceID = "c-1" },
	}
	for i, change := range same {
		c := base
		change(&c)
		assert.Equal(t, base.Fingerprint(), c.Fingerprint(), "change %d", i)
	}
	others := map[string]func(*handler.Config){
		"instance":          func(c *handler.Config) { c.Instance = "j" },
		"source table":      func(c *handler.Config) { c.SourceTable = "other" },
		"result table":      func(c *handler.Config) { c.ResultTable = "other" },
		"dead-letter table": func(c *handler.Config) { c.DeadLetterTable = "letters" },
		"filter":            func(c *handler.Config) { c.Rule.Filter = "level > 2" },
		"all columns":       func(c *handler.Config) { c.Rule.Columns = "" },
		"a projection":      func(c *handler.Config) { c.Rule.Columns = "severity" },
		"another mapping":   func(c *handler.Config) { c.Rule.Columns = `{"severity": level + 1}` },
	}
	seen := map[string]string{base.Fingerprint(): "base"}
	for name, change := range others {
		c := base
		change(&c)
		fp := c.Fingerprint()
		assert.Empty(t, seen[fp], "%s has the fingerprint of %s", name, seen[fp])
		seen[fp] = name
	}
}

// TestExportOnlyFunctionRefusesSyncTasks: a function with RESULT_TABLE set empty keeps no
// result table, and a sync task of its own configuration fails with InvalidRequest, nothing
// read or written.
func TestExportOnlyFunctionRefusesSyncTasks(t *testing.T) {
	oss := osslocaltest.NewServer(t, osslocal.Options{})
	f := newFixture(t, exportEnv(oss, map[string]string{handler.EnvResultTable: ""}))
	_, err := f.runTask(taskJSON(t, f.syncTask(nil)))
	var failed *fcruntime.InvocationError
	require.True(t, errors.As(err, &failed), "%v", err)
	assert.Equal(t, handler.ErrorTypeInvalidRequest, failed.ErrorType)
	assert.Contains(t, failed.ErrorMessage, "RESULT_TABLE is empty: an export-only function keeps no result table to sync")
	assert.Empty(t, oss.List(t, osslocaltest.Bucket, "exports/"), "nothing exported")
}
