package otslocal

import (
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// singleRowWrite is the part PutRow, UpdateRow and DeleteRow requests have in common.
type singleRowWrite struct {
	tableName     string
	operation     otsprotocol.OperationType
	rowChange     []byte // PlainBuffer
	condition     *otsprotocol.Condition
	returnContent *otsprotocol.ReturnContent
	transactionID *string
}

// putRow writes a whole row, replacing any row with the same primary key
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/putrow).
func (st *store) putRow(req *otsprotocol.PutRowRequest) (proto.Message, error) {
	returned, err := st.writeSingleRow(singleRowWrite{
		req.GetTableName(), otsprotocol.OperationType_PUT, req.Row, req.Condition, req.ReturnContent, req.TransactionId,
	})
	if err != nil {
		return nil, err
	}
	return &otsprotocol.PutRowResponse{Consumed: writeConsumed(), Row: returned}, nil
}

// updateRow applies PUT, DELETE_ONE_VERSION, DELETE_ALL_VERSION and INCREMENT cells to a
// row (https://www.alibabacloud.com/help/en/tablestore/developer-reference/updaterow).
func (st *store) updateRow(req *otsprotocol.UpdateRowRequest) (proto.Message, error) {
	returned, err := st.writeSingleRow(singleRowWrite{
		req.GetTableName(), otsprotocol.OperationType_UPDATE, req.RowChange, req.Condition, req.ReturnContent, req.TransactionId,
	})
	if err != nil {
		return nil, err
	}
	return &otsprotocol.UpdateRowResponse{Consumed: writeConsumed(), Row: returned}, nil
}

// deleteRow removes a row with all its columns and versions
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/deleterow).
func (st *store) deleteRow(req *otsprotocol.DeleteRowRequest) (proto.Message, error) {
	returned, err := st.writeSingleRow(singleRowWrite{
		req.GetTableName(), otsprotocol.OperationType_DELETE, req.PrimaryKey, req.Condition, req.ReturnContent, req.TransactionId,
	})
	if err != nil {
		return nil, err
	}
	return &otsprotocol.DeleteRowResponse{Consumed: writeConsumed(), Row: returned}, nil
}

// writeSingleRow decodes, checks and applies one row change atomically and returns the
// row its return content asks for.
func (st *store) writeSingleRow(req singleRowWrite) ([]byte, error) {
	if req.transactionID != nil {
		return nil, unsupported("transaction_id")
	}
	condition, err := parseColumnCondition(req.condition.GetColumnCondition())
	if err != nil {
		return nil, err
	}
	change, err := decodeRow(req.rowChange)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.unlock()
	t, err := st.table(req.tableName)
	if err != nil {
		return nil, err
	}
	tx := newWriteTxn(st.now())
	returned, err := tx.apply(t, rowWrite{
		operation:     req.operation,
		change:        change,
		expectation:   req.condition.GetRowExistence(),
		condition:     condition,
		returnContent: req.returnContent,
	})
	if err != nil {
		return nil, err
	}
	tx.commit(st.journal)
	return returned, nil
}

// getRow reads one row. A missing row, or one with none of the columns asked for, is
// an empty (but present) row field. The row is PlainBuffer: unlike GetRange, GetRow and
// BatchGetRow have no data_block_type_hint in any SDK's protocol (Go SDK v1.7.17 and
// Node.js SDK 5.6.5 table_store.proto, Java SDK 5.17.7 ots_internal_api.proto), and their
// responses no data_block_type.
func (st *store) getRow(req *otsprotocol.GetRowRequest) (proto.Message, error) {
	opts, err := readOptionsOf(readRequest{
		columnsToGet:  req.ColumnsToGet,
		timeRange:     req.TimeRange,
		maxVersions:   req.MaxVersions,
		filter:        req.Filter,
		startColumn:   req.StartColumn,
		endColumn:     req.EndColumn,
		token:         req.Token,
		transactionID: req.TransactionId,
	})
	if err != nil {
		return nil, err
	}
	key, err := decodeKey(req.PrimaryKey)
	if err != nil {
		return nil, err
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	t, err := st.table(req.GetTableName())
	if err != nil {
		return nil, err
	}
	pk, err := t.primaryKeyOf(key, keyForRead)
	if err != nil {
		return nil, err
	}
	return &otsprotocol.GetRowResponse{Consumed: readConsumed(), Row: t.encodedRead(t.get(pk), opts, st.now())}, nil
}

// encodedRead is the row field of a read response: the selected row with a header, or
// an empty, non-nil slice (the field is required) when there is none.
func (t *table) encodedRead(r *storedRow, opts readOptions, now time.Time) []byte {
	if result, ok := t.readRow(r, opts, now); ok {
		return encodeRows(result)
	}
	return []byte{}
}
