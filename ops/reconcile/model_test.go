package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/reconcile"
	"github.com/otsetl/otsetl/ots"
)

// The shape of the model-based sync test.
const (
	modelSequences      = 200
	modelShortSequences = 40
	modelWorkers        = 4
	modelStreamShards   = 2
	// modelLatency is the latency otslocal adds to every request, and modelPollInterval how
	// soon the trigger reads a caught-up shard again: the trigger's lag behind the writes.
	modelLatency      = time.Millisecond
	modelPollInterval = 5 * time.Millisecond
	// maxWritePause is the longest pause between two source writes.
	maxWritePause = 3 * time.Millisecond
	// modelWaitTimeout is the test's own bound on the waits; reaching it is a failure.
	modelWaitTimeout = time.Minute
)

// TestSyncBesideTheLiveTrigger is the model-based test of docs/design.md, "Sync": random
// source operations are written while a trigger runs through fclocal (two Stream shards,
// a poll interval and otslocal latency for lag), invoking a function that fails 10% of its
// invocations, with 20% Tablestore faults on the requests of the function, the trigger and
// the sync's writes and re-reads. The first operations are the table's history, written
// before the trigger is bound; the result table is damaged at random (rows deleted, extra
// rows, wrong values, an extra column); a sync starts at a random moment of the writes.
// After the writes stop, the sync returns and the trigger is idle, the result table must
// equal the view of the model of the source table, in every sequence. A sync that reports
// keys that kept changing through all its writes fails, as documented; it is then run again
// after the writes, as its user would, and the log counts such runs.
func TestSyncBesideTheLiveTrigger(t *testing.T) {
	testSyncBesideTheLiveTrigger(t, false)
}

// TestFanOutSyncBesideTheLiveTrigger is TestSyncBesideTheLiveTrigger with the sync run as
// task invocations of the function (docs/design.md, "Task invocations"), through fclocal's
// InvokeFunction API over a pool of instances: tasks that take keys for 1 to 4 ms, so that
// a sync takes many, one to four in flight over one to three instances (so that some are refused with a
// 429), 10% of the task invocations failing before they run, 5% whose answer is lost after
// they ran, and one instance killed in the middle of a task in every sequence. The same
// random writes, lagging faulty trigger and damaged result; the result table must equal the
// view once the trigger is idle, in every sequence.
func TestFanOutSyncBesideTheLiveTrigger(t *testing.T) {
	testSyncBesideTheLiveTrigger(t, true)
}

// The faults of the fan-out variant's task invocations.
const (
	taskFailureRate = 0.10
	taskLossRate    = 0.05
)

// testSyncBesideTheLiveTrigger runs the model-based test, the sync in this process or, with
// fanOut, as task invocations.
func testSyncBesideTheLiveTrigger(t *testing.T, fanOut bool) {
	seed := modeltest.Seed(t)
	sequences := modelSequences
	if testing.Short() {
		sequences = modelShortSequences
	}
	faults := modeltest.StreamFaults(seed)
	faults.Latency = modelLatency
	srv := otslocaltest.NewServer(t, otslocal.Options{StreamShards: modelStreamShards, Faults: faults})
	run := &modelRun{seed: seed, srv: srv, client: modeltest.RetrylessClient(t, srv.Endpoint, nil), clock: time.Now().UnixMilli(), fanOut: fanOut}
	run.streamClient = modeltest.RetrylessClient(t, srv.Endpoint, &run.streamFailures)

	started := time.Now()
	workers := modeltest.Workers(modelWorkers)
	tallies := make([]modelTally, workers)
	modeltest.RunSequences(t, sequences, workers, func(t *testing.T, w, n int) { run.sequence(t, n, &tallies[w]) })
	if t.Failed() {
		return
	}
	var total modelTally
	for i := range tallies {
		total.merge(&tallies[i])
	}
	t.Logf("seed %d: %d sequences, %d operations (%d before the trigger, %d while a sync ran), %d damaged result rows, in %s",
		seed, sequences, total.operations, total.history, total.duringSync, total.damaged, time.Since(started).Round(time.Millisecond))
	inv := &total.invocations
	t.Logf("trigger: %d invocations, %d failed (%d answered as failed, %d answers lost, %d Tablestore errors, %d refused by the busy pool, %d cut off by a killed instance); function requests retried %d times, %d failed Stream API requests",
		inv.Succeeded+inv.Failed(), inv.Failed(), inv.Rejected, inv.Lost, inv.TablestoreFailures, inv.Busy, inv.Killed, inv.Summary.Retries, run.streamFailures.Load())
	c := total.sync
	t.Logf("syncs: %d source rows, %d result rows: %d missing, %d extra, %d differing; %d written, %d deleted; %d rechecked, %d changed during sync; %d unsettled keys, in %d syncs run again after the writes",
		c.SourceRows, c.ResultRows, c.Missing, c.Extra, c.Differing, c.Written, c.Deleted, c.Rechecked, c.ChangedDuringSync, total.unsettled, total.reruns)
	t.Logf("rules: %s", modeltest.RulesDrawn(seed, sequences))
	if fanOut {
		tasks := &total.tasks
		t.Logf("task invocations: %d, %d answered by the function (%d done, %d to be continued), %d failed by the fault, %d answers lost, %d refused at the instance limit (429), %d cut off by a killed instance, %d failed by the function (Tablestore faults); %d instances killed",
			tasks.invocations, tasks.answered, tasks.done, tasks.continued, tasks.failed, tasks.lost, tasks.throttled, tasks.unhandled, tasks.functionErrors, tasks.killed)
		assert.Positive(t, tasks.continued, "no task returned before the end of its split")
		assert.Positive(t, tasks.failed, "no task invocation failed")
		assert.Positive(t, tasks.lost, "no answer was lost")
		assert.Positive(t, tasks.throttled, "no task invocation met the instance limit")
		assert.Positive(t, tasks.unhandled, "no task invocation was cut off by a killed instance")
	}

	// The run proves little unless the sync met every case.
	assert.Positive(t, total.sync.Missing, "no sync found a missing key")
	assert.Positive(t, total.sync.Extra, "no sync found an extra key")
	assert.Positive(t, total.sync.Differing, "no sync found a differing key")
	assert.Positive(t, total.sync.ChangedDuringSync, "no source row changed during a sync")
	assert.Positive(t, total.duringSync, "no operation was written while a sync ran")
	require.Empty(t, inv.Unexpected, "invocations failed in ways neither the test nor the faults explain")
	assert.Equal(t, int(total.rejectedByFunction.Load()), inv.Rejected, "invocations answered as failed by the test, as the trigger saw them")
	assert.Equal(t, int(total.lostByFunction.Load()), inv.Lost, "invocations whose answer the test lost, as the trigger saw them")
	assert.Positive(t, inv.Summary.Retries, "no request of the function met a fault")
	assert.Positive(t, inv.Rejected, "no invocation was answered as failed")
	assert.Positive(t, inv.Lost, "no invocation's answer was lost")
}

// modelRun is the state the sequences of one run share.
type modelRun struct {
	seed   uint64
	srv    *otslocaltest.Server
	client *sdk.TableStoreClient // the test's: source writes, damage, scans
	// streamClient is the triggers', counting its failed requests into streamFailures.
	streamClient   *sdk.TableStoreClient
	streamFailures atomic.Int64
	clock          int64 // the first cell timestamp of every sequence, in ms
	fanOut         bool  // the syncs run as task invocations
}

// taskTally counts the task invocations of a worker's fan-out syncs, as fclocal's API
// answered them.
type taskTally struct {
	invocations, answered, done, continued, failed, lost, throttled, unhandled, functionErrors, killed int
}

// count counts one invocation.
func (c *taskTally) count(inv fclocal.APIInvocation) {
	c.invocations++
	switch {
	case inv.Lost:
		c.lost++
	case inv.Status == http.StatusTooManyRequests:
		c.throttled++
	case inv.ErrorType == fclocal.ErrorTypeInjectedFault:
		c.failed++
	case inv.ErrorType == fclocal.ErrorTypeUnhandled:
		c.unhandled++
	case inv.ErrorType != "":
		c.functionErrors++
	case inv.ErrorType == "" && inv.Status == http.StatusOK:
		c.answered++
		if strings.Contains(string(inv.Result), `"done":true`) {
			c.done++
		} else {
			c.continued++
		}
	}
}

// merge adds another worker's counts.
func (c *taskTally) merge(o *taskTally) {
	c.invocations += o.invocations
	c.answered += o.answered
	c.done += o.done
	c.continued += o.continued
	c.failed += o.failed
	c.lost += o.lost
	c.throttled += o.throttled
	c.unhandled += o.unhandled
	c.functionErrors += o.functionErrors
	c.killed += o.killed
}

// modelTally counts what the sequences of one worker did.
type modelTally struct {
	operations, history, duringSync, damaged int
	sync                                     reconcile.Counts
	// unsettled counts the keys syncs reported unsettled, and reruns the syncs run again
	// after the writes because of them.
	unsettled, reruns int
	// invocations counts the triggers' invocation attempts; rejectedByFunction and
	// lostByFunction the invocations the flaky functions failed, as they saw them.
	invocations                        modeltest.Invocations
	rejectedByFunction, lostByFunction atomic.Int64
	// tasks counts the task invocations of fan-out syncs.
	tasks taskTally
}

// merge adds another worker's counts.
func (m *modelTally) merge(o *modelTally) {
	m.operations += o.operations
	m.history += o.history
	m.duringSync += o.duringSync
	m.damaged += o.damaged
	m.unsettled += o.unsettled
	m.reruns += o.reruns
	m.sync.Add(o.sync)
	m.invocations.Merge(&o.invocations)
	m.rejectedByFunction.Add(o.rejectedByFunction.Load())
	m.lostByFunction.Add(o.lostByFunction.Load())
	m.tasks.merge(&o.tasks)
}

// sequence runs random sequence n: history, damage, the trigger, the writes with a sync
// among them, and the check.
func (r *modelRun) sequence(t *testing.T, n int, tally *modelTally) {
	seq := modeltest.Generate(r.seed, n, r.clock)
	rng := rand.New(rand.NewPCG(r.seed, uint64(n)|1<<62)) // apart from the generator's stream and the flaky function's
	source, result, letters := fmt.Sprintf("src_%d", n), fmt.Sprintf("res_%d", n), fmt.Sprintf("dl_%d", n)
	r.srv.CreateTable(t, otslocaltest.Table{Name: source, MaxVersions: modeltest.SourceMaxVersions, Stream: true})
	r.srv.CreateTable(t, otslocaltest.Table{Name: result, MaxVersions: modeltest.ResultMaxVersions})
	modeltest.CreateDeadLetterTable(t, r.srv, letters)
	defer modeltest.DeleteTables(t, r.client, source, result, letters)

	// History: the first operations, before the trigger is bound.
	model := modeltest.NewSourceModel()
	history := rng.IntN(len(seq.Records) + 1)
	seq.WriteRecords(t, r.client, source, model, 0, history)
	tally.damaged += r.damage(t, seq, rng, model, result)
	time.Sleep(2 * time.Millisecond) // so that the history is committed before the trigger's start
	bound := time.Now()

	fnConfig := handler.Config{
		Instance: otslocaltest.Instance, Endpoint: r.srv.Endpoint, SourceTable: source, ResultTable: result, DeadLetterTable: letters, Rule: seq.Rule.Config,
	}
	fn, err := handler.New(fnConfig, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	var fanOut *fanOutSync
	next := fcruntime.NewHTTPHandler(fn.Invoke, fcruntime.HTTPOptions{Logger: slog.New(slog.DiscardHandler)})
	if r.fanOut { // the trigger's invocations go to the pool the tasks run on
		fanOut = r.startFanOut(t, fnConfig, rng, n)
		defer fanOut.stop(tally)
		next = fcruntime.NewHTTPHandler(fanOut.invokePool, fcruntime.HTTPOptions{Logger: slog.New(slog.DiscardHandler)})
	}
	flaky := httptest.NewServer(&modeltest.FlakyFunction{
		Next:     next,
		Rate:     modeltest.FunctionFailureRate,
		Rejected: &tally.rejectedByFunction,
		Lost:     &tally.lostByFunction,
		Random:   rand.New(rand.NewPCG(r.seed, uint64(n)|1<<63)),
	})
	defer flaky.Close()
	trigger, stop := r.startTrigger(t, source, flaky.URL, bound, tally)
	defer stop()

	// The writes, with a sync started before record syncAt.
	syncAt := history + rng.IntN(len(seq.Records)-history+1)
	var (
		report  *reconcile.Report
		syncErr error
		syncing atomic.Bool
		wg      sync.WaitGroup
	)
	cfg := reconcile.Config{Function: fnConfig, Credentials: otslocaltest.Credentials}
	if fanOut != nil {
		fanOut.configure(&cfg, rng)
	}
	for at := history; at <= len(seq.Records); at++ {
		if at == syncAt {
			syncing.Store(true)
			wg.Go(func() {
				if fanOut != nil {
					defer fanOut.killDuringATask()()
				}
				report, syncErr = reconcile.Run(context.Background(), cfg)
				syncing.Store(false)
			})
		}
		if at == len(seq.Records) {
			break
		}
		time.Sleep(time.Duration(rng.Int64N(int64(maxWritePause))))
		seq.WriteRecords(t, r.client, source, model, at, at+1)
		if syncing.Load() {
			tally.duringSync++
		}
	}
	wg.Wait()
	doing := fmt.Sprintf("history of %d records, result damaged, trigger bound, sync started before record %d", history, syncAt)
	if syncErr != nil && report != nil && report.Unsettled > 0 {
		// Keys that kept changing through every write fail the run, and the remedy is to run
		// it again once the writes calm down: here, once they have stopped.
		tally.unsettled += int(report.Unsettled)
		tally.reruns++
		tally.sync.Add(report.Counts)
		report, syncErr = reconcile.Run(context.Background(), cfg)
		doing += fmt.Sprintf(", run again after the writes (%v)", syncErr)
	}
	seq.RequireNoError(t, syncErr, doing+": the sync failed")
	ctx, cancel := context.WithTimeout(t.Context(), modelWaitTimeout)
	err = trigger.WaitIdle(ctx)
	cancel()
	seq.RequireNoError(t, err, doing+": waiting for the trigger")

	rows, err := modeltest.ScanTable(r.client, source)
	seq.RequireNoError(t, err, "scanning the source table")
	seq.RequireEqualRows(t, modeltest.RenderVersions(model.Rows), modeltest.RenderVersions(rows), doing+": the source table differs from the model")
	rows, err = modeltest.ScanTable(r.client, result)
	seq.RequireNoError(t, err, "scanning the result table")
	seq.RequireEqualRows(t, modeltest.RenderImages(model.View(seq.Rule)), modeltest.RenderImages(modeltest.LatestImages(rows)),
		doing+": after the sync, with the trigger idle, the result table differs from the view (expected: view of the model, actual: table)")

	tally.operations += len(seq.Records)
	tally.history += history
	tally.sync.Add(report.Counts)
}

// damage writes wrong rows into the result table: for each key, at random, nothing, the
// view's row, the view's row with a wrong level, with an extra column, or a row for a key
// not in the view; and one or two rows for keys the source never has. It returns how many
// rows it wrote that are not the view's.
func (r *modelRun) damage(t *testing.T, seq *modeltest.Sequence, rng *rand.Rand, model *modeltest.SourceModel, result string) int {
	view := model.View(seq.Rule)
	now := time.Now().UnixMilli()
	damaged := 0
	put := func(id int64, image modeltest.Image) {
		rec := modeltest.NewRecord(events.PutRow, id, now, nil)
		for column, value := range image {
			rec.Columns = append(rec.Columns, events.Column{Type: events.Put, ColumnName: column, Value: value, Timestamp: &now})
		}
		seq.RequireNoError(t, modeltest.WriteSource(r.client, result, rec), fmt.Sprintf("damaging result row id=%d", id))
	}
	for id := range int64(modeltest.KeySpace) {
		image, inView := view[id]
		wrong := modeltest.Image{}
		for column, value := range image {
			wrong[column] = value
		}
		switch rng.IntN(5) {
		case 0:
			continue
		case 1:
			if inView {
				put(id, image)
				continue
			}
			wrong[modeltest.ColumnLevel] = ots.Integer(3)
		case 2:
			wrong[modeltest.ColumnLevel] = ots.Integer(7)
		case 3:
			wrong["junk"] = ots.Boolean(true)
		case 4:
			wrong[modeltest.ColumnMessage] = ots.String("wrong")
		}
		put(id, wrong)
		damaged++
	}
	for i := range 1 + rng.IntN(2) {
		put(int64(100+i), modeltest.Image{modeltest.ColumnLevel: ots.Integer(2)})
		damaged++
	}
	return damaged
}

// startTrigger runs a trigger of table's Stream from since, invoking the function at url,
// and returns it with the function that stops it.
func (r *modelRun) startTrigger(t *testing.T, table, url string, since time.Time, tally *modelTally) (*fclocal.Trigger, func()) {
	return modeltest.StartTrigger(t, fclocal.Config{
		Client:            r.streamClient,
		Table:             table,
		FunctionURL:       url,
		Credentials:       otslocaltest.Credentials,
		Since:             since,
		PollInterval:      modelPollInterval,
		Backoff:           fclocal.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond},
		InvocationTimeout: 10 * time.Second,
		Logger:            slog.New(slog.DiscardHandler),
		OnInvocation:      tally.invocations.Count,
	}, modelWaitTimeout)
}

// fanOutSync is the FC API and the pool of instances one sequence's fan-out syncs run on.
type fanOutSync struct {
	api    *functionAPI
	killed atomic.Int64
}

// startFanOut starts fclocal's API over a pool of one to three instances in this process of
// the function of fn, with the faults of the fan-out variant on the task invocations.
func (r *modelRun) startFanOut(t *testing.T, fn handler.Config, rng *rand.Rand, n int) *fanOutSync {
	faults := &fclocal.APIFaults{FailRate: taskFailureRate, LoseRate: taskLossRate, Random: rand.New(rand.NewPCG(r.seed, uint64(n)|1<<61))}
	return &fanOutSync{api: startFunctionAPI(t, fn, 1+rng.IntN(3), faults)}
}

// configure sets cfg to sync as task invocations through the API, that take keys for 1 to
// 4 ms, up to four at a time.
func (f *fanOutSync) configure(cfg *reconcile.Config, rng *rand.Rand) {
	cfg.OnFC = &reconcile.FCConfig{Endpoint: f.api.URL, Function: "otsetl"}
	cfg.TaskBudget = time.Duration(1+rng.IntN(4)) * time.Millisecond
	cfg.Parallel = 1 + rng.IntN(4)
	cfg.RetryInterval = time.Millisecond
}

// invokePool is the trigger's way into the pool, served under the custom-runtime protocol:
// the function's failures keep their errorType, an invocation the pool refuses at its
// instance limit is failed as InstanceBusy, one whose instance was killed as
// UnhandledInvocationError; the trigger retries them.
func (f *fanOutSync) invokePool(ctx context.Context, inv fcruntime.Invocation, payload []byte) (json.RawMessage, error) {
	result, err := f.api.Pool.Invoke(ctx, inv, payload)
	var failed *fcruntime.InvocationError
	var exited *fclocal.InstanceExitError
	switch {
	case errors.As(err, &exited):
		return nil, typedError{&fcruntime.InvocationError{ErrorBody: fcruntime.ErrorBody{ErrorMessage: err.Error(), ErrorType: fclocal.ErrorTypeUnhandled}}}
	case errors.Is(err, fclocal.ErrThrottled):
		return nil, typedError{&fcruntime.InvocationError{ErrorBody: fcruntime.ErrorBody{ErrorMessage: err.Error(), ErrorType: fcruntime.ErrorTypeInstanceBusy}}}
	case errors.As(err, &failed):
		return nil, typedError{failed}
	}
	return result, err
}

// typedError passes a function's failure on with its errorType.
type typedError struct{ *fcruntime.InvocationError }

// ErrorType is the failure's errorType, for fcruntime.ErrorType.
func (e typedError) ErrorType() string { return e.InvocationError.ErrorType }

// killDuringATask kills one instance while it runs a task, once the sync has one in flight,
// and returns the function that stops waiting for one.
func (f *fanOutSync) killDuringATask() func() {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, inst := range f.api.Pool.Status().Instances {
				if inst.Busy && inst.Running && f.api.Pool.Kill(inst.ID) {
					f.killed.Add(1)
					return
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// stop counts the task invocations into tally.
func (f *fanOutSync) stop(tally *modelTally) {
	f.api.mu.Lock()
	defer f.api.mu.Unlock()
	for _, inv := range f.api.invocations {
		tally.tasks.count(inv)
	}
	tally.tasks.killed += int(f.killed.Load())
}
