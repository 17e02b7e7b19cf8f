package reconcile_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/fcruntime"
	"github.com/otsetl/otsetl/handler"
	"github.com/otsetl/otsetl/local/fclocal"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/reconcile"
	"github.com/otsetl/otsetl/transform"
)

// functionAPI is fclocal's InvokeFunction API over a pool of instances in this process, each
// running the function of fn, and what it answered.
type functionAPI struct {
	URL  string
	Pool *fclocal.Pool

	mu          sync.Mutex
	invocations []fclocal.APIInvocation
}

// startFunctionAPI serves the API of the function named "otsetl" with fn's configuration, up
// to maxInstances instances, with faults when set; it stops with the test.
func startFunctionAPI(t *testing.T, fn handler.Config, maxInstances int, faults *fclocal.APIFaults) *functionAPI {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	pool, err := fclocal.NewPool(fclocal.PoolConfig{
		MaxInstances: maxInstances,
		Start: fclocal.HandlerInstances(func(id string) http.Handler {
			cfg := fn
			cfg.InstanceID = id
			f, err := handler.New(cfg, quiet)
			if err != nil {
				panic(err) // the configuration was checked before
			}
			return fcruntime.NewHTTPHandler(f.Invoke, fcruntime.HTTPOptions{Logger: quiet})
		}),
	})
	require.NoError(t, err)
	api := &functionAPI{Pool: pool}
	h, err := fclocal.NewFunctionAPI(fclocal.APIConfig{
		FunctionName: "otsetl", Pool: pool, Credentials: otslocaltest.Credentials, Faults: faults,
		OnInvocation: func(inv fclocal.APIInvocation) {
			api.mu.Lock()
			api.invocations = append(api.invocations, inv)
			api.mu.Unlock()
		},
	})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		pool.Close()
	})
	api.URL = srv.URL
	return api
}

// TestSyncOnFC syncs 6,000 source rows through task invocations of the function over
// fclocal's API and pool, otslocal answering after 100 ms: tasks take keys for 400 ms, while
// a split of 1,000 rows in the view cannot decide its fifth batch of 200 fixes before some
// 500 ms of that latency (a page, then two write rounds with their re-checks, two batches at
// a time), so that the larger splits take several tasks however fast the machine is, and each
// task gets past its first page however slow (the race detector); the splits are cut when
// instances would sit idle; the result equals the view, the counts are those of a local run,
// and the report counts the invocations and the instances.
func TestSyncOnFC(t *testing.T) {
	f := newFixture(t, otslocal.Options{})
	source := levelRows(6000, 400)
	f.put(t, sourceTable, source)
	require.NoError(t, f.srv.SetFaults(otslocal.Faults{Latency: 100 * time.Millisecond}))
	cfg := f.config(transform.Config{})
	_, err := handler.New(cfg.Function, nil)
	require.NoError(t, err)
	api := startFunctionAPI(t, cfg.Function, 4, nil)
	cfg.OnFC = &reconcile.FCConfig{Endpoint: api.URL, Function: "otsetl", MemoryMB: 512}
	cfg.TaskBudget = 400 * time.Millisecond
	cfg.Parallel = 4
	report, err := reconcile.Run(t.Context(), cfg)
	require.NoError(t, err)
	assert.Equal(t, levelView(source, nil), f.rows(t, resultTable))
	assert.Equal(t, reconcile.Counts{SourceRows: 6000, Missing: 3000, Written: 3000, Rechecked: 3000}, report.Counts)
	require.NotNil(t, report.FC)
	assert.Greater(t, report.FC.Invocations, report.Splits, "splits take several tasks")
	assert.GreaterOrEqual(t, report.Splits, 3)
	assert.LessOrEqual(t, report.FC.Instances, 4)
	assert.Positive(t, report.FC.Instances)
	assert.Zero(t, report.FC.FailedInvocations)
	assert.InDelta(t, float64(report.FC.InvocationMs)/1000*0.5, report.FC.BilledGBSeconds, 1e-9)
	t.Logf("%s", report)
}
