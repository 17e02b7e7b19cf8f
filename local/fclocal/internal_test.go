package fclocal

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ops/streams"
)

func TestBackoffGrowsToItsMaxWithJitter(t *testing.T) {
	waits := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}.start()
	for retry, c := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		interval := c * time.Millisecond
		d := waits.NextBackOff()
		assert.GreaterOrEqual(t, d, interval/2, "retry %d", retry+1)
		assert.LessOrEqual(t, d, interval*3/2, "retry %d", retry+1)
	}
	assert.Equal(t, Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax}, Backoff{}.withDefaults())
	assert.Equal(t, Backoff{Initial: time.Minute, Max: time.Minute}, Backoff{Initial: time.Minute}.withDefaults())
	require.Error(t, Backoff{Initial: time.Second, Max: time.Millisecond}.withDefaults().validate())
	require.Error(t, Backoff{Initial: -time.Second}.withDefaults().validate())
}

func seqRecord(ts int64, row int32) streams.Record {
	return streams.Record{Sequence: streams.Sequence{Timestamp: ts, RowIndex: row}, Record: events.Record{Info: events.RecordInfo{Timestamp: ts}}}
}

// TestUndeliveredSkipsWhatWasDeliveredBeforeTheIteratorExpired covers the resumption from a
// checkpoint's timestamp: records up to the checkpoint are dropped, and a loss is logged
// only when the checkpoint's own record is gone.
func TestUndeliveredSkipsWhatWasDeliveredBeforeTheIteratorExpired(t *testing.T) {
	var logs bytes.Buffer
	r := &shardReader{logger: slog.New(slog.NewTextHandler(&logs, nil))}
	page := []streams.Record{seqRecord(10, 0), seqRecord(10, 1), seqRecord(10, 2), seqRecord(11, 0)}

	assert.Equal(t, page, r.undelivered(page), "no resumption: every record is new")

	checkpoint := streams.Sequence{Timestamp: 10, RowIndex: 1}
	r.resumeAfter, r.checkpointSeen = &checkpoint, false
	assert.Empty(t, r.undelivered(page[:2]), "records up to the checkpoint are dropped")
	assert.Equal(t, page[2:], r.undelivered(page[2:]), "the first page after the checkpoint is kept")
	assert.Nil(t, r.resumeAfter)
	assert.Equal(t, page, r.undelivered(page), "resumption is over")
	assert.Empty(t, logs.String())

	r.resumeAfter, r.checkpointSeen = &checkpoint, false
	assert.Equal(t, page[2:], r.undelivered(page[2:]))
	assert.Contains(t, logs.String(), "records may have been lost to Stream expiration")
	assert.Contains(t, logs.String(), "checkpoint=0:10:1 resumedAt=0:10:2")
}

// TestTriggerReadsChildrenAfterTheirParents checks which shards the trigger starts as
// DescribeStream lists them and shards finish: a shard split or merged from others only
// once they are closed and fully read, or no longer listed (expired).
func TestTriggerReadsChildrenAfterTheirParents(t *testing.T) {
	newTrigger := func() *Trigger {
		trig, err := New(Config{Client: &sdk.TableStoreClient{}, Table: "t", FunctionURL: "http://127.0.0.1:1"})
		require.NoError(t, err)
		return trig
	}
	ids := func(states []*shardState) []sdk.ShardId {
		out := []sdk.ShardId{}
		for _, st := range states {
			out = append(out, st.ID)
		}
		return out
	}
	listed := []streams.Shard{
		{ID: "parent"},
		{ID: "left", Parents: []sdk.ShardId{"parent"}},
		{ID: "right", Parents: []sdk.ShardId{"parent"}},
		{ID: "merged", Parents: []sdk.ShardId{"left", "right"}},
		{ID: "orphan", Parents: []sdk.ShardId{"expired"}},
	}
	trig := newTrigger()
	assert.Equal(t, []sdk.ShardId{"parent", "orphan"}, ids(trig.update(listed, 0)))
	assert.Empty(t, ids(trig.update(listed, 0)), "started shards are not started again")
	trig.markFinished("parent")
	select {
	case <-trig.rescan:
	default:
		t.Fatal("a finished shard asks for a DescribeStream")
	}
	assert.Equal(t, []sdk.ShardId{"left", "right"}, ids(trig.update(listed, 0)))
	trig.markFinished("left")
	assert.Empty(t, ids(trig.update(listed, 0)), "merged waits for both parents")
	trig.markFinished("right")
	assert.Equal(t, []sdk.ShardId{"merged"}, ids(trig.update(listed, 0)))

	trig = newTrigger()
	assert.Equal(t, []sdk.ShardId{"parent", "orphan"}, ids(trig.update(listed, 0)))
	assert.Equal(t, []sdk.ShardId{"left", "right"}, ids(trig.update(listed[1:], 0)), "a parent no longer listed has expired")
}
