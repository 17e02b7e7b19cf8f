// Package splits runs a table's key ranges ("splits") as tasks, on this machine or as task
// invocations of the deployed function, and keeps their progress: it computes the splits
// (ComputeSplitPointsBySize) or resumes them from a checkpoint file, keeps Config.Parallel
// tasks in flight, runs each split again from the last key a task confirmed until it is done,
// retries a task that fails with a transient error after a backoff, cuts a split that one
// task cannot finish into smaller ones when tasks would otherwise sit idle, and saves the
// checkpoint as the splits progress. What a task does is its [Runner]'s: `otsetl sync`
// (package reconcile) runs the engine of package rangesync in-process or through FC. How,
// and why: docs/design.md, "Sync" and "Task invocations".
package splits

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/otsetl/otsetl/ots"
)

// Defaults of a [Config].
const (
	// DefaultParallel is how many tasks a run keeps in flight when Config.Parallel is 0.
	DefaultParallel = 4
	// DefaultAttempts is how many times in a row a split's task may fail with a transient
	// error before the run fails, when Config.Attempts is 0.
	DefaultAttempts = 10
)

// The pauses between the attempts at a split's task: exponential backoff with jitter
// (cenkalti/backoff's ExponentialBackOff, each pause the interval ±50%), the interval
// doubling from Config.RetryInterval (DefaultRetryInterval) up to maxRetryInterval.
const (
	DefaultRetryInterval = 200 * time.Millisecond
	maxRetryInterval     = 10 * time.Second
)

// progressInterval is how often OnProgress is called at most.
const progressInterval = 100 * time.Millisecond

// Counts is what a run counts for a split, a struct of counts such as rangesync.Counts: C,
// whose pointer adds another's counts to it (Add), checks that none is negative (Check,
// for counts read from a file or an answer) and says how many rows were scanned (Scanned,
// the measure of progress).
type Counts[C any] interface {
	*C
	Add(C)
	Check() error
	Scanned() int64
}

// Split is one primary key range of the table, from Lower (inclusive) to Upper (exclusive),
// each the leading columns of a primary key with INF_MIN after them (the form of
// ComputeSplitPointsBySize's split points); an empty Lower is the table's start and an empty
// Upper its end. After is the last key whose work was confirmed, nil before any; Counts are
// what was found and done up to it. Its fields are guarded by the [Plan] that holds it.
type Split[C any] struct {
	Lower, Upper []ots.PrimaryKeyColumn
	After        []ots.PrimaryKeyColumn
	Done         bool
	Counts       C

	failures int                         // transient failures in a row
	backOff  *backoff.ExponentialBackOff // the pauses between them
}

// contains reports whether key lies in the split.
func (sp *Split[C]) contains(key []ots.PrimaryKeyColumn) bool {
	return ots.ComparePrimaryKeys(key, sp.Lower) >= 0 && (len(sp.Upper) == 0 || ots.ComparePrimaryKeys(key, sp.Upper) < 0)
}

// Task is the work a [Runner] is given: the keys of the split from Lower to Upper after
// After (every key from Lower when After is nil), for about Budget.
type Task struct {
	Lower, Upper, After []ots.PrimaryKeyColumn
	// Budget is how long the task takes keys: it then confirms what it did and returns.
	Budget time.Duration
}

// Runner runs tasks.
type Runner[C any] interface {
	// Run works on t and records its progress with record, in key order, as its work is
	// confirmed: every key up to and including after is done, with the counts of the keys
	// since the last call; done, when the split is done (after is then ignored). A record
	// that returns an error (an after that is no progress) ends the task with it. Run
	// returns nil once it has recorded what it did, done or not.
	Run(ctx context.Context, t Task, record func(after []ots.PrimaryKeyColumn, counts C, done bool) error) error
	// Retryable reports whether a task that failed with err may succeed when run again.
	Retryable(err error) bool
	// Throttled reports whether err refused the task before it ran because too many run
	// (FC's 429 at the instance limit): it runs again after a pause, which does not count
	// as a failed attempt.
	Throttled(err error) bool
}

// Config is what a run works on and how.
type Config[C any, I fmt.Stringer] struct {
	// Kind names the run's work, "sync": the key of the identity in the checkpoint file,
	// and its messages' word.
	Kind string
	// Identity is what the run is of (its tables, rule…): a checkpoint of another identity
	// (by its JSON) is refused.
	Identity I
	// Schema is the table's primary key.
	Schema []ots.PrimaryKeySchema
	// Started is when the run started.
	Started time.Time
	// Compute computes the splits of a run without a checkpoint to resume.
	Compute func(ctx context.Context) ([]Bounds, error)
	// Points, when set, returns the split points of a finer cut of the table (leading
	// columns of primary keys, in order), from which a split that one task could not finish
	// is cut further when tasks would otherwise sit idle. It is called once, when first
	// needed.
	Points func(ctx context.Context) ([][]ots.PrimaryKeyColumn, error)
	// Checkpoint, when set, is a file that records each split's progress, so that a run
	// stopped at any point (even by SIGKILL) and started again with the same file resumes
	// where it stopped. The file is removed once every split is done. A file that is not a
	// checkpoint of this identity, unchanged since a run wrote it, is refused; so is one begun
	// more than MaxCheckpointAge ago (0: DefaultMaxCheckpointAge), unless
	// ResumeStaleCheckpoint is set. Its folder must be writable.
	Checkpoint            string
	MaxCheckpointAge      time.Duration
	ResumeStaleCheckpoint bool
	// Parallel is how many tasks are in flight at a time; 0 means DefaultParallel.
	Parallel int
	// Budget is each task's Budget.
	Budget time.Duration
	// Attempts is how many times in a row a split's task may fail with a transient error
	// (Runner.Retryable) before the run fails with it; 0 means DefaultAttempts.
	Attempts int
	// RetryInterval is the first pause before a failed task runs again; 0 means
	// DefaultRetryInterval.
	RetryInterval time.Duration
	// OnProgress, when set, is called as rows are scanned with how many were scanned so far
	// and an estimate of the total (-1 until one split is done: the splits are of about equal
	// size). Calls do not overlap.
	OnProgress func(scanned, estimate int64)
}

// Bounds are the bounds of a split, as [Split] has them.
type Bounds struct {
	Lower, Upper []ots.PrimaryKeyColumn
}

// ConfigError is an error in what a run was asked to do, found before any task ran: a
// checkpoint that cannot be resumed or written. Errors.As finds it; its message names the
// problem.
type ConfigError struct{ Err error }

// Error returns the cause's message.
func (e *ConfigError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// configError formats a ConfigError.
func configError(format string, args ...any) error {
	return &ConfigError{Err: fmt.Errorf(format, args...)}
}

// Plan is a run's splits and their progress. [Open] makes it, [Plan.Run] runs it.
type Plan[C any, PC Counts[C], I fmt.Stringer] struct {
	cfg Config[C, I]
	// startedAt is when the run that began the checkpoint started (this run's start without
	// one): every key was verified after it.
	startedAt time.Time
	resumed   int // splits a checkpoint had started or finished
	points    [][]ots.PrimaryKeyColumn
	pointsErr error
	pointsSet bool

	mu           sync.Mutex // guards all, the splits' progress and what follows
	all          []*Split[C]
	dirty        bool // changed since the last save
	lastReported time.Time
}

// Open resumes the checkpoint file when there is one, and computes the splits otherwise; with
// a checkpoint file, it then saves it, so that a file that cannot be read, resumed or
// written is a [*ConfigError] before any task runs.
func Open[C any, PC Counts[C], I fmt.Stringer](ctx context.Context, cfg Config[C, I]) (*Plan[C, PC, I], error) {
	switch {
	case cfg.Parallel < 0:
		return nil, configError("parallel %d: want a positive number of tasks at a time", cfg.Parallel)
	case cfg.MaxCheckpointAge < 0:
		return nil, configError("max checkpoint age %s: want a positive duration", cfg.MaxCheckpointAge)
	case cfg.Budget <= 0:
		return nil, configError("task budget %s: want a positive duration", cfg.Budget)
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = DefaultParallel
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	p := &Plan[C, PC, I]{cfg: cfg, startedAt: cfg.Started.UTC()}
	if cfg.Checkpoint != "" {
		found, err := p.load()
		if err != nil {
			return nil, err
		}
		if found {
			return p, p.saveOrRefuse()
		}
	}
	bounds, err := cfg.Compute(ctx)
	if err != nil {
		return nil, err
	}
	for _, b := range bounds {
		p.all = append(p.all, &Split[C]{Lower: b.Lower, Upper: b.Upper})
	}
	return p, p.saveOrRefuse()
}

// Len is the number of splits; it grows as splits are cut.
func (p *Plan[C, PC, I]) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.all)
}

// Resumed is the number of splits a checkpoint had started or finished.
func (p *Plan[C, PC, I]) Resumed() int { return p.resumed }

// StartedAt is when the run that began the checkpoint started, this run's start without one.
func (p *Plan[C, PC, I]) StartedAt() time.Time { return p.startedAt }

// Total is the counts of every split.
func (p *Plan[C, PC, I]) Total() C {
	p.mu.Lock()
	defer p.mu.Unlock()
	var total C
	for _, sp := range p.all {
		PC(&total).Add(sp.Counts)
	}
	return total
}

// outcome is how a task ended.
type outcome[C any] struct {
	split *Split[C]
	err   error
}

// Run runs the splits not done with runner, Parallel tasks at a time, saving the checkpoint
// as they progress; once every split is done, it removes the checkpoint. A split whose task
// returns without finishing it runs again from its last confirmed key; a split whose task
// fails with a transient error runs again from there after a pause, up to Attempts times in
// a row; any other failure, or the last transient one, stops the other tasks and is the
// run's error, naming the split. Cancelling ctx stops the run, leaving the checkpoint at the
// last confirmed keys.
func (p *Plan[C, PC, I]) Run(ctx context.Context, runner Runner[C]) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopSaving := p.saveEvery(ctx, checkpointInterval)
	queue := p.pending()
	outcomes := make(chan outcome[C])
	ready := make(chan *Split[C])
	inFlight, waiting := 0, 0
	var runErr error
	stopped := ctx.Done()
	for {
		for runErr == nil && ctx.Err() == nil && inFlight < p.cfg.Parallel && len(queue) > 0 {
			sp := queue[0]
			queue = queue[1:]
			inFlight++
			go func() { outcomes <- outcome[C]{split: sp, err: p.runTask(ctx, runner, sp)} }()
		}
		if inFlight == 0 && (runErr != nil || ctx.Err() != nil || (waiting == 0 && len(queue) == 0)) {
			break
		}
		select {
		case o := <-outcomes:
			inFlight--
			if runErr != nil || ctx.Err() != nil {
				continue
			}
			switch {
			case o.err == nil && p.isDone(o.split):
			case o.err == nil:
				o.split.failures, o.split.backOff = 0, nil
				queue = append(p.cut(ctx, o.split, p.cfg.Parallel-inFlight-len(queue)-waiting), queue...)
			case runner.Throttled(o.err):
				waiting++
				p.retryLater(ctx, o.split, ready, false)
			case runner.Retryable(o.err) && o.split.failures+1 < p.cfg.Attempts:
				waiting++
				p.retryLater(ctx, o.split, ready, true)
			default:
				runErr = p.splitError(o.split, o.err)
				cancel(runErr)
			}
		case sp := <-ready:
			waiting--
			queue = append([]*Split[C]{sp}, queue...)
		case <-stopped:
			stopped, waiting = nil, 0 // the pauses in progress end with ctx, unheard
		}
	}
	saveErr := stopSaving()
	switch {
	case runErr != nil:
		return runErr
	case context.Cause(ctx) != nil:
		return context.Cause(ctx)
	case saveErr != nil:
		return saveErr
	}
	return p.finish()
}

// runTask runs the task of sp from its last confirmed key.
func (p *Plan[C, PC, I]) runTask(ctx context.Context, runner Runner[C], sp *Split[C]) error {
	p.mu.Lock()
	t := Task{Lower: sp.Lower, Upper: sp.Upper, After: sp.After, Budget: p.cfg.Budget}
	p.mu.Unlock()
	return runner.Run(ctx, t, func(after []ots.PrimaryKeyColumn, counts C, done bool) error {
		return p.record(sp, after, counts, done)
	})
}

// record records a task's progress on sp: every key up to and including after is done, with
// counts since the last record; or sp is done. An after that is not past sp's last
// confirmed key, or lies outside sp, is refused: a task that reports no progress would run
// again for ever.
func (p *Plan[C, PC, I]) record(sp *Split[C], after []ots.PrimaryKeyColumn, counts C, done bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !done {
		switch {
		case len(after) != len(p.cfg.Schema):
			return fmt.Errorf("a task confirmed up to (%s), not a whole primary key (%s)", ots.FormatPrimaryKey(after), ots.FormatSchema(p.cfg.Schema))
		case !sp.contains(after) || (sp.After != nil && ots.ComparePrimaryKeys(after, sp.After) <= 0):
			return fmt.Errorf("a task confirmed up to (%s), which is not past %s within the split to %s", ots.FormatPrimaryKey(after),
				describeBound(sp.After, describeBound(sp.Lower, "the table's start")), describeBound(sp.Upper, "the table's end"))
		}
		sp.After = after
	} else {
		sp.Done, sp.After = true, nil
	}
	PC(&sp.Counts).Add(counts)
	p.dirty = true
	p.report(done)
	return nil
}

// isDone reports whether sp is done.
func (p *Plan[C, PC, I]) isDone(sp *Split[C]) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return sp.Done
}

// retryLater sends sp to ready after its next backoff pause, unless ctx ends first; failed
// counts the pause's cause as a failed attempt.
func (p *Plan[C, PC, I]) retryLater(ctx context.Context, sp *Split[C], ready chan<- *Split[C], failed bool) {
	if sp.backOff == nil {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.Multiplier, b.MaxInterval = p.cfg.RetryInterval, 2, max(maxRetryInterval, p.cfg.RetryInterval)
		sp.backOff = b
	}
	if failed {
		sp.failures++
	}
	pause := sp.backOff.NextBackOff()
	go func() {
		timer := time.NewTimer(pause)
		defer timer.Stop()
		select {
		case <-timer.C:
			select {
			case ready <- sp:
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}()
}

// splitError is the run's error for a split whose task failed with err.
func (p *Plan[C, PC, I]) splitError(sp *Split[C], err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	attempts := ""
	if sp.failures > 0 {
		attempts = fmt.Sprintf(" (attempt %d)", sp.failures+1)
	}
	return fmt.Errorf("the split from %s to %s, after %s%s: %w", describeBound(sp.Lower, "the table's start"), describeBound(sp.Upper, "the table's end"),
		describeBound(sp.After, "its start"), attempts, err)
}

// pending returns the splits not done yet.
func (p *Plan[C, PC, I]) pending() []*Split[C] {
	p.mu.Lock()
	defer p.mu.Unlock()
	var todo []*Split[C]
	for _, sp := range p.all {
		if !sp.Done {
			todo = append(todo, sp)
		}
	}
	return todo
}

// cut returns sp, to run again from its last confirmed key, and, when idle tasks could take
// them, up to idle more splits cut from what is left of sp at the finer split points
// (Config.Points): sp keeps its progress and ends at the first point, each new split runs
// from one point to the next, the last to sp's old end.
func (p *Plan[C, PC, I]) cut(ctx context.Context, sp *Split[C], idle int) []*Split[C] {
	if idle <= 0 || p.cfg.Points == nil {
		return []*Split[C]{sp}
	}
	if !p.pointsSet {
		p.points, p.pointsErr = p.cfg.Points(ctx)
		p.pointsSet = true
	}
	if p.pointsErr != nil {
		return []*Split[C]{sp} // the splits as they are still do the work
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	from := sp.After
	if from == nil {
		from = sp.Lower
	}
	var inside [][]ots.PrimaryKeyColumn
	for _, point := range p.points {
		if ots.ComparePrimaryKeys(point, from) > 0 && (len(sp.Upper) == 0 || ots.ComparePrimaryKeys(point, sp.Upper) < 0) {
			inside = append(inside, point)
		}
	}
	pieces := min(idle, len(inside))
	if pieces == 0 {
		return []*Split[C]{sp}
	}
	chosen := make([][]ots.PrimaryKeyColumn, pieces)
	for i := range pieces {
		chosen[i] = inside[(i+1)*len(inside)/(pieces+1)]
	}
	out := []*Split[C]{sp}
	upper := sp.Upper
	sp.Upper = chosen[0]
	for i, lower := range chosen {
		next := upper
		if i+1 < len(chosen) {
			next = chosen[i+1]
		}
		out = append(out, &Split[C]{Lower: lower, Upper: next})
	}
	at := 0
	for i, s := range p.all {
		if s == sp {
			at = i
			break
		}
	}
	p.all = append(p.all[:at+1], append(out[1:], p.all[at+1:]...)...)
	p.dirty = true
	return out
}

// report calls OnProgress, at most every progressInterval unless now is set. The caller
// holds p.mu, so calls do not overlap.
func (p *Plan[C, PC, I]) report(now bool) {
	if p.cfg.OnProgress == nil || (!now && time.Since(p.lastReported) < progressInterval) {
		return
	}
	p.lastReported = time.Now()
	var scanned, doneRows int64
	done := 0
	for _, sp := range p.all {
		rows := PC(&sp.Counts).Scanned()
		scanned += rows
		if sp.Done {
			done++
			doneRows += rows
		}
	}
	estimate := int64(-1)
	switch {
	case done == len(p.all):
		estimate = scanned
	case done > 0:
		estimate = max(scanned, doneRows*int64(len(p.all))/int64(done))
	}
	p.cfg.OnProgress(scanned, estimate)
}
