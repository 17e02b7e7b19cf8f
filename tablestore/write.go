package tablestore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"

	"github.com/otsetl/otsetl/ots"
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

// WriteStats counts what one Write did, also when it fails part-way. Its Add and LogValue
// are generated from the fields.
//
//go:generate go run github.com/otsetl/otsetl/internal/countergen -type WriteStats
type WriteStats struct {
	// Requests is the number of BatchWriteRow requests sent, retries included.
	Requests int `json:"requests"`
	// Puts counts rows written with PutRow (ots.PutRow).
	Puts int `json:"puts"`
	// Updates counts conditional updates (ots.UpdateRowIfExists) settled: applied, or
	// refused because the row was not in the result table. NotInView counts the latter.
	Updates int `json:"updates"`
	// Deletes counts rows deleted with DeleteRow (ots.DeleteRow).
	Deletes int `json:"deletes"`
	// NotInView counts conditional updates that Tablestore refused with
	// OTSConditionCheckFail (RowExistenceExpectation EXPECT_EXIST on an absent row): the row
	// is not in the view, which is a correct outcome, not a failure.
	NotInView int `json:"notInView"`
	// Retries counts requests re-sent because of retryable errors, whether the whole request
	// failed or some of its rows did (then only those rows are re-sent).
	Retries int `json:"retries"`
}

// rowWrite is one row change ready to be sent: a whole row change of the Write, or one part
// of one too large for one request.
type rowWrite struct {
	kind ots.RowChangeKind
	// primaryKey is the row's primary key, formatted for messages only when one is needed.
	primaryKey []ots.PrimaryKeyColumn
	// cells are the cells the row change writes: the row change's, or a part of them.
	cells []ots.Cell
	// row is the row change in PlainBuffer (appendRowChange).
	row []byte
	// size is the estimated encoded size in bytes.
	size int
	// change is the index of the row change in the Write's; part is which part of it this
	// is, from 0, and last whether no part follows.
	change, part int
	last         bool
}

// operation names the row operation for messages: PutRow, UpdateRow or DeleteRow.
func (w *rowWrite) operation() string {
	switch op, _ := w.wire(); op {
	case pbOperationPut:
		return "PutRow"
	case pbOperationUpdate:
		return "UpdateRow"
	}
	return "DeleteRow"
}

// wire returns the row's operation type and row existence expectation in the request: a
// put's first part is a PutRow with IGNORE, its later parts UpdateRows with IGNORE (the row
// exists by then, and they only add cells); every part of a conditional update is an
// UpdateRow with EXPECT_EXIST; a delete is a DeleteRow with IGNORE.
func (w *rowWrite) wire() (operation, expect byte) {
	switch {
	case w.kind == ots.PutRow && w.part == 0:
		return pbOperationPut, pbExpectIgnore
	case w.kind == ots.PutRow:
		return pbOperationUpdate, pbExpectIgnore
	case w.kind == ots.UpdateRowIfExists:
		return pbOperationUpdate, pbExpectExist
	}
	return pbOperationDelete, pbExpectIgnore
}

// Write applies changes to table with BatchWriteRow and reports what it did, also when it
// fails part-way (docs/design.md, "Writing"). A PutRow and a DeleteRow go with
// RowExistenceExpectation IGNORE, an UpdateRowIfExists as an UpdateRow with EXPECT_EXIST whose
// OTSConditionCheckFail counts in NotInView; one without Columns is skipped. Cells carry no
// timestamp (Tablestore stamps them, in ms). The changes need distinct primary keys. Requests
// hold at most 200 rows and 4 MB, at most MaxConcurrentRequests at a time; a larger row goes
// in parts. Transient failures ([Retryable]) are retried until the next attempt could not
// end 500 ms before ctx's deadline (a minute from now without one).
//
// Errors: before anything is sent, a change Tablestore would refuse (ots.CheckPrimaryKeyColumn,
// ots.CheckAttribute, a put cell without a value, an unknown kind) or a primary key given
// twice; a [*RowError] for a row that fails for good; the SDK's *OtsError or net/http's
// *url.Error for a request that does; an error wrapping [ErrDeadline] or ctx's error, and
// the last failure, when time runs out.
func (c *Client) Write(ctx context.Context, table string, changes []ots.RowChange) (WriteStats, error) {
	if table == "" {
		return WriteStats{}, errors.New("tablestore: Write: empty table name")
	}
	bufs := rowBufferPool.Get().(*rowBuffers)
	defer bufs.release()
	rows, err := bufs.build(table, changes)
	if err != nil {
		return WriteStats{}, err
	}
	var stats WriteStats
	w := &write{table: table}
	for part := 0; len(rows) > 0; part++ {
		// The rows of this round: every row change's part number part, but for the
		// conditional updates that found no row.
		round, later := rows, rows[:0:0]
		if bufs.parts > 1 {
			round = nil
			for _, row := range rows {
				switch {
				case row.part > part:
					later = append(later, row)
				case !w.notFound(row.change):
					round = append(round, row)
				}
			}
		}
		chunks := chunkRowWrites(round)
		perChunk := make([]WriteStats, len(chunks))
		err := runBounded(ctx, len(chunks), c.maxConcurrent, func(ctx context.Context, i int) error {
			return c.writeChunk(ctx, w, chunks[i], &perChunk[i])
		})
		for _, s := range perChunk {
			stats.Add(s)
		}
		if err != nil {
			return stats, err
		}
		rows = later
	}
	return stats, nil
}

// write is the state of one Write that outlasts a request: the table, and the conditional
// updates whose first part found no row, so that their other parts are not sent.
type write struct {
	table  string
	mu     sync.Mutex
	absent map[int]bool // by row change index; nil until one is
}

// notFoundRow reports that the conditional update of row change i found no row.
func (w *write) notFoundRow(i int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.absent == nil {
		w.absent = make(map[int]bool)
	}
	w.absent[i] = true
}

// notFound reports whether the conditional update of row change i found no row.
func (w *write) notFound(i int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.absent[i]
}

// rowBuffers hold the rows of one Write and the encodings of their row changes; a warm
// instance reuses them from one invocation to the next.
type rowBuffers struct {
	rows      []rowWrite
	encodings []byte
	// parts is the most parts a row change was cut into.
	parts int
}

// rowBufferPool holds the rowBuffers of finished Writes.
var rowBufferPool = sync.Pool{New: func() any { return new(rowBuffers) }}

// release empties b, keeping nothing of the row changes alive, and puts it back into the pool.
func (b *rowBuffers) release() {
	clear(b.rows)
	b.rows, b.parts = b.rows[:0], 0
	rowBufferPool.Put(b)
}

// build checks changes, skips conditional updates without columns, checks that no primary
// key appears twice, cuts a row change too large for one request into parts (splitCells), and
// encodes each row change (appendRowChange) into b. The rows are valid until b is released.
func (b *rowBuffers) build(table string, changes []ots.RowChange) ([]rowWrite, error) {
	sources := make([]int, 0, len(changes)) // the row changes that write something
	for i, m := range changes {
		skip, err := checkRowChange(m)
		if err != nil {
			return nil, fmt.Errorf("tablestore: row change %d (%s) of row (%s) for table %q: %w", i, m.Kind, ots.FormatPrimaryKey(m.PrimaryKey), table, err)
		}
		if !skip {
			sources = append(sources, i)
		}
	}
	group, first := ots.GroupPrimaryKeys(len(sources), func(i int) []ots.PrimaryKeyColumn { return changes[sources[i]].PrimaryKey })
	if len(first) < len(sources) {
		for i, g := range group {
			if at := first[g]; at != i {
				return nil, fmt.Errorf("tablestore: row changes %d and %d both write row (%s) of table %q; one Write needs distinct primary keys",
					sources[at], sources[i], ots.FormatPrimaryKey(changes[sources[i]].PrimaryKey), table)
			}
		}
	}
	rows := slices.Grow(b.rows[:0], len(sources))
	b.parts = 1
	total := 0
	for _, at := range sources {
		m := &changes[at]
		row := rowWrite{kind: m.Kind, primaryKey: m.PrimaryKey, cells: m.Columns, size: estimateRowSize(*m), change: at, last: true}
		if row.size <= maxBatchWriteBytes {
			rows = append(rows, row)
			total += row.size
			continue
		}
		parts := splitCells(*m)
		for part, cells := range parts {
			size := estimateRowSize(ots.RowChange{PrimaryKey: m.PrimaryKey, Columns: cells})
			rows = append(rows, rowWrite{kind: m.Kind, primaryKey: m.PrimaryKey, cells: cells, size: size, change: at, part: part, last: part == len(parts)-1})
			total += size
		}
		b.parts = max(b.parts, len(parts))
	}
	b.rows = rows
	// One buffer holds every row: the estimates bound the encodings, so it never grows and
	// the rows' slices of it stay valid.
	buf := slices.Grow(b.encodings[:0], total)
	for i := range rows {
		row := &rows[i]
		kind := row.kind
		if kind == ots.PutRow && row.part > 0 {
			kind = ots.UpdateRowIfExists // an UpdateRow of the cells
		}
		start := len(buf)
		buf = appendRowChange(buf, kind, row.primaryKey, row.cells)
		row.row = buf[start:len(buf):len(buf)]
	}
	b.encodings = buf
	return rows, nil
}

// splitCells cuts the cells of m, in order, into parts that each fit in one request with
// m's primary key (estimateRowSize at most maxBatchWriteBytes). A part holds at least one
// cell: checkRowChange lets no value be larger than ots.MaxAttributeValueBytes, which fits.
func splitCells(m ots.RowChange) [][]ots.Cell {
	var parts [][]ots.Cell
	start, size := 0, estimateRowSize(ots.RowChange{PrimaryKey: m.PrimaryKey})
	for i, c := range m.Columns {
		cellSize := cellOverheadBytes + len(c.Name) + c.Value.DataSize()
		if i > start && size+cellSize > maxBatchWriteBytes {
			parts = append(parts, m.Columns[start:i:i])
			start, size = i, estimateRowSize(ots.RowChange{PrimaryKey: m.PrimaryKey})
		}
		size += cellSize
	}
	return append(parts, m.Columns[start:])
}

// checkRowChange checks that m can be written: a put, a delete or a conditional update, a
// primary key and cells within Tablestore's limits (ots.CheckPrimaryKeyColumn,
// ots.CheckAttribute), a value in every cell of a put. It reports whether m is a conditional
// update without columns, which writes nothing.
func checkRowChange(m ots.RowChange) (skip bool, err error) {
	if len(m.PrimaryKey) == 0 {
		return false, errors.New("empty primary key")
	}
	for _, col := range m.PrimaryKey {
		if err := ots.CheckPrimaryKeyColumn(col); err != nil {
			return false, err
		}
	}
	switch m.Kind {
	case ots.PutRow, ots.UpdateRowIfExists:
		for _, cell := range m.Columns {
			if m.Kind == ots.PutRow && cell.Value.IsNone() {
				return false, fmt.Errorf("column %q has no value; a put needs a value in every cell", ots.Brief(cell.Name))
			}
			if err := ots.CheckAttribute(cell.Name, cell.Value, m.PrimaryKey); err != nil {
				return false, err
			}
		}
		return m.Kind == ots.UpdateRowIfExists && len(m.Columns) == 0, nil
	case ots.DeleteRow:
		return false, nil
	}
	return false, fmt.Errorf("unsupported row change kind %s; only put, delete and update-if-exists can be written", m.Kind)
}

// estimateRowSize returns an upper bound of the bytes a row change takes in a
// BatchWriteRow request.
func estimateRowSize(m ots.RowChange) int {
	size := rowOverheadBytes
	for _, col := range m.PrimaryKey {
		size += cellOverheadBytes + len(col.ColumnName) + col.Value.DataSize()
	}
	for _, cell := range m.Columns {
		size += cellOverheadBytes + len(cell.Name) + cell.Value.DataSize()
	}
	return size
}

// chunkRowWrites splits rows, in order, into requests of at most maxBatchWriteRows rows and
// maxBatchWriteBytes estimated bytes. A row larger than maxBatchWriteBytes gets a request
// of its own.
func chunkRowWrites(rows []rowWrite) [][]rowWrite {
	var chunks [][]rowWrite
	start, size := 0, 0
	for i, row := range rows {
		if i > start && (i-start == maxBatchWriteRows || size+row.size > maxBatchWriteBytes) {
			chunks = append(chunks, rows[start:i:i])
			start, size = i, 0
		}
		size += row.size
	}
	if start < len(rows) {
		chunks = append(chunks, rows[start:])
	}
	return chunks
}

// writeChunk writes one request's rows, re-sending the rows that fail with retryable codes
// until all are settled, one fails for good, or time runs out.
func (c *Client) writeChunk(ctx context.Context, w *write, rows []rowWrite, stats *WriteStats) error {
	table := w.table
	r := newRetrier(ctx)
	pending := rows
	err := r.run(ctx, func() (retry, err error) {
		stats.Requests++
		var resp otsprotocol.BatchWriteRowResponse
		body := newRequestBody(func(b []byte) []byte { return appendBatchWriteRowRequest(b, table, pending) })
		if err := c.post(ctx, "BatchWriteRow", body, &resp); err != nil {
			return classify("BatchWriteRow", table, err)
		}
		results, err := tableResults(table, len(pending), &resp)
		if err != nil {
			return nil, err
		}
		pending, retry, err = w.settle(pending, results, stats)
		return retry, err
	})
	stats.Retries = r.retries
	return err
}

// The enumerations of a BatchWriteRow request (table_store.proto OperationType and
// RowExistenceExpectation).
const (
	pbOperationPut    = 1
	pbOperationUpdate = 2
	pbOperationDelete = 3
	pbExpectIgnore    = 0
	pbExpectExist     = 1
)

// appendBatchWriteRowRequest appends the BatchWriteRowRequest (table_store.proto) that
// writes rows to table, as the SDK's BatchWriteRow marshals it: one table, each row with
// its operation type, its row change and its condition (IGNORE, or EXPECT_EXIST for a
// conditional update), and is_atomic false.
func appendBatchWriteRowRequest(b []byte, table string, rows []rowWrite) []byte {
	const (
		fieldTables, fieldIsAtomic           = 1, 3 // BatchWriteRowRequest
		fieldTableName, fieldRows            = 1, 2 // TableInBatchWriteRowRequest
		fieldType, fieldRowChange, fieldCond = 1, 2, 3
		fieldRowExistence                    = 1 // Condition
		wireVarint, wireBytes                = 0, 2
	)
	rowSize := func(row *rowWrite) int {
		return 2 + 1 + uvarintLen(len(row.row)) + len(row.row) + 4 // type, row change, condition
	}
	tableSize := 1 + uvarintLen(len(table)) + len(table)
	for i := range rows {
		n := rowSize(&rows[i])
		tableSize += 1 + uvarintLen(n) + n
	}
	b = slices.Grow(b, 1+uvarintLen(tableSize)+tableSize+2)
	b = append(b, fieldTables<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(tableSize))
	b = append(b, fieldTableName<<3|wireBytes)
	b = binary.AppendUvarint(b, uint64(len(table)))
	b = append(b, table...)
	for i := range rows {
		row := &rows[i]
		operation, expect := row.wire()
		b = append(b, fieldRows<<3|wireBytes)
		b = binary.AppendUvarint(b, uint64(rowSize(row)))
		b = append(b, fieldType<<3|wireVarint, operation, fieldRowChange<<3|wireBytes)
		b = binary.AppendUvarint(b, uint64(len(row.row)))
		b = append(b, row.row...)
		b = append(b, fieldCond<<3|wireBytes, 2, fieldRowExistence<<3|wireVarint, expect)
	}
	return append(b, fieldIsAtomic<<3|wireVarint, 0)
}

// uvarintLen is the length of n as a protobuf varint.
func uvarintLen(n int) int {
	size := 1
	for ; n >= 0x80; n >>= 7 {
		size++
	}
	return size
}

// rowResult is the outcome of one row of a BatchWriteRow, from its response.
type rowResult struct {
	ok            bool
	code, message string
}

// tableResults returns the row results of table in a BatchWriteRow response to sent rows:
// one per row, in the rows' order. A response without them, or with a failed row lacking
// its error's code or message, is malformed ([ots.ErrMalformedResponse]).
func tableResults(table string, sent int, resp *otsprotocol.BatchWriteRowResponse) ([]rowResult, error) {
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("tablestore: BatchWriteRow on table %q: %w: %s", table, ots.ErrMalformedResponse, fmt.Sprintf(format, args...))
	}
	var rows []*otsprotocol.RowInBatchWriteRowResponse
	for _, t := range resp.Tables {
		if t.GetTableName() == table {
			rows = t.Rows
		}
	}
	if len(rows) != sent {
		return nil, fmt.Errorf("tablestore: BatchWriteRow on table %q: the response has %d row results for %d rows sent", table, len(rows), sent)
	}
	results := make([]rowResult, len(rows))
	for i, row := range rows {
		switch {
		case row.IsOk == nil:
			return nil, malformed("row %d has no is_ok", i)
		case *row.IsOk:
			results[i].ok = true
		case row.Error == nil || row.Error.Code == nil || row.Error.Message == nil:
			return nil, malformed("failed row %d has no error code and message", i)
		default:
			results[i] = rowResult{code: *row.Error.Code, message: *row.Error.Message}
		}
	}
	return results, nil
}

// settle maps the row results of a BatchWriteRow to the rows sent, in order, and counts
// the row changes they settle: a row change counts when its last part is written, or when a
// conditional update finds no row. It returns the rows to re-send with the first of their
// errors, or the error of a row that failed for good.
func (w *write) settle(sent []rowWrite, results []rowResult, stats *WriteStats) (again []rowWrite, retry, err error) {
	for i, res := range results {
		row := &sent[i]
		switch {
		case res.ok:
			if row.last {
				stats.count(row.kind)
			}
		case row.kind == ots.UpdateRowIfExists && res.code == codeConditionCheckFail:
			stats.count(row.kind)
			stats.NotInView++
			if !row.last {
				w.notFoundRow(row.change)
			}
		case retryableCode(res.code, res.message):
			again = append(again, *row)
			if retry == nil {
				retry = row.failure(w.table, res)
			}
		default:
			return nil, nil, row.failure(w.table, res)
		}
	}
	return again, retry, nil
}

// count counts one settled row of the given kind.
func (s *WriteStats) count(kind ots.RowChangeKind) {
	switch kind {
	case ots.PutRow:
		s.Puts++
	case ots.UpdateRowIfExists:
		s.Updates++
	case ots.DeleteRow:
		s.Deletes++
	}
}

// failure describes the row's per-row error.
func (w *rowWrite) failure(table string, res rowResult) *RowError {
	return &RowError{Table: table, Operation: w.operation(), PrimaryKey: ots.FormatPrimaryKey(w.primaryKey), Code: res.code, Message: res.message}
}
