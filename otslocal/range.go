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
	scan := rangeScan{table: t, opts: opts, limit: limit}
	scan.run(start, end, forward, st.now())
	return &otsprotocol.GetRangeResponse{
		Consumed:            readConsumed(),
		Rows:                scan.rows,
		NextStartPrimaryKey: scan.nextStart,
		DataBlockType:       otsprotocol.DataBlockType_DBT_PLAIN_BUFFER.Enum(),
		CompressType:        otsprotocol.CompressType_CPT_NONE.Enum(),
	}, nil
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
	table     *table
	opts      readOptions
	limit     int
	scanned   int // rows visited, returned or not
	returned  int
	rows      []byte // header then rows; the header alone when no row is returned
	nextStart []byte // PlainBuffer primary key of the next row, nil when the range is done
}

// run walks the rows in the range in direction order. Rows the read options select
// nothing from, or the filter drops, count as scanned but not as returned.
func (s *rangeScan) run(start, end primaryKey, forward bool, now time.Time) {
	rows := s.table.rows
	i, found := s.table.search(start)
	step := 1
	if !forward {
		step = -1
		if !found {
			i-- // the first row below start; start itself is inclusive
		}
	}
	s.rows = binary.LittleEndian.AppendUint32(nil, plainBufferHeader)
	for ; i >= 0 && i < len(rows); i += step {
		r := rows[i]
		if order := comparePrimaryKeys(r.primaryKey, end); forward && order >= 0 || !forward && order <= 0 {
			break
		}
		if s.returned == s.limit || s.scanned == maxRangeRows {
			s.nextStart = encodeRows(row{primaryKey: r.primaryKey.cells(s.table.schema)})
			break
		}
		s.scanned++
		result, ok := s.table.readRow(r, s.opts, now)
		if !ok {
			continue
		}
		withRow := appendRow(s.rows, result)
		if s.returned > 0 && len(withRow)-4 > maxRangeBytes {
			s.nextStart = encodeRows(row{primaryKey: r.primaryKey.cells(s.table.schema)})
			break
		}
		s.rows = withRow
		s.returned++
	}
	if s.returned == 0 {
		s.rows = []byte{}
	}
}
