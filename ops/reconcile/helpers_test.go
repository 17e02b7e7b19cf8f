package reconcile_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/reconcile"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
	"github.com/otsetl/otsetl/transform"
)

// The tables of the tests.
const (
	sourceTable     = "source_data"
	resultTable     = "result"
	deadLetterTable = "dead_letters"
)

// fixture is an otslocal server with a source and a result table, primary key id INTEGER.
type fixture struct {
	srv    *otslocaltest.Server
	writer *tablestore.Client
	// endpoint is where the runs send their requests: the server, or a proxy in front of it.
	endpoint string
}

// newFixture starts a server with opts and the tables.
func newFixture(t *testing.T, opts otslocal.Options) *fixture {
	t.Helper()
	srv := otslocaltest.NewServer(t, opts, otslocaltest.Table{Name: sourceTable}, otslocaltest.Table{Name: resultTable})
	writer, err := tablestore.NewClient(tablestore.Config{Endpoint: srv.Endpoint, Instance: otslocaltest.Instance}, otslocaltest.Credentials)
	require.NoError(t, err)
	return &fixture{srv: srv, writer: writer, endpoint: srv.Endpoint}
}

// config is a run of rule on the fixture's tables.
func (f *fixture) config(rule transform.Config) reconcile.Config {
	return reconcile.Config{
		Function: handler.Config{
			Instance: otslocaltest.Instance, Endpoint: f.endpoint,
			SourceTable: sourceTable, ResultTable: resultTable, Rule: rule,
		},
		Credentials: otslocaltest.Credentials,
		Show:        100,
	}
}

// id is the primary key id=n.
func id(n int64) []ots.PrimaryKeyColumn {
	return []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(n)}}
}

// cell is an attribute column.
func cell(name string, v ots.Value) ots.Cell { return ots.Cell{Name: name, Value: v} }

// put writes rows (id → cells, sorted by name) to table, replacing them.
func (f *fixture) put(t *testing.T, table string, rows map[int64][]ots.Cell) {
	t.Helper()
	var changes []ots.RowChange
	for _, n := range slices.Sorted(maps.Keys(rows)) {
		changes = append(changes, ots.RowChange{Kind: ots.PutRow, PrimaryKey: id(n), Columns: rows[n]})
	}
	_, err := f.writer.Write(t.Context(), table, changes)
	require.NoError(t, err)
}

// putFromHook puts source row n with the level given, from a goroutine other than the
// test's: a failure is reported, not fatal.
func (f *fixture) putFromHook(t *testing.T, n int64, level ots.Value) {
	_, err := f.writer.Write(context.Background(), sourceTable, []ots.RowChange{
		{Kind: ots.PutRow, PrimaryKey: id(n), Columns: []ots.Cell{cell("level", level)}},
	})
	assert.NoError(t, err)
}

// delete deletes rows of table.
func (f *fixture) delete(t *testing.T, table string, ids ...int64) {
	t.Helper()
	var changes []ots.RowChange
	for _, n := range ids {
		changes = append(changes, ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: id(n)})
	}
	_, err := f.writer.Write(t.Context(), table, changes)
	require.NoError(t, err)
}

// rows reads table as id → cells.
func (f *fixture) rows(t *testing.T, table string) map[int64][]ots.Cell {
	t.Helper()
	out := map[int64][]ots.Cell{}
	for _, row := range f.srv.Scan(t, table) {
		n, ok := row.PrimaryKey[0].Value.Int()
		require.True(t, ok)
		out[n] = row.Columns
	}
	return out
}

// levelRows are n source rows: id 0..n-1, level id%4 (so that half pass `level > 1`) and a
// message of about messageBytes.
func levelRows(n, messageBytes int) map[int64][]ots.Cell {
	rows := make(map[int64][]ots.Cell, n)
	for i := range int64(n) {
		message := fmt.Sprintf("message %d %s", i, strings.Repeat("x", messageBytes))
		rows[i] = []ots.Cell{cell("level", ots.Integer(i%4)), cell("message", ots.String(message))}
	}
	return rows
}

// levelView is the view of rows under `level > 1` keeping the columns project keeps (nil:
// all), computed by the test itself: a row passes when its level is an INTEGER above 1.
func levelView(rows map[int64][]ots.Cell, project []string) map[int64][]ots.Cell {
	view := map[int64][]ots.Cell{}
	for n, cells := range rows {
		i := slices.IndexFunc(cells, func(c ots.Cell) bool { return c.Name == "level" })
		if i < 0 {
			continue
		}
		if level, ok := cells[i].Value.Int(); !ok || level <= 1 {
			continue
		}
		kept := []ots.Cell{}
		for _, c := range cells {
			if project == nil || slices.Contains(project, c.Name) {
				kept = append(kept, c)
			}
		}
		view[n] = kept
	}
	return view
}

// requestCounter is a proxy in front of an otslocal server that counts the requests by
// action and may act before passing one on. A request is passed on whole even when its
// client gives up on it (a stopped run), as a server goes on with a request it has
// received, and settle waits for those in flight.
type requestCounter struct {
	URL      string
	mu       sync.Mutex
	counts   map[string]int
	inFlight sync.WaitGroup
	// before, when set, runs before each request is passed on, with its action and how
	// many requests of that action came before it.
	before func(action string, n int)
}

// settle waits until otslocal has answered every request passed on so far: the writes a
// stopped run abandoned have landed.
func (c *requestCounter) settle() { c.inFlight.Wait() }

// newRequestCounter starts a proxy to endpoint that stops with the test.
func newRequestCounter(t *testing.T, endpoint string) *requestCounter {
	t.Helper()
	target, err := url.Parse(endpoint)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // requests a stopped run abandons
	c := &requestCounter{counts: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		action := path.Base(r.URL.Path)
		c.mu.Lock()
		n := c.counts[action]
		c.counts[action]++
		before := c.before
		c.mu.Unlock()
		if before != nil {
			before(action, n)
		}
		c.inFlight.Add(1)
		defer c.inFlight.Done()
		proxy.ServeHTTP(w, r.WithContext(context.WithoutCancel(r.Context())))
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// count returns how many requests of action passed.
func (c *requestCounter) count(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[action]
}

// keysOf returns the primary keys of differences.
func keysOf(diffs []reconcile.Difference) []string {
	keys := make([]string, len(diffs))
	for i, d := range diffs {
		keys[i] = d.PrimaryKey
	}
	slices.Sort(keys)
	return keys
}

// stoppedRun syncs 6,000 source rows of 400-byte messages, three splits, one at a time, with
// a checkpoint, and stops the run at its eighth BatchWriteRow, in the second split: the
// checkpoint it leaves has the first split done, the second started and the third not. It
// returns the fixture, the run's configuration (a run with it resumes), the source rows and
// when the run started and stopped.
func stoppedRun(t *testing.T) (f *fixture, cfg reconcile.Config, source map[int64][]ots.Cell, started, stopped time.Time) {
	t.Helper()
	f = newFixture(t, otslocal.Options{})
	counter := newRequestCounter(t, f.srv.Endpoint)
	f.endpoint = counter.URL
	source = levelRows(6000, 400)
	f.put(t, sourceTable, source)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	counter.mu.Lock()
	counter.before = func(action string, n int) {
		if action == "BatchWriteRow" && n == 7 {
			cancel()
		}
	}
	counter.mu.Unlock()
	cfg = f.config(transform.Config{})
	cfg.Checkpoint = filepath.Join(t.TempDir(), "sync.checkpoint")
	cfg.Parallel = 1
	started = time.Now()
	_, err := reconcile.Run(ctx, cfg)
	stopped = time.Now()
	require.ErrorIs(t, err, context.Canceled)
	counter.settle()
	counter.mu.Lock()
	counter.before = nil
	counter.mu.Unlock()
	return f, cfg, source, started, stopped
}
