package handler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
)

// The shape of the fault runs.
const (
	faultSequences      = 40
	faultShortSequences = 10
	// invocationDeadline bounds every invocation under faults. tablestore.Client keeps the
	// last 500 ms before a deadline free (see its Write), which leaves 100 ms for retries:
	// faults that persist for a few retries fail the invocation, so redelivery is exercised.
	invocationDeadline = 600 * time.Millisecond
	// maxDeliveries bounds the deliveries of one event under faults.
	maxDeliveries = 50
	// processTimeout is the test's own bound on one Process call, far beyond any deadline
	// the test gives: reaching it means Process hangs.
	processTimeout = time.Minute
)

// functionFaults are faults on the two actions the function sends, BatchWriteRow and
// BatchGetRow; the test's own client (row operations, GetRange, table operations) meets
// none.
func functionFaults(seed int64, rates otslocal.FaultRates) otslocal.Faults {
	return otslocal.Faults{Seed: seed, PerOperation: map[string]otslocal.FaultRates{"BatchWriteRow": rates, "BatchGetRow": rates}}
}

// faultRun is an invariantRun (the test's own SDK client, without retries, and its table
// helpers) on a server whose faults the test sets.
type faultRun struct {
	*invariantRun
}

func newFaultRun(t *testing.T, seed uint64) *faultRun {
	t.Helper()
	srv, client := newRetrylessServer(t, otslocal.Options{})
	return &faultRun{invariantRun: &invariantRun{seed: seed, srv: srv, client: client, clock: time.Now().UnixMilli()}}
}

// function builds the function for source and result with rule config, dead-lettering into
// letters when it is not empty.
func (r *faultRun) function(t *testing.T, source, result, letters string, rule modeltest.RuleCase) *handler.Function {
	t.Helper()
	fn, err := handler.New(handler.Config{Instance: otslocaltest.Instance, Endpoint: r.srv.Endpoint, SourceTable: source, ResultTable: result, DeadLetterTable: letters, Rule: rule.Config}, discard)
	require.NoError(t, err)
	return fn
}

// process runs fn.Process on payload under a deadline and fails the test if it does not
// return within processTimeout.
func process(t *testing.T, fn *handler.Function, deadline time.Duration, payload []byte) (handler.Summary, error) {
	t.Helper()
	type outcome struct {
		sum handler.Summary
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		sum, err := fn.Process(ctx, testCreds, payload)
		done <- outcome{sum, err}
	}()
	select {
	case o := <-done:
		return o.sum, o.err
	case <-time.After(processTimeout):
		t.Fatalf("Process did not return within %s of a %s deadline", processTimeout, deadline)
		return handler.Summary{}, nil
	}
}

// TestFaultsThatNeverClearFailTheInvocationBeforeItsDeadline: a Tablestore that answers
// every BatchWriteRow (or BatchGetRow) with OTSServerBusy makes Process give up with an
// error naming the fault, before the context's deadline, having written nothing.
func TestFaultsThatNeverClearFailTheInvocationBeforeItsDeadline(t *testing.T) {
	level := func(v int64) events.Column {
		return events.Column{Type: events.Put, ColumnName: modeltest.ColumnLevel, Value: ots.Integer(v)}
	}
	cases := []struct {
		action string
		record events.Record // a PutRow is decided from the event; an UpdateRow needs a source read
	}{
		{"BatchWriteRow", modeltest.NewRecord(events.PutRow, 1, 0, []events.Column{level(2)})},
		{"BatchGetRow", modeltest.NewRecord(events.UpdateRow, 1, 0, []events.Column{level(2)})},
	}
	for _, c := range cases {
		t.Run(c.action, func(t *testing.T) {
			r := newFaultRun(t, 0)
			r.createTable(t, "source", modeltest.SourceMaxVersions)
			r.createTable(t, "result", modeltest.ResultMaxVersions)
			fn := r.function(t, "source", "result", "", modeltest.DefaultRule)
			require.NoError(t, r.srv.SetFaults(otslocal.Faults{PerOperation: map[string]otslocal.FaultRates{c.action: {ServerBusy: 1}}}))
			payload, err := events.EncodeCBOR(&events.Event{Version: events.Version, Records: []events.Record{c.record}})
			require.NoError(t, err)

			sum, err := process(t, fn, 3*time.Second, payload)
			require.Error(t, err)
			assert.Equal(t, handler.ErrorTypeTablestore, fcruntime.ErrorType(err))
			assert.ErrorIs(t, err, tablestore.ErrDeadline)
			assert.Contains(t, err.Error(), "OTSServerBusy")
			assert.Contains(t, err.Error(), c.action)
			assert.Zero(t, sum.Puts+sum.Updates+sum.Deletes, "nothing was written")
			assert.Equal(t, sum.Retries+1, sum.WriteRequests+sum.ReadRequests, "one request, then retries until no time was left")
			assert.Positive(t, sum.Retries)
			assert.Empty(t, r.scan(t, "result"))
		})
	}
}

// TestInvariantUnderFaultsAndRedelivery runs random sequences of the invariant test with
// faults on every Tablestore request of the function: 5% each of OTSServerBusy,
// OTSPartitionUnavailable, OTSRowOperationConflict and dropped connections (applied, no
// answer), and 20% of the rows of every batch failing alone. Every event is delivered
// until an invocation succeeds, as the trigger redelivers a failed batch (and twice when
// the sequence says so); after each success the result table must equal the filtered,
// projected view of the source table.
func TestInvariantUnderFaultsAndRedelivery(t *testing.T) {
	seed := modeltest.Seed(t)
	sequences := faultSequences
	if testing.Short() {
		sequences = faultShortSequences
	}
	r := newFaultRun(t, seed)
	require.NoError(t, r.srv.SetFaults(functionFaults(int64(seed), otslocal.FaultRates{
		ServerBusy: 0.05, PartitionUnavailable: 0.05, RowOperationConflict: 0.05, DropConnection: 0.05, RowFailure: 0.2,
	})))
	var invocations, failed int
	for n := range sequences {
		seq := modeltest.Generate(seed, n, r.clock)
		source, result, letters := fmt.Sprintf("src_%d", n), fmt.Sprintf("res_%d", n), fmt.Sprintf("dl_%d", n)
		r.createTable(t, source, modeltest.SourceMaxVersions)
		r.createTable(t, result, modeltest.ResultMaxVersions)
		modeltest.CreateDeadLetterTable(t, r.srv, letters)
		fn := r.function(t, source, result, letters, seq.Rule)
		model := modeltest.NewSourceModel()
		for i, ev := range seq.Events {
			seq.WriteRecords(t, r.client, source, model, ev.Start, ev.End)
			for delivery := 1; delivery <= ev.Deliveries(); delivery++ {
				tries := deliverUntilSuccess(t, fn, seq, i)
				invocations += tries
				failed += tries - 1
			}
			seq.RequireEqualRows(t, modeltest.RenderImages(model.View(seq.Rule)), modeltest.RenderImages(modeltest.LatestImages(r.scan(t, result))),
				fmt.Sprintf("event %d under faults: the result table differs from filter(source) (expected: view of the model, actual: table)", i))
		}
		modeltest.DeleteTables(t, r.client, source, result, letters)
	}
	t.Logf("seed %d: %d sequences, %d invocations, %d of them failed and were redelivered", seed, sequences, invocations, failed)
	t.Logf("rules: %s", modeltest.RulesDrawn(seed, sequences))
	assert.Positive(t, failed, "no invocation failed: the faults exercised no redelivery")
}

// deliverUntilSuccess invokes fn with event i of seq until an invocation succeeds, at
// most maxDeliveries times, and returns the number of invocations. A failure must be a
// Tablestore error: the faults are the only thing that can go wrong.
func deliverUntilSuccess(t *testing.T, fn *handler.Function, seq *modeltest.Sequence, i int) int {
	t.Helper()
	payload := seq.Payload(t, i)
	var last error
	for try := 1; try <= maxDeliveries; try++ {
		_, err := process(t, fn, invocationDeadline, payload)
		if err == nil {
			return try
		}
		if fcruntime.ErrorType(err) != handler.ErrorTypeTablestore {
			require.NoError(t, err, "%s", seq.Report(fmt.Sprintf("event %d, try %d: not a Tablestore fault", i, try)))
		}
		last = err
	}
	require.NoError(t, last, "%s", seq.Report(fmt.Sprintf("event %d: still failing after %d deliveries", i, maxDeliveries)))
	return maxDeliveries
}

// TestRedeliveryAfterAnInvocationStoppedPartWayThroughItsWrites: an event of 300 result
// mutations (two BatchWriteRow chunks) meets faults that let only some of its rows land
// (most rows fail, and some requests are applied but their connection is dropped), and
// the invocation runs out of time part-way, as a function crashing between its writes
// would. Delivering the same event again, without faults, must leave the result table
// equal to filter(source).
func TestRedeliveryAfterAnInvocationStoppedPartWayThroughItsWrites(t *testing.T) {
	const rows = 300
	r := newFaultRun(t, 0)
	r.createTable(t, "source", modeltest.SourceMaxVersions)
	r.createTable(t, "result", modeltest.ResultMaxVersions)
	fn := r.function(t, "source", "result", "", modeltest.DefaultRule)
	model := modeltest.NewSourceModel()
	eventOf := func(level func(id int64) int64, message string) []byte {
		records := make([]events.Record, rows)
		for id := range int64(rows) {
			timestamp := r.clock + id
			records[id] = modeltest.NewRecord(events.PutRow, id, timestamp, []events.Column{
				{Type: events.Put, ColumnName: modeltest.ColumnLevel, Value: ots.Integer(level(id)), Timestamp: &timestamp},
				{Type: events.Put, ColumnName: modeltest.ColumnMessage, Value: ots.String(message), Timestamp: &timestamp},
			})
			require.NoError(t, modeltest.WriteSource(r.client, "source", records[id]))
			model.Apply(records[id])
		}
		r.clock += rows
		payload, err := events.EncodeCBOR(&events.Event{Version: events.Version, Records: records})
		require.NoError(t, err)
		return payload
	}

	// Every row in the view first, so that the second event's deletes have rows to remove.
	_, err := process(t, fn, time.Minute, eventOf(func(int64) int64 { return 3 }, "first"))
	require.NoError(t, err)
	before := modeltest.RenderImages(modeltest.LatestImages(r.scan(t, "result")))
	require.Len(t, before, rows)

	// Even rows stay in the view with a new message, odd rows leave it: 150 puts and 150
	// deletes.
	second := eventOf(func(id int64) int64 { return 2 * (1 - id%2) }, "second")
	want := modeltest.RenderImages(model.View(modeltest.DefaultRule))
	require.NoError(t, r.srv.SetFaults(otslocal.Faults{Seed: 5, PerOperation: map[string]otslocal.FaultRates{
		"BatchWriteRow": {RowFailure: 0.9, DropConnection: 0.3},
	}}))
	sum, err := process(t, fn, invocationDeadline, second)
	require.Error(t, err, "the invocation must not report success")
	assert.Equal(t, handler.ErrorTypeTablestore, fcruntime.ErrorType(err))
	assert.Less(t, sum.Puts+sum.Deletes, rows)
	partial := modeltest.RenderImages(modeltest.LatestImages(r.scan(t, "result")))
	require.NotEqual(t, before, partial, "some rows of the second event landed")
	require.NotEqual(t, want, partial, "not all rows of the second event landed")

	require.NoError(t, r.srv.SetFaults(otslocal.Faults{}))
	sum, err = process(t, fn, time.Minute, second)
	require.NoError(t, err)
	assert.Equal(t, handler.Summary{Records: rows, Keys: rows, Puts: rows / 2, Deletes: rows / 2, WriteRequests: 2}, withoutLag(sum))
	assert.Equal(t, want, modeltest.RenderImages(modeltest.LatestImages(r.scan(t, "result"))))
}

// withoutLag clears the wall-clock part of a summary.
func withoutLag(sum handler.Summary) handler.Summary {
	sum.LagMs = 0
	return sum
}
