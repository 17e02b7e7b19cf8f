package modeltest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/otsetl/otsetl/export"
	"github.com/otsetl/otsetl/ots"
)

// ExportedChange is one line of a `changes` export, read back (docs/exports.md).
type ExportedChange struct {
	PrimaryKey []ots.PrimaryKeyColumn
	// Op is export.OpPut, OpDeleteOneVersion, OpDeleteAllVersions or OpDeleteRow.
	Op string
	// Column is empty on DR; Timestamp (ms) is set on U (when the Put had one) and DO;
	// Value on U.
	Column                 string
	Timestamp              *int64
	Value                  ots.Value
	RecordTime             int64
	RecordIndex, CellIndex int
}

// ExportedRow is one line of a `rows` export, read back.
type ExportedRow struct {
	PrimaryKey []ots.PrimaryKeyColumn
	// Op is export.RowPut, RowDelete or RowUpdateIfExists.
	Op string
	// Columns are the row (put) or the changes (update-if-exists, a cell without a value
	// deleting its column), by name.
	Columns     []ots.Cell
	RecordTime  int64
	RecordIndex int
}

// ReadObject returns an exported object's lines: the object as stored, gunzipped when its
// name ends in ".gz".
func ReadObject(key string, stored []byte) ([]byte, error) {
	if !strings.HasSuffix(key, ".gz") {
		return stored, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(stored))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	r.Multistream(false)
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return data, nil
}

// ParseChanges reads the lines of a `changes` object in fileFormat, strictly: every field
// the format documents for the line's op and no other, of the documented type; pk is the
// table's primary key schema (a CSV line's key values are text).
func ParseChanges(data []byte, fileFormat export.FileFormat, pk []ots.PrimaryKeySchema) ([]ExportedChange, error) {
	if fileFormat == export.CSV {
		fixed := []string{"op", "column", "timestamp", "type", "value", "recordTime", "recordIndex", "cellIndex"}
		return parseCSV(data, pk, fixed, func(key []ots.PrimaryKeyColumn, f map[string]string) (ExportedChange, error) {
			c := ExportedChange{PrimaryKey: key, Op: f["op"]}
			if err := checkPresence(c.Op, f["column"] != `\N`, f["timestamp"] != `\N`, f["type"] != `\N`, f["value"] != `\N` || f["type"] != `\N`); err != nil {
				return c, err
			}
			if c.Op != export.OpDeleteRow {
				c.Column = f["column"]
			}
			var err error
			if f["timestamp"] != `\N` {
				ts, err := strconv.ParseInt(f["timestamp"], 10, 64)
				if err != nil {
					return c, err
				}
				c.Timestamp = &ts
			}
			if c.Op == export.OpPut {
				if c.Value, err = parseText(f["type"], f["value"]); err != nil {
					return c, err
				}
			}
			return c, parseSequence(f, &c.RecordTime, &c.RecordIndex, &c.CellIndex)
		})
	}
	return parseJSONLines(data, func(line []byte) (ExportedChange, error) {
		var l struct {
			PK          map[string]json.RawMessage `json:"pk"`
			Op          string                     `json:"op"`
			Column      *string                    `json:"column"`
			Timestamp   *int64                     `json:"timestamp"`
			Type        *string                    `json:"type"`
			Value       json.RawMessage            `json:"value"`
			RecordTime  *int64                     `json:"recordTime"`
			RecordIndex *int                       `json:"recordIndex"`
			CellIndex   *int                       `json:"cellIndex"`
		}
		if err := strictJSON(line, &l); err != nil {
			return ExportedChange{}, err
		}
		c := ExportedChange{Op: l.Op, Timestamp: l.Timestamp}
		var err error
		if c.PrimaryKey, err = parseJSONKey(l.PK, pk); err != nil {
			return c, err
		}
		if err := checkPresence(c.Op, l.Column != nil, l.Timestamp != nil, l.Type != nil, l.Value != nil); err != nil {
			return c, err
		}
		if l.Column != nil {
			c.Column = *l.Column
		}
		if l.Type != nil {
			if c.Value, err = parseJSONValue(*l.Type, l.Value); err != nil {
				return c, err
			}
		}
		if l.RecordTime == nil || l.RecordIndex == nil || l.CellIndex == nil {
			return c, errors.New("a sequence field is missing")
		}
		c.RecordTime, c.RecordIndex, c.CellIndex = *l.RecordTime, *l.RecordIndex, *l.CellIndex
		return c, nil
	})
}

// checkPresence checks which fields a `changes` line of op holds: a column unless DR, a
// timestamp only on U and DO (always on DO), a type and a value exactly on U.
func checkPresence(op string, column, timestamp, typ, value bool) error {
	want := map[string][4]bool{ // column, timestamp (on U it may be absent), type, value
		export.OpPut:               {true, true, true, true},
		export.OpDeleteOneVersion:  {true, true, false, false},
		export.OpDeleteAllVersions: {true, false, false, false},
		export.OpDeleteRow:         {false, false, false, false},
	}
	w, ok := want[op]
	switch {
	case !ok:
		return fmt.Errorf("unknown op %q", op)
	case column != w[0] || (timestamp && !w[1]) || (op == export.OpDeleteOneVersion && !timestamp) || typ != w[2] || value != w[3]:
		return fmt.Errorf("op %s with column %v, timestamp %v, type %v, value %v", op, column, timestamp, typ, value)
	}
	return nil
}

// ParseRows reads the lines of a `rows` object in fileFormat, strictly; columns are the CSV
// header's attribute columns (COLUMNS), in order.
func ParseRows(data []byte, fileFormat export.FileFormat, pk []ots.PrimaryKeySchema, columns []string) ([]ExportedRow, error) {
	if fileFormat == export.CSV {
		fixed := []string{"op"}
		for _, c := range columns {
			fixed = append(fixed, "columns."+c, "types."+c)
		}
		fixed = append(fixed, "recordTime", "recordIndex")
		return parseCSV(data, pk, fixed, func(key []ots.PrimaryKeyColumn, f map[string]string) (ExportedRow, error) {
			r := ExportedRow{PrimaryKey: key, Op: f["op"]}
			for _, name := range columns {
				value, typ := f["columns."+name], f["types."+name]
				switch {
				case typ == `\N` && value == `\N`:
					continue
				case typ == ots.KindNone.String() && value == `\N` && r.Op == export.RowUpdateIfExists:
					r.Columns = append(r.Columns, ots.Cell{Name: name})
					continue
				}
				v, err := parseText(typ, value)
				if err != nil {
					return r, fmt.Errorf("column %s: %w", name, err)
				}
				r.Columns = append(r.Columns, ots.Cell{Name: name, Value: v})
			}
			var cell int
			f["cellIndex"] = "-1"
			return r, errors.Join(checkRow(r), parseSequence(f, &r.RecordTime, &r.RecordIndex, &cell))
		})
	}
	return parseJSONLines(data, func(line []byte) (ExportedRow, error) {
		var l struct {
			PK          map[string]json.RawMessage `json:"pk"`
			Op          string                     `json:"op"`
			Columns     map[string]json.RawMessage `json:"columns"`
			Types       map[string]string          `json:"types"`
			RecordTime  *int64                     `json:"recordTime"`
			RecordIndex *int                       `json:"recordIndex"`
		}
		if err := strictJSON(line, &l); err != nil {
			return ExportedRow{}, err
		}
		r := ExportedRow{Op: l.Op}
		var err error
		if r.PrimaryKey, err = parseJSONKey(l.PK, pk); err != nil {
			return r, err
		}
		if (l.Columns == nil) != (r.Op == export.RowDelete) || (l.Types == nil) != (r.Op == export.RowDelete) {
			return r, fmt.Errorf("op %s with columns %v and types %v", r.Op, l.Columns != nil, l.Types != nil)
		}
		for _, name := range slices.Sorted(maps.Keys(l.Columns)) {
			raw := l.Columns[name]
			typ, typed := l.Types[name]
			if string(raw) == "null" {
				if typed {
					return r, fmt.Errorf("column %s: null with type %s", name, typ)
				}
				r.Columns = append(r.Columns, ots.Cell{Name: name})
				continue
			}
			v, err := parseJSONValue(typ, raw)
			if err != nil {
				return r, fmt.Errorf("column %s: %w", name, err)
			}
			r.Columns = append(r.Columns, ots.Cell{Name: name, Value: v})
		}
		for name := range l.Types {
			if _, ok := l.Columns[name]; !ok {
				return r, fmt.Errorf("type of column %s, which the line does not hold", name)
			}
		}
		if l.RecordTime == nil || l.RecordIndex == nil {
			return r, errors.New("a sequence field is missing")
		}
		r.RecordTime, r.RecordIndex = *l.RecordTime, *l.RecordIndex
		return r, checkRow(r)
	})
}

// checkRow checks a `rows` line's op and that only an update-if-exists deletes a column.
func checkRow(r ExportedRow) error {
	switch r.Op {
	case export.RowPut, export.RowUpdateIfExists:
	case export.RowDelete:
		if len(r.Columns) > 0 {
			return errors.New("a delete with columns")
		}
	default:
		return fmt.Errorf("unknown op %q", r.Op)
	}
	for _, c := range r.Columns {
		if c.Value.IsNone() && r.Op != export.RowUpdateIfExists {
			return fmt.Errorf("a %s deleting column %s", r.Op, c.Name)
		}
	}
	return nil
}

// ApplyChange applies one `changes` line to the model, as replaying the export does: DR
// deletes the row, U puts a version (creating the row), DO and DA delete versions of a
// row that exists. The key is the model's INTEGER id.
func (m *SourceModel) ApplyChange(c ExportedChange) {
	id, _ := c.PrimaryKey[0].Value.Int()
	row, exists := m.Rows[id]
	switch c.Op {
	case export.OpDeleteRow:
		delete(m.Rows, id)
	case export.OpPut:
		if !exists {
			row = Row{}
			m.Rows[id] = row
		}
		row.put(c.Column, Version{*c.Timestamp, c.Value})
	case export.OpDeleteAllVersions:
		if exists {
			delete(row, c.Column)
		}
	case export.OpDeleteOneVersion:
		if exists {
			row.deleteVersion(c.Column, *c.Timestamp)
		}
	}
}

// ApplyRow applies one `rows` line to images, the result table by id, as the function's
// writes do: a put replaces the row, a delete removes it, an update-if-exists changes the
// row only if it exists.
func ApplyRow(images map[int64]Image, r ExportedRow) {
	id, _ := r.PrimaryKey[0].Value.Int()
	switch r.Op {
	case export.RowDelete:
		delete(images, id)
	case export.RowPut:
		image := Image{}
		for _, c := range r.Columns {
			image[c.Name] = c.Value
		}
		images[id] = image
	case export.RowUpdateIfExists:
		image, ok := images[id]
		if !ok {
			return
		}
		for _, c := range r.Columns {
			if c.Value.IsNone() {
				delete(image, c.Name)
			} else {
				image[c.Name] = c.Value
			}
		}
	}
}

// parseJSONLines parses each line of data with parse, naming the line of an error.
func parseJSONLines[L any](data []byte, parse func([]byte) (L, error)) ([]L, error) {
	if len(data) > 0 && data[len(data)-1] != '\n' {
		return nil, errors.New("the last line does not end in a newline")
	}
	var out []L
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		if len(data) == 0 {
			break
		}
		l, err := parse(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %s: %w", i+1, line, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// strictJSON decodes one JSON object into v, refusing unknown fields and trailing data.
func strictJSON(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the object")
	}
	return nil
}

// parseJSONKey reads a JSON primary key in schema's columns: INTEGER a number, STRING a
// string, BINARY {"type":"BINARY","value":"<base64>"}.
func parseJSONKey(fields map[string]json.RawMessage, schema []ots.PrimaryKeySchema) ([]ots.PrimaryKeyColumn, error) {
	if len(fields) != len(schema) {
		return nil, fmt.Errorf("primary key %v, want the columns of %s", slices.Sorted(maps.Keys(fields)), ots.FormatSchema(schema))
	}
	key := make([]ots.PrimaryKeyColumn, len(schema))
	for i, col := range schema {
		raw, ok := fields[col.Name]
		if !ok {
			return nil, fmt.Errorf("primary key column %s is missing", col.Name)
		}
		if col.Type == ots.KindBinary {
			var typed struct {
				Type  string          `json:"type"`
				Value json.RawMessage `json:"value"`
			}
			if err := strictJSON(raw, &typed); err != nil || typed.Type != "BINARY" {
				return nil, fmt.Errorf("primary key column %s: %s is not a typed BINARY", col.Name, raw)
			}
			raw = typed.Value
		}
		v, err := parseJSONValue(col.Type.String(), raw)
		if err != nil {
			return nil, fmt.Errorf("primary key column %s: %w", col.Name, err)
		}
		key[i] = ots.PrimaryKeyColumn{ColumnName: col.Name, Value: v}
	}
	return key, nil
}

// parseJSONValue reads a JSON value of the type named typ, as the export writes it.
func parseJSONValue(typ string, raw json.RawMessage) (ots.Value, error) {
	text := string(raw)
	kind, ok := ots.KindNamed(typ)
	if !ok {
		return ots.Value{}, fmt.Errorf("unknown type %q", typ)
	}
	switch kind {
	case ots.KindInteger:
		if strings.ContainsAny(text, ".eE") {
			return ots.Value{}, fmt.Errorf("INTEGER %s is not an integer", text)
		}
		i, err := strconv.ParseInt(text, 10, 64)
		return ots.Integer(i), err
	case ots.KindDouble:
		switch text {
		case `"NaN"`, `"Infinity"`, `"-Infinity"`:
			text = strings.Trim(text, `"`)
		default:
			if !strings.ContainsAny(text, ".eE") {
				return ots.Value{}, fmt.Errorf("DOUBLE %s has neither a fraction nor an exponent", text)
			}
		}
		f, err := strconv.ParseFloat(text, 64)
		return ots.Double(f), err
	case ots.KindBoolean:
		var b bool
		err := json.Unmarshal(raw, &b)
		return ots.Boolean(b), err
	case ots.KindString:
		var s string
		err := json.Unmarshal(raw, &s)
		return ots.String(s), err
	default:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return ots.Value{}, err
		}
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		return ots.Binary(b), err
	}
}

// parseCSV reads a CSV object: its header must be the primary key's pk.<name> columns and
// then fixed; parse reads each line's key and fields by header name.
func parseCSV[L any](data []byte, pk []ots.PrimaryKeySchema, fixed []string, parse func([]ots.PrimaryKeyColumn, map[string]string) (L, error)) ([]L, error) {
	records, err := readCSV(data)
	if err != nil {
		return nil, err
	}
	if len(records) == 0 {
		return nil, errors.New("no header")
	}
	var want []string
	for _, col := range pk {
		want = append(want, "pk."+col.Name)
	}
	want = append(want, fixed...)
	if !slices.Equal(records[0], want) {
		return nil, fmt.Errorf("header %v, want %v", records[0], want)
	}
	var out []L
	for i, record := range records[1:] {
		fields := make(map[string]string, len(record))
		for j, name := range want {
			fields[name] = record[j]
		}
		key := make([]ots.PrimaryKeyColumn, len(pk))
		for j, col := range pk {
			v, err := parseText(col.Type.String(), record[j])
			if err != nil {
				return nil, fmt.Errorf("line %d: primary key column %s: %w", i+2, col.Name, err)
			}
			key[j] = ots.PrimaryKeyColumn{ColumnName: col.Name, Value: v}
		}
		l, err := parse(key, fields)
		if err != nil {
			return nil, fmt.Errorf("line %d %v: %w", i+2, record, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// parseText reads a CSV value of the type named typ: INTEGER decimal, DOUBLE as in JSON or
// NaN, Infinity, -Infinity, BOOLEAN true or false, STRING as it is, BINARY base64.
func parseText(typ, text string) (ots.Value, error) {
	kind, ok := ots.KindNamed(typ)
	if !ok {
		return ots.Value{}, fmt.Errorf("unknown type %q", typ)
	}
	switch kind {
	case ots.KindInteger:
		i, err := strconv.ParseInt(text, 10, 64)
		return ots.Integer(i), err
	case ots.KindDouble:
		f, err := strconv.ParseFloat(text, 64)
		return ots.Double(f), err
	case ots.KindBoolean:
		b, err := strconv.ParseBool(text)
		return ots.Boolean(b), err
	case ots.KindString:
		return ots.String(text), nil
	default:
		b, err := base64.StdEncoding.Strict().DecodeString(text)
		return ots.Binary(b), err
	}
}

// parseSequence reads the sequence fields of a CSV line; cellIndex -1 means the format has
// none.
func parseSequence(f map[string]string, recordTime *int64, recordIndex, cellIndex *int) error {
	var err error
	if *recordTime, err = strconv.ParseInt(f["recordTime"], 10, 64); err != nil {
		return err
	}
	if *recordIndex, err = strconv.Atoi(f["recordIndex"]); err != nil {
		return err
	}
	*cellIndex, err = strconv.Atoi(f["cellIndex"])
	return err
}

// readCSV reads RFC 4180 CSV strictly: fields separated by commas, lines ended by LF (or
// CRLF), a quoted field's quotes doubled and its CR and LF kept. encoding/csv's Reader is
// not used: it drops a CR before an LF inside a quoted field, which would hide a STRING
// that the export altered.
func readCSV(data []byte) ([][]string, error) {
	var records [][]string
	var record []string
	var field []byte
	for i, lineStart := 0, true; i < len(data); {
		if lineStart {
			record, lineStart = nil, false
		}
		field = field[:0]
		if data[i] == '"' {
			for i++; ; i++ {
				if i >= len(data) {
					return nil, errors.New("csv: a quoted field does not end")
				}
				if data[i] == '"' {
					if i+1 < len(data) && data[i+1] == '"' {
						field = append(field, '"')
						i++
						continue
					}
					i++
					break
				}
				field = append(field, data[i])
			}
		} else {
			for ; i < len(data) && data[i] != ',' && data[i] != '\n' && data[i] != '\r'; i++ {
				if data[i] == '"' {
					return nil, fmt.Errorf("csv: a quote inside an unquoted field at byte %d", i)
				}
				field = append(field, data[i])
			}
		}
		record = append(record, string(field))
		switch {
		case i < len(data) && data[i] == ',':
			i++
		case i < len(data) && data[i] == '\n':
			i++
			records, lineStart = append(records, record), true
		case i+1 < len(data) && data[i] == '\r' && data[i+1] == '\n':
			i += 2
			records, lineStart = append(records, record), true
		case i == len(data):
			return nil, errors.New("csv: the last line does not end in a newline")
		default:
			return nil, fmt.Errorf("csv: unexpected %q after a field at byte %d", data[i], i)
		}
	}
	for _, r := range records {
		if len(r) != len(records[0]) {
			return nil, fmt.Errorf("csv: a line of %d fields, the header has %d", len(r), len(records[0]))
		}
	}
	return records, nil
}
