package otslocal

import (
	"math"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
)

// readRequest gathers the read parameters GetRow, BatchGetRow and GetRange share.
type readRequest struct {
	columnsToGet  []string
	timeRange     *otsprotocol.TimeRange
	maxVersions   *int32
	filter        []byte
	startColumn   *string
	endColumn     *string
	token         []byte
	transactionID *string
}

// readOptions selects the columns and versions a read returns.
type readOptions struct {
	columns          map[string]bool // nil: every column
	startColumn      *string         // inclusive lower bound on column names
	endColumn        *string         // exclusive upper bound on column names
	startTime        int64           // inclusive, ms
	endTime          int64           // exclusive, ms
	maxVersions      int             // 0: every version in the time range
	entirePrimaryKey bool            // false with columns: only the primary key columns named in columns
	filter           readFilter      // applied to the row the other options select
}

// readOptionsOf checks the read parameters (Tablestore GetRow API reference,
// https://www.alibabacloud.com/help/en/tablestore/developer-reference/getrow).
func readOptionsOf(req readRequest) (readOptions, error) {
	opts := readOptions{startTime: 0, endTime: math.MaxInt64, entirePrimaryKey: true}
	if err := checkUnsupportedRead(req); err != nil {
		return opts, err
	}
	if len(req.columnsToGet) > maxColumnsToGet {
		return opts, parameterInvalid("The number of columns from the request exceeds the limit, limit count: %d, column count: %d.",
			maxColumnsToGet, len(req.columnsToGet))
	}
	if len(req.columnsToGet) > 0 {
		opts.columns = make(map[string]bool, len(req.columnsToGet))
		for _, name := range req.columnsToGet {
			opts.columns[name] = true
		}
	}
	opts.startColumn, opts.endColumn = req.startColumn, req.endColumn
	filter, err := parseReadFilter(req.filter)
	if err != nil {
		return opts, err
	}
	opts.filter = filter
	if req.maxVersions == nil && req.timeRange == nil {
		return opts, parameterInvalid("No version condition is specified while querying row.")
	}
	if req.maxVersions != nil {
		if *req.maxVersions <= 0 {
			return opts, parameterInvalid("Invalid max versions: %d, it must be greater than 0.", *req.maxVersions)
		}
		opts.maxVersions = int(*req.maxVersions)
	}
	if req.timeRange != nil {
		return opts, opts.setTimeRange(req.timeRange, req.maxVersions != nil)
	}
	return opts, nil
}

// checkUnsupportedRead refuses the read features this server does not implement rather
// than answering as if they were absent.
func checkUnsupportedRead(req readRequest) error {
	switch {
	case len(req.token) > 0:
		return unsupported("token")
	case req.transactionID != nil:
		return unsupported("transaction_id")
	}
	return nil
}

// setTimeRange takes [start_time, end_time) or specific_time, all in ms.
func (opts *readOptions) setTimeRange(tr *otsprotocol.TimeRange, hasMaxVersions bool) error {
	if tr.SpecificTime != nil {
		if hasMaxVersions {
			return parameterInvalid("Specific tiemstamp and max versions cannot be given at the same time.")
		}
		if tr.StartTime != nil || tr.EndTime != nil {
			return parameterInvalid("Specific timestamp and time range cannot be given at the same time.")
		}
		specific := tr.GetSpecificTime()
		if specific < 0 || specific == math.MaxInt64 {
			return parameterInvalid("Invalid specific timestamp: %d.", specific)
		}
		opts.startTime, opts.endTime = specific, specific+1
		return nil
	}
	if tr.StartTime != nil {
		opts.startTime = tr.GetStartTime()
	}
	if tr.EndTime != nil {
		opts.endTime = tr.GetEndTime()
	}
	if opts.startTime < 0 || opts.startTime >= opts.endTime {
		return parameterInvalid("Invalid time range: [%d, %d), start time must be non-negative and less than end time.",
			opts.startTime, opts.endTime)
	}
	return nil
}

// selectsColumn reports whether the options select the attribute column by name.
func (opts readOptions) selectsColumn(name string) bool {
	if opts.columns != nil && !opts.columns[name] {
		return false
	}
	if opts.startColumn != nil && name < *opts.startColumn {
		return false
	}
	return opts.endColumn == nil || name < *opts.endColumn
}

// selectedVersions are the column's live versions in the time range, newest first, at
// most maxVersions of them.
func (opts readOptions) selectedVersions(live []version) []version {
	var selected []version
	for _, v := range live {
		if opts.maxVersions > 0 && len(selected) == opts.maxVersions {
			break
		}
		if v.timestamp >= opts.startTime && v.timestamp < opts.endTime {
			selected = append(selected, v)
		}
	}
	return selected
}

// readRow is what a read returns for a stored row: primary key cells, then attribute
// cells by name ascending with versions newest first, every one with its timestamp. It
// returns false when there is no row, when columns_to_get names columns and none of
// them is in the result (GetRow API reference; Python SDK row_op_test.py
// test_columns_to_get_semantics), or when the row fails the filter. The filter sees
// only what the other options select, and a column page applies to that too
// (readFilter).
func (t *table) readRow(r *storedRow, opts readOptions, now time.Time) (row, bool) {
	if r == nil {
		return row{}, false
	}
	var result row
	namedPrimaryKey := false
	for i, column := range t.schema {
		named := opts.columns[column.name]
		namedPrimaryKey = namedPrimaryKey || named
		if opts.entirePrimaryKey || opts.columns == nil || named {
			result.primaryKey = append(result.primaryKey, cell{name: column.name, value: r.primaryKey[i], hasValue: true})
		}
	}
	for _, name := range r.columnNames() {
		if !opts.selectsColumn(name) {
			continue
		}
		for _, v := range opts.selectedVersions(t.liveVersions(r.columns[name], now)) {
			result.cells = append(result.cells, attributeCell(name, v))
		}
	}
	if opts.columns != nil && !namedPrimaryKey && len(result.cells) == 0 {
		return row{}, false
	}
	return opts.filter.apply(result)
}

// decodeKey decodes a read's or a range bound's primary key buffer: one row with primary
// key cells only.
func decodeKey(data []byte) ([]cell, error) {
	key, err := decodeRow(data)
	if err != nil {
		return nil, err
	}
	if len(key.cells) > 0 || key.deleteMarker {
		return nil, parameterInvalid("Invalid primary key: only primary key columns are allowed.")
	}
	return key.primaryKey, nil
}

// Capacity units consumed by a read or a write. The SDKs only report these numbers.
func readConsumed() *otsprotocol.ConsumedCapacity {
	return consumed(1, 0)
}

func writeConsumed() *otsprotocol.ConsumedCapacity {
	return consumed(0, 1)
}

// consumed sets both read and write: the Go SDK dereferences both without a nil check.
func consumed(read, write int32) *otsprotocol.ConsumedCapacity {
	return &otsprotocol.ConsumedCapacity{CapacityUnit: &otsprotocol.CapacityUnit{Read: &read, Write: &write}}
}
