package handler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/local/osslocal/osslocaltest"
	"github.com/otsetl/otsetl/ots"
)

// exportEnv is the environment of a function exporting to oss under "exports/", with env's
// variables on top.
func exportEnv(oss *osslocaltest.Server, env map[string]string) map[string]string {
	vars := map[string]string{
		handler.EnvExportTo: "oss://" + osslocaltest.Bucket + "/exports/", handler.EnvOSSEndpoint: oss.Endpoint, handler.EnvRegion: osslocaltest.Region,
	}
	for k, v := range env {
		vars[k] = v
	}
	return vars
}

// idKey is the primary key schema of the fixtures' tables.
var idKey = []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}}

// TestBothSinksHaveTheBatch: with a result table and an export, an invocation writes both,
// reports both in its summary and its log line, and its redelivery overwrites its own
// object.
func TestBothSinksHaveTheBatch(t *testing.T) {
	oss := osslocaltest.NewServer(t, osslocal.Options{})
	f := newFixture(t, exportEnv(oss, nil))
	payload := encode(t,
		putRow(1, cell("level", ots.Integer(0))),
		putRow(2, cell("level", ots.Integer(2)), cell("message", ots.String("warn"))),
	)
	for range 2 {
		sum, err := f.invoke(payload)
		require.NoError(t, err)
		assert.Equal(t, 1, sum.Puts)
		assert.Equal(t, 1, sum.WriteRequests, "the result table's batch")
		assert.Equal(t, 5, sum.ExportLines, "DR and a U per cell of each PutRow")
		assert.Equal(t, 1, sum.ExportRequests)
		assert.True(t, strings.HasPrefix(sum.ExportObject, "oss://"+osslocaltest.Bucket+"/exports/source_data/dt="), sum.ExportObject)
		assert.Contains(t, sum.String(), "; exported 5 lines, ")
		assert.Contains(t, sum.String(), " bytes in 1 OSS requests to "+sum.ExportObject)
		objects := oss.List(t, osslocaltest.Bucket, "exports/")
		require.Len(t, objects, 1, "a redelivery overwrites its own object")
		assert.Equal(t, sum.ExportObject, "oss://"+osslocaltest.Bucket+"/"+objects[0].Key)
		assert.Equal(t, sum.ExportBytes, objects[0].Size)
		line := lastLogLine(t, f.logs.String(), "invocation succeeded")
		requireSummaryLogged(t, sum, line)
	}
	assert.Len(t, f.table("result"), 1)
}

// TestAnExportOnlyFunctionNeedsNoTablestore: RESULT_TABLE set empty and a `changes` export:
// the function plans nothing and sends nothing to Tablestore (its endpoint here answers
// nobody), and every change of the source is exported, the rule not applied.
func TestAnExportOnlyFunctionNeedsNoTablestore(t *testing.T) {
	oss := osslocaltest.NewServer(t, osslocal.Options{})
	cfg, err := handler.ConfigFromEnv(lookup(exportEnv(oss, map[string]string{
		handler.EnvInstance: "i", handler.EnvEndpoint: "http://127.0.0.1:1", handler.EnvResultTable: "",
	})))
	require.NoError(t, err)
	fn, err := handler.New(cfg, discard)
	require.NoError(t, err)
	invoker := serve(t, fn)
	payload := encode(t, putRow(1, cell("level", ots.String("not a number"))), putRow(2, cell("level", ots.Integer(0))))
	sum, err := invoke(t.Context(), invoker, fcruntime.Invocation{RequestID: "r", Credentials: testCreds}, payload)
	require.NoError(t, err, "a level the filter cannot evaluate is exported like any change")
	assert.Zero(t, sum.Keys+sum.Puts+sum.Updates+sum.Deletes, "nothing planned, nothing written to a table")
	assert.Zero(t, sum.WriteRequests+sum.ReadRequests)
	assert.Equal(t, 4, sum.ExportLines)
	assert.True(t, strings.HasPrefix(sum.String(), "2 records, 0 keys: 0 puts, 0 updates (0 not in view), 0 deletes, 0 source reads"), sum.String())
	assert.Contains(t, sum.String(), "; exported 4 lines, ")
}

// TestAFailedExportFailsTheInvocation: when OSS fails for good, the invocation fails with
// ExportError naming the object, so that the trigger delivers the batch again; once OSS
// answers, the redelivery succeeds and leaves one object.
func TestAFailedExportFailsTheInvocation(t *testing.T) {
	oss := osslocaltest.NewServer(t, osslocal.Options{Faults: osslocal.Faults{ServerError: 1, Operations: osslocal.WriteOperations}})
	f := newFixture(t, exportEnv(oss, nil))
	payload := encode(t, putRow(1, cell("level", ots.Integer(2))))
	_, err := f.invoke(payload)
	var failure *fcruntime.InvocationError
	require.ErrorAs(t, err, &failure)
	assert.Equal(t, handler.ErrorTypeExport, failure.ErrorType)
	assert.Contains(t, failure.ErrorMessage, "PutObject oss://"+osslocaltest.Bucket+"/exports/source_data/")
	assert.Contains(t, failure.ErrorMessage, "InternalError")
	assert.Empty(t, oss.List(t, osslocaltest.Bucket, ""))

	require.NoError(t, oss.SetFaults(osslocal.Faults{}))
	sum, err := f.invoke(payload)
	require.NoError(t, err)
	assert.Len(t, oss.List(t, osslocaltest.Bucket, ""), 1)
	assert.Equal(t, 1, sum.Puts)
}

// TestRowsAreTheWritersDecisions: a `rows` export holds what the writer wrote, after the
// filter, the projection and the source reads: a put of the projected row, a delete, and a
// put decided from the source row an UpdateRow of a filter column made the function read.
func TestRowsAreTheWritersDecisions(t *testing.T) {
	oss := osslocaltest.NewServer(t, osslocal.Options{})
	f := newFixture(t, exportEnv(oss, map[string]string{handler.EnvExportFormat: "rows", handler.EnvColumns: "level,message"}))
	stamp := time.Now().UnixMilli()
	require.NoError(t, modeltest.WriteSource(f.srv.SDK, "source_data", modeltest.NewRecord(events.PutRow, 3, stamp, []events.Column{
		{Type: events.Put, ColumnName: "level", Value: ots.Integer(3), Timestamp: &stamp},
		{Type: events.Put, ColumnName: "message", Value: ots.String("from the source"), Timestamp: &stamp},
		{Type: events.Put, ColumnName: "host", Value: ots.String("h"), Timestamp: &stamp},
	})))
	payload := encode(t,
		putRow(1, cell("level", ots.Integer(2)), cell("message", ots.String("kept")), cell("host", ots.String("dropped"))),
		putRow(2, cell("level", ots.Integer(0))),
		updateRow(3, cell("level", ots.Integer(3))),
	)
	sum, err := f.invoke(payload)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Reads)
	objects := oss.List(t, osslocaltest.Bucket, "exports/")
	require.Len(t, objects, 1)
	rows, err := modeltest.ParseRows(oss.Get(t, osslocaltest.Bucket, objects[0].Key), export.JSONL, idKey, nil)
	require.NoError(t, err)
	var got []string
	for _, r := range rows {
		got = append(got, strings.Join(append([]string{ots.FormatPrimaryKey(r.PrimaryKey), r.Op}, cellTexts(r.Columns)...), " "))
	}
	assert.Equal(t, []string{
		`id=1 put level=2 message="kept"`,
		`id=2 delete`,
		`id=3 put level=3 message="from the source"`,
	}, got)
	images := map[int64]modeltest.Image{}
	for _, r := range rows {
		modeltest.ApplyRow(images, r)
	}
	assert.Len(t, f.table("result"), len(images), "the rows applied give the result table")
}

// cellTexts renders cells as name=value.
func cellTexts(cells []ots.Cell) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = c.Name + "=" + c.Value.String()
	}
	return out
}

// lookup is the environment of the variables env holds, set empty when empty.
func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}
