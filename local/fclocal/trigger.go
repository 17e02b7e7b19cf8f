// Package fclocal is a local Tablestore trigger: it reads a table's Stream through the
// Tablestore Go SDK and invokes a function with the change records, as Function Compute's
// Tablestore trigger does.
//
// A [Trigger] follows the Stream API through package streams (ListStream, DescribeStream page
// by page, GetShardIterator, GetStreamRecord; Tablestore Go SDK tablestore/api.go) and hands every
// page of records, as one CBOR-encoded trigger event (package events), to the function under
// the custom-runtime HTTP protocol (POST /invoke, [fcruntime.Invoker]). It keeps the trigger's
// delivery rules (Function Compute "Tablestore triggers",
// https://www.alibabacloud.com/help/en/functioncompute/fc/tablestore-triggers):
//
//   - Shards are read concurrently, one invocation in flight per shard; a shard is read only
//     once the shards it was split or merged from are closed and fully read.
//   - A failed invocation is retried with the same batch, with exponential backoff, until it
//     succeeds: a batch is never skipped, and its shard waits for it. A shard's checkpoint
//     (the iterator after the batch and the sequence of its last record) advances only when
//     the function accepts the batch.
//   - Failed Stream API requests are retried with the same backoff. An expired iterator
//     (OTSTrimmedDataAccess) is re-created from the checkpoint's timestamp, and the records
//     up to the checkpoint are skipped, so nothing is delivered twice; when the checkpoint's
//     own record has expired too, records after it may have been lost, which is logged as
//     an error.
//   - Each invocation is bounded by the trigger's one-minute limit, and each attempt is a new
//     invocation with a fresh x-fc-request-id, as each of Function Compute's retries is.
//
// `otsetl capture` (package capture) reads a Stream the same way into event files.
package fclocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/aliyun"
	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/ops/streams"
)

// Defaults of [Config].
const (
	// DefaultBatchSize is GetStreamRecord's default limit: records per invocation at most.
	DefaultBatchSize = streams.DefaultBatchSize
	// DefaultPollInterval is the wait before reading a shard again that had no new records,
	// short enough that a row written with the SDK reaches the function within a second.
	DefaultPollInterval = 200 * time.Millisecond
	// DefaultDescribeInterval is the wait between two DescribeStream calls that look for new
	// shards (a shard that closes triggers one at once).
	DefaultDescribeInterval = 5 * time.Second
	// DefaultInvocationTimeout is the Tablestore trigger's hard limit on one function
	// execution, which is also the largest allowed timeout.
	DefaultInvocationTimeout = fcruntime.TriggerTimeLimit
)

// Config configures a [Trigger]. Client, Table and FunctionURL or Function are required;
// every other field has a default.
type Config struct {
	// Client reads the Stream (Tablestore Go SDK). Its own retry and timeout settings
	// (TableStoreConfig) apply to each Stream API request; the trigger retries beyond them.
	Client *sdk.TableStoreClient
	// Table is the table whose Stream triggers the function. It must have its Stream enabled.
	Table string
	// FunctionURL is the base URL of the function served under the custom-runtime HTTP
	// protocol, e.g. "http://127.0.0.1:9000"; invocations are POSTed to FunctionURL/invoke.
	FunctionURL string
	// Function, when set instead of FunctionURL, takes the invocations: a [Pool] of
	// function instances, which the trigger then shares with the FC API ([NewFunctionAPI]).
	Function Invoker
	// FunctionName, Region and AccountID, when set, are sent with every invocation as
	// x-fc-function-name, x-fc-region and x-fc-account-id.
	FunctionName string
	Region       string
	AccountID    string
	// Credentials are sent with every invocation as x-fc-access-key-id,
	// x-fc-access-key-secret and x-fc-security-token: the trigger's stand-in for the STS
	// credentials of the function's role.
	Credentials aliyun.Credentials
	// Since is where every shard's reading starts: its first record committed at or after
	// Since. The zero time means the oldest record the Stream still holds.
	Since time.Time
	// BatchSize is the most records one invocation carries (the GetStreamRecord limit,
	// 1 to streams.MaxBatchSize); 0 means DefaultBatchSize.
	BatchSize int
	// PollInterval is the wait before reading again a shard that had no new records;
	// 0 means DefaultPollInterval.
	PollInterval time.Duration
	// DescribeInterval is the wait between DescribeStream calls that pick up new shards;
	// 0 means DefaultDescribeInterval.
	DescribeInterval time.Duration
	// Backoff paces the retries of failed invocations and of failed Stream API requests.
	Backoff Backoff
	// InvocationTimeout bounds each invocation and is sent as x-fc-function-timeout;
	// 0 means DefaultInvocationTimeout. It may not exceed the trigger's limit of 60 s.
	InvocationTimeout time.Duration
	// Logger receives retries (Warn), lost records (Error) and shard progress (Debug);
	// nil means slog.Default(). Credentials are never logged.
	Logger *slog.Logger
	// OnInvocation, when set, is called after every invocation attempt, successful or not,
	// from the goroutine of the attempt's shard: it may be called concurrently and should
	// return quickly. It is not called for an attempt cut short by the end of Run.
	OnInvocation func(InvocationReport)
}

// InvocationReport is the outcome of one invocation attempt.
type InvocationReport struct {
	// Shard is the id of the shard the batch comes from.
	Shard string
	// RequestID is the attempt's x-fc-request-id. Each attempt is a new invocation, as each
	// of Function Compute's retries is, so a retried batch gets a new request id every time.
	RequestID string
	// Records is the number of records in the batch.
	Records int
	// FirstTimestamp and LastTimestamp are the sequence timestamps (µs since the Unix epoch)
	// of the batch's first and last records.
	FirstTimestamp, LastTimestamp int64
	// Attempt counts the attempts at this batch, 1 for the first.
	Attempt int
	// Latency is how long the attempt took.
	Latency time.Duration
	// Payload is the event the attempt sent, CBOR-encoded as the trigger sends it (decode
	// it with events.Decode). Every attempt at a batch shares it: it must not be modified.
	Payload []byte
	// Result is the function's result, the JSON body of its response; nil when Err is set.
	Result json.RawMessage
	// Err is why the attempt failed: an [*fcruntime.InvocationError] when the function
	// reported the failure, another error for a timeout, a refused connection or a response
	// outside the protocol. Nil on success.
	Err error
}

// Trigger invokes a function with a table's Stream records. Build it with [New], start it
// with [Trigger.Run] and wait for it to catch up with [Trigger.WaitIdle].
type Trigger struct {
	cfg     Config
	invoker Invoker
	logger  *slog.Logger

	running atomic.Bool
	// done is closed when Run returns; runErr is Run's result, set before.
	done   chan struct{}
	runErr error
	// rescan asks Run's loop for a DescribeStream now.
	rescan chan struct{}

	mu sync.Mutex
	// epoch counts WaitIdle calls; reads and DescribeStream calls note the epoch they
	// started in, so that WaitIdle can tell work that started after it was called.
	epoch uint64
	// described is the epoch of the last successful DescribeStream.
	described uint64
	shards    map[sdk.ShardId]*shardState
	// wake is closed, and replaced, to cut short every shard's poll wait.
	wake chan struct{}
	// changed is closed, and replaced, whenever what WaitIdle looks at changes.
	changed chan struct{}
}

// shardState is what the trigger knows of one shard.
type shardState struct {
	streams.Shard
	// listed: the last DescribeStream listed the shard.
	listed bool
	// started: the shard has a reader; finished: it is closed and fully read.
	started, finished bool
	// caughtUp is the epoch of the last read that found no new records (0: none yet).
	caughtUp uint64
	// checkpoint is the sequence of the last record the function accepted (nil before the
	// first batch), delivered the number of records it accepted, failedAttempts the failed
	// attempts at the batch being delivered; atEnd: the last read found no new records.
	checkpoint     *streams.Sequence
	delivered      int64
	failedAttempts int
	atEnd          bool
}

// Shard states of a [ShardStatus].
const (
	// ShardWaiting: a shard whose parents are not fully read yet.
	ShardWaiting = "waiting"
	// ShardReading: a shard being read; a shard that is not closed is read for ever.
	ShardReading = "reading"
	// ShardFinished: a closed shard whose records were all delivered.
	ShardFinished = "finished"
)

// ShardStatus is the trigger's view of one shard of the Stream, for display (and as JSON).
type ShardStatus struct {
	// ID is the shard's id; Parents are the ids of the shards it was split or merged from.
	ID      string   `json:"id"`
	Parents []string `json:"parents"`
	// State is ShardWaiting, ShardReading or ShardFinished.
	State string `json:"state"`
	// Checkpoint is the trigger's position in the shard: the sequence of the last record
	// the function accepted, as "epoch:timestamp:rowIndex"; "" before the first batch.
	Checkpoint string `json:"checkpoint"`
	// CheckpointMicros is that record's commit time, µs since the Unix epoch; 0 before the
	// first batch.
	CheckpointMicros int64 `json:"checkpointMicros"`
	// Delivered counts the shard's records the function accepted since Run started.
	Delivered int64 `json:"delivered"`
	// FailedAttempts counts the failed attempts at the batch being delivered: the shard
	// waits on a batch the function keeps failing. 0 when no attempt failed.
	FailedAttempts int `json:"failedAttempts"`
	// CaughtUp reports that the last read of the shard found no new records.
	CaughtUp bool `json:"caughtUp"`
}

// Shards returns the trigger's view of the shards the last DescribeStream listed, sorted by
// id: none before Run has listed them. It may be called from any goroutine.
func (t *Trigger) Shards() []ShardStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []ShardStatus
	for _, st := range t.shards {
		if !st.listed {
			continue
		}
		status := ShardStatus{ID: string(st.ID), State: ShardWaiting, Delivered: st.delivered, FailedAttempts: st.failedAttempts, CaughtUp: st.atEnd}
		for _, p := range st.Parents {
			status.Parents = append(status.Parents, string(p))
		}
		switch {
		case st.finished:
			status.State = ShardFinished
		case st.started:
			status.State = ShardReading
		}
		if st.checkpoint != nil {
			status.Checkpoint, status.CheckpointMicros = st.checkpoint.String(), st.checkpoint.Timestamp
		}
		out = append(out, status)
	}
	slices.SortFunc(out, func(a, b ShardStatus) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// New checks cfg, fills in its defaults and returns a trigger that is not running yet. The
// error names the field at fault. New sends no request; a table without a Stream is
// reported by Run.
func New(cfg Config) (*Trigger, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var invoker Invoker = &fcruntime.Invoker{URL: cfg.FunctionURL}
	if cfg.Function != nil {
		invoker = cfg.Function
	}
	return &Trigger{
		cfg:     cfg,
		invoker: invoker,
		logger:  cfg.Logger.With(slog.String("table", cfg.Table)),
		done:    make(chan struct{}),
		rescan:  make(chan struct{}, 1),
		shards:  map[sdk.ShardId]*shardState{},
		wake:    make(chan struct{}),
		changed: make(chan struct{}),
	}, nil
}

// withDefaults validates c and fills in its zero fields.
func (c Config) withDefaults() (Config, error) {
	switch {
	case c.Client == nil:
		return c, errors.New("fclocal: Config.Client is required")
	case c.Table == "":
		return c, errors.New("fclocal: Config.Table is required")
	case c.BatchSize < 0 || c.BatchSize > streams.MaxBatchSize:
		return c, fmt.Errorf("fclocal: Config.BatchSize %d: want 0 (default %d) up to %d", c.BatchSize, DefaultBatchSize, streams.MaxBatchSize)
	case c.PollInterval < 0, c.DescribeInterval < 0:
		return c, errors.New("fclocal: Config.PollInterval and DescribeInterval may not be negative")
	case c.InvocationTimeout < 0 || c.InvocationTimeout > fcruntime.TriggerTimeLimit:
		return c, fmt.Errorf("fclocal: Config.InvocationTimeout %s: want 0 (default) up to the trigger's limit of %s", c.InvocationTimeout, fcruntime.TriggerTimeLimit)
	}
	if u, err := url.Parse(c.FunctionURL); c.Function == nil && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return c, fmt.Errorf("fclocal: Config.FunctionURL %q: want an http:// or https:// URL with a host", c.FunctionURL)
	}
	c.Backoff = c.Backoff.withDefaults()
	if err := c.Backoff.validate(); err != nil {
		return c, err
	}
	c.BatchSize = orDefault(c.BatchSize, DefaultBatchSize)
	c.PollInterval = orDefault(c.PollInterval, DefaultPollInterval)
	c.DescribeInterval = orDefault(c.DescribeInterval, DefaultDescribeInterval)
	c.InvocationTimeout = orDefault(c.InvocationTimeout, DefaultInvocationTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Run reads the Stream and invokes the function until ctx ends, then waits for its shard
// readers to stop and returns nil; a Stream API request in flight is not interrupted (the
// SDK's calls take no context) and ends within the client's RequestTimeout. Run returns an
// error at once when the table has no Stream (wrapping [streams.ErrNoStream]) or when the service
// refuses ListStream (a 4xx answer, e.g. OTSObjectNotExist for a table that does not
// exist); every other failure is logged and retried. Run may be called once.
func (t *Trigger) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("fclocal: Trigger.Run called more than once")
	}
	t.runErr = t.run(ctx)
	close(t.done)
	return t.runErr
}

// run is Run's body: find the Stream, then list its shards and start a reader for each shard
// that is ready, again whenever a shard closes, WaitIdle asks, or DescribeInterval passes.
func (t *Trigger) run(ctx context.Context) error {
	s, err := t.openStream(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var readers sync.WaitGroup
	defer readers.Wait()
	ticker := time.NewTicker(t.cfg.DescribeInterval)
	defer ticker.Stop()
	waits := t.cfg.Backoff.start()
	for failures := 0; ; {
		epoch := t.currentEpoch()
		listed, err := s.Shards()
		if err != nil {
			failures++
			t.logger.Warn("listing the Stream's shards failed; retrying", slog.Int("failures", failures), slog.Any("error", err))
			if !sleep(ctx, waits.NextBackOff()) {
				return nil
			}
			continue
		}
		failures = 0
		waits.Reset()
		for _, st := range t.update(listed, epoch) {
			readers.Go(func() { t.readShard(ctx, s, st.ID) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.rescan:
		case <-ticker.C:
		}
	}
}

// openStream finds the table's Stream, retrying failures other than a definite answer from
// the service (no Stream, no table, no permission) until ctx ends.
func (t *Trigger) openStream(ctx context.Context) (*streams.Stream, error) {
	waits := t.cfg.Backoff.start()
	for retry := 1; ; retry++ {
		s, err := streams.Open(t.cfg.Client, t.cfg.Table)
		if err == nil || errors.Is(err, streams.ErrNoStream) || streams.IsDefiniteAnswer(err) {
			return s, err
		}
		t.logger.Warn("looking up the Stream failed; retrying", slog.Int("failures", retry), slog.Any("error", err))
		if !sleep(ctx, waits.NextBackOff()) {
			return nil, ctx.Err()
		}
	}
}

// update records the shards DescribeStream listed in epoch and returns those ready to be
// read, marked started: listed, not started, and every parent finished or no longer listed
// (its records expired).
func (t *Trigger) update(listed []streams.Shard, epoch uint64) []*shardState {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, st := range t.shards {
		st.listed = false
	}
	for _, sh := range listed {
		st, ok := t.shards[sh.ID]
		if !ok {
			st = &shardState{Shard: sh}
			t.shards[sh.ID] = st
		}
		st.listed = true
	}
	var ready []*shardState
	for _, sh := range listed {
		if st := t.shards[sh.ID]; t.ready(st) {
			st.started = true
			ready = append(ready, st)
		}
	}
	t.described = max(t.described, epoch)
	t.signalChange()
	return ready
}

// ready reports whether st can be read now. The caller holds t.mu.
func (t *Trigger) ready(st *shardState) bool {
	if st.started || !st.listed {
		return false
	}
	for _, id := range st.Parents {
		if parent, ok := t.shards[id]; ok && parent.listed && !parent.finished {
			return false
		}
	}
	return true
}

// WaitIdle returns nil once the trigger is idle: after WaitIdle was called, the Stream's
// shards were listed again and every shard that can be read was read to its current end,
// with no invocation pending or being retried. So every record committed before the call
// has been delivered. It returns ctx's error when ctx ends first (a batch the function keeps
// failing never lets the trigger become idle; neither does a Run not started yet), and an
// error when Run has returned. It may be called from any goroutine, any number of times.
func (t *Trigger) WaitIdle(ctx context.Context) error {
	t.mu.Lock()
	t.epoch++
	epoch := t.epoch
	close(t.wake)
	t.wake = make(chan struct{})
	t.mu.Unlock()
	t.requestRescan()
	for {
		t.mu.Lock()
		idle, changed := t.idleSince(epoch), t.changed
		t.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.done:
			if t.runErr != nil {
				return fmt.Errorf("fclocal: the trigger stopped before it was idle: %w", t.runErr)
			}
			return errors.New("fclocal: the trigger stopped before it was idle")
		case <-changed:
		}
	}
}

// idleSince reports whether, since epoch began, the shards were listed and every readable
// shard was found caught up. The caller holds t.mu.
func (t *Trigger) idleSince(epoch uint64) bool {
	if t.described < epoch {
		return false
	}
	for _, st := range t.shards {
		switch {
		case st.finished:
		case st.started:
			if st.caughtUp < epoch {
				return false
			}
		case t.ready(st):
			return false
		}
	}
	return true
}

// currentEpoch returns the current epoch.
func (t *Trigger) currentEpoch() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.epoch
}

// signalChange wakes every WaitIdle. The caller holds t.mu.
func (t *Trigger) signalChange() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// requestRescan asks Run's loop for a DescribeStream; a request already pending suffices.
func (t *Trigger) requestRescan() {
	select {
	case t.rescan <- struct{}{}:
	default:
	}
}

// markCaughtUp notes that a read started in epoch found shard id caught up.
func (t *Trigger) markCaughtUp(id sdk.ShardId, epoch uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.shards[id]
	st.atEnd = true
	if st.caughtUp < epoch {
		st.caughtUp = epoch
		t.signalChange()
	}
}

// markFinished notes that shard id is closed and fully read, and asks for a DescribeStream
// so that its children start.
func (t *Trigger) markFinished(id sdk.ShardId) {
	t.mu.Lock()
	t.shards[id].finished = true
	t.signalChange()
	t.mu.Unlock()
	t.requestRescan()
}

// markAttempt notes the outcome of an attempt at a batch of shard id: on success the
// checkpoint advances to last and delivered grows by records.
func (t *Trigger) markAttempt(id sdk.ShardId, failed bool, last streams.Sequence, records int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.shards[id]
	st.atEnd = false
	if failed {
		st.failedAttempts++
		return
	}
	st.checkpoint, st.delivered, st.failedAttempts = &last, st.delivered+int64(records), 0
}

// pollWait waits PollInterval before a caught-up shard is read again, and reports whether
// ctx is still alive. A WaitIdle called since the read (started in epoch) ends the wait at
// once.
func (t *Trigger) pollWait(ctx context.Context, epoch uint64) bool {
	t.mu.Lock()
	wake, stale := t.wake, t.epoch != epoch
	t.mu.Unlock()
	if stale {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(t.cfg.PollInterval)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-timer.C:
	}
	return true
}

// encodeBatch builds the trigger event of records.
func encodeBatch(records []streams.Record) ([]byte, error) {
	ev := events.Event{Version: events.Version, Records: make([]events.Record, len(records))}
	for i, r := range records {
		ev.Records[i] = r.Record
	}
	return events.EncodeCBOR(&ev)
}
