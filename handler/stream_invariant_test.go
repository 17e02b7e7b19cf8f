package handler_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
)

// The shape of the runs through the Stream.
const (
	streamSequences      = 40
	streamShortSequences = 20
	streamShards         = 4
	// triggerPollInterval is how soon the trigger reads a caught-up shard again: short, so
	// that records are delivered while the sequence is still being written.
	triggerPollInterval = 10 * time.Millisecond
	// triggerInvocationTimeout bounds every invocation. The function keeps
	// handler.MaxDeadlineMargin of it free, which leaves its Tablestore retries 8 s: faults
	// that clear within a few retries never fail an invocation.
	triggerInvocationTimeout = 10 * time.Second
	// streamWaitTimeout is the test's own bound on WaitIdle and on the trigger's stopping:
	// reaching it is a failure, never a measurement.
	streamWaitTimeout = time.Minute
)

// triggerBatchSizes are the trigger's BatchSize values, sequence n taking number
// n % len(triggerBatchSizes): small ones cut a shard's records into several invocations.
var triggerBatchSizes = []int{1, 2, 3, 5, fclocal.DefaultBatchSize}

// triggerBackoff keeps the trigger's redeliveries and Stream API retries quick.
var triggerBackoff = fclocal.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond}

// TestInvariantThroughTheStream checks the invariant of docs/design.md along the production path:
// random sequences of the invariant test are written with the SDK to a source table whose
// Stream has several shards, while an fclocal trigger reads the Stream and invokes the
// function over HTTP. A random 10% of the invocations fail: half are answered as failed
// without running the function, half run it and lose its answer (the connection closes),
// so that the trigger redelivers batches that were partly or wholly applied. The second
// variant adds 20% Tablestore faults on the function's and the trigger's requests, which
// the function's retries and the trigger's redeliveries and Stream API retries must
// absorb. At the end of every generated event the test waits for the trigger to be idle;
// then the result table must equal the filtered, projected view of the model, and the
// source table the model.
func TestInvariantThroughTheStream(t *testing.T) {
	seed := modeltest.Seed(t)
	sequences := streamSequences
	if testing.Short() {
		sequences = streamShortSequences
	}
	t.Run("failing function", func(t *testing.T) {
		r := runThroughTheStream(t, seed, sequences, otslocal.Faults{})
		assert.Zero(t, r.invocations.TablestoreFailures, "without faults, invocations fail only where the test makes them")
		assert.Zero(t, r.streamFailures.Load(), "without faults, every Stream API request succeeds")
	})
	t.Run("failing function and Tablestore faults", func(t *testing.T) {
		r := runThroughTheStream(t, seed, sequences, modeltest.StreamFaults(seed))
		assert.Positive(t, r.invocations.Summary.Retries, "no request of the function met a fault")
		assert.Positive(t, r.streamFailures.Load(), "no Stream API request of the trigger met a fault")
	})
}

// runThroughTheStream runs sequences random sequences through the Stream of an otslocal
// server that injects faults, checks that every failed invocation is explained, logs the
// counts and returns the run.
func runThroughTheStream(t *testing.T, seed uint64, sequences int, faults otslocal.Faults) *streamRun {
	srv, client := newRetrylessServer(t, otslocal.Options{StreamShards: streamShards, Faults: faults})
	r := &streamRun{invariantRun: &invariantRun{seed: seed, srv: srv, client: client, clock: time.Now().UnixMilli()}}
	r.streamClient = modeltest.RetrylessClient(t, srv.Endpoint, &r.streamFailures)

	started := time.Now()
	for n := range sequences {
		r.sequence(t, n)
	}
	s := &r.invocations
	require.Empty(t, s.Unexpected, "invocations failed in ways neither the test nor the faults explain")
	require.Equal(t, int(r.rejected.Load()), s.Rejected, "invocations answered as failed by the test, as the trigger saw them")
	require.Equal(t, int(r.lost.Load()), s.Lost, "invocations whose answer the test lost, as the trigger saw them")
	t.Logf("seed %d, %d shards: %d sequences, %d operations, %d idle checks, %d invocations, %d failed (%d answered as failed, %d answers lost, %d Tablestore errors) in %s",
		seed, streamShards, sequences, r.operations, r.checks, s.Succeeded+s.Failed(), s.Failed(),
		s.Rejected, s.Lost, s.TablestoreFailures, time.Since(started).Round(time.Millisecond))
	t.Logf("faults met: %d retried requests of the function, %d failed Stream API requests of the trigger",
		s.Summary.Retries, r.streamFailures.Load())
	t.Logf("result writes: %d puts, %d conditional updates (%d not in the view), %d deletes; %d source rows read; %d records dead-lettered",
		s.Summary.Puts, s.Summary.Updates, s.Summary.NotInView, s.Summary.Deletes, s.Summary.Reads, s.Summary.DeadLettered)
	t.Logf("rules: %s", modeltest.RulesDrawn(seed, sequences))

	// Redelivery must have been exercised both ways, and the function must have done real
	// work, or the run proves little.
	assert.Positive(t, s.Rejected, "no invocation was answered as failed")
	assert.Positive(t, s.Lost, "no invocation's answer was lost")
	assert.Positive(t, s.Summary.Puts, "no result row was put")
	assert.Positive(t, s.Summary.Deletes, "no result row was deleted")
	assert.Positive(t, s.Summary.Reads, "no source row was read")
	return r
}

// streamRun is an invariantRun whose events reach the function through the Stream.
type streamRun struct {
	*invariantRun
	// streamClient is the trigger's: without SDK retries, and counting the requests that
	// failed into streamFailures.
	streamClient   *sdk.TableStoreClient
	streamFailures atomic.Int64
	// invocations counts the trigger's invocation attempts.
	invocations modeltest.Invocations
	// rejected and lost count the invocations the test failed, as the function saw them.
	rejected, lost atomic.Int64
	// operations counts the source writes, checks the comparisons of the tables with the
	// model.
	operations, checks int
}

// sequence generates random sequence n and writes its records to a fresh source table
// while a trigger delivers its Stream to the function; after each of the sequence's events
// it waits for the trigger to be idle and checks the invariant.
func (r *streamRun) sequence(t *testing.T, n int) {
	seq := modeltest.Generate(r.seed, n, r.clock)
	// The trigger cuts its own batches, encodes them as CBOR and redelivers what fails: the
	// sequence's events only mark where the test waits for it, so their drawn JSON encodings
	// and redeliveries are cleared, and the report shows plain events.
	for i := range seq.Events {
		seq.Events[i].JSON, seq.Events[i].Redeliver = false, false
	}
	batchSize := triggerBatchSizes[n%len(triggerBatchSizes)]
	path := fmt.Sprintf("through the Stream (%d shards, trigger batches of at most %d records)", streamShards, batchSize)
	source, result, letters := fmt.Sprintf("src_%d", n), fmt.Sprintf("res_%d", n), fmt.Sprintf("dl_%d", n)
	r.createSourceWithStream(t, source)
	r.createTable(t, result, modeltest.ResultMaxVersions)
	modeltest.CreateDeadLetterTable(t, r.srv, letters)
	defer modeltest.DeleteTables(t, r.client, source, result, letters)

	function := r.serveFlakyFunction(t, seq, source, result, letters)
	defer function.Close()
	trigger, stop := r.startTrigger(t, source, function.URL, batchSize)
	defer stop()

	model := modeltest.NewSourceModel()
	for i, ev := range seq.Events {
		seq.WriteRecords(t, r.client, source, model, ev.Start, ev.End)
		r.operations += ev.End - ev.Start
		ctx, cancel := context.WithTimeout(t.Context(), streamWaitTimeout)
		err := trigger.WaitIdle(ctx)
		cancel()
		seq.RequireNoError(t, err, fmt.Sprintf("%s, waiting for the trigger after the records of event %d", path, i))
		r.checks++
		seq.RequireEqualRows(t, modeltest.RenderVersions(model.Rows), modeltest.RenderVersions(r.scan(t, source)),
			fmt.Sprintf("%s, idle after the records of event %d: the source table differs from the model; the function must never write it (expected: model, actual: table)", path, i))
		seq.RequireEqualRows(t, modeltest.RenderImages(model.View(seq.Rule)), modeltest.RenderImages(modeltest.LatestImages(r.scan(t, result))),
			fmt.Sprintf("%s, idle after the records of event %d: the result table differs from filter(source) (expected: view of the model, actual: table)", path, i))
	}
}

// createSourceWithStream creates a source table like createTable's, with its Stream
// enabled.
func (r *streamRun) createSourceWithStream(t *testing.T, table string) {
	r.srv.CreateTable(t, otslocaltest.Table{Name: table, MaxVersions: modeltest.SourceMaxVersions, Stream: true})
}

// serveFlakyFunction serves the function of seq's rule for source and result, dead-lettering
// into letters, behind a FlakyFunction that draws from the sequence's own random stream and
// counts into r.
func (r *streamRun) serveFlakyFunction(t *testing.T, seq *modeltest.Sequence, source, result, letters string) *httptest.Server {
	fn, err := handler.New(handler.Config{
		Instance: otslocaltest.Instance, Endpoint: r.srv.Endpoint, SourceTable: source, ResultTable: result, DeadLetterTable: letters, Rule: seq.Rule.Config,
	}, discard)
	require.NoError(t, err)
	flaky := &modeltest.FlakyFunction{
		Next:     fcruntime.NewHTTPHandler(fn.Invoke, fcruntime.HTTPOptions{Logger: discard}),
		Rate:     modeltest.FunctionFailureRate,
		Rejected: &r.rejected,
		Lost:     &r.lost,
		// The high bit keeps this stream apart from the generator's (seed, n).
		Random: rand.New(rand.NewPCG(r.seed, uint64(seq.Number)|1<<63)),
	}
	return httptest.NewServer(flaky)
}

// startTrigger runs a trigger of table's Stream that invokes the function at url with up to
// batchSize records, and returns it with the function that stops it.
func (r *streamRun) startTrigger(t *testing.T, table, url string, batchSize int) (*fclocal.Trigger, func()) {
	return modeltest.StartTrigger(t, fclocal.Config{
		Client:            r.streamClient,
		Table:             table,
		FunctionURL:       url,
		Credentials:       testCreds,
		BatchSize:         batchSize,
		PollInterval:      triggerPollInterval,
		Backoff:           triggerBackoff,
		InvocationTimeout: triggerInvocationTimeout,
		Logger:            slog.New(slog.DiscardHandler),
		OnInvocation:      r.invocations.Count,
	}, streamWaitTimeout)
}
