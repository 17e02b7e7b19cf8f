package otslocal

import (
	"encoding/binary"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// getRange reads the rows between an inclusive start and an exclusive end primary key,
// FORWARD (start < end) or BACKWARD (start > end); bounds may use INF_MIN and INF_MAX.
// A response stops at limit rows returned, 5000 rows scanned or 4 MB of rows returned,
// whichever comes first, and then carries next_start_primary_key, the full key of the
// next row to read, which the client sends as the next start
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/getrange). Rows
// the filter drops are scanned but not returned, so a response may hold no rows and
// still a next start ("Configure a filter": "If no data matches the filter conditions
// in the range of the scan, the returned rows are empty. However, NextStartPrimaryKey
// may not be empty.").
//
// The rows come in the data block type data_block_type_hint asks for, PlainBuffer (the
// default) or SimpleRowMatrix (encodeSimpleRowMatrix), and data_block_type says which.
// Either way a response holds the rows that fit in 4 MB of PlainBuffer.
func (st *store) getRange(req *otsprotocol.GetRangeRequest) (proto.Message, error) {
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
	opts.entirePrimaryKey = req.GetReturnEntirePrimaryKeys()
	limit := maxRangeRows
	if req.Limit != nil {
		if req.GetLimit() <= 0 {
			return nil, parameterInvalid("The limit must be greater than 0.")
		}
		limit = min(limit, int(req.GetLimit()))
	}
	startKey, err := decodeKey(req.InclusiveStartPrimaryKey)
	if err != nil {
		return nil, err
	}
	endKey, err := decodeKey(req.ExclusiveEndPrimaryKey)
	if err != nil {
		return nil, err
	}

	st.mu.RLock()
	defer st.mu.RUnlock()
	t, err := st.table(req.GetTableName())
	if err != nil {
		return nil, err
	}
	start, err := t.primaryKeyOf(startKey, keyForRangeBound)
	if err != nil {
		return nil, err
	}
	end, err := t.primaryKeyOf(endKey, keyForRangeBound)
	if err != nil {
		return nil, err
	}
	forward, err := checkDirection(req.GetDirection(), start, end)
	if err != nil {
		return nil, err
	}
	matrix := req.GetDataBlockTypeHint() == otsprotocol.DataBlockType_DBT_SIMPLE_ROW_MATRIX
	scan := rangeScan{table: t, opts: opts, limit: limit, keepRows: matrix}
	scan.run(start, end, forward, st.now())
	resp := &otsprotocol.GetRangeResponse{
		Consumed:            readConsumed(),
		Rows:                scan.plainBuffer,
		NextStartPrimaryKey: scan.nextStart,
		DataBlockType:       otsprotocol.DataBlockType_DBT_PLAIN_BUFFER.Enum(),
		CompressType:        otsprotocol.CompressType_CPT_NONE.Enum(),
	}
	if matrix {
		resp.Rows = encodeSimpleRowMatrix(t.schema, scan.rows)
		resp.DataBlockType = otsprotocol.DataBlockType_DBT_SIMPLE_ROW_MATRIX.Enum()
	}
	return resp, nil
}

// checkDirection checks that the bounds are ordered for the direction and reports
// whether it is FORWARD.
func checkDirection(direction otsprotocol.Direction, start, end primaryKey) (bool, error) {
	order := comparePrimaryKeys(start, end)
	switch direction {
	case otsprotocol.Direction_FORWARD:
		if order >= 0 {
			return false, parameterInvalid("Begin key must less than end key in FORWARD")
		}
		return true, nil
	case otsprotocol.Direction_BACKWARD:
		if order <= 0 {
			return false, parameterInvalid("Begin key must more than end key in BACKWARD")
		}
		return false, nil
	}
	return false, parameterInvalid("Invalid direction: %d.", direction)
}

// rangeScan collects one GetRange response.
type rangeScan struct {
	table       *table
	opts        readOptions
	limit       int
	keepRows    bool   // keep the rows returned in rows, for another data block type
	scanned     int    // rows visited, returned or not
	returned    int    // rows returned
	rows        []row  // with keepRows, the rows returned, in order
	plainBuffer []byte // header then rows; empty when no row is returned
	nextStart   []byte // PlainBuffer primary key of the next row, nil when the range is done
}

// run walks the rows in the range in direction order. Rows the read options select
// nothing from, or the filter drops, count as scanned but not as returned.
func (s *rangeScan) run(start, end primaryKey, forward bool, now time.Time) {
	s.plainBuffer = binary.LittleEndian.AppendUint32(nil, plainBufferHeader)
	visit := func(r *storedRow) bool {
		if order := comparePrimaryKeys(r.primaryKey, end); forward && order >= 0 || !forward && order <= 0 {
			return false
		}
		if s.returned == s.limit || s.scanned == maxRangeRows {
			s.nextStart = encodeRows(row{primaryKey: r.primaryKey.cells(s.table.schema)})
			return false
		}
		s.scanned++
		result, ok := s.table.readRow(r, s.opts, now)
		if !ok {
			return true
		}
		withRow := appendRow(s.plainBuffer, result)
		if s.returned > 0 && len(withRow)-4 > maxRangeBytes {
			s.nextStart = encodeRows(row{primaryKey: r.primaryKey.cells(s.table.schema)})
			return false
		}
		s.plainBuffer = withRow
		s.returned++
		if s.keepRows {
			s.rows = append(s.rows, result)
		}
		return true
	}
	if forward {
		s.table.ascend(start, visit) // start is inclusive
	} else {
		s.table.descend(start, visit)
	}
	if s.returned == 0 {
		s.plainBuffer = []byte{}
	}
}
