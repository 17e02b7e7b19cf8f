package tablestore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/ots"
)

// key returns the primary key `id=<id>`.
func key(id int64) []ots.PrimaryKeyColumn {
	return []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(id)}}
}

// put returns a PutRow of row id with cells.
func put(id int64, cells ...ots.Cell) ots.RowChange {
	return ots.RowChange{Kind: ots.PutRow, PrimaryKey: key(id), Columns: cells}
}

// cell returns an attribute cell.
func cell(name string, v ots.Value) ots.Cell { return ots.Cell{Name: name, Value: v} }

func TestEstimateRowSizeNeverUnderestimatesTheSDKEncoding(t *testing.T) {
	changes := []ots.RowChange{
		put(1),
		put(-1<<63, cell("level", ots.Integer(3)), cell("message", ots.String("hello")),
			cell("ratio", ots.Double(0.5)), cell("ok", ots.Boolean(true)), cell("blob", ots.Binary(make([]byte, 1000)))),
		{Kind: ots.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "g", Value: ots.String(strings.Repeat("k", 1024))}}},
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(7), Columns: []ots.Cell{cell("gone", ots.Value{}), cell("message", ots.String("x"))}},
	}
	rows, err := new(rowBuffers).build("result", changes)
	require.NoError(t, err)
	for i, m := range changes {
		framed := len(appendBatchWriteRowRequest(nil, "result", rows[i:i+1])) - len(appendBatchWriteRowRequest(nil, "result", nil))
		assert.GreaterOrEqual(t, estimateRowSize(m), framed, "row change %d: PlainBuffer and protobuf framing", i)
	}
}

// sizedRows returns rows with the given estimated sizes.
func sizedRows(sizes ...int) []rowWrite {
	rows := make([]rowWrite, len(sizes))
	for i, size := range sizes {
		rows[i] = rowWrite{kind: ots.PutRow, size: size}
	}
	return rows
}

// chunkLengths returns the number of rows of each chunk.
func chunkLengths(chunks [][]rowWrite) []int {
	lengths := make([]int, len(chunks))
	for i, c := range chunks {
		lengths[i] = len(c)
	}
	return lengths
}

func TestChunkRowWritesByCount(t *testing.T) {
	sizes := make([]int, 450)
	for i := range sizes {
		sizes[i] = 100
	}
	assert.Equal(t, []int{200, 200, 50}, chunkLengths(chunkRowWrites(sizedRows(sizes...))))
	assert.Equal(t, []int{200}, chunkLengths(chunkRowWrites(sizedRows(sizes[:200]...))))
	assert.Empty(t, chunkRowWrites(nil))
}

func TestChunkRowWritesBySizeBoundary(t *testing.T) {
	half := maxBatchWriteBytes / 2
	assert.Equal(t, []int{2, 2}, chunkLengths(chunkRowWrites(sizedRows(half, half, half, half))),
		"rows adding up to exactly 4 MB share a request")
	assert.Equal(t, []int{1, 2, 1}, chunkLengths(chunkRowWrites(sizedRows(half+1, half, half, 1))),
		"one byte more starts a new request")
	assert.Equal(t, []int{1, 1, 1}, chunkLengths(chunkRowWrites(sizedRows(10, maxBatchWriteBytes+1, 10))),
		"an oversized row goes alone")
}

func TestChunkingUsesTheRowEstimate(t *testing.T) {
	// Two rows whose estimates add up to exactly the limit, then a third byte-for-byte
	// equal one: the boundary falls where the estimate says.
	base := estimateRowSize(put(1, cell("payload", ots.String(""))))
	payload := strings.Repeat("x", maxBatchWriteBytes/2-base)
	changes := []ots.RowChange{
		put(1, cell("payload", ots.String(payload))),
		put(2, cell("payload", ots.String(payload))),
		put(3, cell("payload", ots.String(payload))),
	}
	require.Equal(t, maxBatchWriteBytes/2, estimateRowSize(changes[0]))
	rows, err := new(rowBuffers).build("result", changes)
	require.NoError(t, err)
	assert.Equal(t, []int{2, 1}, chunkLengths(chunkRowWrites(rows)))

	changes[0].Columns[0].Value = ots.String(payload + "x")
	rows, err = new(rowBuffers).build("result", changes)
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2}, chunkLengths(chunkRowWrites(rows)))
}

func TestBuildRowWritesEncodesTheSDKsRowChanges(t *testing.T) {
	changes := []ots.RowChange{
		put(1, cell("a", ots.Integer(1)), cell("b", ots.String("x"))),
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(2)},
		{Kind: ots.DeleteRow, PrimaryKey: key(3)},
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(4), Columns: []ots.Cell{cell("a", ots.Double(2.5)), cell("b", ots.Value{})}},
	}
	rows, err := new(rowBuffers).build("result", changes)
	require.NoError(t, err)
	require.Len(t, rows, 3, "an update without columns is skipped")
	for i, m := range []ots.RowChange{changes[0], changes[2], changes[3]} {
		assert.Equal(t, sdkRowChange(t, "result", m).Serialize(), rows[i].row, "%s: the SDK's row change: no timestamps, a cell without a value deletes all versions", m.Kind)
		assert.Equal(t, m.PrimaryKey, rows[i].primaryKey)
	}
	assert.Equal(t, []string{"PutRow", "DeleteRow", "UpdateRow"}, []string{rows[0].operation(), rows[1].operation(), rows[2].operation()})
}

func TestBuildRowWritesRejectsBadRowChanges(t *testing.T) {
	cases := map[string]struct {
		changes []ots.RowChange
		want    string
	}{
		"double primary key": {
			[]ots.RowChange{{Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Double(1.5)}}}},
			`row change 0 (put) of row (id=1.5) for table "result": primary key column "id" holds DOUBLE`,
		},
		"boolean primary key": {
			[]ots.RowChange{{Kind: ots.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Boolean(true)}}}},
			`primary key column "id" holds BOOLEAN`,
		},
		"missing primary key value": {
			[]ots.RowChange{{Kind: ots.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id"}}}},
			`primary key column "id" holds NONE`,
		},
		"empty primary key": {
			[]ots.RowChange{{Kind: ots.DeleteRow}},
			"empty primary key",
		},
		"put cell without value": {
			[]ots.RowChange{put(1, cell("a", ots.Value{}))},
			`column "a" has no value`,
		},
		"zero kind": {
			[]ots.RowChange{{PrimaryKey: key(1)}},
			"unsupported row change kind RowChangeKind(0)",
		},
		"duplicate key": {
			[]ots.RowChange{put(1), put(2), {Kind: ots.DeleteRow, PrimaryKey: key(1)}},
			`row changes 0 and 2 both write row (id=1) of table "result"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rows, err := new(rowBuffers).build("result", tc.changes)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Nil(t, rows)
		})
	}
}

func TestRunBoundedHonoursTheLimit(t *testing.T) {
	const limit, tasks = 3, 40
	var inFlight, peak atomic.Int32
	var mu sync.Mutex
	done := make([]bool, tasks)
	// Each task waits until the limit is reached or every remaining task is running, so
	// the peak is exactly the limit if (and only if) tasks run concurrently up to it.
	full := make(chan struct{})
	var fullOnce sync.Once
	err := runBounded(t.Context(), tasks, limit, func(ctx context.Context, task int) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		if n == limit {
			fullOnce.Do(func() { close(full) })
		}
		<-full
		mu.Lock()
		done[task] = true
		mu.Unlock()
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, int32(limit), peak.Load())
	for task, ok := range done {
		assert.True(t, ok, "task %d", task)
	}
}

func TestRunBoundedStopsAtTheFirstError(t *testing.T) {
	failure := errors.New("OTSInvalidPK")
	var started atomic.Int32
	err := runBounded(t.Context(), 100, 1, func(ctx context.Context, task int) error {
		started.Add(1)
		if task == 2 {
			return failure
		}
		return nil
	})
	assert.Same(t, failure, err)
	assert.Equal(t, int32(3), started.Load(), "with one slot, no task starts after the failure")
}

func TestRunBoundedCancelsTheOthers(t *testing.T) {
	failure := errors.New("boom")
	err := runBounded(t.Context(), 2, 2, func(ctx context.Context, task int) error {
		if task == 0 {
			return failure
		}
		<-ctx.Done()
		assert.ErrorIs(t, context.Cause(ctx), failure)
		return ctx.Err()
	})
	assert.Same(t, failure, err)
}

func TestRunBoundedReportsAnEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := runBounded(ctx, 3, 1, func(context.Context, int) error {
		called = true
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, called)
}

func TestCheckResultIndexesRejectsMalformedResponses(t *testing.T) {
	ok := []sdk.RowResult{{Index: 1}, {Index: 0}}
	require.NoError(t, checkResultIndexes("result", "BatchWriteRow", 2, ok))
	for name, results := range map[string][]sdk.RowResult{
		"too few":  {{Index: 0}},
		"too many": {{Index: 0}, {Index: 1}, {Index: 2}},
		"repeated": {{Index: 0}, {Index: 0}},
		"negative": {{Index: -1}, {Index: 0}},
		"past end": {{Index: 0}, {Index: 2}},
	} {
		t.Run(name, func(t *testing.T) {
			err := checkResultIndexes("result", "BatchWriteRow", 2, results)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `BatchWriteRow on table "result"`)
		})
	}
}
