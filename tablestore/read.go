package tablestore

import (
	"context"
	"errors"
	"fmt"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/ots"
)

// maxBatchGetRows is the BatchGetRow limit on rows per request (Tablestore "Limits", wide
// column model).
const maxBatchGetRows = 100

// Row is one row read by primary key.
type Row struct {
	// Found is false when the table has no such row, or the row has none of the requested
	// columns (Tablestore then returns no row, GetRow/BatchGetRow documentation).
	Found bool
	// Columns are the row's attribute columns, latest version only, sorted by name.
	Columns []ots.Cell
	// Timestamps are the versions of Columns, in ms since the Unix epoch: Timestamps[i] is
	// Columns[i]'s.
	Timestamps []int64
}

// ReadStats counts what one Read did.
type ReadStats struct {
	// Requests is the number of BatchGetRow requests sent, retries included.
	Requests int
	// Retries counts requests re-sent because of retryable errors, whole or for some rows.
	Retries int
}

// Read fetches rows of table by primary key with BatchGetRow, latest version only
// (MaxVersion 1). columns selects attribute columns (ColumnsToGet); nil or empty reads all.
// The result is index-aligned with keys: rows[i] is keys[i]'s row.
//
// Keys go in requests of at most 100, at most MaxConcurrentRequests at a time. Retryable
// failures are retried as in [Client.Write]: rows with a retryable code alone, whole requests
// whole, until ctx's deadline leaves no time ([ErrDeadline]). Any other row failure (e.g.
// OTSInvalidPK) fails the call with a [*RowError] naming the key. A primary key value that is
// not INTEGER, STRING or BINARY is an error before anything is sent. On error rows is nil.
func (c *Client) Read(ctx context.Context, table string, keys [][]ots.PrimaryKeyColumn, columns []string) ([]Row, ReadStats, error) {
	if table == "" {
		return nil, ReadStats{}, errors.New("tablestore: Read: empty table name")
	}
	pks := make([]*sdk.PrimaryKey, len(keys))
	for i, key := range keys {
		pk, err := ots.SDKPrimaryKey(key)
		if err != nil {
			return nil, ReadStats{}, fmt.Errorf("tablestore: key %d (%s) for table %q: %w", i, ots.FormatPrimaryKey(key), table, err)
		}
		pks[i] = pk
	}
	if len(columns) == 0 {
		columns = nil
	}
	rows := make([]Row, len(keys))
	chunks := (len(keys) + maxBatchGetRows - 1) / maxBatchGetRows
	perChunk := make([]ReadStats, chunks)
	err := runBounded(ctx, chunks, c.maxConcurrent, func(ctx context.Context, i int) error {
		lo := i * maxBatchGetRows
		hi := min(lo+maxBatchGetRows, len(keys))
		chunk := readChunk{table: table, columns: columns, keys: keys[lo:hi], pks: pks[lo:hi], rows: rows[lo:hi]}
		return c.read(ctx, &chunk, &perChunk[i])
	})
	var stats ReadStats
	for _, s := range perChunk {
		stats.Requests += s.Requests
		stats.Retries += s.Retries
	}
	if err != nil {
		return nil, stats, err
	}
	return rows, stats, nil
}

// readChunk is the keys of one BatchGetRow request and where their rows go.
type readChunk struct {
	table   string
	columns []string
	keys    [][]ots.PrimaryKeyColumn
	pks     []*sdk.PrimaryKey
	rows    []Row
}

// read fetches one chunk, re-requesting the keys that fail with retryable codes.
func (c *Client) read(ctx context.Context, chunk *readChunk, stats *ReadStats) error {
	api := c.api(ctx)
	r := newRetrier(ctx)
	pending := make([]int, len(chunk.keys))
	for i := range pending {
		pending[i] = i
	}
	err := r.run(ctx, func() (retry, err error) {
		criteria := &sdk.MultiRowQueryCriteria{TableName: chunk.table, MaxVersion: 1, ColumnsToGet: chunk.columns}
		for _, i := range pending {
			criteria.AddRow(chunk.pks[i])
		}
		stats.Requests++
		resp, err := ots.CallSDK(func() (*sdk.BatchGetRowResponse, error) {
			return api.BatchGetRow(&sdk.BatchGetRowRequest{MultiRowQueryCriteria: []*sdk.MultiRowQueryCriteria{criteria}})
		})
		if err != nil {
			return classify("BatchGetRow", chunk.table, err)
		}
		pending, retry, err = chunk.settle(pending, resp.TableToRowsResult[chunk.table])
		return retry, err
	})
	stats.Retries = r.retries
	return err
}

// settle stores the rows of a BatchGetRow response, mapped back by Index to the requested
// keys (indexes into the chunk). It returns the keys to request again with the first of
// their errors, or the error of a key that failed for good.
func (chunk *readChunk) settle(requested []int, results []sdk.RowResult) (again []int, retry, err error) {
	if err := checkResultIndexes(chunk.table, "BatchGetRow", len(requested), results); err != nil {
		return nil, nil, err
	}
	for _, res := range results {
		i := requested[res.Index]
		switch {
		case res.IsSucceed:
			row, err := rowFromResult(res)
			if err != nil {
				return nil, nil, fmt.Errorf("tablestore: BatchGetRow on table %q, row (%s): %w", chunk.table, ots.FormatPrimaryKey(chunk.keys[i]), err)
			}
			chunk.rows[i] = row
		case retryableCode(res.Error.Code, res.Error.Message):
			again = append(again, i)
			if retry == nil {
				retry = chunk.failure(i, res.Error)
			}
		default:
			return nil, nil, chunk.failure(i, res.Error)
		}
	}
	return again, retry, nil
}

// failure describes the per-row error of key i.
func (chunk *readChunk) failure(i int, e sdk.Error) *RowError {
	return &RowError{Table: chunk.table, Operation: "GetRow", PrimaryKey: ots.FormatPrimaryKey(chunk.keys[i]), Code: e.Code, Message: e.Message}
}

// rowFromResult converts a successful BatchGetRow row result. The SDK fills PrimaryKey only
// when the response holds a row (tablestore/api.go BatchGetRow).
func rowFromResult(res sdk.RowResult) (Row, error) {
	if len(res.PrimaryKey.PrimaryKeys) == 0 {
		return Row{}, nil
	}
	cells, err := ots.CellsFromSDK(res.Columns)
	if err != nil {
		return Row{}, err
	}
	return Row{Found: true, Columns: cells, Timestamps: ots.TimestampsFromSDK(res.Columns)}, nil
}

// checkResultIndexes checks that a batch response has exactly one result for each of the
// sent rows of table, so that mapping results back by Index is safe.
func checkResultIndexes(table, op string, sent int, results []sdk.RowResult) error {
	if len(results) != sent {
		return fmt.Errorf("tablestore: %s on table %q: the response has %d row results for %d rows sent", op, table, len(results), sent)
	}
	seen := make([]bool, sent)
	for _, res := range results {
		if res.Index < 0 || int(res.Index) >= sent || seen[res.Index] {
			return fmt.Errorf("tablestore: %s on table %q: the response has a bad or repeated row index %d", op, table, res.Index)
		}
		seen[res.Index] = true
	}
	return nil
}
