package ots

import (
	"fmt"
	"math"
)

// Tablestore's limits on what one row may hold (Tablestore "Limits", wide column model,
// https://www.alibabacloud.com/help/en/tablestore/limits-on-widecolumn-model). A row that
// breaks one is refused by every request that carries it, however often it is sent.
const (
	// MaxPrimaryKeyValueBytes bounds a STRING or BINARY primary key column value: 1 KB.
	MaxPrimaryKeyValueBytes = 1 << 10
	// MaxAttributeValueBytes bounds a STRING or BINARY attribute column value: 2 MB.
	MaxAttributeValueBytes = 2 << 20
	// MaxNameBytes bounds the name of a table or a column: 255 bytes.
	MaxNameBytes = 255
)

// IsName reports whether s is a name Tablestore gives tables and primary key columns: 1 to
// MaxNameBytes bytes of [A-Za-z0-9_], not starting with a digit.
func IsName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameBytes || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// CheckPrimaryKeyColumn returns why Tablestore would refuse col in a row's primary key, or
// nil: a name that is not a name ([IsName]), a value that is not INTEGER, STRING or BINARY,
// or a STRING or BINARY value longer than MaxPrimaryKeyValueBytes. The message names the
// column and quotes the value briefly ([Value.Brief]).
func CheckPrimaryKeyColumn(col PrimaryKeyColumn) error {
	if !IsName(col.ColumnName) {
		return fmt.Errorf("primary key column name %q is not a Tablestore name (1-%d bytes of [A-Za-z0-9_], not starting with a digit)", Brief(col.ColumnName), MaxNameBytes)
	}
	switch v := col.Value; v.Kind() {
	case KindInteger:
		return nil
	case KindString, KindBinary:
		if n := v.DataSize(); n > MaxPrimaryKeyValueBytes {
			return fmt.Errorf("primary key column %q holds %s %s, longer than Tablestore's limit of %d bytes for a primary key value", col.ColumnName, v.Kind(), v.Brief(), MaxPrimaryKeyValueBytes)
		}
		return nil
	default:
		return fmt.Errorf("primary key column %q holds %s; only INTEGER, STRING and BINARY are allowed", col.ColumnName, v.Kind())
	}
}

// CheckAttribute returns why Tablestore would refuse the attribute column name with value v
// (none: a cell that deletes the column) in a row whose primary key is pk, or nil: a name
// that is empty, longer than MaxNameBytes or the name of a primary key column, a DOUBLE NaN
// or infinity, or a STRING or BINARY value longer than MaxAttributeValueBytes. Attribute
// names are otherwise free: the service accepts names such as "price-2", which IsName does
// not. The message names the column and quotes the value briefly ([Value.Brief]).
func CheckAttribute(name string, v Value, pk []PrimaryKeyColumn) error {
	if len(name) == 0 || len(name) > MaxNameBytes {
		return fmt.Errorf("column name %q (%d bytes) is not 1-%d bytes long", Brief(name), len(name), MaxNameBytes)
	}
	for _, col := range pk {
		if col.ColumnName == name {
			return fmt.Errorf("column %q has the name of a primary key column", name)
		}
	}
	switch v.Kind() {
	case KindDouble:
		if f, _ := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("column %q holds DOUBLE %s; Tablestore stores no NaN or infinity", name, v.Brief())
		}
	case KindString, KindBinary:
		if n := v.DataSize(); n > MaxAttributeValueBytes {
			return fmt.Errorf("column %q holds %s %s, longer than Tablestore's limit of %d bytes for an attribute value", name, v.Kind(), v.Brief(), MaxAttributeValueBytes)
		}
	}
	return nil
}

// DataSize is the size of v's data in bytes, as Tablestore counts a row's data size: 8 for
// an INTEGER or a DOUBLE, 1 for a BOOLEAN, the length of a STRING (UTF-8) or a BINARY, 0 for
// no value (Tablestore documentation, "Storage usage",
// https://www.alibabacloud.com/help/en/tablestore/storage-usage: a column's data size is its
// name's length plus its value's size).
func (v Value) DataSize() int {
	switch v.kind {
	case KindInteger, KindDouble:
		return 8
	case KindBoolean:
		return 1
	}
	return len(v.text)
}
