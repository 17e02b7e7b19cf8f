package events

import (
	"errors"
	"fmt"

	"github.com/otsetl/otsetl/ots"
)

// Validate checks e against the rules of the trigger event format (Function Compute,
// "Tablestore trigger event format", and the Stream record model of the Tablestore Go SDK,
// tablestore/model.go StreamRecord and RecordColumn). Decode applies it to every event.
//
//   - Version is "Sync-v1".
//   - Every record's Type is PutRow, UpdateRow or DeleteRow, and Info.Timestamp (µs) is not
//     negative.
//   - PrimaryKey is not empty; every column has a name and an INTEGER, STRING or BINARY value.
//   - Every attribute column has a name and a Type of Put, DeleteOneVersion or
//     DeleteAllVersions. Put has a Value; DeleteOneVersion has a Timestamp and no Value;
//     DeleteAllVersions has neither. A Timestamp (ms) is not negative.
//   - A PutRow's cells are all Put; a DeleteRow has no Columns.
//
// The error is a *DecodeError naming the first record and field that break a rule; an
// event with no records is valid.
func (e *Event) Validate() error {
	if e == nil {
		return eventError(errors.New("nil event"))
	}
	if e.Version != Version {
		return &DecodeError{Record: -1, Field: "Version", Err: fmt.Errorf("unsupported version %q (want %q)", e.Version, Version)}
	}
	for i := range e.Records {
		if field, err := e.Records[i].validate(); err != nil {
			return &DecodeError{Record: i, Field: field, Err: err}
		}
	}
	return nil
}

// Validate checks one record against the rules of [Event.Validate]. The error is a
// *DecodeError naming the field at fault, without a record index (Record is -1).
func (r *Record) Validate() error {
	if field, err := r.validate(); err != nil {
		return &DecodeError{Record: -1, Field: field, Err: err}
	}
	return nil
}

// validate checks one record, returning the field at fault with the error.
func (r *Record) validate() (field string, err error) {
	if !r.Type.Valid() {
		return "Type", fmt.Errorf("unknown record type %q (want %s, %s or %s)", r.Type, PutRow, UpdateRow, DeleteRow)
	}
	if r.Info.Timestamp < 0 {
		return "Info.Timestamp", fmt.Errorf("negative timestamp %d", r.Info.Timestamp)
	}
	if len(r.PrimaryKey) == 0 {
		return "PrimaryKey", errors.New("no primary key columns")
	}
	for i, pk := range r.PrimaryKey {
		if field, err := validatePrimaryKeyColumn(pk, i); err != nil {
			return field, err
		}
	}
	if r.Type == DeleteRow && len(r.Columns) > 0 {
		return "Columns", fmt.Errorf("a %s carries no columns, got %d", DeleteRow, len(r.Columns))
	}
	for i, c := range r.Columns {
		if field, err := c.validate(i, r.Type); err != nil {
			return field, err
		}
	}
	return "", nil
}

// validatePrimaryKeyColumn checks the i-th primary key column.
func validatePrimaryKeyColumn(pk ots.PrimaryKeyColumn, i int) (field string, err error) {
	label := elementLabel("PrimaryKey", i, pk.ColumnName)
	if pk.ColumnName == "" {
		return label + ".ColumnName", errors.New("empty column name")
	}
	switch pk.Value.Kind() {
	case ots.KindInteger, ots.KindString, ots.KindBinary:
		return "", nil
	case ots.KindNone:
		return label, errors.New("missing Value")
	}
	return label, fmt.Errorf("%s is not a primary key type (want INTEGER, STRING or BINARY)", pk.Value.Kind())
}

// validate checks the i-th attribute column change of a record of type recordType.
func (c Column) validate(i int, recordType RecordType) (field string, err error) {
	if c.ColumnName == "" {
		return c.label(i) + ".ColumnName", errors.New("empty column name")
	}
	if !c.Type.Valid() {
		return c.label(i) + ".Type", fmt.Errorf("unknown column type %q (want %s, %s or %s)", c.Type, Put, DeleteOneVersion, DeleteAllVersions)
	}
	if recordType == PutRow && c.Type != Put {
		return c.label(i), fmt.Errorf("a %s writes only %s cells, got %s", PutRow, Put, c.Type)
	}
	if c.Timestamp != nil && *c.Timestamp < 0 {
		return c.label(i) + ".Timestamp", fmt.Errorf("negative timestamp %d", *c.Timestamp)
	}
	hasValue, hasTimestamp := !c.Value.IsNone(), c.Timestamp != nil
	switch {
	case c.Type == Put && !hasValue:
		return c.label(i), errors.New("a Put needs a Value")
	case c.Type == DeleteOneVersion && !hasTimestamp:
		return c.label(i), errors.New("a DeleteOneVersion needs a Timestamp")
	case c.Type != Put && hasValue:
		return c.label(i), fmt.Errorf("a %s carries no Value", c.Type)
	case c.Type == DeleteAllVersions && hasTimestamp:
		return c.label(i), fmt.Errorf("a %s carries no Timestamp", DeleteAllVersions)
	}
	return "", nil
}

// label names the i-th attribute column change in errors, e.g. `Columns[2] "level"`.
func (c Column) label(i int) string { return elementLabel("Columns", i, c.ColumnName) }
