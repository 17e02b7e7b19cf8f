package capture_test

import (
	"errors"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ops/capture"
	"github.com/otsetl/otsetl/ops/streams"
	"github.com/otsetl/otsetl/ops/tableio"
	"github.com/otsetl/otsetl/ots"
)

// write re-enacts a record of type on source row id, setting its level.
func write(t *testing.T, srv *otslocaltest.Server, typ events.RecordType, id, level int64) {
	t.Helper()
	rec := events.Record{Type: typ, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}},
		Columns: []events.Column{{Type: events.Put, ColumnName: "level", Value: ots.Integer(level)}}}
	require.NoError(t, tableio.Apply(t.Context(), srv.SDK, "source_data", []events.Record{rec}))
}

// TestCapture reads a Stream of several shards into batches: every record once, each
// shard's batches in order, and with Since only the later records.
func TestCapture(t *testing.T) {
	srv := otslocaltest.NewServer(t, otslocal.Options{StreamShards: 3},
		otslocaltest.Table{Name: "source_data", Stream: true}, otslocaltest.Table{Name: "result"})
	for id := int64(1); id <= 12; id++ {
		write(t, srv, events.PutRow, id, id)
	}
	// Records of the first writes are older than since (µs), those of the later ones not.
	since := time.Now().Add(time.Microsecond)
	for !time.Now().After(since) {
		runtime.Gosched()
	}
	for id := int64(1); id <= 12; id += 2 {
		write(t, srv, events.UpdateRow, id, 100)
	}

	var batches []capture.Batch
	collect := func(b capture.Batch) error {
		batches = append(batches, b)
		return nil
	}
	require.NoError(t, capture.Read(t.Context(), srv.SDK, "source_data", capture.Options{BatchSize: 4}, collect))
	perShard := map[string][]events.Record{}
	for _, b := range batches {
		assert.Equal(t, events.Version, b.Event.Version)
		assert.LessOrEqual(t, len(b.Event.Records), 4)
		perShard[b.Shard] = append(perShard[b.Shard], b.Event.Records...)
	}
	assert.Len(t, perShard, 3)
	total := 0
	for shard, records := range perShard {
		total += len(records)
		assert.True(t, slices.IsSortedFunc(records, func(a, b events.Record) int { return int(a.Info.Timestamp - b.Info.Timestamp) }), "shard %s in order", shard)
	}
	assert.Equal(t, 12+6, total)

	batches = nil
	require.NoError(t, capture.Read(t.Context(), srv.SDK, "source_data", capture.Options{Since: since}, collect))
	var later []events.Record
	for _, b := range batches {
		later = append(later, b.Event.Records...)
	}
	require.Len(t, later, 6)
	for _, rec := range later {
		assert.Equal(t, events.UpdateRow, rec.Type)
	}

	err := capture.Read(t.Context(), srv.SDK, "result", capture.Options{}, collect)
	assert.ErrorIs(t, err, streams.ErrNoStream)
	err = capture.Read(t.Context(), srv.SDK, "source_data", capture.Options{}, func(capture.Batch) error { return errors.New("disk full") })
	assert.EqualError(t, err, "disk full")
}
