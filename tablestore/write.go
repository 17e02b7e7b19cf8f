package tablestore

import (
	"context"
	"errors"
	"fmt"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// BatchWriteRow limits per request (Tablestore "Limits", wide column model: at most 200 rows
// and 4 MB of data in one BatchWriteRow).
const (
	maxBatchWriteRows  = 200
	maxBatchWriteBytes = 4 << 20
)

// Encoded-size estimate of one row in a BatchWriteRow request; it never underestimates.
// A PlainBuffer cell (tablestore/plain_buffer.go writeCell) costs at most 29 bytes besides its
// name and value: cell, name and value tags (3), name and value lengths (8), value type (1),
// string/binary length (4), op type (2), timestamp (9), checksum (2). A row adds a 4-byte
// header, row tags, delete marker and checksum (5), and its protobuf
// RowInBatchWriteRowRequest framing: type, condition and length prefixes (under 20).
const (
	cellOverheadBytes = 32
	rowOverheadBytes  = 64
)

// WriteStats counts what one Write did, also when it fails part-way.
type WriteStats struct {
	// Requests is the number of BatchWriteRow requests sent, retries included.
	Requests int
	// Puts counts rows written with PutRow (MutationPut).
	Puts int
	// Updates counts conditional updates (MutationUpdateIfExists) settled: applied, or
	// refused because the row was not in the result table. NotInView counts the latter.
	Updates int
	// Deletes counts rows deleted with DeleteRow (MutationDelete).
	Deletes int
	// NotInView counts conditional updates that Tablestore refused with
	// OTSConditionCheckFail (RowExistenceExpectation EXPECT_EXIST on an absent row): the row
	// is not in the view, which is a correct outcome, not a failure.
	NotInView int
	// Retries counts requests re-sent because of retryable errors, whether the whole request
	// failed or some of its rows did (then only those rows are re-sent).
	Retries int
}

// add adds o's counts to s.
func (s *WriteStats) add(o WriteStats) {
	s.Requests += o.Requests
	s.Puts += o.Puts
	s.Updates += o.Updates
	s.Deletes += o.Deletes
	s.NotInView += o.NotInView
	s.Retries += o.Retries
}

// rowWrite is one mutation turned into an SDK row change.
type rowWrite struct {
	kind transform.MutationKind
	// primaryKey is the row's primary key, formatted for messages only when one is needed.
	primaryKey []ots.PrimaryKeyColumn
	change     sdk.RowChange
	// size is the estimated encoded size in bytes.
	size int
}

// operation names the row operation for messages: PutRow, UpdateRow or DeleteRow.
func (w *rowWrite) operation() string {
	switch w.kind {
	case transform.MutationPut:
		return "PutRow"
	case transform.MutationUpdateIfExists:
		return "UpdateRow"
	}
	return "DeleteRow"
}

// Write applies mutations to table with BatchWriteRow and reports what it did:
//
//   - MutationPut: PutRow with RowExistenceExpectation IGNORE; the row becomes exactly
//     Columns. Every cell needs a value.
//   - MutationDelete: DeleteRow with IGNORE.
//   - MutationUpdateIfExists: UpdateRow with EXPECT_EXIST: a cell with a value is put, a cell
//     without one deletes all versions of its column. OTSConditionCheckFail means the row is
//     not in the view and counts in NotInView. A mutation without columns is skipped.
//
// Cells carry no timestamp: Tablestore stamps them with its own time (ms). Mutations need
// distinct primary keys, since requests run concurrently and in no particular order. Rows
// go in requests of at most 200 rows and 4 MB (estimated conservatively; a larger row goes
// alone and Tablestore judges it), at most MaxConcurrentRequests at a time.
//
// Rows failing with a retryable code (OTSRowOperationConflict, OTSNotEnoughCapacityUnit,
// OTSTableNotReady, OTSPartitionUnavailable, OTSServerBusy, OTSStorageServerBusy,
// OTSTimeout, OTSInternalServerError, OTSServerUnavailable, OTSQuotaExhausted "Too frequent
// table operations.") are re-sent alone; a whole request failing with one of those codes or
// with a network error is re-sent whole. Retries back off exponentially with jitter (pauses
// of 20 ms ±50%, doubling up to 1 s ±50%). They stop with an error wrapping [ErrDeadline]
// when the next attempt could not end 500 ms before ctx's deadline (or within a minute if ctx
// has none),
// and with ctx's error when ctx ends; both errors wrap the last failure too.
//
// Any other row failure fails the call with a [*RowError] naming the table, the operation,
// the primary key, the code and the message; any other request failure fails it with the
// SDK's error (an *sdk.OtsError for Tablestore's). A mutation of another kind, a primary
// key value that is not INTEGER, STRING or BINARY, a put cell without a value, or a primary
// key given twice is an error before anything is sent. On failure some rows may have been
// written; the returned stats count them.
func (c *Client) Write(ctx context.Context, table string, muts []transform.Mutation) (WriteStats, error) {
	if table == "" {
		return WriteStats{}, errors.New("tablestore: Write: empty table name")
	}
	rows, err := buildRowWrites(table, muts)
	if err != nil {
		return WriteStats{}, err
	}
	chunks := chunkRowWrites(rows)
	perChunk := make([]WriteStats, len(chunks))
	err = runBounded(ctx, len(chunks), c.maxConcurrent, func(ctx context.Context, i int) error {
		return c.writeChunk(ctx, table, chunks[i], &perChunk[i])
	})
	var stats WriteStats
	for _, s := range perChunk {
		stats.add(s)
	}
	return stats, err
}

// buildRowWrites turns mutations into row changes, skipping conditional updates without
// columns, and checks that no primary key appears twice.
func buildRowWrites(table string, muts []transform.Mutation) ([]*rowWrite, error) {
	rows := make([]*rowWrite, 0, len(muts))
	firstIndex := make(map[string]int, len(muts))
	var key []byte
	for i, m := range muts {
		row, err := buildRowWrite(table, m)
		if err != nil {
			return nil, fmt.Errorf("tablestore: mutation %d (%s) of row (%s) for table %q: %w", i, m.Kind, ots.FormatPrimaryKey(m.PrimaryKey), table, err)
		}
		if row == nil {
			continue
		}
		key = ots.AppendPrimaryKey(key[:0], m.PrimaryKey)
		if first, dup := firstIndex[string(key)]; dup {
			return nil, fmt.Errorf("tablestore: mutations %d and %d both write row (%s) of table %q; one Write needs distinct primary keys",
				first, i, ots.FormatPrimaryKey(m.PrimaryKey), table)
		}
		firstIndex[string(key)] = i
		row.primaryKey = m.PrimaryKey
		rows = append(rows, row)
	}
	return rows, nil
}

// buildRowWrite turns one mutation into a row change with its estimated size. It returns nil
// for a conditional update without columns.
func buildRowWrite(table string, m transform.Mutation) (*rowWrite, error) {
	pk, err := ots.SDKPrimaryKey(m.PrimaryKey)
	if err != nil {
		return nil, err
	}
	row := &rowWrite{kind: m.Kind, size: estimateRowSize(m)}
	switch m.Kind {
	case transform.MutationPut:
		put := &sdk.PutRowChange{TableName: table, PrimaryKey: pk}
		put.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		for _, cell := range m.Columns {
			if cell.Value.IsNone() {
				return nil, fmt.Errorf("column %q has no value; a put needs a value in every cell", cell.Name)
			}
			put.AddColumn(cell.Name, cell.Value.Any())
		}
		row.change = put
	case transform.MutationDelete:
		del := &sdk.DeleteRowChange{TableName: table, PrimaryKey: pk}
		del.SetCondition(sdk.RowExistenceExpectation_IGNORE)
		row.change = del
	case transform.MutationUpdateIfExists:
		if len(m.Columns) == 0 {
			return nil, nil
		}
		update := &sdk.UpdateRowChange{TableName: table, PrimaryKey: pk}
		update.SetCondition(sdk.RowExistenceExpectation_EXPECT_EXIST)
		for _, cell := range m.Columns {
			if cell.Value.IsNone() {
				update.DeleteColumn(cell.Name)
			} else {
				update.PutColumn(cell.Name, cell.Value.Any())
			}
		}
		row.change = update
	default:
		return nil, fmt.Errorf("unsupported mutation kind %s; only put, delete and update-if-exists can be written", m.Kind)
	}
	return row, nil
}

// estimateRowSize returns an upper bound of the bytes a mutation's row takes in a
// BatchWriteRow request.
func estimateRowSize(m transform.Mutation) int {
	size := rowOverheadBytes
	for _, col := range m.PrimaryKey {
		size += cellOverheadBytes + len(col.ColumnName) + valueSize(col.Value)
	}
	for _, cell := range m.Columns {
		size += cellOverheadBytes + len(cell.Name) + valueSize(cell.Value)
	}
	return size
}

// valueSize returns the encoded size of a value without its type and length prefixes.
func valueSize(v ots.Value) int {
	switch v.Kind() {
	case ots.KindInteger, ots.KindDouble:
		return 8
	case ots.KindBoolean:
		return 1
	case ots.KindString:
		s, _ := v.Str()
		return len(s)
	case ots.KindBinary:
		b, _ := v.Bytes()
		return len(b)
	}
	return 0
}

// chunkRowWrites splits rows, in order, into requests of at most maxBatchWriteRows rows and
// maxBatchWriteBytes estimated bytes. A row larger than maxBatchWriteBytes gets a request
// of its own.
func chunkRowWrites(rows []*rowWrite) [][]*rowWrite {
	var chunks [][]*rowWrite
	var current []*rowWrite
	size := 0
	for _, row := range rows {
		if len(current) > 0 && (len(current) == maxBatchWriteRows || size+row.size > maxBatchWriteBytes) {
			chunks = append(chunks, current)
			current, size = nil, 0
		}
		current = append(current, row)
		size += row.size
	}
	if len(current) > 0 {
		chunks = append(chunks, current)
	}
	return chunks
}

// writeChunk writes one request's rows, re-sending the rows that fail with retryable codes
// until all are settled, one fails for good, or time runs out.
func (c *Client) writeChunk(ctx context.Context, table string, rows []*rowWrite, stats *WriteStats) error {
	api := c.api(ctx)
	r := newRetrier(ctx)
	pending := rows
	err := r.run(ctx, func() (retry, err error) {
		req := new(sdk.BatchWriteRowRequest)
		for _, row := range pending {
			req.AddRowChange(row.change)
		}
		stats.Requests++
		resp, err := ots.CallSDK(func() (*sdk.BatchWriteRowResponse, error) { return api.BatchWriteRow(req) })
		if err != nil {
			return classify("BatchWriteRow", table, err)
		}
		pending, retry, err = settleWrites(table, pending, resp.TableToRowsResult[table], stats)
		return retry, err
	})
	stats.Retries = r.retries
	return err
}

// settleWrites maps the per-row results of a BatchWriteRow back to the rows sent, by their
// Index, and counts the settled ones. It returns the rows to re-send with the first of their
// errors, or the error of a row that failed for good.
func settleWrites(table string, sent []*rowWrite, results []sdk.RowResult, stats *WriteStats) (again []*rowWrite, retry, err error) {
	if err := checkResultIndexes(table, "BatchWriteRow", len(sent), results); err != nil {
		return nil, nil, err
	}
	for _, res := range results {
		row := sent[res.Index]
		switch {
		case res.IsSucceed:
			stats.count(row.kind)
		case row.kind == transform.MutationUpdateIfExists && res.Error.Code == codeConditionCheckFail:
			stats.count(row.kind)
			stats.NotInView++
		case retryableCode(res.Error.Code, res.Error.Message):
			again = append(again, row)
			if retry == nil {
				retry = row.failure(table, res.Error)
			}
		default:
			return nil, nil, row.failure(table, res.Error)
		}
	}
	return again, retry, nil
}

// count counts one settled row of the given kind.
func (s *WriteStats) count(kind transform.MutationKind) {
	switch kind {
	case transform.MutationPut:
		s.Puts++
	case transform.MutationUpdateIfExists:
		s.Updates++
	case transform.MutationDelete:
		s.Deletes++
	}
}

// failure describes the row's per-row error.
func (w *rowWrite) failure(table string, e sdk.Error) *RowError {
	return &RowError{Table: table, Operation: w.operation(), PrimaryKey: ots.FormatPrimaryKey(w.primaryKey), Code: e.Code, Message: e.Message}
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
