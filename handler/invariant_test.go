package handler_test

import (
	"fmt"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// The shape of the random runs.
const (
	invariantSequences      = 1000
	invariantShortSequences = 100
	maxWorkers              = 4 // sequences run in parallel, up to GOMAXPROCS
)

// TestInvariantUnderRandomOperationsAndRedelivery checks the invariant of docs/design.md end to end:
// random PutRow, UpdateRow and DeleteRow operations are applied to a source table in otslocal
// with the official SDK, recorded as the Stream records them, cut into trigger events and
// delivered (CBOR, sometimes JSON, sometimes twice) to the function over its custom-runtime
// HTTP protocol. After every invocation the result table must equal the filtered, projected
// view of an in-memory model of the source table, and the model must equal the source table,
// versions included. A row the rule cannot compute is dead-lettered and not in the view.
func TestInvariantUnderRandomOperationsAndRedelivery(t *testing.T) {
	seed := modeltest.Seed(t)
	sequences := invariantSequences
	if testing.Short() {
		sequences = invariantShortSequences
	}
	srv, client := newRetrylessServer(t, otslocal.Options{})
	run := &invariantRun{seed: seed, srv: srv, client: client, clock: time.Now().UnixMilli()}

	started := time.Now()
	workers := modeltest.Workers(maxWorkers)
	stats := make([]runStats, workers)
	modeltest.RunSequences(t, sequences, workers, func(t *testing.T, w, n int) { run.sequence(t, n, &stats[w]) })
	if t.Failed() {
		return
	}
	var s runStats
	for _, worker := range stats {
		s.merge(worker)
	}
	t.Logf("seed %d: %d sequences, %d operations, %d events, %d invocations (%d redeliveries, %d JSON payloads) in %s",
		seed, sequences, s.operations, s.events, s.invocations, s.redeliveries, s.jsonPayloads, time.Since(started).Round(time.Millisecond))
	t.Logf("result writes: %d puts, %d conditional updates (%d not in the view), %d deletes; %d source rows read; %d records dead-lettered",
		s.summary.Puts, s.summary.Updates, s.summary.NotInView, s.summary.Deletes, s.summary.Reads, s.summary.DeadLettered)
	t.Logf("rules: %s", modeltest.RulesDrawn(seed, sequences))

	// Every branch of the per-key table must have been exercised, or the run proves little.
	assert.Positive(t, s.summary.Puts, "no result row was put")
	assert.Positive(t, s.summary.Deletes, "no result row was deleted")
	assert.Positive(t, s.summary.Updates-s.summary.NotInView, "no conditional update found its row")
	assert.Positive(t, s.summary.NotInView, "no conditional update missed its row")
	assert.Positive(t, s.summary.Reads, "no source row was read")
	assert.Positive(t, s.summary.DeadLettered, "no row was one the rule cannot compute")
}

// invariantRun is the state shared by the sequences of one test run.
type invariantRun struct {
	seed   uint64
	srv    *otslocaltest.Server
	client *sdk.TableStoreClient // "production": writes the source table, reads both tables
	clock  int64                 // the first cell timestamp of every sequence, in ms
}

// runStats counts what a run did, for its log lines and coverage checks.
type runStats struct {
	operations, events, invocations, redeliveries, jsonPayloads int
	summary                                                     handler.Summary // summed over all invocations
}

// add counts one invocation's summary.
func (s *runStats) add(sum handler.Summary) {
	s.invocations++
	s.summary.Add(sum)
}

// merge adds another worker's counts.
func (s *runStats) merge(o runStats) {
	s.operations += o.operations
	s.events += o.events
	s.redeliveries += o.redeliveries
	s.jsonPayloads += o.jsonPayloads
	s.invocations += o.invocations
	s.summary.Add(o.summary)
}

// sequence generates random sequence n, replays it against fresh source and result tables
// and checks the invariant after every invocation.
func (r *invariantRun) sequence(t *testing.T, n int, stats *runStats) {
	seq := modeltest.Generate(r.seed, n, r.clock)
	source, result, letters := fmt.Sprintf("src_%d", n), fmt.Sprintf("res_%d", n), fmt.Sprintf("dl_%d", n)
	r.createTable(t, source, modeltest.SourceMaxVersions)
	r.createTable(t, result, modeltest.ResultMaxVersions)
	modeltest.CreateDeadLetterTable(t, r.srv, letters)
	defer modeltest.DeleteTables(t, r.client, source, result, letters)

	fn, err := handler.New(handler.Config{
		Instance: otslocaltest.Instance, Endpoint: r.srv.Endpoint, SourceTable: source, ResultTable: result, DeadLetterTable: letters, Rule: seq.Rule.Config,
	}, discard)
	require.NoError(t, err)
	invoker := serve(t, fn)

	model := modeltest.NewSourceModel()
	for i, ev := range seq.Events {
		seq.WriteRecords(t, r.client, source, model, ev.Start, ev.End)
		stats.operations += ev.End - ev.Start
		stats.events++
		seq.RequireEqualRows(t, modeltest.RenderVersions(model.Rows), modeltest.RenderVersions(r.scan(t, source)),
			fmt.Sprintf("the source table after the records of event %d differs from the model (expected: model, actual: table)", i))
		want := modeltest.RenderImages(model.View(seq.Rule))
		for delivery := 1; delivery <= ev.Deliveries(); delivery++ {
			r.deliver(t, seq, i, delivery, invoker, stats)
			seq.RequireEqualRows(t, want, modeltest.RenderImages(modeltest.LatestImages(r.scan(t, result))),
				fmt.Sprintf("event %d, delivery %d: the result table differs from filter(source) (expected: view of the model, actual: table)", i, delivery))
		}
	}
	seq.RequireEqualRows(t, modeltest.RenderVersions(model.Rows), modeltest.RenderVersions(r.scan(t, source)),
		"the source table after the last event differs from the model: the function must never write it")
}

// deliver invokes the function with event i of seq, as the trigger's delivery number
// delivery, and requires success.
func (r *invariantRun) deliver(t *testing.T, seq *modeltest.Sequence, i, delivery int, invoker *fcruntime.Invoker, stats *runStats) {
	t.Helper()
	ev := seq.Events[i]
	doing := fmt.Sprintf("event %d, delivery %d", i, delivery)
	sum, err := invoke(t.Context(), invoker, fcruntime.Invocation{
		RequestID:   fmt.Sprintf("seq%d-event%d-delivery%d", seq.Number, i, delivery),
		Credentials: testCreds,
	}, seq.Payload(t, i))
	seq.RequireNoError(t, err, doing)
	if sum.Records != ev.End-ev.Start {
		require.Equal(t, ev.End-ev.Start, sum.Records, "%s", seq.Report(doing+": the summary counts other records"))
	}
	stats.add(sum)
	if delivery > 1 {
		stats.redeliveries++
	}
	if ev.JSON {
		stats.jsonPayloads++
	}
}

// createTable creates table with primary key `id` INTEGER, data that never expires,
// explicit timestamps allowed up to a day from now (Tablestore's default), and no Stream.
func (r *invariantRun) createTable(t *testing.T, table string, maxVersions int) {
	r.srv.CreateTable(t, otslocaltest.Table{Name: table, MaxVersions: maxVersions})
}

// scan reads every row of table with its versions.
func (r *invariantRun) scan(t *testing.T, table string) map[int64]modeltest.Row {
	rows, err := modeltest.ScanTable(r.client, table)
	require.NoError(t, err, "scanning table %s", table)
	return rows
}
