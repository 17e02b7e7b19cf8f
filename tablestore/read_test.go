package tablestore

import (
	"net/http"
	"testing"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/ots"
)

func TestReadPresentAndAbsentRows(t *testing.T) {
	_, c := newTable(t, "source_data")
	seed(t, c, "source_data",
		put(1, cell("message", ots.String("one")), cell("level", ots.Integer(3)), cell("blob", ots.Binary([]byte{9}))),
		put(2, cell("level", ots.Integer(0)), cell("ratio", ots.Double(0.25)), cell("ok", ots.Boolean(true))),
	)
	rows, stats, err := c.Read(t.Context(), "source_data", [][]ots.PrimaryKeyColumn{key(2), key(99), key(1), key(2)}, nil)
	require.NoError(t, err)
	assert.Equal(t, ReadStats{Requests: 1}, stats)
	row2 := Row{Found: true, Columns: []ots.Cell{
		cell("level", ots.Integer(0)), cell("ok", ots.Boolean(true)), cell("ratio", ots.Double(0.25)),
	}}
	assert.Equal(t, []Row{
		row2,
		{},
		{Found: true, Columns: []ots.Cell{
			cell("blob", ots.Binary([]byte{9})), cell("level", ots.Integer(3)), cell("message", ots.String("one")),
		}},
		row2,
	}, withoutTimestamps(rows), "index-aligned with the keys, columns sorted by name")
}

// withoutTimestamps returns rows without their Timestamps, for comparing the values read.
func withoutTimestamps(rows []Row) []Row {
	out := make([]Row, len(rows))
	for i, row := range rows {
		out[i] = Row{Found: row.Found, Columns: row.Columns}
	}
	return out
}

func TestReadReturnsTheVersionOfEachColumn(t *testing.T) {
	srv, c := newTable(t, "source_data")
	now := time.Now().UnixMilli()
	change := &sdk.PutRowChange{TableName: "source_data", PrimaryKey: new(sdk.PrimaryKey)}
	change.PrimaryKey.AddPrimaryKeyColumn("id", int64(1))
	change.AddColumnWithTimestamp("level", int64(3), now-2000)
	change.AddColumnWithTimestamp("level", int64(4), now-1000)
	change.AddColumnWithTimestamp("a", "x", now-3000)
	change.SetCondition(sdk.RowExistenceExpectation_IGNORE)
	_, err := srv.SDK.PutRow(&sdk.PutRowRequest{PutRowChange: change})
	require.NoError(t, err)

	rows, _, err := c.Read(t.Context(), "source_data", [][]ots.PrimaryKeyColumn{key(1), key(2)}, nil)
	require.NoError(t, err)
	assert.Equal(t, []Row{
		{Found: true, Columns: []ots.Cell{cell("a", ots.String("x")), cell("level", ots.Integer(4))}, Timestamps: []int64{now - 3000, now - 1000}},
		{},
	}, rows, "the latest version of each column, with its timestamp")
}

func TestReadReturnsTheLatestVersion(t *testing.T) {
	_, c := newTable(t, "source_data")
	seed(t, c, "source_data", put(1, cell("level", ots.Integer(1))))
	for level := int64(2); level <= 4; level++ {
		seed(t, c, "source_data", ots.RowChange{Kind: ots.UpdateRowIfExists, PrimaryKey: key(1),
			Columns: []ots.Cell{cell("level", ots.Integer(level))}})
	}
	rows, _, err := c.Read(t.Context(), "source_data", [][]ots.PrimaryKeyColumn{key(1)}, nil)
	require.NoError(t, err)
	assert.Equal(t, []Row{{Found: true, Columns: []ots.Cell{cell("level", ots.Integer(4))}}}, withoutTimestamps(rows))
}

func TestReadSelectsColumns(t *testing.T) {
	_, c := newTable(t, "source_data")
	seed(t, c, "source_data",
		put(1, cell("message", ots.String("one")), cell("level", ots.Integer(3)), cell("other", ots.Integer(7))),
		put(2, cell("other", ots.Integer(8))),
	)
	keys := [][]ots.PrimaryKeyColumn{key(1), key(2), key(3)}
	rows, _, err := c.Read(t.Context(), "source_data", keys, []string{"level", "message"})
	require.NoError(t, err)
	assert.Equal(t, []Row{
		{Found: true, Columns: []ots.Cell{cell("level", ots.Integer(3)), cell("message", ots.String("one"))}},
		{},
		{},
	}, withoutTimestamps(rows), "a row with none of the requested columns is not returned")

	all, _, err := c.Read(t.Context(), "source_data", keys, []string{})
	require.NoError(t, err)
	assert.Len(t, all[0].Columns, 3, "an empty selection reads every column")
	assert.True(t, all[1].Found)
}

func TestReadChunksManyKeys(t *testing.T) {
	_, c := newTable(t, "source_data")
	var changes []ots.RowChange
	for id := int64(0); id < 250; id += 2 {
		changes = append(changes, put(id, cell("n", ots.Integer(id*10))))
	}
	seed(t, c, "source_data", changes...)

	keys := make([][]ots.PrimaryKeyColumn, 250)
	for i := range keys {
		keys[i] = key(int64(249 - i)) // descending, so alignment cannot come from key order
	}
	rows, stats, err := c.Read(t.Context(), "source_data", keys, nil)
	require.NoError(t, err)
	rows = withoutTimestamps(rows)
	assert.Equal(t, ReadStats{Requests: 3}, stats)
	require.Len(t, rows, 250)
	for i, row := range rows {
		id := int64(249 - i)
		if id%2 == 1 {
			assert.Equal(t, Row{}, row, "key %d", id)
			continue
		}
		assert.Equal(t, Row{Found: true, Columns: []ots.Cell{cell("n", ots.Integer(id*10))}}, row, "key %d", id)
	}
}

func TestReadNothing(t *testing.T) {
	_, c := newTable(t, "source_data")
	rows, stats, err := c.Read(t.Context(), "source_data", nil, nil)
	require.NoError(t, err)
	assert.Empty(t, rows)
	assert.Zero(t, stats)
}

func TestReadInvalidPrimaryKeyNamesTheKey(t *testing.T) {
	_, c := newTable(t, "source_data")
	rows, stats, err := c.Read(t.Context(), "source_data", [][]ots.PrimaryKeyColumn{
		key(1),
		{{ColumnName: "id", Value: ots.Binary([]byte{0xab})}},
	}, nil)
	var rowErr *RowError
	require.ErrorAs(t, err, &rowErr)
	assert.Equal(t, "GetRow", rowErr.Operation)
	assert.Equal(t, "id=0xab", rowErr.PrimaryKey)
	assert.Equal(t, "OTSInvalidPK", rowErr.Code)
	assert.Contains(t, err.Error(), `GetRow on table "source_data", row (id=0xab): OTSInvalidPK`)
	assert.Nil(t, rows)
	assert.Equal(t, ReadStats{Requests: 1}, stats)
}

func TestReadRejectsUnsupportedKeysBeforeSending(t *testing.T) {
	srv := startServer(t)
	endpoint, exchanges := recordExchanges(t, srv.Endpoint, "BatchGetRow")
	c := newTestClient(t, endpoint, 0)
	for name, k := range map[string][]ots.PrimaryKeyColumn{
		"boolean": {{ColumnName: "id", Value: ots.Boolean(false)}},
		"double":  {{ColumnName: "id", Value: ots.Double(1)}},
		"none":    {{ColumnName: "id"}},
		"empty":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := c.Read(t.Context(), "source_data", [][]ots.PrimaryKeyColumn{key(1), k}, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), `key 1 (`)
		})
	}
	assert.Empty(t, exchanges())
}

func TestReadRetriesABusyServer(t *testing.T) {
	srv, c := newFaultyTable(t, "source_data", "BatchGetRow", otslocal.FaultRates{ServerBusy: 0.7})
	seed(t, c, "source_data", put(1, cell("level", ots.Integer(5))))
	endpoint, exchanges := recordExchanges(t, srv.Endpoint, "BatchGetRow")
	busy := newTestClient(t, endpoint, 0)
	rows, stats, err := busy.Read(withTimeout(t, time.Minute), "source_data", [][]ots.PrimaryKeyColumn{key(1), key(2)}, nil)
	require.NoError(t, err)
	assert.Positive(t, stats.Retries, "seed 1 makes the server busy at first")
	assert.Equal(t, ReadStats{Requests: stats.Retries + 1, Retries: stats.Retries}, stats)
	seen := exchanges()
	require.Len(t, seen, stats.Requests)
	for _, e := range seen[:stats.Retries] {
		assert.Equal(t, http.StatusServiceUnavailable, e.status)
	}
	assert.Equal(t, []Row{{Found: true, Columns: []ots.Cell{cell("level", ots.Integer(5))}}, {}}, withoutTimestamps(rows))
}

func TestReadGivesUpBeforeTheDeadline(t *testing.T) {
	_, c := newFaultyTable(t, "source_data", "BatchGetRow", otslocal.FaultRates{ServerBusy: 1})
	rows, stats, err := c.Read(withTimeout(t, 2*time.Second), "source_data", [][]ots.PrimaryKeyColumn{key(1)}, nil)
	require.ErrorIs(t, err, ErrDeadline)
	assert.Contains(t, err.Error(), "OTSServerBusy")
	assert.Nil(t, rows)
	assert.Positive(t, stats.Retries)
	assert.Equal(t, stats.Retries+1, stats.Requests)
}

func TestReadRerequestsOnlyTheFailedKeys(t *testing.T) {
	srv, c := newFaultyTable(t, "source_data", "BatchGetRow", otslocal.FaultRates{RowFailure: 0.4})
	var changes []ots.RowChange
	for id := int64(0); id < 20; id += 2 {
		changes = append(changes, put(id, cell("n", ots.Integer(id))))
	}
	seed(t, c, "source_data", changes...)
	endpoint, exchanges := recordExchanges(t, srv.Endpoint, "BatchGetRow")
	faulty := newTestClient(t, endpoint, 0)
	keys := make([][]ots.PrimaryKeyColumn, 20)
	for i := range keys {
		keys[i] = key(int64(19 - i))
	}
	rows, stats, err := faulty.Read(withTimeout(t, time.Minute), "source_data", keys, nil)
	require.NoError(t, err)

	seen := exchanges()
	requireResentFailedRows(t, seen, len(keys))
	assert.Greater(t, len(seen), 1, "seed 1 fails some keys")
	assert.Equal(t, ReadStats{Requests: len(seen), Retries: len(seen) - 1}, stats)
	require.Len(t, rows, len(keys))
	for i, row := range withoutTimestamps(rows) {
		id := int64(19 - i)
		if id%2 == 1 {
			assert.Equal(t, Row{}, row, "key %d", id)
			continue
		}
		assert.Equal(t, Row{Found: true, Columns: []ots.Cell{cell("n", ots.Integer(id))}}, row,
			"key %d: results of later requests land at the keys' original positions", id)
	}
}
