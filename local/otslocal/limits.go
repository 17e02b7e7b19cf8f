package otslocal

// Limits of the real service (Tablestore "Limits" for the Wide Column model:
// https://www.alibabacloud.com/help/en/tablestore/limits-on-widecolumn-model).
const (
	maxRequestBodyBytes      = 5 << 20 // a request body larger than this is 413 OTSRequestBodyTooLarge
	maxTables                = 64      // tables per instance
	minPrimaryKeyColumns     = 1
	maxPrimaryKeyColumns     = 4
	maxDefinedColumns        = 32
	maxNameBytes             = 255     // table and column names
	maxPrimaryKeyValueBytes  = 1 << 10 // a STRING or BINARY primary key value
	maxAttributeValueBytes   = 2 << 20 // a STRING or BINARY attribute value
	maxColumnsPerWrite       = 1024    // attribute cells in one row change
	maxColumnsToGet          = 1024    // names in columns_to_get
	maxBatchGetRows          = 100     // rows in one BatchGetRow
	maxBatchWriteRows        = 200     // rows in one BatchWriteRow
	maxBatchWriteBytes       = 4 << 20 // row change bytes in one BatchWriteRow
	maxRangeRows             = 5000    // rows in one GetRange response
	maxRangeBytes            = 4 << 20 // row bytes in one GetRange response
	defaultDeviationSeconds  = 86400   // deviation_cell_version_in_sec when CreateTable leaves it out
	minTimeToLiveSeconds     = 86400   // the least time_to_live other than -1 (TableOptions API reference)
	maxTimestampMilliseconds = (1<<63 - 1) / 1000
)
