package splits

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/rangesync"
)

// The tests' table: keys id 0..keys-1, one primary key column.
var schema = []ots.PrimaryKeySchema{{Name: "id", Type: ots.KindInteger}}

func id(n int64) []ots.PrimaryKeyColumn {
	return []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(n)}}
}

// name is the identity of the tests' runs.
type name string

func (n name) String() string { return string(n) }

// keyRunner works on the keys of a table of n keys held in memory: a task takes perTask
// keys after its After, records each, and says when its split is done. fail, when set, is
// asked before each task for the error it ends with, before it does anything.
type keyRunner struct {
	n, perTask int64
	fail       func(task int) error
	pause      time.Duration

	mu            sync.Mutex
	tasks         int
	seen          map[int64]int // times each key was recorded
	inFlight, top int
}

var (
	errTransient = errors.New("transient")
	errThrottled = errors.New("throttled")
	errFatal     = errors.New("fatal")
)

func (r *keyRunner) Retryable(err error) bool { return errors.Is(err, errTransient) }
func (r *keyRunner) Throttled(err error) bool { return errors.Is(err, errThrottled) }

func (r *keyRunner) Run(ctx context.Context, t Task, record func([]ots.PrimaryKeyColumn, rangesync.Counts, bool) error) error {
	r.mu.Lock()
	r.tasks++
	n := r.tasks
	r.inFlight++
	r.top = max(r.top, r.inFlight)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight--
		r.mu.Unlock()
	}()
	if r.fail != nil {
		if err := r.fail(n); err != nil {
			return err
		}
	}
	time.Sleep(r.pause)
	first := int64(0)
	if len(t.Lower) > 0 {
		first, _ = t.Lower[0].Value.Int()
	}
	if t.After != nil {
		a, _ := t.After[0].Value.Int()
		first = a + 1
	}
	end := r.n
	if len(t.Upper) > 0 {
		end, _ = t.Upper[0].Value.Int()
	}
	for k := first; k < min(end, first+r.perTask); k++ {
		r.mu.Lock()
		r.seen[k]++
		r.mu.Unlock()
		if err := record(id(k), rangesync.Counts{SourceRows: 1}, false); err != nil {
			return err
		}
	}
	if first+r.perTask >= end {
		return record(nil, rangesync.Counts{}, true)
	}
	return nil
}

// open opens a plan of one split over the whole table, with points every 10 keys.
func open(t *testing.T, runner *keyRunner, parallel int, checkpoint string) *Plan[rangesync.Counts, *rangesync.Counts, name] {
	t.Helper()
	p, err := Open[rangesync.Counts, *rangesync.Counts](t.Context(), Config[rangesync.Counts, name]{
		Kind: "sync", Identity: "test", Schema: schema, Started: time.Now(), Checkpoint: checkpoint,
		Compute: func(context.Context) ([]Bounds, error) { return []Bounds{{}}, nil },
		Points: func(context.Context) ([][]ots.PrimaryKeyColumn, error) {
			var points [][]ots.PrimaryKeyColumn
			for k := int64(10); k < runner.n; k += 10 {
				points = append(points, id(k))
			}
			return points, nil
		},
		Parallel: parallel, Budget: time.Second, RetryInterval: time.Millisecond,
	})
	require.NoError(t, err)
	return p
}

// TestASplitIsCutWhenTasksWouldSitIdle: one split of 100 keys, tasks of 5 keys, four at a
// time: the split is cut at the points after its first task's key, so that four tasks run
// at once, and every key is worked on exactly once.
func TestASplitIsCutWhenTasksWouldSitIdle(t *testing.T) {
	runner := &keyRunner{n: 100, perTask: 5, pause: 5 * time.Millisecond, seen: map[int64]int{}}
	p := open(t, runner, 4, "")
	require.NoError(t, p.Run(t.Context(), runner))
	assert.Equal(t, int64(100), p.Total().SourceRows)
	for k := range int64(100) {
		assert.Equal(t, 1, runner.seen[k], "key %d", k)
	}
	assert.Greater(t, p.Len(), 1, "the split was cut")
	assert.Equal(t, 4, runner.top, "four tasks ran at once")
	for i, sp := range p.all {
		assert.True(t, sp.Done, "split %d", i)
		if i > 0 {
			assert.Zero(t, ots.ComparePrimaryKeys(p.all[i-1].Upper, sp.Lower), "split %d follows split %d", i, i-1)
		}
	}
}

// TestFailedTasksRunAgainFromTheLastConfirmedKey: transient failures and throttling run a
// split's task again from its last confirmed key (throttling without counting as a failure),
// up to Attempts failures in a row; a failure that is not transient fails the run at once,
// naming the split.
func TestFailedTasksRunAgainFromTheLastConfirmedKey(t *testing.T) {
	runner := &keyRunner{n: 30, perTask: 4, seen: map[int64]int{}, fail: func(task int) error {
		switch {
		case task%3 == 0:
			return fmt.Errorf("task %d: %w", task, errTransient)
		case task < 30 && task%3 == 1:
			return fmt.Errorf("task %d: %w", task, errThrottled)
		}
		return nil
	}}
	p := open(t, runner, 1, "")
	require.NoError(t, p.Run(t.Context(), runner))
	assert.Equal(t, int64(30), p.Total().SourceRows, "every key once: a failed task confirmed nothing")

	runner = &keyRunner{n: 30, perTask: 4, seen: map[int64]int{}, fail: func(int) error { return errTransient }}
	p = open(t, runner, 1, "")
	err := p.Run(t.Context(), runner)
	assert.ErrorIs(t, err, errTransient)
	assert.ErrorContains(t, err, "the split from the table's start to the table's end, after its start (attempt 10): transient")
	assert.Equal(t, DefaultAttempts, runner.tasks)

	runner = &keyRunner{n: 30, perTask: 4, seen: map[int64]int{}, fail: func(task int) error {
		if task == 2 {
			return errFatal
		}
		return nil
	}}
	p = open(t, runner, 1, "")
	err = p.Run(t.Context(), runner)
	assert.ErrorIs(t, err, errFatal)
	assert.ErrorContains(t, err, "after (id=3)")
	assert.Equal(t, 2, runner.tasks)
}

// TestACutPlanResumesFromItsCheckpoint stops a run whose split was cut, and resumes its
// checkpoint: the file is whole and valid, and the resumed run works on every key it had not
// confirmed.
func TestACutPlanResumesFromItsCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cp")
	ctx, cancel := context.WithCancel(t.Context())
	var tasks atomic.Int64
	runner := &keyRunner{n: 100, perTask: 3, pause: 2 * time.Millisecond, seen: map[int64]int{}, fail: func(int) error {
		if tasks.Add(1) == 12 {
			cancel()
		}
		return nil
	}}
	p := open(t, runner, 3, path)
	require.ErrorIs(t, p.Run(ctx, runner), context.Canceled)
	cut := p.Len()
	require.Greater(t, cut, 1)
	first := p.Total().SourceRows
	require.Positive(t, first)

	again := open(t, runner, 3, path)
	assert.Equal(t, cut, again.Len(), "the checkpoint holds the cut splits")
	assert.Equal(t, first, again.Total().SourceRows)
	require.NoError(t, again.Run(t.Context(), runner))
	assert.Equal(t, int64(100), again.Total().SourceRows, "every key counted once over both runs")
	for k := range int64(100) {
		assert.GreaterOrEqual(t, runner.seen[k], 1, "key %d", k)
	}
}
