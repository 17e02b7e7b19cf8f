package fclocal

import (
	"bytes"
	"log/slog"
	"math"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

func name(s string) *string { return &s }

func ms(v int64) *int64 { return &v }

func streamRecord(action sdk.ActionType, cols ...*sdk.RecordColumn) *sdk.StreamRecord {
	pk := &sdk.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", int64(7))
	return &sdk.StreamRecord{Type: action, Info: &sdk.RecordSequenceInfo{Timestamp: 1_700_000_000_000_001, RowIndex: 2}, PrimaryKey: pk, Columns: cols}
}

// TestRecordOfRejectsWhatTheTriggerCannotCarry checks the conversion's errors on records the
// SDK can hand over but the trigger event cannot express; the conversion of well-formed
// records is checked end to end in TestTriggerDeliversEveryTypeAndHeader.
func TestRecordOfRejectsWhatTheTriggerCannotCarry(t *testing.T) {
	put := func(v any) *sdk.RecordColumn {
		return &sdk.RecordColumn{Type: sdk.RCT_Put, Name: name("c"), Value: v, Timestamp: ms(1)}
	}
	doublePK := streamRecord(sdk.AT_Put)
	doublePK.PrimaryKey.PrimaryKeys[0].Value = 1.5
	cases := []struct {
		name string
		rec  *sdk.StreamRecord
		want string
	}{
		{"nil record", nil, "nil record"},
		{"no sequence info", &sdk.StreamRecord{PrimaryKey: &sdk.PrimaryKey{}}, "no sequence info"},
		{"no primary key", &sdk.StreamRecord{Info: &sdk.RecordSequenceInfo{}}, "no primary key"},
		{"unknown action", streamRecord(sdk.ActionType(9)), "unknown action type 9"},
		{"int value", streamRecord(sdk.AT_Put, put(7)), "unsupported value type int"},
		{"uint64 value", streamRecord(sdk.AT_Put, put(uint64(7))), "unsupported value type uint64"},
		{"put without value", streamRecord(sdk.AT_Update, put(nil)), "a Put needs a Value"},
		{"double primary key", doublePK, "DOUBLE is not a primary key type"},
		{"unnamed column", streamRecord(sdk.AT_Update, &sdk.RecordColumn{Type: sdk.RCT_DeleteAllVersions}), "a column without a name"},
		{"unknown column op", streamRecord(sdk.AT_Update, &sdk.RecordColumn{Type: sdk.RecordColumnType(5), Name: name("c")}), `column "c": unknown column change type 5`},
		{"delete row with cells", streamRecord(sdk.AT_Delete, put(int64(1))), "a DeleteRow carries no columns"},
		{"put row deleting a version", streamRecord(sdk.AT_Put, &sdk.RecordColumn{Type: sdk.RCT_DeleteOneVersion, Name: name("c"), Timestamp: ms(1)}), "a PutRow writes only Put cells"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := recordOf(tc.rec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestRecordOfKeepsTheSequence(t *testing.T) {
	got, err := recordOf(streamRecord(sdk.AT_Update,
		&sdk.RecordColumn{Type: sdk.RCT_Put, Name: name("level"), Value: math.Inf(1), Timestamp: ms(1_700_000_000_000)},
		&sdk.RecordColumn{Type: sdk.RCT_DeleteOneVersion, Name: name("old"), Timestamp: ms(5)},
		&sdk.RecordColumn{Type: sdk.RCT_DeleteAllVersions, Name: name("gone")},
	))
	require.NoError(t, err)
	assert.Equal(t, sequence{epoch: 0, timestamp: 1_700_000_000_000_001, rowIndex: 2}, got.seq)
	assert.Equal(t, events.Record{
		Type:       events.UpdateRow,
		Info:       events.RecordInfo{Timestamp: 1_700_000_000_000_001},
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(7)}},
		Columns: []events.Column{
			{Type: events.Put, ColumnName: "level", Value: ots.Double(math.Inf(1)), Timestamp: ms(1_700_000_000_000)},
			{Type: events.DeleteOneVersion, ColumnName: "old", Timestamp: ms(5)},
			{Type: events.DeleteAllVersions, ColumnName: "gone"},
		},
	}, got.record)
}

func TestSequenceOrder(t *testing.T) {
	ordered := []sequence{{0, 5, 9}, {0, 6, 0}, {0, 6, 1}, {1, 1, 0}}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			assert.Equal(t, want, ordered[i].compare(ordered[j]), "%v vs %v", ordered[i], ordered[j])
		}
	}
}

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

func seqRecord(ts int64, row int32) sequencedRecord {
	return sequencedRecord{seq: sequence{timestamp: ts, rowIndex: row}, record: events.Record{Info: events.RecordInfo{Timestamp: ts}}}
}

// TestUndeliveredSkipsWhatWasDeliveredBeforeTheIteratorExpired covers the resumption from a
// checkpoint's timestamp: records up to the checkpoint are dropped, and a loss is logged
// only when the checkpoint's own record is gone.
func TestUndeliveredSkipsWhatWasDeliveredBeforeTheIteratorExpired(t *testing.T) {
	var logs bytes.Buffer
	r := &shardReader{logger: slog.New(slog.NewTextHandler(&logs, nil))}
	page := []sequencedRecord{seqRecord(10, 0), seqRecord(10, 1), seqRecord(10, 2), seqRecord(11, 0)}

	assert.Equal(t, page, r.undelivered(page), "no resumption: every record is new")

	checkpoint := sequence{timestamp: 10, rowIndex: 1}
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

func TestParentsFirst(t *testing.T) {
	shards := []shard{
		{id: "merged", parents: []sdk.ShardId{"left", "right"}},
		{id: "left", parents: []sdk.ShardId{"root"}},
		{id: "right", parents: []sdk.ShardId{"root"}},
		{id: "root", parents: []sdk.ShardId{"expired"}},
		{id: "lone"},
	}
	ordered, err := parentsFirst(shards)
	require.NoError(t, err)
	var ids []sdk.ShardId
	for _, sh := range ordered {
		ids = append(ids, sh.id)
	}
	assert.Equal(t, []sdk.ShardId{"root", "lone", "left", "right", "merged"}, ids)

	_, err = parentsFirst([]shard{{id: "a", parents: []sdk.ShardId{"b"}}, {id: "b", parents: []sdk.ShardId{"a"}}})
	assert.ErrorContains(t, err, "cycle")
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
			out = append(out, st.id)
		}
		return out
	}
	listed := []shard{
		{id: "parent"},
		{id: "left", parents: []sdk.ShardId{"parent"}},
		{id: "right", parents: []sdk.ShardId{"parent"}},
		{id: "merged", parents: []sdk.ShardId{"left", "right"}},
		{id: "orphan", parents: []sdk.ShardId{"expired"}},
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
