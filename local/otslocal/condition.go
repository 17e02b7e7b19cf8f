package otslocal

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// Column conditions of writes and filters of reads. Both arrive as a protobuf
// otsprotocol.Filter: a write's Condition.column_condition and a read's filter field
// (Tablestore API reference: Filter, SingleColumnValueFilter, CompositeColumnValueFilter,
// ColumnPaginationFilter; Go SDK tablestore/util.go NewSingleColumnValueFilter,
// NewCompositeFilter, NewPaginationFilter).
//
// Semantics, from the Tablestore filter documentation
// (https://www.alibabacloud.com/help/doc-detail/67671.htm and "Configure a filter"):
//   - a filter sees the row as the read selected it: columns outside columns_to_get, and
//     versions outside the time range or max versions, are missing to it;
//   - latest_version_only compares the newest selected version only; otherwise the
//     condition holds when any selected version meets it;
//   - filter_if_missing makes a row without the column fail the condition; otherwise such
//     a row passes (the Java, Python and .NET SDKs send filter_if_missing = !passIfMissing);
//   - NOT takes one sub-filter, AND and OR two or more; a filter holds at most 10
//     single column conditions;
//   - a condition may name a primary key column as well as an attribute column.
//
// Values of different types are never equal and never ordered, so between them only
// NOT_EQUAL holds. The service's behaviour here is not documented; the SDKs refuse to
// compare values of different types at all (Java SDK model/ColumnValue.java compareTo:
// "The type of column to compare must be the same.").

const (
	// maxFilterConditions is the number of single column conditions one filter may hold.
	maxFilterConditions = 10
	// maxFilterDepth bounds how deeply composite filters nest. The service documents no
	// such limit; 10 conditions need at most 10 levels unless NOTs are stacked, and the
	// bound keeps a hostile request from recursing without end.
	maxFilterDepth = 32
)

// Errors decoding a filter, verbatim from the service (Tablestore error codes, "filter").
var (
	errDeserializeFilter           = parameterInvalid("Deserialize filter failed.")
	errDeserializeRelationFilter   = parameterInvalid("Deserialize relation filter failed.")
	errDeserializeCompositeFilter  = parameterInvalid("Deserialize composite filter failed.")
	errDeserializePaginationFilter = parameterInvalid("Deserialize column pagination filter failed.")
)

// valueCondition is a test on the column values of one row: a SingleColumnValueFilter or
// a CompositeColumnValueFilter.
type valueCondition interface {
	holds(values columnValues) bool
}

// columnValues looks up a column of the row under test by name and returns its values,
// newest first; none when the row lacks the column.
type columnValues func(name string) []columnValue

// singleColumnCondition compares one column with a constant: "column <comparator> value".
type singleColumnCondition struct {
	column            string
	comparator        otsprotocol.ComparatorType
	value             columnValue
	filterIfMissing   bool // a row without the column fails; otherwise it passes
	latestVersionOnly bool // only the newest value is compared; otherwise any value may match
}

func (c singleColumnCondition) holds(values columnValues) bool {
	versions := values(c.column)
	if len(versions) == 0 {
		return !c.filterIfMissing
	}
	if c.latestVersionOnly {
		versions = versions[:1]
	}
	return slices.ContainsFunc(versions, func(v columnValue) bool { return satisfies(v, c.comparator, c.value) })
}

// compositeCondition combines conditions with NOT (exactly one), AND or OR (two or more).
type compositeCondition struct {
	operator   otsprotocol.LogicalOperator
	conditions []valueCondition
}

func (c compositeCondition) holds(values columnValues) bool {
	switch c.operator {
	case otsprotocol.LogicalOperator_LO_NOT:
		return !c.conditions[0].holds(values)
	case otsprotocol.LogicalOperator_LO_AND:
		for _, sub := range c.conditions {
			if !sub.holds(values) {
				return false
			}
		}
		return true
	default: // LO_OR; the parser accepts no other operator
		for _, sub := range c.conditions {
			if sub.holds(values) {
				return true
			}
		}
		return false
	}
}

// satisfies reports whether "stored <comparator> operand" holds.
func satisfies(stored columnValue, comparator otsprotocol.ComparatorType, operand columnValue) bool {
	order, comparable := compareColumnValues(stored, operand)
	switch comparator {
	case otsprotocol.ComparatorType_CT_EQUAL:
		return comparable && order == 0
	case otsprotocol.ComparatorType_CT_NOT_EQUAL:
		return !comparable || order != 0
	case otsprotocol.ComparatorType_CT_GREATER_THAN:
		return comparable && order > 0
	case otsprotocol.ComparatorType_CT_GREATER_EQUAL:
		return comparable && order >= 0
	case otsprotocol.ComparatorType_CT_LESS_THAN:
		return comparable && order < 0
	default: // CT_LESS_EQUAL; the parser accepts no other comparator
		return comparable && order <= 0
	}
}

// compareColumnValues orders two values of the same type: INTEGER as int64, DOUBLE as
// float64, BOOLEAN false before true, STRING and BINARY byte-wise. Values of different
// types are not comparable.
func compareColumnValues(a, b columnValue) (order int, comparable bool) {
	if a.typ != b.typ {
		return 0, false
	}
	switch a.typ {
	case vtInteger:
		return cmp.Compare(a.integer(), b.integer()), true
	case vtDouble:
		return cmp.Compare(math.Float64frombits(a.bits), math.Float64frombits(b.bits)), true
	case vtString, vtBlob:
		return bytes.Compare(a.bytes, b.bytes), true
	default: // vtBoolean; stored values and condition operands have no other type
		return cmp.Compare(a.bits, b.bits), true
	}
}

// readFilter is the filter of a GetRow, BatchGetRow or GetRange: a condition the rows
// must meet, or a page of each row's attribute columns. The zero value passes every row
// unchanged.
type readFilter struct {
	condition valueCondition // nil: rows are not tested
	page      *columnPage    // nil: every selected column is returned
}

// columnPage is a ColumnPaginationFilter: of a row's attribute columns in name order,
// skip offset and return the next limit, each with all its selected versions.
type columnPage struct {
	offset int
	limit  int
}

// apply filters one row a read selected: false when the row fails the condition,
// otherwise the row with the page of its attribute columns.
func (f readFilter) apply(r row) (row, bool) {
	if f.condition != nil && !f.condition.holds(rowColumnValues(r)) {
		return row{}, false
	}
	if f.page != nil {
		r.cells = f.page.of(r.cells)
	}
	return r, true
}

// of returns the cells of the page's columns; cells are grouped by column name in
// ascending order.
func (p columnPage) of(cells []cell) []cell {
	var paged []cell
	column := -1
	for i, c := range cells {
		if i == 0 || c.name != cells[i-1].name {
			column++
		}
		if column >= p.offset && column-p.offset < p.limit {
			paged = append(paged, c)
		}
	}
	return paged
}

// rowColumnValues looks up the columns of a row a read selected: its primary key cells
// and its attribute cells, versions newest first.
func rowColumnValues(r row) columnValues {
	return func(name string) []columnValue {
		for _, c := range r.primaryKey {
			if c.name == name {
				return []columnValue{c.value}
			}
		}
		var values []columnValue
		for _, c := range r.cells {
			if c.name == name {
				values = append(values, c.value)
			}
		}
		return values
	}
}

// storedColumnValues looks up the columns of a stored row as a column condition sees
// them: the primary key columns and the live versions of the attribute columns. A
// missing row (nil) has no columns.
func (t *table) storedColumnValues(r *storedRow, now time.Time) columnValues {
	return func(name string) []columnValue {
		if r == nil {
			return nil
		}
		for i, column := range t.schema {
			if column.name == name {
				return []columnValue{r.primaryKey[i]}
			}
		}
		live := t.liveVersions(r.columns[name], now)
		values := make([]columnValue, len(live))
		for i, v := range live {
			values[i] = v.value
		}
		return values
	}
}

// parseReadFilter decodes the filter of a read; empty data is no filter. A malformed
// filter is 400 OTSParameterInvalid.
func parseReadFilter(data []byte) (readFilter, error) {
	if len(data) == 0 {
		return readFilter{}, nil
	}
	filter, err := unmarshalFilter(data)
	if err != nil {
		return readFilter{}, err
	}
	if filter.GetType() == otsprotocol.FilterType_FT_COLUMN_PAGINATION {
		page, err := parseColumnPage(filter.Filter)
		return readFilter{page: page}, err
	}
	var p filterParser
	condition, err := p.condition(filter, 1)
	return readFilter{condition: condition}, err
}

// parseColumnCondition decodes the column condition of a write; empty data is none. A
// ColumnPaginationFilter selects columns instead of testing them and is no condition:
// 400 OTSParameterInvalid "Invalid condition:FT_COLUMN_PAGINATION.", in the format of
// the service's "Invalid condition:{Condition}." (Tablestore error codes).
func parseColumnCondition(data []byte) (valueCondition, error) {
	if len(data) == 0 {
		return nil, nil
	}
	filter, err := unmarshalFilter(data)
	if err != nil {
		return nil, err
	}
	if filter.GetType() == otsprotocol.FilterType_FT_COLUMN_PAGINATION {
		return nil, parameterInvalid("Invalid condition:%s.", filter.GetType())
	}
	var p filterParser
	return p.condition(filter, 1)
}

func unmarshalFilter(data []byte) (*otsprotocol.Filter, error) {
	var filter otsprotocol.Filter
	if err := proto.Unmarshal(data, &filter); err != nil {
		return nil, errDeserializeFilter
	}
	return &filter, nil
}

// filterParser decodes a tree of value conditions and counts its single column
// conditions.
type filterParser struct {
	conditions int
}

// condition decodes a single column or composite filter at the given nesting depth
// (1 for the top). A ColumnPaginationFilter can only stand alone, so inside a
// composite filter it is an invalid sub-filter.
func (p *filterParser) condition(filter *otsprotocol.Filter, depth int) (valueCondition, error) {
	if depth > maxFilterDepth {
		return nil, parameterInvalid("The depth of filter exceeds the max:%d.", maxFilterDepth)
	}
	switch filter.GetType() {
	case otsprotocol.FilterType_FT_SINGLE_COLUMN_VALUE:
		p.conditions++
		if p.conditions > maxFilterConditions {
			return nil, parameterInvalid("The count of filter exceeds the max:%d.", maxFilterConditions)
		}
		return parseSingleColumnCondition(filter.Filter)
	case otsprotocol.FilterType_FT_COMPOSITE_COLUMN_VALUE:
		return p.composite(filter.Filter, depth)
	case otsprotocol.FilterType_FT_COLUMN_PAGINATION:
		return nil, parameterInvalid("Invalid type of sub-filter: %s.", filter.GetType())
	}
	return nil, parameterInvalid("Invalid type of filter: %s.", filter.GetType())
}

func (p *filterParser) composite(data []byte, depth int) (valueCondition, error) {
	var msg otsprotocol.CompositeColumnValueFilter
	if err := proto.Unmarshal(data, &msg); err != nil {
		return nil, errDeserializeCompositeFilter
	}
	switch msg.GetCombinator() {
	case otsprotocol.LogicalOperator_LO_NOT:
		if len(msg.SubFilters) != 1 {
			return nil, parameterInvalid("Invalid NOT operator: the number of sub-filters must be 1.")
		}
	case otsprotocol.LogicalOperator_LO_AND, otsprotocol.LogicalOperator_LO_OR:
		if len(msg.SubFilters) < 2 {
			return nil, parameterInvalid("Invalid AND/OR operator: the number of sub-filters must be 2.")
		}
	default:
		return nil, parameterInvalid("Invalid logical operator: %s.", msg.GetCombinator())
	}
	composite := compositeCondition{operator: msg.GetCombinator()}
	for _, sub := range msg.SubFilters {
		condition, err := p.condition(sub, depth+1)
		if err != nil {
			return nil, err
		}
		composite.conditions = append(composite.conditions, condition)
	}
	return composite, nil
}

// parseSingleColumnCondition decodes a SingleColumnValueFilter. Its value_trans_rule
// (regular expression extraction and cast) is not implemented and is refused.
func parseSingleColumnCondition(data []byte) (valueCondition, error) {
	var msg otsprotocol.SingleColumnValueFilter
	if err := proto.Unmarshal(data, &msg); err != nil {
		return nil, errDeserializeRelationFilter
	}
	if msg.ValueTransRule != nil {
		return nil, unsupported("value_trans_rule")
	}
	comparator := msg.GetComparator()
	if comparator < otsprotocol.ComparatorType_CT_EQUAL || comparator > otsprotocol.ComparatorType_CT_LESS_EQUAL {
		return nil, parameterInvalid("Invalid relation operator: %s.", comparator)
	}
	value, err := decodeConditionValue(msg.ColumnValue)
	if err != nil {
		return nil, err
	}
	return singleColumnCondition{
		column:            msg.GetColumnName(),
		comparator:        comparator,
		value:             value,
		filterIfMissing:   msg.GetFilterIfMissing(),
		latestVersionOnly: msg.GetLatestVersionOnly(),
	}, nil
}

// decodeConditionValue decodes a condition's operand: a PlainBuffer value without its
// length prefix, "valueType payload" (Go SDK tablestore/util.go
// WriteCellValueWithoutLengthPrefix), of type INTEGER, DOUBLE, BOOLEAN, STRING or BINARY.
func decodeConditionValue(data []byte) (columnValue, error) {
	prefixed := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(data)), uint32(len(data)))
	d := decoder{buf: append(prefixed, data...)}
	value, err := d.readValue()
	if err != nil {
		return columnValue{}, errDeserializeRelationFilter
	}
	switch value.typ {
	case vtInteger, vtDouble, vtBoolean, vtString, vtBlob:
		return value, nil
	}
	return columnValue{}, errDeserializeRelationFilter
}

// parseColumnPage decodes a ColumnPaginationFilter: offset ≥ 0, limit > 0.
func parseColumnPage(data []byte) (*columnPage, error) {
	var msg otsprotocol.ColumnPaginationFilter
	if err := proto.Unmarshal(data, &msg); err != nil {
		return nil, errDeserializePaginationFilter
	}
	if msg.GetOffset() < 0 {
		return nil, parameterInvalid("Offset in ColumnPaginationFilter must be greater than or equal to 0.")
	}
	if msg.GetLimit() <= 0 {
		return nil, parameterInvalid("Limit in ColumnPaginationFilter must be greater than 0.")
	}
	return &columnPage{offset: int(msg.GetOffset()), limit: int(msg.GetLimit())}, nil
}
