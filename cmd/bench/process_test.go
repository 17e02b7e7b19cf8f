package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/tableio"
)

// TestMeasureProcess builds cmd/otsetl, starts `otsetl serve` against otslocal, and checks
// that both invocations are answered and written, and that the figures are plausible.
func TestMeasureProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the otsetl binary")
	}
	ctx := context.Background()
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	require.NoError(t, createTables(ctx, defaultSDKClient(srv.Endpoint), sourceTable, serveResultTable))
	bin, err := buildBinary(ctx, t.TempDir())
	require.NoError(t, err)
	gen := newGenerator(4, time.Now())
	rule := defaultRule(t)
	small, err := gen.event(1, rule)
	require.NoError(t, err)
	large, err := gen.eventOfSize(200_000, rule)
	require.NoError(t, err)

	target := serveTarget{bin: bin, endpoint: srv.Endpoint, instance: instance, resultTable: serveResultTable, creds: credentials, check: planChecks}
	figures, err := measureProcess(ctx, target, small.payload, large.payload)
	require.NoError(t, err)
	assert.Positive(t, figures.coldStart)
	assert.Greater(t, figures.peakRSSBytes, int64(len(large.payload)), "the process holds the event at least once")

	rows, err := tableio.Scan(ctx, defaultSDKClient(srv.Endpoint), serveResultTable)
	require.NoError(t, err)
	assert.NotEmpty(t, rows, "the large event's passing rows are in the served function's result table")
}
