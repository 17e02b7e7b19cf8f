package otslocal

import (
	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// batchGetRow reads up to 100 rows from one or more tables. Tables and rows are answered
// in request order, which the Go SDK relies on (tablestore/api.go, BatchGetRow). A row
// whose primary key does not match the schema fails alone, with HTTP 200; malformed
// requests, unknown tables and limit violations fail the whole request
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/batchgetrow).
func (st *store) batchGetRow(req *otsprotocol.BatchGetRowRequest) (proto.Message, error) {
	reads, err := batchReadsOf(req.GetTables())
	if err != nil {
		return nil, err
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	now := st.now()
	resp := &otsprotocol.BatchGetRowResponse{}
	for _, read := range reads {
		t, err := st.table(read.tableName)
		if err != nil {
			return nil, err
		}
		result := &otsprotocol.TableInBatchGetRowResponse{TableName: proto.String(t.name)}
		for _, key := range read.keys {
			pk, err := t.primaryKeyOf(key, keyForRead)
			if err == nil {
				err = st.injectedRowFailure("BatchGetRow")
			}
			if err != nil {
				result.Rows = append(result.Rows, &otsprotocol.RowInBatchGetRowResponse{IsOk: proto.Bool(false), Error: rowError(err)})
				continue
			}
			result.Rows = append(result.Rows, &otsprotocol.RowInBatchGetRowResponse{
				IsOk:     proto.Bool(true),
				Consumed: readConsumed(),
				Row:      t.encodedRead(t.get(pk), read.opts, now),
			})
		}
		resp.Tables = append(resp.Tables, result)
	}
	return resp, nil
}

// batchRead is one table of a BatchGetRow request with its read options and decoded keys.
type batchRead struct {
	tableName string
	opts      readOptions
	keys      [][]cell
}

// batchReadsOf checks the request as a whole and decodes every primary key.
func batchReadsOf(tables []*otsprotocol.TableInBatchGetRowRequest) ([]batchRead, error) {
	if err := checkBatchGetRowCount(tables); err != nil {
		return nil, err
	}
	reads := make([]batchRead, 0, len(tables))
	for _, t := range tables {
		if len(t.GetToken()) > 0 {
			return nil, unsupported("token")
		}
		opts, err := readOptionsOf(readRequest{
			columnsToGet: t.ColumnsToGet,
			timeRange:    t.TimeRange,
			maxVersions:  t.MaxVersions,
			filter:       t.Filter,
			startColumn:  t.StartColumn,
			endColumn:    t.EndColumn,
		})
		if err != nil {
			return nil, err
		}
		read := batchRead{tableName: t.GetTableName(), opts: opts}
		for _, data := range t.GetPrimaryKey() {
			key, err := decodeKey(data)
			if err != nil {
				return nil, err
			}
			read.keys = append(read.keys, key)
		}
		reads = append(reads, read)
	}
	return reads, nil
}

func checkBatchGetRowCount(tables []*otsprotocol.TableInBatchGetRowRequest) error {
	rows := 0
	for _, t := range tables {
		rows += len(t.GetPrimaryKey())
	}
	switch {
	case rows == 0:
		return parameterInvalid("No row specified in the request of BatchGetRow.")
	case rows > maxBatchGetRows:
		return parameterInvalid("Rows count exceeds the upper limit: %d.", maxBatchGetRows)
	}
	return nil
}

// batchWrite is one table of a BatchWriteRow request with its decoded row changes.
type batchWrite struct {
	tableName string
	rows      []rowWrite
}

// batchWriteRow applies up to 200 row changes (4 MB) to one or more tables under one
// lock. Results come back in request order, table by table and row by row. A row that
// fails (OTSInvalidPK, OTSConditionCheckFail, a bad cell) fails alone, with HTTP 200,
// and the other rows are applied, unless is_atomic is set: then nothing is applied, and
// every row that did not fail itself reports the first failure. Malformed requests,
// unknown tables and limit violations fail the whole request
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/batchwriterow).
//
// With is_atomic, the rows of each table must share one partition key (the first
// primary key column). When a table's rows do not, the request is answered with HTTP
// 200 and every row failed, and nothing is applied (Go SDK tablestore/model.go
// BatchWriteRowRequest.IsAtomic, and its integration test
// TestAtomicBatchWriteRowWithDiffPartitionKey in tablestore/api_test.go, which expects
// no error and every row failed). The service's error for those rows is not
// documented; this server answers OTSParameterInvalid.
func (st *store) batchWriteRow(req *otsprotocol.BatchWriteRowRequest) (proto.Message, error) {
	if req.TransactionId != nil {
		return nil, unsupported("transaction_id")
	}
	writes, err := batchWritesOf(req.GetTables())
	if err != nil {
		return nil, err
	}

	st.mu.Lock()
	defer st.unlock()
	tables := make([]*table, len(writes))
	for i, w := range writes {
		if tables[i], err = st.table(w.tableName); err != nil {
			return nil, err
		}
	}
	if req.GetIsAtomic() {
		if err := checkSharedPartitionKeys(writes); err != nil {
			return batchWriteResponse(writes, everyRowFailed(writes, err)), nil
		}
	}
	tx := newWriteTxn(st.now())
	outcomes := make([][]rowOutcome, len(writes))
	var firstFailure error
	for i, w := range writes {
		for _, rw := range w.rows {
			var outcome rowOutcome
			if outcome.err = st.injectedRowFailure("BatchWriteRow"); outcome.err == nil {
				outcome.returned, outcome.err = tx.apply(tables[i], rw)
			}
			outcomes[i] = append(outcomes[i], outcome)
			if firstFailure == nil {
				firstFailure = outcome.err
			}
		}
	}
	if req.GetIsAtomic() && firstFailure != nil {
		for i := range outcomes {
			for j := range outcomes[i] {
				if outcomes[i][j].err == nil {
					outcomes[i][j] = rowOutcome{err: firstFailure}
				}
			}
		}
	} else {
		tx.commit(st.journal)
	}
	return batchWriteResponse(writes, outcomes), nil
}

// rowOutcome is the result of one row of a BatchWriteRow: the row the return content
// asks for, or the row's error.
type rowOutcome struct {
	returned []byte
	err      error
}

func batchWriteResponse(writes []batchWrite, outcomes [][]rowOutcome) *otsprotocol.BatchWriteRowResponse {
	resp := &otsprotocol.BatchWriteRowResponse{}
	for i, w := range writes {
		result := &otsprotocol.TableInBatchWriteRowResponse{TableName: proto.String(w.tableName)}
		for _, outcome := range outcomes[i] {
			if outcome.err != nil {
				result.Rows = append(result.Rows, &otsprotocol.RowInBatchWriteRowResponse{IsOk: proto.Bool(false), Error: rowError(outcome.err)})
				continue
			}
			result.Rows = append(result.Rows, &otsprotocol.RowInBatchWriteRowResponse{
				IsOk: proto.Bool(true), Consumed: writeConsumed(), Row: outcome.returned,
			})
		}
		resp.Tables = append(resp.Tables, result)
	}
	return resp
}

// batchWritesOf checks the request as a whole and decodes every row change.
func batchWritesOf(tables []*otsprotocol.TableInBatchWriteRowRequest) ([]batchWrite, error) {
	if err := checkBatchWriteSize(tables); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	writes := make([]batchWrite, 0, len(tables))
	for _, t := range tables {
		name := t.GetTableName()
		if seen[name] {
			return nil, parameterInvalid("Duplicated table name: '%s'.", name)
		}
		seen[name] = true
		w := batchWrite{tableName: name}
		for _, r := range t.GetRows() {
			change, err := decodeRow(r.RowChange)
			if err != nil {
				return nil, err
			}
			condition, err := parseColumnCondition(r.GetCondition().GetColumnCondition())
			if err != nil {
				return nil, err
			}
			w.rows = append(w.rows, rowWrite{
				operation:     r.GetType(),
				change:        change,
				expectation:   r.GetCondition().GetRowExistence(),
				condition:     condition,
				returnContent: r.ReturnContent,
			})
		}
		if err := checkRepeatedRows(w.rows); err != nil {
			return nil, err
		}
		writes = append(writes, w)
	}
	return writes, nil
}

// checkBatchWriteSize enforces the request-wide limits: some rows, every table with
// rows, at most 200 rows and 4 MB of row changes.
func checkBatchWriteSize(tables []*otsprotocol.TableInBatchWriteRowRequest) error {
	if len(tables) == 0 {
		return parameterInvalid("No row is specified in BatchWriteRow.")
	}
	rows, size := 0, 0
	for _, t := range tables {
		if len(t.GetRows()) == 0 {
			return parameterInvalid("No operation is specified for table: '%s'.", t.GetTableName())
		}
		rows += len(t.GetRows())
		for _, r := range t.GetRows() {
			size += len(r.RowChange)
		}
	}
	if rows > maxBatchWriteRows {
		return parameterInvalid("Rows count exceeds the upper limit: %d.", maxBatchWriteRows)
	}
	if size > maxBatchWriteBytes {
		return parameterInvalid("The total data size of BatchWriteRow request exceeds the limit, limit size: %d, data size: %d.",
			maxBatchWriteBytes, size)
	}
	return nil
}

// checkRepeatedRows allows the same primary key more than once in a table's rows only
// when every copy uses IGNORE and no column condition; the copies then apply in request
// order. Otherwise the whole request fails with the service's 400 OTSParameterInvalid
// "Repeated rows do not support row exist expectation check in BatchModify." or
// "Repeated rows do not support row condition check in BatchModify." (Tablestore error
// codes). The Python SDK's integration tests show the change: against today's service,
// put+update, put+delete and update+delete of one row with IGNORE succeed
// (tests/row_op_test.py test_batch_write_on_the_same_row), where the tests of its 2014
// protocol expected the whole request to fail with "The input parameter is invalid.";
// the BatchWriteRow API reference still lists repeated primary keys as a request error.
func checkRepeatedRows(writes []rowWrite) error {
	count := map[string]int{}
	for _, w := range writes {
		count[rawKey(w.change.primaryKey)]++
	}
	for _, w := range writes {
		if count[rawKey(w.change.primaryKey)] < 2 {
			continue
		}
		if w.expectation != otsprotocol.RowExistenceExpectation_IGNORE {
			return parameterInvalid("Repeated rows do not support row exist expectation check in BatchModify.")
		}
		if w.condition != nil {
			return parameterInvalid("Repeated rows do not support row condition check in BatchModify.")
		}
	}
	return nil
}

// checkSharedPartitionKeys checks that the rows of each table share one partition key,
// the first primary key cell, as an atomic BatchWriteRow requires.
func checkSharedPartitionKeys(writes []batchWrite) error {
	for _, w := range writes {
		first := partitionKeyOf(w.rows[0])
		for _, rw := range w.rows[1:] {
			if partitionKeyOf(rw) != first {
				return parameterInvalid("The rows of an atomic BatchWriteRow must share one partition key, table: '%s'.", w.tableName)
			}
		}
	}
	return nil
}

// partitionKeyOf identifies a row change's first primary key cell by name and value.
func partitionKeyOf(w rowWrite) string {
	return rawKey(w.change.primaryKey[:min(1, len(w.change.primaryKey))])
}

// everyRowFailed is the outcome of a request none of whose rows is applied: every row
// fails with err.
func everyRowFailed(writes []batchWrite, err error) [][]rowOutcome {
	outcomes := make([][]rowOutcome, len(writes))
	for i, w := range writes {
		outcomes[i] = make([]rowOutcome, len(w.rows))
		for j := range outcomes[i] {
			outcomes[i][j] = rowOutcome{err: err}
		}
	}
	return outcomes
}

// rowError is the per-row Error of a batch response; both code and message are set
// because the Go SDK dereferences both.
func rowError(err error) *otsprotocol.Error {
	oe := asOTSError(err)
	return &otsprotocol.Error{Code: proto.String(oe.code), Message: proto.String(oe.message)}
}
