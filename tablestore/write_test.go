package tablestore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/local/otslocal"
	"github.com/otsetl/otsetl/local/otslocal/otslocaltest"
	"github.com/otsetl/otsetl/ots"
)

func TestWriteAppliesPutsDeletesAndConditionalUpdates(t *testing.T) {
	srv, c := newTable(t, "result")
	seed(t, c, "result",
		put(1, cell("stale", ots.String("old"))),
		put(2, cell("level", ots.Integer(2)), cell("message", ots.String("before")), cell("keep", ots.Boolean(true))),
		put(4, cell("level", ots.Integer(9))),
	)

	stats, err := c.Write(t.Context(), "result", []ots.RowChange{
		put(1, cell("blob", ots.Binary([]byte{0, 1, 2})), cell("level", ots.Integer(5)),
			cell("message", ots.String("hello")), cell("ok", ots.Boolean(false)), cell("ratio", ots.Double(1.5))),
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(2), Columns: []ots.Cell{
			cell("message", ots.String("after")), cell("level", ots.Value{}),
		}},
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(3), Columns: []ots.Cell{cell("message", ots.String("ghost"))}},
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(5)},
		{Kind: ots.DeleteRow, PrimaryKey: key(4)},
		{Kind: ots.DeleteRow, PrimaryKey: key(6)},
	})
	require.NoError(t, err)
	assert.Equal(t, WriteStats{Requests: 1, Puts: 1, Updates: 2, Deletes: 2, NotInView: 1}, stats,
		"the update without columns counts nothing; the update of the absent row 3 is not in the view")

	assert.Equal(t, map[string]any{"blob": []byte{0, 1, 2}, "level": int64(5), "message": "hello", "ok": false, "ratio": 1.5},
		getRow(t, srv.Endpoint, "result", key(1)), "a put replaces the whole row")
	assert.Equal(t, map[string]any{"message": "after", "keep": true},
		getRow(t, srv.Endpoint, "result", key(2)), "an update puts and deletes cells and keeps the rest")
	assert.Nil(t, getRow(t, srv.Endpoint, "result", key(3)), "an update never creates a row")
	assert.Nil(t, getRow(t, srv.Endpoint, "result", key(4)))
	assert.Nil(t, getRow(t, srv.Endpoint, "result", key(5)))
	assert.Nil(t, getRow(t, srv.Endpoint, "result", key(6)))
}

func TestWriteIsIdempotent(t *testing.T) {
	srv, c := newTable(t, "result")
	changes := []ots.RowChange{
		put(1, cell("message", ots.String("a"))),
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(1), Columns: []ots.Cell{cell("x", ots.Integer(1))}},
		{Kind: ots.DeleteRow, PrimaryKey: key(2)},
	}
	for range 2 {
		_, err := c.Write(t.Context(), "result", changes[:1])
		require.NoError(t, err)
		_, err = c.Write(t.Context(), "result", changes[1:])
		require.NoError(t, err)
	}
	assert.Equal(t, map[string]any{"message": "a", "x": int64(1)}, getRow(t, srv.Endpoint, "result", key(1)))
	assert.Equal(t, 1, countRows(t, srv.Endpoint, "result"))
}

func TestWriteNothing(t *testing.T) {
	_, c := newTable(t, "result")
	stats, err := c.Write(t.Context(), "result", nil)
	require.NoError(t, err)
	assert.Zero(t, stats)
	stats, err = c.Write(t.Context(), "result", []ots.RowChange{{Kind: ots.UpdateRowIfExists, PrimaryKey: key(1)}})
	require.NoError(t, err)
	assert.Zero(t, stats, "skipped row changes send nothing")
}

func TestWriteChunksByRowCount(t *testing.T) {
	srv, c := newTable(t, "result")
	changes := make([]ots.RowChange, 450)
	for i := range changes {
		changes[i] = put(int64(i), cell("level", ots.Integer(int64(i))))
	}
	stats, err := c.Write(t.Context(), "result", changes)
	require.NoError(t, err)
	assert.Equal(t, WriteStats{Requests: 3, Puts: 450}, stats)
	assert.Equal(t, 450, countRows(t, srv.Endpoint, "result"))
	assert.Equal(t, map[string]any{"level": int64(449)}, getRow(t, srv.Endpoint, "result", key(449)))
}

func TestWriteChunksBySize(t *testing.T) {
	srv, c := newTable(t, "result")
	// Three rows of 1.5 MB: two fit in 4 MB, three do not.
	big := strings.Repeat("x", 1536<<10)
	changes := []ots.RowChange{
		put(1, cell("payload", ots.String(big))),
		put(2, cell("payload", ots.String(big))),
		put(3, cell("payload", ots.String(big))),
	}
	stats, err := c.Write(t.Context(), "result", changes)
	require.NoError(t, err)
	assert.Equal(t, WriteStats{Requests: 2, Puts: 3}, stats)
	for id := int64(1); id <= 3; id++ {
		row := getRow(t, srv.Endpoint, "result", key(id))
		require.NotNil(t, row)
		assert.Len(t, row["payload"], len(big))
	}
}

func TestWriteHonoursTheConcurrencyBound(t *testing.T) {
	const bound = 2
	srv := otslocaltest.NewServer(t, otslocal.Options{}, otslocaltest.Table{Name: "result"})

	// Requests wait until `bound` of them are in flight, then all pass: the peak shows both
	// that requests overlap and that no more than `bound` do.
	var (
		mu       sync.Mutex
		inFlight int
		peak     int
	)
	full := make(chan struct{})
	var fullOnce sync.Once
	gate := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			inFlight++
			peak = max(peak, inFlight)
			if inFlight == bound {
				fullOnce.Do(func() { close(full) })
			}
			mu.Unlock()
			select {
			case <-full:
			case <-r.Context().Done():
			}
			next.ServeHTTP(w, r)
			mu.Lock()
			inFlight--
			mu.Unlock()
		})
	}
	gated := serve(t, gate(newReverseProxy(t, srv.Endpoint)))

	c := newTestClient(t, gated, bound)
	changes := make([]ots.RowChange, 1000)
	for i := range changes {
		changes[i] = put(int64(i), cell("n", ots.Integer(int64(i))))
	}
	stats, err := c.Write(withTimeout(t, time.Minute), "result", changes)
	require.NoError(t, err)
	assert.Equal(t, WriteStats{Requests: 5, Puts: 1000}, stats)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, bound, peak)
	assert.Equal(t, 1000, countRows(t, srv.Endpoint, "result"))
}

func TestWriteInvalidPrimaryKeyNamesTheRow(t *testing.T) {
	srv, c := newTable(t, "result")
	wrongType := []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.String("five")}}
	stats, err := c.Write(t.Context(), "result", []ots.RowChange{
		put(1, cell("a", ots.Integer(1))),
		{Kind: ots.PutRow, PrimaryKey: wrongType, Columns: []ots.Cell{cell("a", ots.Integer(2))}},
	})
	require.Error(t, err)
	var rowErr *RowError
	require.ErrorAs(t, err, &rowErr)
	assert.Equal(t, "result", rowErr.Table)
	assert.Equal(t, "PutRow", rowErr.Operation)
	assert.Equal(t, `id="five"`, rowErr.PrimaryKey)
	assert.Equal(t, "OTSInvalidPK", rowErr.Code)
	assert.NotEmpty(t, rowErr.Message)
	assert.Contains(t, err.Error(), `PutRow on table "result", row (id="five"): OTSInvalidPK`)
	assertNoSecrets(t, err.Error())
	assert.Equal(t, 1, stats.Requests)
	assert.Equal(t, 1, stats.Puts, "the valid row of the same request was written")
	assert.NotNil(t, getRow(t, srv.Endpoint, "result", key(1)))
}

func TestWriteRejectsUnwritableRowChangesBeforeSending(t *testing.T) {
	srv, c := newTable(t, "result")
	for name, m := range map[string]ots.RowChange{
		"double key":     {Kind: ots.PutRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Double(1)}}},
		"cell w/o value": put(1, cell("a", ots.Value{})),
		"unknown kind":   {Kind: 99, PrimaryKey: key(1)},
		"empty key":      {Kind: ots.DeleteRow},
		"no key value":   {Kind: ots.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id"}}},
		"boolean key":    {Kind: ots.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Boolean(true)}}},
		"duplicate key":  put(7),
	} {
		t.Run(name, func(t *testing.T) {
			stats, err := c.Write(t.Context(), "result", []ots.RowChange{put(7, cell("a", ots.Integer(1))), m})
			require.Error(t, err)
			assert.Contains(t, err.Error(), `table "result"`)
			assert.Zero(t, stats)
		})
	}
	assert.Zero(t, countRows(t, srv.Endpoint, "result"), "nothing was sent")
	_, err := c.Write(t.Context(), "", []ots.RowChange{put(1)})
	assert.Error(t, err)
}

func TestWriteToMissingTableFails(t *testing.T) {
	srv := startServer(t)
	c := newTestClient(t, srv.Endpoint, 0)
	stats, err := c.Write(t.Context(), "nope", []ots.RowChange{put(1, cell("a", ots.Integer(1)))})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `BatchWriteRow on table "nope"`)
	assert.Contains(t, err.Error(), "OTSObjectNotExist")
	assert.Equal(t, WriteStats{Requests: 1}, stats, "a permanent error is not retried")
}

func TestWriteRetriesABusyServer(t *testing.T) {
	srv, _ := newFaultyTable(t, "result", "BatchWriteRow", otslocal.FaultRates{ServerBusy: 0.7})
	endpoint, exchanges := recordExchanges(t, srv.Endpoint, "BatchWriteRow")
	c := newTestClient(t, endpoint, 0)
	stats, err := c.Write(withTimeout(t, time.Minute), "result", []ots.RowChange{
		put(1, cell("a", ots.Integer(1))),
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(2), Columns: []ots.Cell{cell("a", ots.Integer(2))}},
	})
	require.NoError(t, err)
	seen := exchanges()
	require.Len(t, seen, stats.Requests)
	assert.Equal(t, WriteStats{Requests: stats.Retries + 1, Retries: stats.Retries, Puts: 1, Updates: 1, NotInView: 1}, stats)
	assert.Positive(t, stats.Retries, "seed 1 makes the server busy at first")
	for _, e := range seen[:stats.Retries] {
		assert.Equal(t, http.StatusServiceUnavailable, e.status)
	}
	assert.Equal(t, exchange{status: http.StatusOK, rows: 2, failed: 1}, seen[stats.Retries], "the update of the absent row 2 fails its condition")
	assert.Equal(t, map[string]any{"a": int64(1)}, getRow(t, srv.Endpoint, "result", key(1)))
}

func TestWriteRetriesADroppedConnection(t *testing.T) {
	srv, c := newFaultyTable(t, "result", "BatchWriteRow", otslocal.FaultRates{DropConnection: 0.5})
	changes := make([]ots.RowChange, 10)
	for i := range changes {
		changes[i] = put(int64(i), cell("n", ots.Integer(int64(i))))
	}
	for range 5 {
		stats, err := c.Write(withTimeout(t, time.Minute), "result", changes)
		require.NoError(t, err)
		assert.Equal(t, 10, stats.Puts)
		assert.Equal(t, stats.Retries+1, stats.Requests)
	}
	require.NoError(t, srv.SetFaults(otslocal.Faults{}))
	for i := range changes {
		assert.Equal(t, map[string]any{"n": int64(i)}, getRow(t, srv.Endpoint, "result", key(int64(i))), "row %d", i)
	}
}

func TestWriteGivesUpBeforeTheDeadline(t *testing.T) {
	srv, _ := newFaultyTable(t, "result", "BatchWriteRow", otslocal.FaultRates{ServerBusy: 1})
	endpoint, exchanges := recordExchanges(t, srv.Endpoint, "BatchWriteRow")
	c := newTestClient(t, endpoint, 0)
	stats, err := c.Write(withTimeout(t, 2*time.Second), "result", []ots.RowChange{put(1, cell("a", ots.Integer(1)))})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrDeadline)
	assert.Contains(t, err.Error(), "OTSServerBusy")
	assert.Contains(t, err.Error(), `BatchWriteRow on table "result"`)
	assertNoSecrets(t, err.Error())
	assert.Positive(t, stats.Retries)
	assert.Equal(t, stats.Retries+1, stats.Requests)
	assert.Len(t, exchanges(), stats.Requests)
	assert.Nil(t, getRow(t, srv.Endpoint, "result", key(1)))
}

func TestWriteStopsWhenCancelled(t *testing.T) {
	_, c := newFaultyTable(t, "result", "BatchWriteRow", otslocal.FaultRates{ServerBusy: 1})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := c.Write(ctx, "result", []ots.RowChange{put(1, cell("a", ots.Integer(1)))})
	require.ErrorIs(t, err, context.Canceled, "retries end with the context")
}

func TestWriteResendsOnlyTheFailedRows(t *testing.T) {
	srv, _ := newFaultyTable(t, "result", "BatchWriteRow", otslocal.FaultRates{RowFailure: 0.4})
	endpoint, exchanges := recordExchanges(t, srv.Endpoint, "BatchWriteRow")
	c := newTestClient(t, endpoint, 0)
	changes := make([]ots.RowChange, 20)
	for i := range changes {
		changes[i] = put(int64(i), cell("n", ots.Integer(int64(i))))
	}
	stats, err := c.Write(withTimeout(t, time.Minute), "result", changes)
	require.NoError(t, err)
	seen := exchanges()
	requireResentFailedRows(t, seen, len(changes))
	assert.Greater(t, len(seen), 1, "seed 1 fails some rows")
	assert.Equal(t, WriteStats{Requests: len(seen), Retries: len(seen) - 1, Puts: len(changes)}, stats)
	for i := range changes {
		// A failed row reaches the table only if a re-send carried it.
		assert.Equal(t, map[string]any{"n": int64(i)}, getRow(t, srv.Endpoint, "result", key(int64(i))), "row %d", i)
	}
}

func TestWriteMapsRowFailuresByIndex(t *testing.T) {
	srv, _ := newTable(t, "result")
	endpoint, exchanges := recordExchanges(t, srv.Endpoint, "BatchWriteRow")
	c := newTestClient(t, endpoint, 0)
	changes := []ots.RowChange{
		put(10, cell("n", ots.Integer(1))),
		{Kind: ots.DeleteRow, PrimaryKey: key(11)},
		{Kind: ots.UpdateRowIfExists, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.String("twelve")}},
			Columns: []ots.Cell{cell("n", ots.Integer(3))}},
		put(13, cell("n", ots.Integer(4))),
	}
	stats, err := c.Write(t.Context(), "result", changes)
	var rowErr *RowError
	require.ErrorAs(t, err, &rowErr)
	assert.Equal(t, "result", rowErr.Table)
	assert.Equal(t, "UpdateRow", rowErr.Operation)
	assert.Equal(t, `id="twelve"`, rowErr.PrimaryKey)
	assert.Equal(t, "OTSInvalidPK", rowErr.Code)
	assert.Equal(t, []exchange{{status: http.StatusOK, rows: 4, failed: 1}}, exchanges(), "a permanent row failure is not retried")
	assert.Equal(t, 1, stats.Requests)
	assert.Zero(t, stats.Retries)
}

func TestWriteConditionFailureOnPutOrDeleteIsAnError(t *testing.T) {
	rows, err := new(rowBuffers).build("result", []ots.RowChange{
		put(1, cell("n", ots.Integer(1))),
		{Kind: ots.DeleteRow, PrimaryKey: key(2)},
		{Kind: ots.UpdateRowIfExists, PrimaryKey: key(3), Columns: []ots.Cell{cell("n", ots.Integer(3))}},
	})
	require.NoError(t, err)
	conditionFailed := rowResult{code: codeConditionCheckFail, message: "Condition check failed."}
	for _, failing := range []int{0, 1} {
		// The conditional update of row 3 failing its condition is a correct outcome; the put
		// or delete failing it is not.
		results := []rowResult{{ok: true}, {ok: true}, conditionFailed}
		results[failing] = conditionFailed
		_, _, err := (&write{table: "result"}).settle(rows, results, &WriteStats{})
		var rowErr *RowError
		require.ErrorAs(t, err, &rowErr)
		assert.Equal(t, codeConditionCheckFail, rowErr.Code)
		assert.Equal(t, rows[failing].operation(), rowErr.Operation, "only a conditional update may fail its condition")
		assert.Equal(t, fmt.Sprintf("id=%d", failing+1), rowErr.PrimaryKey)
	}
}

func TestWriteAbortsARequestInFlightWhenCancelled(t *testing.T) {
	arrived := make(chan struct{}, 1)
	hang := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client going away
		arrived <- struct{}{}
		<-r.Context().Done() // never answers
	})
	c := newTestClient(t, serve(t, hang), 0)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	stats, err := c.Write(ctx, "result", []ots.RowChange{put(1, cell("a", ots.Integer(1)))})
	require.ErrorIs(t, err, context.Canceled)
	var urlErr *url.Error
	require.ErrorAs(t, err, &urlErr)
	assert.ErrorIs(t, urlErr.Err, context.Canceled, "the request was aborted by the cancellation, not by the SDK's request timeout")
	assert.Equal(t, WriteStats{Requests: 1}, stats)
}

func TestWriteSurvivesAMalformedResponse(t *testing.T) {
	srv, _ := newTable(t, "result")
	rp := newReverseProxy(t, srv.Endpoint)
	rp.ModifyResponse = func(resp *http.Response) error {
		// A failed row without the error message the SDK dereferences unchecked.
		body, err := proto.Marshal(&otsprotocol.BatchWriteRowResponse{Tables: []*otsprotocol.TableInBatchWriteRowResponse{{
			TableName: proto.String("result"),
			Rows: []*otsprotocol.RowInBatchWriteRowResponse{{
				IsOk: proto.Bool(false), Error: &otsprotocol.Error{Code: proto.String("OTSServerBusy")},
			}},
		}}})
		if err != nil {
			return err
		}
		replaceResponseBody(resp, http.StatusOK, body)
		return nil
	}
	c := newTestClient(t, serve(t, rp), 0)
	stats, err := c.Write(t.Context(), "result", []ots.RowChange{put(1, cell("a", ots.Integer(1)))})
	require.ErrorIs(t, err, ots.ErrMalformedResponse)
	assert.Contains(t, err.Error(), `BatchWriteRow on table "result": malformed response`)
	assert.Equal(t, WriteStats{Requests: 1}, stats, "a malformed response is not retried")
}

// recordRequests starts a proxy to backend that records the BatchWriteRow requests it passes
// on, decoded, in arrival order.
func recordRequests(t *testing.T, backend string) (endpoint string, requests func() []*otsprotocol.BatchWriteRowRequest) {
	t.Helper()
	var mu sync.Mutex
	var seen []*otsprotocol.BatchWriteRowRequest
	rp := newReverseProxy(t, backend)
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if actionOf(r) == "BatchWriteRow" {
			body, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			r.Body = io.NopCloser(bytes.NewReader(body))
			req := new(otsprotocol.BatchWriteRowRequest)
			require.NoError(t, proto.Unmarshal(body, req))
			mu.Lock()
			seen = append(seen, req)
			mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})
	return serve(t, record), func() []*otsprotocol.BatchWriteRowRequest {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// rowsOf lists a request's rows as "OPERATION/EXPECTATION" for a test to compare.
func rowsOf(req *otsprotocol.BatchWriteRowRequest) []string {
	var rows []string
	for _, table := range req.Tables {
		for _, row := range table.Rows {
			rows = append(rows, row.GetType().String()+"/"+row.GetCondition().GetRowExistence().String())
		}
	}
	return rows
}

// TestWriteSendsARowLargerThanOneRequestInParts writes rows larger than one request carries
// (4 MB), next to a small row: three cells of 1.9 MB go in two parts, a PutRow of the first
// two (in the first request, with the small row) and an UpdateRow of the third; three
// cells of 2 MB, the largest value there is, go in three. The table ends up with the whole
// rows, also when the Write is repeated.
func TestWriteSendsARowLargerThanOneRequestInParts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cellBytes int
		requests  [][]string // the rows of each request of one Write
	}{
		{"1.9 MB cells", 1900 << 10, [][]string{{"PUT/IGNORE", "PUT/IGNORE"}, {"UPDATE/IGNORE"}}},
		{"2 MB cells", ots.MaxAttributeValueBytes, [][]string{{"PUT/IGNORE", "PUT/IGNORE"}, {"UPDATE/IGNORE"}, {"UPDATE/IGNORE"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := newTable(t, "result")
			endpoint, requests := recordRequests(t, srv.Endpoint)
			c := newTestClient(t, endpoint, 0)
			big := func(b byte) string { return strings.Repeat(string(rune('a'+b)), tc.cellBytes) }
			changes := []ots.RowChange{
				put(1, cell("a", ots.String(big(0))), cell("b", ots.String(big(1))), cell("c", ots.String(big(2))), cell("level", ots.Integer(3))),
				put(2, cell("level", ots.Integer(2))),
			}
			for range 2 {
				stats, err := c.Write(t.Context(), "result", changes)
				require.NoError(t, err)
				assert.Equal(t, WriteStats{Requests: len(tc.requests), Puts: 2}, stats)
				row := getRow(t, srv.Endpoint, "result", key(1))
				require.Equal(t, 4, len(row))
				for i, name := range []string{"a", "b", "c"} {
					assert.True(t, row[name] == big(byte(i)), "column %s is whole", name)
				}
				assert.Equal(t, int64(3), row["level"])
				assert.Equal(t, map[string]any{"level": int64(2)}, getRow(t, srv.Endpoint, "result", key(2)))
			}
			sent := requests()
			require.Equal(t, 2*len(tc.requests), len(sent))
			for i, want := range tc.requests {
				assert.Equal(t, want, rowsOf(sent[i]), "request %d", i)
			}

			// A smaller put replaces the whole row, as a put does.
			_, err := c.Write(t.Context(), "result", []ots.RowChange{put(1, cell("level", ots.Integer(2)))})
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"level": int64(2)}, getRow(t, srv.Endpoint, "result", key(1)))
		})
	}
}

// TestWriteSendsALargeConditionalUpdateInParts: every part of a conditional update expects
// the row to exist; when it does not, the first part says so and the others are not sent.
func TestWriteSendsALargeConditionalUpdateInParts(t *testing.T) {
	srv, seeder := newTable(t, "result")
	seed(t, seeder, "result", put(1, cell("keep", ots.Boolean(true)), cell("gone", ots.Integer(1))))
	endpoint, requests := recordRequests(t, srv.Endpoint)
	c := newTestClient(t, endpoint, 0)
	big := ots.Binary(make([]byte, 1900<<10))
	update := func(id int64) ots.RowChange {
		return ots.RowChange{Kind: ots.UpdateRowIfExists, PrimaryKey: key(id),
			Columns: []ots.Cell{cell("a", big), cell("gone", ots.Value{}), cell("b", big), cell("c", big)}}
	}
	stats, err := c.Write(t.Context(), "result", []ots.RowChange{update(1), update(2)})
	require.NoError(t, err)
	assert.Equal(t, WriteStats{Requests: 3, Updates: 2, NotInView: 1}, stats)
	row := getRow(t, srv.Endpoint, "result", key(1))
	assert.Equal(t, []string{"a", "b", "c", "keep"}, slices.Sorted(maps.Keys(row)), "puts and deletes of every part applied")
	assert.Nil(t, getRow(t, srv.Endpoint, "result", key(2)), "an update never creates a row")
	sent := requests()
	require.Equal(t, 3, len(sent), "the first parts of both rows (3.9 MB each, one request each), then the second part of row 1 only")
	for i, req := range sent {
		assert.Equal(t, []string{"UPDATE/EXPECT_EXIST"}, rowsOf(req), "request %d", i)
	}
}

// TestWriteRefusesRowsTablestoreRefuses: a row change holding what no request can carry is an
// error naming the key before anything is sent.
func TestWriteRefusesRowsTablestoreRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  ots.RowChange
		want string
	}{
		"NaN":          {put(1, cell("ratio", ots.Double(math.NaN()))), `row change 1 (put) of row (id=1) for table "result": column "ratio" holds DOUBLE NaN`},
		"infinity":     {ots.RowChange{Kind: ots.UpdateRowIfExists, PrimaryKey: key(2), Columns: []ots.Cell{cell("r", ots.Double(math.Inf(1)))}}, `row (id=2)`},
		"value > 2 MB": {put(3, cell("blob", ots.Binary(make([]byte, ots.MaxAttributeValueBytes+1)))), `longer than Tablestore's limit of 2097152 bytes`},
		"key > 1 KB":   {ots.RowChange{Kind: ots.DeleteRow, PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Binary(make([]byte, 1025))}}}, `longer than Tablestore's limit of 1024 bytes for a primary key value`},
	} {
		t.Run(name, func(t *testing.T) {
			c := newTestClient(t, "http://127.0.0.1:1", 0) // nothing may be sent
			stats, err := c.Write(t.Context(), "result", []ots.RowChange{put(9), tc.mut})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Less(t, len(err.Error()), 500, "values are quoted briefly")
			assert.Equal(t, WriteStats{}, stats)
		})
	}
}
