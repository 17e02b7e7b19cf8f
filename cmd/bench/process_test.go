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

func TestParseVmHWM(t *testing.T) {
	status := "Name:\totsetl\nVmPeak:\t 1268956 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n"
	got, err := parseVmHWM([]byte(status))
	require.NoError(t, err)
	assert.Equal(t, int64(51200*1024), got)

	_, err = parseVmHWM([]byte("Name:\totsetl\n"))
	assert.EqualError(t, err, "no VmHWM line in the process status")
	_, err = parseVmHWM([]byte("VmHWM:\t 12 MB\n"))
	assert.EqualError(t, err, `VmHWM "12 MB" is not in kB`)
	_, err = parseVmHWM([]byte("VmHWM:\t x kB\n"))
	assert.ErrorContains(t, err, `VmHWM "x kB"`)
}

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

	target := serveTarget{bin: bin, endpoint: srv.Endpoint, instance: instance, resultTable: serveResultTable, creds: credentials}
	figures, err := measureProcess(ctx, target, small.payload, large.payload)
	require.NoError(t, err)
	assert.Positive(t, figures.coldStart)
	assert.Greater(t, figures.peakRSSBytes, int64(len(large.payload)), "the process holds the event at least once")

	rows, err := tableio.Scan(ctx, defaultSDKClient(srv.Endpoint), serveResultTable)
	require.NoError(t, err)
	assert.NotEmpty(t, rows, "the large event's passing rows are in the served function's result table")
}
