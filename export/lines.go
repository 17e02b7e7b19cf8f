package export

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/transform"
)

// The opType of a `changes` line, as the Tablestore Stream reader writes it (DataX
// otsstreamreader, MultiVerModeRecordSender).
const (
	// OpPut (U) puts one version of a column: column, timestamp (unless the record's Put
	// had none), type and value.
	OpPut = "U"
	// OpDeleteOneVersion (DO) deletes the version at timestamp of a column.
	OpDeleteOneVersion = "DO"
	// OpDeleteAllVersions (DA) deletes every version of a column.
	OpDeleteAllVersions = "DA"
	// OpDeleteRow (DR) deletes the row. A PutRow is written as a DR followed by a U per
	// cell, since it replaces the row.
	OpDeleteRow = "DR"
)

// The op of a `rows` line: the function's decision for the result table (package
// transform, "Per key" in docs/design.md).
const (
	// RowPut replaces the result row with the line's columns (ots.PutRow).
	RowPut = "put"
	// RowDelete removes the result row (ots.DeleteRow).
	RowDelete = "delete"
	// RowUpdateIfExists applies the line's columns to the result row only if it exists; a
	// column without a value is deleted (ots.UpdateRowIfExists).
	RowUpdateIfExists = "update-if-exists"
)

// change is one line of `changes`: one cell change of a record, or a record's DR.
type change struct {
	pk        []ots.PrimaryKeyColumn
	op        string
	column    string    // absent on DR
	timestamp *int64    // ms; on U (when the Put had one) and DO
	value     ots.Value // on U
	// recordTime is the record's Info.Timestamp (µs), recordIndex its index in the batch,
	// cellIndex the line's index among the record's lines (the Stream reader's colIdx).
	recordTime             int64
	recordIndex, cellIndex int
}

// rowChange is one line of `rows`: the decision for one primary key.
type rowChange struct {
	pk      []ots.PrimaryKeyColumn
	op      string
	columns []ots.Cell // put: the projected row; update-if-exists: the changes (none: delete the column)
	// recordTime and recordIndex are those of the key's last record in the batch.
	recordTime  int64
	recordIndex int
}

// RecordError is an export's failure caused by the batch itself rather than by OSS: a record
// that the file format cannot hold. Retrying does not help.
type RecordError struct {
	// Index is the record's index in the batch.
	Index int
	// Err says why.
	Err error
}

// Error returns "record N: " and the reason.
func (e *RecordError) Error() string { return fmt.Sprintf("record %d: %v", e.Index, e.Err) }

// Unwrap returns the reason.
func (e *RecordError) Unwrap() error { return e.Err }

// lineEncoder appends the lines of one object, header first for CSV, to buf.
type lineEncoder struct {
	format     Format
	fileFormat FileFormat
	columns    []string // rows CSV: the header's attribute columns
	buf        []byte
	// CSV only: the primary key column names of the header, from the first line, which
	// every later line must have; and, for rows, each column's position in columns and the
	// values of the line being written by position.
	pkNames  []string
	columnAt map[string]int
	slots    []ots.Value
	present  []bool
}

// newLineEncoder returns the encoder of cfg's format and file format, appending to buf.
func newLineEncoder(cfg Config, buf []byte) *lineEncoder {
	e := &lineEncoder{format: cfg.Format, fileFormat: cfg.FileFormat, columns: cfg.Columns, buf: buf}
	if cfg.Format == Rows && cfg.FileFormat == CSV {
		e.columnAt = make(map[string]int, len(cfg.Columns))
		for i, c := range cfg.Columns {
			e.columnAt[c] = i
		}
		e.slots, e.present = make([]ots.Value, len(cfg.Columns)), make([]bool, len(cfg.Columns))
	}
	return e
}

// forEachChange calls emit with every `changes` line of ev, in order: a PutRow as DR then a
// U per cell, a DeleteRow as DR, an UpdateRow as its cells' U, DO and DA.
func forEachChange(ev *events.Event, emit func(*change) error) error {
	var c change
	for i := range ev.Records {
		rec := &ev.Records[i]
		c = change{pk: rec.PrimaryKey, recordTime: rec.Info.Timestamp, recordIndex: i}
		if rec.Type == events.PutRow || rec.Type == events.DeleteRow {
			c.op = OpDeleteRow
			if err := emit(&c); err != nil {
				return err
			}
			c.cellIndex++
		}
		for j := range rec.Columns {
			col := &rec.Columns[j]
			c.column, c.timestamp, c.value = col.ColumnName, col.Timestamp, ots.Value{}
			switch col.Type {
			case events.Put:
				c.op, c.value = OpPut, col.Value
			case events.DeleteOneVersion:
				c.op = OpDeleteOneVersion
			case events.DeleteAllVersions:
				c.op, c.timestamp = OpDeleteAllVersions, nil
			default:
				return &RecordError{Index: i, Err: fmt.Errorf("column %d has unknown type %q", j, col.Type)}
			}
			if err := emit(&c); err != nil {
				return err
			}
			c.cellIndex++
		}
	}
	return nil
}

// forEachRow calls emit with the `rows` line of every row change, in order: changes[i] is
// the writer's row change for muts[i], decided after the source reads (a put, a delete or
// an update-if-exists), and muts[i].Records are the records it folds.
func forEachRow(ev *events.Event, muts []transform.Mutation, changes []ots.RowChange, emit func(*rowChange) error) error {
	if len(muts) != len(changes) {
		return fmt.Errorf("export: %d row changes for %d mutations", len(changes), len(muts))
	}
	var r rowChange
	for i := range changes {
		c := &changes[i]
		r = rowChange{pk: c.PrimaryKey, columns: c.Columns}
		if records := muts[i].Records; len(records) > 0 {
			r.recordIndex = records[len(records)-1]
			r.recordTime = ev.Records[r.recordIndex].Info.Timestamp
		}
		switch c.Kind {
		case ots.PutRow:
			r.op = RowPut
		case ots.DeleteRow:
			r.op, r.columns = RowDelete, nil
		case ots.UpdateRowIfExists:
			r.op = RowUpdateIfExists
		default:
			return fmt.Errorf("export: a row change of kind %s has no rows line; decide it first (transform.Rule.Resolve)", c.Kind)
		}
		if err := emit(&r); err != nil {
			return err
		}
	}
	return nil
}

// change appends the line of c.
func (e *lineEncoder) change(c *change) error {
	if e.fileFormat == CSV {
		if err := e.csvPrimaryKey(c.pk, c.recordIndex); err != nil {
			return err
		}
		b := appendCSVField(e.buf, c.op)
		b = append(b, ',')
		if c.op == OpDeleteRow {
			b = append(b, csvNull...)
		} else {
			b = appendCSVField(b, c.column)
		}
		b = append(b, ',')
		b = appendOptionalInt(b, c.timestamp)
		b = append(b, ',')
		if c.value.IsNone() {
			b = append(b, csvNull+","+csvNull...)
		} else {
			b = append(b, c.value.Kind().String()...)
			b = append(b, ',')
			b = appendCSVValue(b, c.value)
		}
		e.buf = appendCSVSequence(b, c.recordTime, c.recordIndex, c.cellIndex)
		return nil
	}
	b := appendJSONPrimaryKey(append(e.buf, `{"pk":`...), c.pk)
	b = append(append(append(b, `,"op":"`...), c.op...), '"')
	if c.op != OpDeleteRow {
		b = appendJSONString(append(b, `,"column":`...), c.column)
	}
	if c.timestamp != nil {
		b = strconv.AppendInt(append(b, `,"timestamp":`...), *c.timestamp, 10)
	}
	if !c.value.IsNone() {
		b = append(append(append(b, `,"type":"`...), c.value.Kind().String()...), `","value":`...)
		b = appendJSONValue(b, c.value)
	}
	b = strconv.AppendInt(append(b, `,"recordTime":`...), c.recordTime, 10)
	b = strconv.AppendInt(append(b, `,"recordIndex":`...), int64(c.recordIndex), 10)
	b = strconv.AppendInt(append(b, `,"cellIndex":`...), int64(c.cellIndex), 10)
	e.buf = append(b, "}\n"...)
	return nil
}

// row appends the line of r.
func (e *lineEncoder) row(r *rowChange) error {
	if e.fileFormat == CSV {
		return e.csvRow(r)
	}
	b := appendJSONPrimaryKey(append(e.buf, `{"pk":`...), r.pk)
	b = append(append(append(b, `,"op":"`...), r.op...), '"')
	if r.op != RowDelete {
		b = append(b, `,"columns":{`...)
		for i, c := range r.columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(appendJSONString(b, c.Name), ':')
			if c.Value.IsNone() {
				b = append(b, "null"...)
			} else {
				b = appendJSONValue(b, c.Value)
			}
		}
		b = append(b, `},"types":{`...)
		first := true
		for _, c := range r.columns {
			if c.Value.IsNone() {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(append(append(appendJSONString(b, c.Name), `:"`...), c.Value.Kind().String()...), '"')
		}
		b = append(b, '}')
	}
	b = strconv.AppendInt(append(b, `,"recordTime":`...), r.recordTime, 10)
	b = strconv.AppendInt(append(b, `,"recordIndex":`...), int64(r.recordIndex), 10)
	e.buf = append(b, "}\n"...)
	return nil
}

// csvRow appends the CSV line of r: its primary key, op, then the value and the type of each
// header column (`\N` for a column the line does not hold; type NONE for a column an
// update-if-exists deletes), then its sequence.
func (e *lineEncoder) csvRow(r *rowChange) error {
	if err := e.csvPrimaryKey(r.pk, r.recordIndex); err != nil {
		return err
	}
	clear(e.present)
	for _, c := range r.columns {
		at, ok := e.columnAt[c.Name]
		if !ok {
			return &RecordError{Index: r.recordIndex, Err: fmt.Errorf("column %q of key %s is not among COLUMNS, the csv header's", ots.Brief(c.Name), ots.FormatPrimaryKey(r.pk))}
		}
		e.slots[at], e.present[at] = c.Value, true
	}
	b := appendCSVField(e.buf, r.op)
	for i := range e.columns {
		switch {
		case !e.present[i]:
			b = append(b, ","+csvNull+","+csvNull...)
		case e.slots[i].IsNone():
			b = append(b, ","+csvNull+","+ots.KindNone.String()...)
		default:
			b = appendCSVValue(append(b, ','), e.slots[i])
			b = append(append(b, ','), e.slots[i].Kind().String()...)
		}
	}
	e.buf = appendCSVSequence(b, r.recordTime, r.recordIndex, -1)
	return nil
}

// csvNull is how CSV writes an absent field, as Data Integration's OSS writer does
// (nullFormat's default).
const csvNull = `\N`

// csvPrimaryKey appends the primary key's fields and a comma, after the header when this is
// the object's first line. A key whose columns differ from the header's is a RecordError:
// one CSV object holds one primary key schema.
func (e *lineEncoder) csvPrimaryKey(pk []ots.PrimaryKeyColumn, record int) error {
	if e.pkNames == nil {
		e.header(pk)
	} else if !slices.EqualFunc(pk, e.pkNames, func(col ots.PrimaryKeyColumn, name string) bool { return col.ColumnName == name }) {
		return &RecordError{Index: record, Err: fmt.Errorf("primary key %s has other columns than the first record's %v: a csv object holds one primary key schema", ots.FormatPrimaryKey(pk), e.pkNames)}
	}
	for _, col := range pk {
		e.buf = append(appendCSVValue(e.buf, col.Value), ',')
	}
	return nil
}

// header appends the CSV header of a primary key of pk's columns, when the object has
// none yet: an object without lines holds its header alone.
func (e *lineEncoder) header(pk []ots.PrimaryKeyColumn) {
	if e.fileFormat != CSV || e.pkNames != nil {
		return
	}
	e.pkNames = make([]string, len(pk))
	for i, col := range pk {
		e.pkNames[i] = col.ColumnName
	}
	e.buf = e.appendHeader(e.buf)
}

// appendHeader appends the CSV header: the primary key columns as pk.<name>, then the
// format's fields, named as the JSON Lines paths of the same fields.
func (e *lineEncoder) appendHeader(b []byte) []byte {
	for _, name := range e.pkNames {
		b = append(appendCSVField(b, "pk."+name), ',')
	}
	if e.format == Changes {
		return append(b, "op,column,timestamp,type,value,recordTime,recordIndex,cellIndex\n"...)
	}
	b = append(b, "op"...)
	for _, name := range e.columns {
		b = appendCSVField(append(b, ','), "columns."+name)
		b = appendCSVField(append(b, ','), "types."+name)
	}
	return append(b, ",recordTime,recordIndex\n"...)
}

// appendCSVSequence appends the sequence fields and the line's end; cellIndex is left out
// when negative (rows).
func appendCSVSequence(b []byte, recordTime int64, recordIndex, cellIndex int) []byte {
	b = strconv.AppendInt(append(b, ','), recordTime, 10)
	b = strconv.AppendInt(append(b, ','), int64(recordIndex), 10)
	if cellIndex >= 0 {
		b = strconv.AppendInt(append(b, ','), int64(cellIndex), 10)
	}
	return append(b, '\n')
}

// appendOptionalInt appends *v, or `\N` when v is nil.
func appendOptionalInt(b []byte, v *int64) []byte {
	if v == nil {
		return append(b, csvNull...)
	}
	return strconv.AppendInt(b, *v, 10)
}

// appendCSVValue appends v's text as a CSV field: an INTEGER in decimal, a DOUBLE as in JSON
// (NaN, Infinity and -Infinity for what JSON cannot hold), a BOOLEAN true or false, a STRING
// as it is (quoted as RFC 4180 needs; a STRING `\N` quoted, to tell it from an absent
// field), a BINARY in standard base64.
func appendCSVValue(b []byte, v ots.Value) []byte {
	switch v.Kind() {
	case ots.KindInteger:
		i, _ := v.Int()
		return strconv.AppendInt(b, i, 10)
	case ots.KindDouble:
		f, _ := v.Float()
		return appendDouble(b, f)
	case ots.KindBoolean:
		t, _ := v.Bool()
		return strconv.AppendBool(b, t)
	case ots.KindString:
		s, _ := v.Str()
		if s == csvNull {
			return append(b, `"`+csvNull+`"`...)
		}
		return appendCSVField(b, s)
	case ots.KindBinary:
		raw, _ := v.Bytes()
		return base64.StdEncoding.AppendEncode(b, raw)
	}
	return append(b, csvNull...)
}

// appendCSVField appends s as one RFC 4180 field, quoted when encoding/csv's Writer would
// quote it (a comma, a quote, CR or LF, a leading white space character, or `\.`), its
// quotes doubled.
func appendCSVField(b []byte, s string) []byte {
	if !csvNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// csvNeedsQuotes is encoding/csv's Writer.fieldNeedsQuotes with the comma as delimiter.
func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\r' || c == '\n' {
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// appendJSONPrimaryKey appends pk as a JSON object of its columns in key order: an INTEGER
// as a JSON integer, a STRING as a string, a BINARY as {"type":"BINARY","value":"<base64>"}.
func appendJSONPrimaryKey(b []byte, pk []ots.PrimaryKeyColumn) []byte {
	b = append(b, '{')
	for i, col := range pk {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendJSONString(b, col.ColumnName), ':')
		if col.Value.Kind() == ots.KindBinary {
			b = appendJSONValue(append(b, `{"type":"BINARY","value":`...), col.Value)
			b = append(b, '}')
			continue
		}
		b = appendJSONValue(b, col.Value)
	}
	return append(b, '}')
}

// appendJSONValue appends v as JSON: an INTEGER as an exact integer, a DOUBLE as a number
// with a fraction or an exponent (2 is 2.0, so that it reads back as a DOUBLE; NaN,
// Infinity and -Infinity, which JSON cannot hold, as the strings "NaN", "Infinity" and
// "-Infinity"), a BOOLEAN as true or false, a STRING as a string, a BINARY as a string of its
// standard base64, and no value as null.
func appendJSONValue(b []byte, v ots.Value) []byte {
	switch v.Kind() {
	case ots.KindInteger:
		i, _ := v.Int()
		return strconv.AppendInt(b, i, 10)
	case ots.KindDouble:
		f, _ := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(appendDouble(append(b, '"'), f), '"')
		}
		return appendDouble(b, f)
	case ots.KindBoolean:
		t, _ := v.Bool()
		return strconv.AppendBool(b, t)
	case ots.KindString:
		s, _ := v.Str()
		return appendJSONString(b, s)
	case ots.KindBinary:
		raw, _ := v.Bytes()
		return append(base64.StdEncoding.AppendEncode(append(b, '"'), raw), '"')
	}
	return append(b, "null"...)
}

// appendDouble appends f as encoding/json writes a float64 (exponent form below 1e-6 and
// from 1e21), with ".0" added when that has neither a fraction nor an exponent; NaN,
// Infinity or -Infinity for those.
func appendDouble(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	}
	format, abs := byte('f'), math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-07 to e-7, as encoding/json does
		if n := len(b); n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	for _, c := range b[start:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters
// escaped (as \n, \r, \t or \u00XX), U+2028 and U+2029 escaped as encoding/json escapes them,
// everything else as it is. A byte that is not valid UTF-8 becomes \ufffd, as in
// encoding/json; decoded trigger events hold valid UTF-8 only.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			case '\u2028':
				b = append(b, `\u2028`...)
			default:
				b = append(b, `\u2029`...)
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}
