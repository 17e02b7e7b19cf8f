package exportmodel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/internal/modeltest"
	"github.com/otsetl/otsetl/internal/testkit"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/osslocal"
	"github.com/otsetl/otsetl/local/osslocal/osslocaltest"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/transform"
)

// The shape of the export's model-based test.
const (
	// exportSequences is how many sequences each variant runs.
	exportSequences = 200
	// exportConcurrency is how many sequences run at a time, each with its own otslocal,
	// osslocal, function processes and triggers. A sequence mostly waits (for a request held
	// by a timeout fault to be given up, for a killed process to come back, for the
	// triggers' retries), so more run at a time than there are CPUs.
	exportConcurrency  = 8
	exportStreamShards = 2
	// exportInvocationTimeout bounds each invocation (x-fc-function-timeout): the function
	// keeps a fifth free, and gives an OSS request a third of the rest, so that a request
	// held by a timeout fault is tried again within the invocation, 0.4 s after it was sent.
	exportInvocationTimeout = 1500 * time.Millisecond
	// exportPollInterval is how often a caught-up shard is polled: it paces the test only
	// (waiting for idle wakes the shards), and each poll costs CPU.
	exportPollInterval = 25 * time.Millisecond
	exportWaitTimeout  = 2 * time.Minute
	// exportKillEvery: one sequence in this many kills a function process with SIGKILL in
	// the middle of an invocation.
	exportKillEvery = 4
)

// exportBatchSizes are the triggers' BatchSize values, sequence n taking n % len.
var exportBatchSizes = []int{1, 2, 3, 5, fclocal.DefaultBatchSize}

// ossFaults are the OSS faults of sequence n of the run with seed: 20% of the requests that
// write an object, in equal shares 500s, requests held until the client gives up, and
// answers lost after the object was written.
func ossFaults(seed uint64, n int) osslocal.Faults {
	return osslocal.Faults{Seed: int64(seed) ^ int64(n)<<32, ServerError: 0.07, Timeout: 0.06, LostAnswer: 0.07, Operations: osslocal.WriteOperations}
}

// TestExportReplayRebuildsTheSource is the model-based test of the export (docs/exports.md,
// "Replaying"): random source operations under random rules (the invariant tests'
// generator) are written to a table whose Stream two local triggers read, each invoking a
// function running as an `otsetl serve` process: one keeps the result table (dead-lettering
// the rows its rule cannot compute) and exports `rows`, the other, with RESULT_TABLE set
// empty, exports `changes` alone. Every sequence has its own otslocal and osslocal. Each function fails 10% of its
// invocations (half answered as failed, half with their answer lost after they ran), OSS
// fails 20% of the requests that write objects (500s, timeouts, lost answers after the
// object was written), Tablestore 20% of the function's and the trigger's requests, and one
// sequence in four kills a function process with SIGKILL in the middle of an invocation.
// Once the triggers are idle: the `changes` objects, listed and applied line by line in
// name order (the first record's time) to an empty table, give the source table cell by
// cell, version by version, type by type; the `rows` objects, applied, give the result
// table, which is the view of the model; and the objects listed are exactly one per batch
// the functions accepted, whatever the redeliveries.
func TestExportReplayRebuildsTheSource(t *testing.T) {
	runExportModel(t, export.JSONL, export.None, exportSequences)
}

// TestExportReplayRebuildsTheSourceInCSVGzip is TestExportReplayRebuildsTheSource with the
// objects in gzip-compressed CSV.
func TestExportReplayRebuildsTheSourceInCSVGzip(t *testing.T) {
	runExportModel(t, export.CSV, export.Gzip, exportSequences)
}

// exportRun is the state the sequences of one run share.
type exportRun struct {
	seed        uint64
	bin         string
	fileFormat  export.FileFormat
	compression export.Compression
	clock       int64 // the first cell timestamp of every sequence, in ms
}

// sequenceCloud is the local cloud of one sequence: its otslocal, whose Stream requests
// meet faults, its osslocal, whose writes meet faults, and the triggers' Tablestore client,
// counting its failed requests into streamFailures.
type sequenceCloud struct {
	ots            *otslocaltest.Server
	oss            *osslocaltest.Server
	streamClient   *sdk.TableStoreClient
	streamFailures atomic.Int64
}

// exportTally counts what the sequences of one worker did.
type exportTally struct {
	sequences, operations, objects, changeLines, rowLines int
	kills, killsInFlight, unavailable                     int
	ossFaults                                             osslocal.FaultCounts
	streamFailures                                        int64
	invocations                                           invocationOutcomes
}

func runExportModel(t *testing.T, fileFormat export.FileFormat, compression export.Compression, sequences int) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	seed := modeltest.Seed(t)
	r := &exportRun{seed: seed, bin: testkit.BuildOtsetl(t), fileFormat: fileFormat, compression: compression, clock: time.Now().UnixMilli()}

	started := time.Now()
	tallies := make([]exportTally, exportConcurrency)
	modeltest.RunSequences(t, sequences, exportConcurrency, func(t *testing.T, w, n int) {
		t.Run(fmt.Sprintf("sequence%d", n), func(t *testing.T) { r.sequence(t, n, &tallies[w]) }) // its servers stop with it
	})
	if t.Failed() {
		return
	}
	var total exportTally
	for i := range tallies {
		total.merge(&tallies[i])
	}
	inv := &total.invocations
	faults := total.ossFaults
	t.Logf("seed %d, %s/%s: %d sequences, %d operations, %d at a time, in %s", seed, fileFormat, compression, total.sequences, total.operations, exportConcurrency, time.Since(started).Round(time.Millisecond))
	t.Logf("replayed %d objects: %d changes lines rebuilt the source tables, %d rows lines the result tables", total.objects, total.changeLines, total.rowLines)
	t.Logf("invocations: %d, %d failed: %d answered as failed, %d answers lost (%d of them to %d function processes killed, %d in the middle of an invocation, and restarted), %d timed out, %d export failures, %d Tablestore failures",
		inv.succeeded+inv.failed(), inv.failed(), inv.injected, inv.lost, total.unavailable, total.kills, total.killsInFlight, inv.timedOut, inv.exportFailures, inv.tablestoreFailures)
	t.Logf("OSS: %d requests of the functions (retries included), %d faults injected: %d 500s, %d timeouts, %d lost answers; Tablestore: %d retried requests of the functions, %d failed Stream API requests",
		inv.exportRequests, faults.Total(), faults.ServerErrors, faults.Timeouts, faults.LostAnswers, inv.retries, total.streamFailures)

	require.Empty(t, inv.unexpected, "invocations failed in ways neither the test nor the faults explain")
	assert.Equal(t, sequences, total.sequences)
	assert.Positive(t, inv.injected, "no invocation was answered as failed")
	assert.Positive(t, inv.lost, "no invocation's answer was lost")
	assert.Positive(t, inv.exportFailures, "no invocation failed of OSS")
	assert.Positive(t, total.killsInFlight, "no function process was killed in the middle of an invocation")
	assert.Positive(t, faults.ServerErrors, "no 500")
	assert.Positive(t, faults.Timeouts, "no timeout")
	assert.Positive(t, faults.LostAnswers, "no lost answer")
	assert.Positive(t, inv.retries, "no Tablestore request of the functions met a fault")
}

// merge adds o's counts to s.
func (s *exportTally) merge(o *exportTally) {
	s.sequences += o.sequences
	s.operations += o.operations
	s.objects += o.objects
	s.changeLines += o.changeLines
	s.rowLines += o.rowLines
	s.kills += o.kills
	s.killsInFlight += o.killsInFlight
	s.unavailable += o.unavailable
	s.ossFaults.ServerErrors += o.ossFaults.ServerErrors
	s.ossFaults.Timeouts += o.ossFaults.Timeouts
	s.ossFaults.LostAnswers += o.ossFaults.LostAnswers
	s.streamFailures += o.streamFailures
	s.invocations.merge(&o.invocations)
}

// sequence writes random sequence n to the source table of a cloud of its own while the two
// functions export it, then replays the exports and compares.
func (r *exportRun) sequence(t *testing.T, n int, tally *exportTally) {
	seq := modeltest.Generate(r.seed, n, r.clock)
	cloud := &sequenceCloud{
		ots: otslocaltest.NewServer(t, otslocal.Options{StreamShards: exportStreamShards, Faults: modeltest.StreamFaults(r.seed ^ uint64(n)<<32)}),
		oss: osslocaltest.NewServer(t, osslocal.Options{Faults: ossFaults(r.seed, n)}),
	}
	cloud.streamClient = modeltest.RetrylessClient(t, cloud.ots.Endpoint, &cloud.streamFailures)
	for i := range seq.Events { // the triggers cut their own batches
		seq.Events[i].JSON, seq.Events[i].Redeliver = false, false
	}
	rule := seq.Rule.Config
	if r.fileFormat == export.CSV && rule.Columns == "" { // every column, as a csv header lists them
		rule.Columns = strings.Join([]string{modeltest.ColumnLevel, modeltest.ColumnMessage, modeltest.ColumnOther}, ",")
	}
	compiled, err := transform.Compile(rule)
	require.NoError(t, err)
	columns := compiled.ResultColumns() // a rows CSV header's
	source, result, letters := fmt.Sprintf("xsrc_%d", n), fmt.Sprintf("xres_%d", n), fmt.Sprintf("xdl_%d", n)
	cloud.ots.CreateTable(t, otslocaltest.Table{Name: source, MaxVersions: modeltest.SourceMaxVersions, Stream: true})
	cloud.ots.CreateTable(t, otslocaltest.Table{Name: result, MaxVersions: modeltest.ResultMaxVersions})
	modeltest.CreateDeadLetterTable(t, cloud.ots, letters)
	client := modeltest.RetrylessClient(t, cloud.ots.Endpoint, nil)

	common := map[string]string{
		handler.EnvInstance: otslocaltest.Instance, handler.EnvEndpoint: cloud.ots.Endpoint, handler.EnvSourceTable: source,
		handler.EnvFilter: rule.Filter, handler.EnvColumns: rule.Columns,
		handler.EnvOSSEndpoint: cloud.oss.Endpoint, handler.EnvRegion: osslocaltest.Region,
		handler.EnvExportFileFormat: string(r.fileFormat), handler.EnvExportCompression: string(r.compression),
	}
	prefix := fmt.Sprintf("seq-%d/", n)
	random := rand.New(rand.NewPCG(r.seed, uint64(n)|1<<62))
	kill := n%exportKillEvery == exportKillEvery-1
	functions := []*exportFunction{
		r.startFunction(t, n, "rows", prefix+"rows/", source, with(common, handler.EnvResultTable, result, handler.EnvDeadLetterTable, letters, handler.EnvExportFormat, string(export.Rows)), kill && random.IntN(2) == 0, tally),
		r.startFunction(t, n, "changes", prefix+"changes/", source, with(common, handler.EnvResultTable, "", handler.EnvExportFormat, string(export.Changes)), false, tally),
	}
	if kill && functions[0].killAt == 0 {
		functions[1].killAt = 1
	}
	batchSize := exportBatchSizes[n%len(exportBatchSizes)]
	for _, fn := range functions {
		fn.startTrigger(t, cloud, source, batchSize)
	}

	model := modeltest.NewSourceModel()
	seq.WriteRecords(t, client, source, model, 0, len(seq.Records))
	for _, fn := range functions {
		ctx, cancel := context.WithTimeout(t.Context(), exportWaitTimeout)
		err := fn.trigger.WaitIdle(ctx)
		cancel()
		seq.RequireNoError(t, err, fmt.Sprintf("waiting for the trigger of the %s function (batches of at most %d records)", fn.name, batchSize))
	}
	for _, fn := range functions {
		fn.stop()
	}
	doing := fmt.Sprintf("%s/%s, trigger batches of at most %d records", r.fileFormat, r.compression, batchSize)

	sourceRows, err := modeltest.ScanTable(client, source)
	seq.RequireNoError(t, err, "scanning the source table")
	resultRows, err := modeltest.ScanTable(client, result)
	seq.RequireNoError(t, err, "scanning the result table")
	seq.RequireEqualRows(t, modeltest.RenderVersions(model.Rows), modeltest.RenderVersions(sourceRows), doing+": the source table differs from the model")
	seq.RequireEqualRows(t, modeltest.RenderImages(model.View(seq.Rule)), modeltest.RenderImages(modeltest.LatestImages(resultRows)), doing+": the result table differs from the view of the model")

	replayed := modeltest.NewSourceModel()
	changes := functions[1].objects(t, cloud, seq)
	for _, data := range changes {
		lines, err := modeltest.ParseChanges(data, r.fileFormat, otslocaltest.IDKey)
		seq.RequireNoError(t, err, doing+": reading a changes object")
		for _, c := range lines {
			replayed.ApplyChange(c)
		}
		tally.changeLines += len(lines)
	}
	seq.RequireEqualRows(t, modeltest.RenderVersions(sourceRows), modeltest.RenderVersions(replayed.Rows),
		doing+": the changes objects, applied in order to an empty table, differ from the source table (expected: source, actual: replay)")

	images := map[int64]modeltest.Image{}
	rows := functions[0].objects(t, cloud, seq)
	for _, data := range rows {
		lines, err := modeltest.ParseRows(data, r.fileFormat, otslocaltest.IDKey, columns)
		seq.RequireNoError(t, err, doing+": reading a rows object")
		for _, l := range lines {
			modeltest.ApplyRow(images, l)
		}
		tally.rowLines += len(lines)
	}
	seq.RequireEqualRows(t, modeltest.RenderImages(modeltest.LatestImages(resultRows)), modeltest.RenderImages(images),
		doing+": the rows objects, applied in order, differ from the result table (expected: result, actual: replay)")

	tally.sequences++
	tally.operations += len(seq.Records)
	faults := cloud.oss.Faults()
	tally.ossFaults.ServerErrors += faults.ServerErrors
	tally.ossFaults.Timeouts += faults.Timeouts
	tally.ossFaults.LostAnswers += faults.LostAnswers
	tally.streamFailures += cloud.streamFailures.Load()
	tally.objects += len(changes) + len(rows)
	for _, fn := range functions {
		if fn.killAt > 0 {
			require.True(t, fn.killed.Load(), "sequence %d: the %s function process was to be killed", n, fn.name)
			tally.kills++
			if fn.killedInFlight.Load() {
				tally.killsInFlight++
			}
		} else {
			require.Zero(t, fn.unavailable.Load(), "sequence %d: the %s function process was not killed, yet did not answer:\n%s\nits stderr:\n%s",
				n, fn.name, &fn.unanswered, &fn.stderr)
		}
		o := &fn.outcomes
		require.Equal(t, int(fn.rejected.Load()), o.injected, "invocations answered as failed by the test, as the trigger saw them")
		// An answer lost by the front while the process was down counts on both sides.
		lost, unavailable := int(fn.lost.Load()), int(fn.unavailable.Load())
		require.True(t, o.lost >= max(lost, unavailable) && o.lost <= lost+unavailable,
			"sequence %d, %s function: %d invocations seen lost; the front lost %d, found the process down %d times", n, fn.name, o.lost, lost, unavailable)
		tally.unavailable += int(fn.unavailable.Load())
		tally.invocations.merge(o)
	}
}

// with returns a copy of env with the variables of nameValues (name, value, …) set.
func with(env map[string]string, nameValues ...string) map[string]string {
	out := make(map[string]string, len(env)+len(nameValues)/2)
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(nameValues); i += 2 {
		out[nameValues[i]] = nameValues[i+1]
	}
	return out
}

// exportFunction is one function of a sequence: an `otsetl serve` process kept running
// (and restarted when killed), behind a front that fails some invocations and may kill the
// process during one, and its trigger.
type exportFunction struct {
	name, prefix, table, extension string
	process                        *process
	front                          *httptest.Server
	trigger                        *fclocal.Trigger
	stopTrigger, stopProcess       func()
	// killAt is the invocation (1 for the first) during which the process is killed; 0
	// means none.
	killAt                 int64
	invocations            atomic.Int64
	inFlight               atomic.Int64
	killed, killedInFlight atomic.Bool
	// unavailable counts the invocations that found no process answering (killed, or not
	// yet restarted); rejected and lost those the front failed.
	unavailable, rejected, lost atomic.Int64
	// unanswered holds, a line each, why the front found no process answering.
	unanswered testkit.SyncBuffer
	outcomes   invocationOutcomes
	stderr     testkit.SyncBuffer
}

// startFunction starts the process of a function with env, exporting under prefix, behind
// its front.
func (r *exportRun) startFunction(t *testing.T, n int, name, prefix, table string, env map[string]string, kill bool, tally *exportTally) *exportFunction {
	t.Helper()
	env = with(env, handler.EnvExportTo, "oss://"+osslocaltest.Bucket+"/"+prefix)
	fn := &exportFunction{name: name, prefix: prefix, table: table, extension: export.Extension(r.fileFormat, r.compression)}
	fn.outcomes.accepted = map[string]bool{}
	if kill {
		fn.killAt = 1
	}
	addr := testkit.FreePort(t)
	vars := os.Environ()
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	fn.process = &process{path: r.bin, args: []string{"serve", "--listen", addr}, env: vars, addr: addr, stderr: &fn.stderr}
	require.NoError(t, fn.process.start())
	ctx, cancel := context.WithCancel(context.Background())
	supervised := make(chan error, 1)
	go func() { supervised <- fn.process.supervise(ctx) }()

	target, err := url.Parse("http://" + addr)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	// A transport of its own: a pooled connection to a process of an earlier sequence that
	// listened on the same port must not be taken for one to this process.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	proxy.Transport = transport
	fn.stopProcess = func() {
		cancel()
		assert.NoError(t, <-supervised, "the %s function process", name)
		transport.CloseIdleConnections()
	}
	// A function process that died or is being restarted answers nothing, as a crashed
	// instance does: the trigger sees the connection close.
	proxy.ErrorHandler = func(_ http.ResponseWriter, req *http.Request, err error) {
		if req.Context().Err() == nil { // not the trigger giving up
			fn.unavailable.Add(1)
			fmt.Fprintf(&fn.unanswered, "%s: %v\n", time.Now().Format("15:04:05.000"), err)
		}
		panic(http.ErrAbortHandler)
	}
	killer := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		fn.inFlight.Add(1)
		defer fn.inFlight.Add(-1)
		if fn.invocations.Add(1) == fn.killAt {
			delay := time.Duration(rand.Int64N(int64(15 * time.Millisecond)))
			go fn.kill(delay)
		}
		proxy.ServeHTTP(w, req)
	})
	fn.front = httptest.NewServer(&modeltest.FlakyFunction{
		Next:     killer,
		Rate:     modeltest.FunctionFailureRate,
		Rejected: &fn.rejected,
		Lost:     &fn.lost,
		Random:   rand.New(rand.NewPCG(r.seed, uint64(n)<<1|uint64(len(name)%2)|1<<63)),
	})
	return fn
}

// kill kills the function process with SIGKILL after delay.
func (fn *exportFunction) kill(delay time.Duration) {
	time.Sleep(delay)
	if pid := fn.process.pid(); pid > 0 && syscall.Kill(pid, syscall.SIGKILL) == nil {
		fn.killedInFlight.Store(fn.inFlight.Load() > 0)
		fn.killed.Store(true)
	}
}

// startTrigger runs the function's trigger of table's Stream.
func (fn *exportFunction) startTrigger(t *testing.T, cloud *sequenceCloud, table string, batchSize int) {
	fn.trigger, fn.stopTrigger = modeltest.StartTrigger(t, fclocal.Config{
		Client:            cloud.streamClient,
		Table:             table,
		FunctionURL:       fn.front.URL,
		Credentials:       otslocaltest.Credentials,
		BatchSize:         batchSize,
		PollInterval:      exportPollInterval,
		Backoff:           fclocal.Backoff{Initial: time.Millisecond, Max: 20 * time.Millisecond},
		InvocationTimeout: exportInvocationTimeout,
		Logger:            slog.New(slog.DiscardHandler),
		OnInvocation:      fn.count,
	}, exportWaitTimeout)
}

// stop stops the trigger, the front and the process.
func (fn *exportFunction) stop() {
	fn.stopTrigger()
	fn.front.Close()
	fn.stopProcess()
}

// count counts one invocation attempt; an accepted batch adds the name of its object,
// derived from the batch as the export derives it, to the objects that must exist.
func (fn *exportFunction) count(rep fclocal.InvocationReport) {
	o := &fn.outcomes
	o.mu.Lock()
	defer o.mu.Unlock()
	var failure *fcruntime.InvocationError
	switch {
	case rep.Err == nil:
		var sum handler.Summary
		ev, err := events.Decode(rep.Payload)
		if err == nil {
			err = json.Unmarshal(rep.Result, &sum)
		}
		if err != nil {
			o.unexpected = append(o.unexpected, fmt.Sprintf("%s: %v", fn.name, err))
			return
		}
		name := export.ObjectName(fn.prefix, fn.table, ev.Records[0].Info.Timestamp, rep.Payload, fn.extension)
		if sum.ExportObject != "oss://"+osslocaltest.Bucket+"/"+name {
			o.unexpected = append(o.unexpected, fmt.Sprintf("%s: the export reports object %s, the batch names %s", fn.name, sum.ExportObject, name))
		}
		o.accepted[name] = true
		o.succeeded++
		o.retries += sum.Retries
		o.exportRequests += sum.ExportRequests
	case errors.As(rep.Err, &failure) && failure.ErrorType == modeltest.ErrorTypeInjected:
		o.injected++
	case errors.As(rep.Err, &failure) && failure.ErrorType == handler.ErrorTypeExport:
		o.exportFailures++
	case errors.As(rep.Err, &failure) && failure.ErrorType == handler.ErrorTypeTablestore:
		o.tablestoreFailures++
	case errors.Is(rep.Err, io.EOF):
		o.lost++
	case errors.Is(rep.Err, context.DeadlineExceeded):
		o.timedOut++
	default:
		o.unexpected = append(o.unexpected, fmt.Sprintf("%s, shard %s, attempt %d: %v (stderr: %s)", fn.name, rep.Shard, rep.Attempt, rep.Err, fn.stderr.String()))
	}
}

// objects lists the function's objects, checks that they are exactly the objects of the
// batches it accepted, one each, and returns their lines (gunzipped), in name order.
func (fn *exportFunction) objects(t *testing.T, cloud *sequenceCloud, seq *modeltest.Sequence) [][]byte {
	t.Helper()
	var names []string
	var lines [][]byte
	for _, o := range cloud.oss.List(t, osslocaltest.Bucket, fn.prefix) {
		names = append(names, o.Key)
		data, err := modeltest.ReadObject(o.Key, cloud.oss.Get(t, osslocaltest.Bucket, o.Key))
		seq.RequireNoError(t, err, "reading "+o.Key)
		lines = append(lines, data)
	}
	accepted := make([]string, 0, len(fn.outcomes.accepted))
	for name := range fn.outcomes.accepted {
		accepted = append(accepted, name)
	}
	slices.Sort(accepted)
	seq.RequireEqualRows(t, accepted, names, fmt.Sprintf("the %s function's objects, listed, are not exactly one per accepted batch (expected: accepted batches, actual: listed)", fn.name))
	return lines
}

// invocationOutcomes counts a trigger's invocation attempts by outcome, and the objects of
// the batches its function accepted.
type invocationOutcomes struct {
	mu                                  sync.Mutex
	succeeded, injected, lost, timedOut int
	exportFailures, tablestoreFailures  int
	retries, exportRequests             int
	unexpected                          []string
	accepted                            map[string]bool
}

// failed is the number of failed attempts.
func (o *invocationOutcomes) failed() int {
	return o.injected + o.lost + o.timedOut + o.exportFailures + o.tablestoreFailures + len(o.unexpected)
}

// merge adds o2's counts to o.
func (o *invocationOutcomes) merge(o2 *invocationOutcomes) {
	o.succeeded += o2.succeeded
	o.injected += o2.injected
	o.lost += o2.lost
	o.timedOut += o2.timedOut
	o.exportFailures += o2.exportFailures
	o.tablestoreFailures += o2.tablestoreFailures
	o.retries += o2.retries
	o.exportRequests += o2.exportRequests
	o.unexpected = append(o.unexpected, o2.unexpected...)
}

// restartDelay is how soon a function process that exited is started again, as FC starts a
// new instance; it paces the test only.
const restartDelay = 20 * time.Millisecond

// process is a function process (`otsetl serve`) kept running: one that exits is started
// again on the same address.
type process struct {
	path      string
	args, env []string
	addr      string
	stderr    *testkit.SyncBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// start starts the process and waits until it listens.
func (p *process) start() error {
	cmd := exec.Command(p.path, p.args...)
	cmd.Env, cmd.Stderr = p.env, p.stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		conn, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-exited:
			return fmt.Errorf("the function process exited before it listened: %s", p.stderr)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return err
		}
	}
}

// pid is the process id of the running process.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// supervise starts the process again whenever it exits, until ctx ends; then it stops it
// with SIGTERM and waits for it.
func (p *process) supervise(ctx context.Context) error {
	for {
		p.mu.Lock()
		cmd, exited := p.cmd, p.exited
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-exited
			return nil
		case <-exited:
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(restartDelay):
		}
		if err := p.start(); err != nil {
			return err
		}
	}
}
