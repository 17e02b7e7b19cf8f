package otslocal

import (
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
)

// rowWrite is one row change of PutRow, UpdateRow, DeleteRow or BatchWriteRow.
type rowWrite struct {
	operation     otsprotocol.OperationType // PUT, UPDATE or DELETE
	change        row                       // the decoded PlainBuffer row change
	expectation   otsprotocol.RowExistenceExpectation
	condition     valueCondition // the column condition; nil when there is none
	returnContent *otsprotocol.ReturnContent
}

// writeTxn stages the rows one write request changes. Later rows of the request see the
// staged state, and commit stores everything at once; dropping the txn discards it. The
// caller holds the store's write lock from the first apply to commit.
type writeTxn struct {
	now     time.Time
	staged  map[*table]map[string]stagedRow
	records []*pendingRecord // Stream records of the applied changes in order, appended at commit
}

type stagedRow struct {
	primaryKey primaryKey
	row        *storedRow // nil: the row is deleted
}

func newWriteTxn(now time.Time) *writeTxn {
	return &writeTxn{now: now, staged: map[*table]map[string]stagedRow{}}
}

func (tx *writeTxn) current(t *table, pk primaryKey) *storedRow {
	if staged, ok := tx.staged[t][pk.key()]; ok {
		return staged.row
	}
	return t.get(pk)
}

func (tx *writeTxn) stage(t *table, pk primaryKey, r *storedRow) {
	if tx.staged[t] == nil {
		tx.staged[t] = map[string]stagedRow{}
	}
	tx.staged[t][pk.key()] = stagedRow{primaryKey: pk, row: r}
}

// commit stores the staged rows and appends the records, recording both in j, and the
// auto-increment counter of each table that has one.
func (tx *writeTxn) commit(j *journal) {
	for t, rows := range tx.staged {
		for _, staged := range rows {
			t.set(staged.primaryKey, staged.row)
			j.putRow(t, staged.primaryKey, staged.row)
		}
		if t.hasAutoIncrement() {
			j.putTable(t)
		}
	}
	appendRecords(tx.records, tx.now, j)
}

// apply checks one row change and stages its result. It returns the PlainBuffer row
// the return content asks for, or nil. Checks run in the service's order: primary key,
// cells and return content first, then the row existence condition and the column
// condition on the current row.
func (tx *writeTxn) apply(t *table, w rowWrite) ([]byte, error) {
	pk, err := t.primaryKeyOf(w.change.primaryKey, keyUseOf(w.operation))
	if err != nil {
		return nil, err
	}
	if err := t.checkChange(w, tx.now); err != nil {
		return nil, err
	}
	if err := checkReturnContent(w); err != nil {
		return nil, err
	}
	if pk.hasPlaceholder() {
		if w.expectation != otsprotocol.RowExistenceExpectation_IGNORE {
			return nil, parameterInvalid("Invalid expect: %s when modify row with pk auto increment.", w.expectation)
		}
		if w.condition != nil {
			return nil, parameterInvalid("Can't set condition when modify row with pk auto increment.")
		}
		pk = t.assignAutoIncrement(pk)
	}
	existing := tx.current(t, pk)
	if err := checkRowExistence(w.expectation, existing != nil); err != nil {
		return nil, err
	}
	if err := t.checkColumnCondition(w.condition, existing, tx.now); err != nil {
		return nil, err
	}
	changed, err := t.changedRow(existing, pk, w, tx.now)
	if err != nil {
		return nil, err
	}
	record, err := t.recordOf(pk, existing, w, tx.now)
	if err != nil {
		return nil, err
	}
	tx.stage(t, pk, changed)
	tx.records = append(tx.records, record)
	return t.returnedRow(w, pk, changed, tx.now), nil
}

func keyUseOf(operation otsprotocol.OperationType) keyUse {
	switch operation {
	case otsprotocol.OperationType_PUT:
		return keyForPut
	case otsprotocol.OperationType_UPDATE:
		return keyForUpdate
	default:
		return keyForDelete
	}
}

// assignAutoIncrement replaces the AUTO_INCREMENT placeholder with the next value.
func (t *table) assignAutoIncrement(pk primaryKey) primaryKey {
	filled := slices.Clone(pk)
	for i, v := range filled {
		if v.typ == vtAutoIncrement {
			filled[i] = integerValue(t.nextAutoIncrementValue())
		}
	}
	return filled
}

// checkRowExistence applies the RowExistenceExpectation of a condition
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/rowexistenceexpectation).
func checkRowExistence(expectation otsprotocol.RowExistenceExpectation, exists bool) error {
	switch expectation {
	case otsprotocol.RowExistenceExpectation_IGNORE:
		return nil
	case otsprotocol.RowExistenceExpectation_EXPECT_EXIST:
		if !exists {
			return errConditionCheckFail
		}
		return nil
	case otsprotocol.RowExistenceExpectation_EXPECT_NOT_EXIST:
		if exists {
			return errConditionCheckFail
		}
		return nil
	}
	return parameterInvalid("Invalid row-existence expectation: %d.", expectation)
}

// checkColumnCondition tests a write's column condition on the current row, nil when
// the row does not exist; a row that fails it is 403 OTSConditionCheckFail "Condition
// check failed." (https://www.alibabacloud.com/help/en/tablestore/developer-reference/condition).
// A nil condition always holds.
func (t *table) checkColumnCondition(condition valueCondition, current *storedRow, now time.Time) error {
	if condition == nil || condition.holds(t.storedColumnValues(current, now)) {
		return nil
	}
	return errConditionCheckFail
}

// checkChange checks the row change's shape and cells for its operation.
func (t *table) checkChange(w rowWrite, now time.Time) error {
	cells := w.change.cells
	if len(cells) > maxColumnsPerWrite {
		return parameterInvalid("The number of attribute columns exceeds the limit, limit count:%d, column count: %d.",
			maxColumnsPerWrite, len(cells))
	}
	switch w.operation {
	case otsprotocol.OperationType_PUT:
		if w.change.deleteMarker {
			return parameterInvalid("Invalid put row request: RowDeleteMarker is not allowed.")
		}
		return t.checkCells(cells, now, t.checkPutCell)
	case otsprotocol.OperationType_UPDATE:
		if !t.allowUpdate {
			return parameterInvalid("UpdateRow is not allowed on table '%s': its allow_update option is false.", t.name)
		}
		if w.change.deleteMarker {
			return parameterInvalid("Invalid update row request: RowDeleteMarker is not allowed.")
		}
		if len(cells) == 0 {
			return parameterInvalid("Invalid update row request: missing cells in request.")
		}
		return t.checkCells(cells, now, t.checkUpdateCell)
	case otsprotocol.OperationType_DELETE:
		if !w.change.deleteMarker {
			return parameterInvalid("Invalid request of delete row: missing RowDeleteMarker in request.")
		}
		if len(cells) > 0 {
			return parameterInvalid("Invalid request of delete row: attribute columns are not allowed.")
		}
		return nil
	}
	return parameterInvalid("Invalid operation type: %d.", w.operation)
}

func (t *table) checkCells(cells []cell, now time.Time, checkCell func(cell, time.Time) error) error {
	for _, c := range cells {
		if err := t.checkColumnName(c.name); err != nil {
			return err
		}
		if err := checkCell(c, now); err != nil {
			return err
		}
	}
	return nil
}

// checkColumnName checks an attribute column name: 1–255 bytes, not a primary key name.
// Attribute names are otherwise free (the service accepts names such as "price-2").
func (t *table) checkColumnName(name string) error {
	if len(name) == 0 || len(name) > maxNameBytes {
		return parameterInvalid("Invalid column name: '%s', its length must be in [1, %d] bytes.", name, maxNameBytes)
	}
	for _, column := range t.schema {
		if column.name == name {
			return parameterInvalid("Duplicated attribute column name with primary key column: %s.", name)
		}
	}
	return nil
}

// checkPutCell: a PutRow cell carries a value, an optional timestamp and no op type.
func (t *table) checkPutCell(c cell, now time.Time) error {
	if c.hasOpType {
		return parameterInvalid("OpType cannot be given for column name:%s in PutRow.", c.name)
	}
	if !c.hasValue {
		return parameterInvalid("Column value must be given for column name:%s in PutRow.", c.name)
	}
	return t.checkWrittenValue(c, now)
}

// checkUpdateCell applies the per-type rules of UpdateRow cells
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/updaterow).
func (t *table) checkUpdateCell(c cell, now time.Time) error {
	if !c.hasOpType {
		if !c.hasValue {
			return parameterInvalid("Column value must be given when type is PUT, column name:%s.", c.name)
		}
		return t.checkWrittenValue(c, now)
	}
	switch c.opType {
	case opDeleteOneVersion, opDeleteAllVersions:
		if c.hasValue {
			return parameterInvalid("Column value cannot be given when type is DELETE_ONE_VERSION,DELETE_ALL_VERSION.")
		}
		if c.opType == opDeleteAllVersions {
			if c.hasTimestamp {
				return parameterInvalid("Timestamp cannot be given when type is DELETE_ALL_VERSION.")
			}
			return nil
		}
		if !c.hasTimestamp {
			return parameterInvalid("Timestamp must be given when type is DELETE_ONE_VERSION.")
		}
		return checkTimestampRange(c.timestamp)
	case opIncrement:
		if !c.hasValue || c.value.typ != vtInteger {
			return parameterInvalid("Increment value must be VT_INTEGER, column name:%s.", c.name)
		}
		if c.hasTimestamp {
			return parameterInvalid("Timestamp cannot be given when type is INCREMENT.")
		}
		return nil
	}
	return parameterInvalid("Invalid cell type: %d, column name:%s.", c.opType, c.name)
}

// checkWrittenValue checks a value written by PUT: its type and size, and its timestamp
// when the client gives one.
func (t *table) checkWrittenValue(c cell, now time.Time) error {
	if err := checkAttributeValue(c.name, c.value); err != nil {
		return err
	}
	if !c.hasTimestamp {
		return nil
	}
	if err := checkTimestampRange(c.timestamp); err != nil {
		return err
	}
	return t.checkDeviation(c, now)
}

func checkAttributeValue(name string, v columnValue) error {
	switch v.typ {
	case vtInteger, vtBoolean:
		return nil
	case vtDouble:
		f := math.Float64frombits(v.bits)
		if math.IsNaN(f) {
			return parameterInvalid("NaN can't be set to double value.")
		}
		if math.IsInf(f, 0) {
			return parameterInvalid("Infinity can't be set to double value.")
		}
		return nil
	case vtString, vtBlob:
		if len(v.bytes) > maxAttributeValueBytes {
			return parameterInvalid("The length of attribute column: '%s' exceeds the MaxLength:%d with CurrentLength:%d.",
				name, maxAttributeValueBytes, len(v.bytes))
		}
		if v.typ == vtString && !utf8.Valid(v.bytes) {
			return parameterInvalid("Value of column %s must be UTF8 encoding.", name)
		}
		return nil
	}
	return parameterInvalid("Invalid attribute column value type: %s, column name:%s.", valueTypeName(v.typ), name)
}

func checkTimestampRange(timestamp int64) error {
	if timestamp < 0 || timestamp >= maxTimestampMilliseconds {
		return parameterInvalid("Timestamp must be in range [0, INT64_MAX/1000).")
	}
	return nil
}

// checkDeviation accepts an explicit timestamp only within
// [max(now − deviation, now − TTL), now + deviation) seconds (Tablestore "Max versions
// and TTL", max version offset).
func (t *table) checkDeviation(c cell, now time.Time) error {
	seconds, nowSeconds := c.timestamp/1000, now.Unix()
	lowest := nowSeconds - t.deviationSec
	if t.timeToLive > 0 {
		lowest = max(lowest, nowSeconds-int64(t.timeToLive))
	}
	if seconds < lowest || seconds >= nowSeconds+t.deviationSec {
		return parameterInvalid("Invalid timestamp. Cell:%s.", c.name)
	}
	return nil
}

// changedRow computes the row after the change; nil means no row.
func (t *table) changedRow(existing *storedRow, pk primaryKey, w rowWrite, now time.Time) (*storedRow, error) {
	switch w.operation {
	case otsprotocol.OperationType_PUT:
		return t.replacedRow(pk, w.change.cells, now), nil
	case otsprotocol.OperationType_UPDATE:
		return t.updatedRow(existing, pk, w.change.cells, now)
	default:
		return nil, nil
	}
}

// replacedRow is PutRow's result: a new row holding exactly the given cells. A cell
// without a timestamp is written at the server's current time in ms.
func (t *table) replacedRow(pk primaryKey, cells []cell, now time.Time) *storedRow {
	r := &storedRow{primaryKey: pk, columns: map[string][]version{}}
	for _, c := range cells {
		r.columns[c.name] = putVersion(r.columns[c.name], version{timestampOf(c, now), c.value}, t.maxVersions)
	}
	return r
}

// updatedRow is UpdateRow's result. It creates the row when absent unless the change
// only deletes, in which case no row is created (Tablestore Python SDK tests
// row_op_test.py test_all_delete_in_update). A row stays even when all its columns are
// deleted. On a table with update_full_row, the columns the change does not name are
// written again too (fillFullRow).
func (t *table) updatedRow(existing *storedRow, pk primaryKey, cells []cell, now time.Time) (*storedRow, error) {
	var r *storedRow
	switch {
	case existing != nil:
		r = existing.clone()
	case writesValue(cells):
		r = &storedRow{primaryKey: pk, columns: map[string][]version{}}
	default:
		return nil, nil
	}
	for _, c := range cells {
		if err := t.applyUpdateCell(r, c, now); err != nil {
			return nil, err
		}
	}
	if t.updateFullRow {
		t.fillFullRow(r, cells, now)
	}
	return r, nil
}

// fillFullRow writes, on a table with update_full_row, each column of the row that the
// UpdateRow's cells do not name again: its newest live value at the version the update
// writes. "When updating partial columns, the version number of the original columns
// will automatically be filled into the row ... consistent with the version numbers of
// pk and a" (Java SDK model/TableOptions.java, updateFullRow). The service's choice when
// an update writes several versions is not documented; here it is the newest the update
// writes, and the server time when it writes none (it only deletes). Columns TTL hides
// stay hidden. The Stream record of the update shows the update's own cells.
func (t *table) fillFullRow(r *storedRow, cells []cell, now time.Time) {
	written := int64(math.MinInt64)
	for _, c := range cells {
		if c.writesValue() { // a PUT at its timestamp or the server time, an INCREMENT at the server time
			written = max(written, timestampOf(c, now))
		}
	}
	if written == math.MinInt64 {
		written = now.UnixMilli()
	}
	for name, versions := range r.columns {
		if slices.ContainsFunc(cells, func(c cell) bool { return c.name == name }) {
			continue
		}
		if live := t.liveVersions(versions, now); len(live) > 0 {
			r.columns[name] = putVersion(versions, version{written, live[0].value}, t.maxVersions)
		}
	}
}

func writesValue(cells []cell) bool {
	return slices.ContainsFunc(cells, cell.writesValue)
}

// writesValue reports whether an UpdateRow cell writes a value: a PUT or an INCREMENT.
func (c cell) writesValue() bool {
	return !c.hasOpType || c.opType == opIncrement
}

func (t *table) applyUpdateCell(r *storedRow, c cell, now time.Time) error {
	versions := r.columns[c.name]
	switch {
	case !c.hasOpType:
		versions = putVersion(versions, version{timestampOf(c, now), c.value}, t.maxVersions)
	case c.opType == opDeleteAllVersions:
		versions = nil
	case c.opType == opDeleteOneVersion:
		versions = deleteVersion(versions, c.timestamp)
	case c.opType == opIncrement:
		sum, err := t.incremented(c, versions, now)
		if err != nil {
			return err
		}
		versions = putVersion(versions, version{now.UnixMilli(), integerValue(sum)}, t.maxVersions)
	}
	if len(versions) == 0 {
		delete(r.columns, c.name)
	} else {
		r.columns[c.name] = versions
	}
	return nil
}

// incremented adds the cell's delta to the column's latest live value; a missing
// column counts as 0.
func (t *table) incremented(c cell, versions []version, now time.Time) (int64, error) {
	live := t.liveVersions(versions, now)
	if len(live) == 0 {
		return c.value.integer(), nil
	}
	latest := live[0].value
	if latest.typ != vtInteger {
		return 0, parameterInvalid("Column type mismatch, column name:%s, increment needs VT_INTEGER but the value is %s.",
			c.name, valueTypeName(latest.typ))
	}
	return latest.integer() + c.value.integer(), nil
}

func timestampOf(c cell, now time.Time) int64 {
	if c.hasTimestamp {
		return c.timestamp
	}
	return now.UnixMilli()
}

// checkReturnContent checks the return content against the operation: RT_PK for any
// write, RT_AFTER_MODIFY only for UpdateRow and only naming columns the change
// increments (Tablestore Java SDK functiontest IncrementRequest.testReturnColumnNames).
func checkReturnContent(w rowWrite) error {
	rc := w.returnContent
	switch rc.GetReturnType() {
	case otsprotocol.ReturnType_RT_NONE, otsprotocol.ReturnType_RT_PK:
		if len(rc.GetReturnColumnNames()) > 0 {
			return parameterInvalid("Return column names can only be given with RT_AFTER_MODIFY.")
		}
		return nil
	case otsprotocol.ReturnType_RT_AFTER_MODIFY:
		if w.operation != otsprotocol.OperationType_UPDATE {
			return parameterInvalid("Invalid return type: RT_AFTER_MODIFY.")
		}
		for _, name := range rc.GetReturnColumnNames() {
			if !slices.ContainsFunc(w.change.cells, func(c cell) bool { return c.name == name && c.hasOpType && c.opType == opIncrement }) {
				return parameterInvalid("Return column must be an increment column of the request, column name:%s.", name)
			}
		}
		return nil
	}
	return parameterInvalid("Invalid return type: %d.", rc.GetReturnType())
}

// returnedRow encodes what the return content asks for: the primary key (RT_PK), or
// the primary key plus the latest value of each named increment column (RT_AFTER_MODIFY).
func (t *table) returnedRow(w rowWrite, pk primaryKey, changed *storedRow, now time.Time) []byte {
	rc := w.returnContent
	switch rc.GetReturnType() {
	case otsprotocol.ReturnType_RT_PK:
		return encodeRows(row{primaryKey: pk.cells(t.schema)})
	case otsprotocol.ReturnType_RT_AFTER_MODIFY:
		names := slices.Sorted(slices.Values(rc.GetReturnColumnNames()))
		var cells []cell
		for _, name := range slices.Compact(names) {
			if live := t.liveVersions(changed.columns[name], now); len(live) > 0 {
				cells = append(cells, attributeCell(name, live[0]))
			}
		}
		return encodeRows(row{primaryKey: pk.cells(t.schema), cells: cells})
	}
	return nil
}

// attributeCell is a version as a read response cell: value and timestamp, no op type.
func attributeCell(name string, v version) cell {
	return cell{name: name, value: v.value, hasValue: true, timestamp: v.timestamp, hasTimestamp: true}
}
