package otslocal

import (
	"slices"
	"strings"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// createTable validates the table as the service does (Tablestore error codes,
// CreateTable section) and creates it empty, with its Stream on when stream_spec asks.
// Features this server does not implement (encryption, secondary indexes, local
// transactions) are refused rather than ignored.
func (st *store) createTable(req *otsprotocol.CreateTableRequest) (proto.Message, error) {
	t, err := newTable(req)
	if err != nil {
		return nil, err
	}
	st.mu.Lock()
	defer st.unlock()
	if _, exists := st.tables[t.name]; exists {
		return nil, errTableAlreadyExist
	}
	if len(st.tables) >= maxTables {
		return nil, errTableQuotaExhausted
	}
	t.createdAt = st.now()
	t.throughputRaisedAt = t.createdAt
	st.setStream(t, req.GetStreamSpec(), t.createdAt)
	st.tables[t.name] = t
	st.journal.putTable(t)
	return &otsprotocol.CreateTableResponse{}, nil
}

func newTable(req *otsprotocol.CreateTableRequest) (*table, error) {
	meta := req.GetTableMeta()
	if err := checkName("table", meta.GetTableName()); err != nil {
		return nil, err
	}
	if err := checkUnsupportedTableFeatures(req); err != nil {
		return nil, err
	}
	schema, err := primaryKeySchemaOf(meta)
	if err != nil {
		return nil, err
	}
	if err := checkDefinedColumns(meta.GetDefinedColumn(), schema); err != nil {
		return nil, err
	}
	t := &table{
		name:           meta.GetTableName(),
		schema:         schema,
		definedColumns: meta.GetDefinedColumn(),
		reservedRead:   req.GetReservedThroughput().GetCapacityUnit().GetRead(),
		reservedWrite:  req.GetReservedThroughput().GetCapacityUnit().GetWrite(),
		rows:           newRowTree(),
	}
	if t.reservedRead < 0 || t.reservedWrite < 0 {
		return nil, parameterInvalid("Reserved throughput must not be negative.")
	}
	if err := t.setOptions(req.GetTableOptions()); err != nil {
		return nil, err
	}
	return t, t.checkStreamSpec(req.GetStreamSpec())
}

func checkUnsupportedTableFeatures(req *otsprotocol.CreateTableRequest) error {
	switch {
	case req.GetSseSpec().GetEnable():
		return unsupported("sse_spec")
	case len(req.GetIndexMetas()) > 0 || len(req.GetTableMeta().GetIndexMeta()) > 0:
		return unsupported("index_metas")
	case req.GetEnableLocalTxn():
		return unsupported("enable_local_txn")
	}
	return nil
}

// primaryKeySchemaOf checks the primary key schema: 1–4 uniquely named columns of type
// INTEGER, STRING or BINARY, and at most one AUTO_INCREMENT INTEGER column that is not
// the first.
func primaryKeySchemaOf(meta *otsprotocol.TableMeta) ([]primaryKeySchema, error) {
	columns := meta.GetPrimaryKey()
	if len(columns) < minPrimaryKeyColumns || len(columns) > maxPrimaryKeyColumns {
		return nil, parameterInvalid("The number of primary key columns must be in range: [%d, %d].",
			minPrimaryKeyColumns, maxPrimaryKeyColumns)
	}
	schema := make([]primaryKeySchema, 0, len(columns))
	autoIncrements := 0
	for i, column := range columns {
		name := column.GetName()
		if err := checkName("column", name); err != nil {
			return nil, err
		}
		if slices.ContainsFunc(schema, func(c primaryKeySchema) bool { return c.name == name }) {
			return nil, parameterInvalid("Duplicated primary key name: '%s'.", name)
		}
		switch column.GetType() {
		case otsprotocol.PrimaryKeyType_INTEGER, otsprotocol.PrimaryKeyType_STRING, otsprotocol.PrimaryKeyType_BINARY:
		default:
			return nil, parameterInvalid("Invalid column type, only STRING,INTEGER,BINARY is allowed.")
		}
		c := primaryKeySchema{name: name, typ: column.GetType()}
		if column.Option != nil {
			if column.GetOption() != otsprotocol.PrimaryKeyOption_AUTO_INCREMENT {
				return nil, parameterInvalid("Invalid primary key option: %d.", column.GetOption())
			}
			switch {
			case c.typ != otsprotocol.PrimaryKeyType_INTEGER:
				return nil, parameterInvalid("AUTO_INCREMENT primary key must be integer.")
			case i == 0:
				return nil, parameterInvalid("First primary key can't be auto increment, table: %s.", meta.GetTableName())
			}
			autoIncrements++
			if autoIncrements > 1 {
				return nil, parameterInvalid("AUTO_INCREMENT primary key count must <= 1.")
			}
			c.autoIncrement = true
		}
		schema = append(schema, c)
	}
	return schema, nil
}

// checkDefinedColumns checks predefined attribute columns: at most 32, valid names, not
// a primary key name, no repeats.
func checkDefinedColumns(columns []*otsprotocol.DefinedColumnSchema, schema []primaryKeySchema) error {
	if len(columns) > maxDefinedColumns {
		return parameterInvalid("The number of defined columns exceeds the limit, limit count:%d, column count: %d.",
			maxDefinedColumns, len(columns))
	}
	seen := map[string]bool{}
	for _, column := range columns {
		name := column.GetName()
		if err := checkName("column", name); err != nil {
			return err
		}
		if slices.ContainsFunc(schema, func(c primaryKeySchema) bool { return c.name == name }) {
			return parameterInvalid("Duplicated attribute column name with primary key column: %s.", name)
		}
		if seen[name] {
			return parameterInvalid("Duplicated defined column name: '%s'.", name)
		}
		seen[name] = true
		if _, known := otsprotocol.DefinedColumnType_name[int32(column.GetType())]; !known {
			return parameterInvalid("Invalid defined column type: %d.", column.GetType())
		}
	}
	return nil
}

// setOptions takes CreateTable's options: time_to_live and max_versions are required,
// deviation_cell_version_in_sec defaults to 86400, allow_update to true and
// update_full_row to false (TableOptions API reference,
// https://www.alibabacloud.com/help/en/tablestore/developer-reference/tableoptions).
func (t *table) setOptions(options *otsprotocol.TableOptions) error {
	switch {
	case options == nil || options.TimeToLive == nil:
		return parameterInvalid("Time-to-live is missing while creating table.")
	case options.MaxVersions == nil:
		return parameterInvalid("MaxVersions is missing while creating table.")
	}
	if err := checkTableOptions(options); err != nil {
		return err
	}
	t.deviationSec = defaultDeviationSeconds
	t.allowUpdate = true
	t.updateFullRow = options.GetUpdateFullRow()
	t.takeOptions(options)
	return nil
}

// checkTableOptions checks the options that are set: time_to_live (s: -1 = forever, else
// at least a day), max_versions and deviation_cell_version_in_sec (s).
//
// The TableOptions API reference gives time_to_live's valid values as -1 and 86400 or
// more; the error code reference has the message for 0 and below -1 only. The message for
// 1 to 86399 is this server's own.
func checkTableOptions(options *otsprotocol.TableOptions) error {
	switch {
	case options == nil:
		return nil
	case options.TimeToLive != nil && (options.GetTimeToLive() == 0 || options.GetTimeToLive() < -1):
		return parameterInvalid("TimeToLive cannot be 0 or less than -1.")
	case options.TimeToLive != nil && options.GetTimeToLive() > 0 && options.GetTimeToLive() < minTimeToLiveSeconds:
		return parameterInvalid("TimeToLive must be -1 or at least %d seconds, got %d.", minTimeToLiveSeconds, options.GetTimeToLive())
	case options.MaxVersions != nil && options.GetMaxVersions() <= 0:
		return parameterInvalid("The maximum versions cannot be less than or equal to 0.")
	case options.DeviationCellVersionInSec != nil && options.GetDeviationCellVersionInSec() <= 0:
		return parameterInvalid("DeviationCellVersionInSec must be greater than 0.")
	}
	return nil
}

// takeOptions sets the checked options that are set and leaves the others as they are.
// update_full_row is not among them: only CreateTable sets it.
func (t *table) takeOptions(options *otsprotocol.TableOptions) {
	if options.TimeToLive != nil {
		t.timeToLive = options.GetTimeToLive()
	}
	if options.MaxVersions != nil {
		t.maxVersions = options.GetMaxVersions()
	}
	if options.DeviationCellVersionInSec != nil {
		t.deviationSec = options.GetDeviationCellVersionInSec()
	}
	if options.AllowUpdate != nil {
		t.allowUpdate = options.GetAllowUpdate()
	}
}

// checkName checks a table or primary key column name: 1–255 bytes of [A-Za-z0-9_], not
// starting with a digit.
func checkName(kind, name string) error {
	valid := len(name) > 0 && len(name) <= maxNameBytes && (name[0] < '0' || name[0] > '9') &&
		strings.IndexFunc(name, func(r rune) bool {
			return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) < 0
	if !valid {
		return parameterInvalid("Invalid %s name: '%s'.", kind, name)
	}
	return nil
}

// deleteTable drops the table and its rows and closes its stream. The response is nil
// (an empty body): the Go SDK decodes a DeleteTable response into a nil message, which
// only an empty body survives.
func (st *store) deleteTable(req *otsprotocol.DeleteTableRequest) (proto.Message, error) {
	st.mu.Lock()
	defer st.unlock()
	t, err := st.table(req.GetTableName())
	if err != nil {
		return nil, err
	}
	st.closeStream(t)
	delete(st.tables, req.GetTableName())
	st.journal.dropTable(t)
	return nil, nil
}

// listTable lists the table names in ascending order.
func (st *store) listTable(*otsprotocol.ListTableRequest) (proto.Message, error) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	names := make([]string, 0, len(st.tables))
	for name := range st.tables {
		names = append(names, name)
	}
	slices.Sort(names)
	return &otsprotocol.ListTableResponse{TableNames: names}, nil
}

// describeTable returns the schema, options, reserved throughput, status and Stream,
// with every field the Go SDK dereferences set (tablestore/api.go, DescribeTable).
// sse_details is left out, which the SDK reads as "disabled".
func (st *store) describeTable(req *otsprotocol.DescribeTableRequest) (proto.Message, error) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	t, err := st.table(req.GetTableName())
	if err != nil {
		return nil, err
	}
	return &otsprotocol.DescribeTableResponse{
		TableMeta:                 t.meta(),
		ReservedThroughputDetails: t.reservedThroughputDetails(),
		TableOptions:              t.options(),
		TableStatus:               otsprotocol.TableStatus_ACTIVE.Enum(),
		StreamDetails:             t.streamDetails(),
	}, nil
}

// updateTable changes what UpdateTable may change: reserved throughput, time_to_live,
// max_versions, deviation_cell_version_in_sec, allow_update, and the Stream (stream_spec
// enables it with a new stream or disables it). Everything is checked before anything
// changes. Lowering max_versions drops the versions beyond it; a lower time_to_live hides
// older versions from then on. The response sets every field the Go SDK dereferences,
// stream_details included (tablestore/api.go, UpdateTable;
// https://www.alibabacloud.com/help/en/tablestore/developer-reference/updatetable).
//
// It refuses, with 400 OTSParameterInvalid, what the service refuses: a request that
// changes nothing (the Java SDK's updateTable documentation requires at least one of the
// table options, the Stream specification and the reserved throughput); reserved_throughput with neither read nor write ("At least one of read
// or write in capacity_unit must be specified. Otherwise, the request fails", UpdateTable
// API reference); update_full_row, which "cannot be dynamically modified" after the table
// is created (Java SDK model/TableOptions.java, updateFullRow; table_store.proto: 不可动态修改);
// invalid options and Stream specifications (checkTableOptions, checkStreamSpec). The
// messages of the first two are this server's own: the service's are not documented. The
// third contains "contain updateFullRow", the words the Go SDK's test of UpdateTable checks
// (tablestore/api_test.go, TestUpdateAndDescribeTable); the rest of it is this server's.
func (st *store) updateTable(req *otsprotocol.UpdateTableRequest) (proto.Message, error) {
	if err := checkUpdateTableRequest(req); err != nil {
		return nil, err
	}
	capacity := req.GetReservedThroughput().GetCapacityUnit()
	st.mu.Lock()
	defer st.unlock()
	t, err := st.table(req.GetTableName())
	if err != nil {
		return nil, err
	}
	if err := t.checkStreamSpec(req.GetStreamSpec()); err != nil {
		return nil, err
	}
	now := st.now()
	t.updateThroughput(capacity, now)
	if options := req.GetTableOptions(); options != nil {
		t.takeOptions(options)
		t.dropVersionsBeyondMax(st.journal)
	}
	st.setStream(t, req.GetStreamSpec(), now)
	st.journal.putTable(t)
	return &otsprotocol.UpdateTableResponse{
		ReservedThroughputDetails: t.reservedThroughputDetails(),
		TableOptions:              t.options(),
		StreamDetails:             t.streamDetails(),
	}, nil
}

// checkUpdateTableRequest checks what an UpdateTable request may ask, before the table is
// looked up.
func checkUpdateTableRequest(req *otsprotocol.UpdateTableRequest) error {
	capacity := req.GetReservedThroughput().GetCapacityUnit()
	switch {
	case req.ReservedThroughput == nil && req.TableOptions == nil && req.StreamSpec == nil:
		return parameterInvalid("Nothing to update: give reserved_throughput, table_options or stream_spec.")
	case req.ReservedThroughput != nil && (capacity == nil || capacity.Read == nil && capacity.Write == nil):
		return parameterInvalid("At least one of read and write must be given in the capacity_unit of reserved_throughput.")
	case capacity.GetRead() < 0 || capacity.GetWrite() < 0:
		return parameterInvalid("Reserved throughput must not be negative.")
	case req.TableOptions != nil && req.TableOptions.UpdateFullRow != nil:
		return parameterInvalid("The table options of UpdateTable must not contain updateFullRow: it cannot be modified after the table is created.")
	}
	return checkTableOptions(req.GetTableOptions())
}

// updateThroughput takes the read and write capacity units that are set, noting when
// the reservation was last raised or lowered. A nil capacity changes nothing.
func (t *table) updateThroughput(capacity *otsprotocol.CapacityUnit, now time.Time) {
	if capacity == nil {
		return
	}
	read, write := t.reservedRead, t.reservedWrite
	if capacity.Read != nil {
		read = capacity.GetRead()
	}
	if capacity.Write != nil {
		write = capacity.GetWrite()
	}
	if read > t.reservedRead || write > t.reservedWrite {
		t.throughputRaisedAt = now
	}
	if read < t.reservedRead || write < t.reservedWrite {
		t.throughputLoweredAt = now
	}
	t.reservedRead, t.reservedWrite = read, write
}

// dropVersionsBeyondMax keeps at most max_versions of the newest versions of every
// column, recording the rows that lose versions in j. Stored rows are never changed: a row
// that loses versions is replaced by a copy.
func (t *table) dropVersionsBeyondMax(j *journal) {
	var trimmedRows []*storedRow
	t.ascend(nil, func(r *storedRow) bool {
		var trimmed *storedRow
		for name, versions := range r.columns {
			if len(versions) > int(t.maxVersions) {
				if trimmed == nil {
					trimmed = r.clone()
				}
				trimmed.columns[name] = trimmed.columns[name][:t.maxVersions]
			}
		}
		if trimmed != nil {
			trimmedRows = append(trimmedRows, trimmed)
		}
		return true
	})
	for _, r := range trimmedRows {
		t.set(r.primaryKey, r)
		j.putRow(t, r.primaryKey, r)
	}
}

// reservedThroughputDetails are the table's reserved capacity units and when they were
// last raised and lowered (s since the Unix epoch).
func (t *table) reservedThroughputDetails() *otsprotocol.ReservedThroughputDetails {
	details := &otsprotocol.ReservedThroughputDetails{
		CapacityUnit:     &otsprotocol.CapacityUnit{Read: proto.Int32(t.reservedRead), Write: proto.Int32(t.reservedWrite)},
		LastIncreaseTime: proto.Int64(t.throughputRaisedAt.Unix()),
	}
	if !t.throughputLoweredAt.IsZero() {
		details.LastDecreaseTime = proto.Int64(t.throughputLoweredAt.Unix())
	}
	return details
}

// options are the table's TableOptions, all set.
func (t *table) options() *otsprotocol.TableOptions {
	return &otsprotocol.TableOptions{
		TimeToLive:                proto.Int32(t.timeToLive),
		MaxVersions:               proto.Int32(t.maxVersions),
		DeviationCellVersionInSec: proto.Int64(t.deviationSec),
		AllowUpdate:               proto.Bool(t.allowUpdate),
		UpdateFullRow:             proto.Bool(t.updateFullRow),
	}
}

// meta is the table's TableMeta: primary key columns in schema order, with the
// AUTO_INCREMENT option where set, and the predefined columns.
func (t *table) meta() *otsprotocol.TableMeta {
	meta := &otsprotocol.TableMeta{TableName: proto.String(t.name), DefinedColumn: t.definedColumns}
	for _, column := range t.schema {
		pk := &otsprotocol.PrimaryKeySchema{Name: proto.String(column.name), Type: column.typ.Enum()}
		if column.autoIncrement {
			pk.Option = otsprotocol.PrimaryKeyOption_AUTO_INCREMENT.Enum()
		}
		meta.PrimaryKey = append(meta.PrimaryKey, pk)
	}
	return meta
}
