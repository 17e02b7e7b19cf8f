package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/reconcile"
	"github.com/otsetl/otsetl/ops/tableio"
)

// TestNaiveLoopAndBackfillCheck: the naive loop puts exactly the rows of its prefix that pass
// `level > 1`, as populate counts them, and a sync's counts are sane only when they are
// those of a backfill.
func TestNaiveLoopAndBackfillCheck(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{})
	inView, prefixInView, err := populate(t.Context(), srv.Endpoint, syncSource, 500, 120, 7)
	require.NoError(t, err)
	assert.InDelta(t, 250, inView, 60, "about half the rows pass")
	client := defaultSDKClient(srv.Endpoint)
	require.NoError(t, recreate(t.Context(), client, naiveResult))

	puts, err := runNaive(t.Context(), client, syncSource, naiveResult, 120)
	require.NoError(t, err)
	assert.Equal(t, prefixInView, puts)
	rows, err := tableio.Scan(t.Context(), client, naiveResult)
	require.NoError(t, err)
	require.Len(t, rows, puts)
	for _, row := range rows {
		id, _ := row.PrimaryKey[0].Value.Int()
		assert.Less(t, id, int64(120))
		level, _ := row.Columns[1].Value.Int()
		assert.Greater(t, level, int64(1))
	}

	require.NoError(t, recreate(t.Context(), client, syncResult))
	report, err := reconcile.Run(t.Context(), syncConfig(srv.Endpoint, syncSource, syncResult))
	require.NoError(t, err)
	assert.Empty(t, checkBackfill(report.Counts, 500, inView))
	wrong := report.Counts
	wrong.Written--
	assert.Len(t, checkBackfill(wrong, 500, inView), 1)
}
