// Package deadletter is the dead-letter table's layout: the row DEAD_LETTER_TABLE gets for a
// record the rule cannot evaluate or Tablestore would refuse in a row. The function writes
// such rows for the records of a trigger event, and `otsetl sync` (package rangesync) for the
// source rows it scans. The layout and why: docs/design.md, "Errors".
package deadletter

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

// The dead-letter table's columns. Its primary key is PrimaryKey, STRING: the hex SHA-256 of
// the record's raw bytes, so that a redelivered batch overwrites its own dead letters instead
// of adding more.
const (
	PrimaryKey = "id"
	// ColumnRecord (BINARY) holds the record exactly as it arrived (CBOR or JSON), its first
	// MaxPartBytes when it is longer.
	ColumnRecord = "record"
	// ColumnDecoded (STRING) holds the record as JSON, for people, its first MaxPartBytes when
	// it is longer (cut at a rune boundary); empty when the record has no JSON form.
	ColumnDecoded = "decoded"
	// ColumnError (STRING) says why the record is invalid, which parts of it were cut to fit,
	// and why it has no JSON form if it has none.
	ColumnError = "error"
	// ColumnTime (INTEGER) is when the record was dead-lettered, in ms since the Unix epoch.
	ColumnTime = "time"
	// ColumnSourceTable (STRING) is the table the record came from.
	ColumnSourceTable = "source_table"
)

// Schema is the dead-letter table's primary key: PrimaryKey, STRING.
var Schema = []ots.PrimaryKeySchema{{Name: PrimaryKey, Type: ots.KindString}}

// MaxPartBytes bounds the record and its JSON in a dead letter, each, so that every dead
// letter is a row Tablestore takes in one request (at most 2 MB a value, 4 MB a request) with
// room to spare; a longer record or JSON keeps its first bytes, and the error column says so.
const MaxPartBytes = 1 << 20

// Row returns the put of the row DEAD_LETTER_TABLE gets for rec: the columns above, keyed by
// the hash of rec.Raw (or of its JSON when it has none, as a record built in code), with
// reason, sourceTable and now. The row always fits in one request.
func Row(rec *events.Record, reason, sourceTable string, now time.Time) ots.RowChange {
	decoded, err := events.MarshalRecordJSON(rec)
	if err != nil {
		reason += fmt.Sprintf("; it has no JSON form: %v", err)
	}
	raw := rec.Raw
	if raw == nil {
		raw = decoded
	}
	if raw == nil {
		raw = []byte(reason)
	}
	sum := sha256.Sum256(raw)
	if len(raw) > MaxPartBytes || len(decoded) > MaxPartBytes {
		reason += fmt.Sprintf(" (a record of %d bytes, its JSON of %d: the first %d bytes of each are kept)", len(raw), len(decoded), MaxPartBytes)
	}
	return ots.RowChange{
		Kind:       ots.PutRow,
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: PrimaryKey, Value: ots.String(hex.EncodeToString(sum[:]))}},
		Columns: []ots.Cell{
			{Name: ColumnDecoded, Value: ots.String(ots.Cut(string(decoded), MaxPartBytes))},
			{Name: ColumnError, Value: ots.String(reason)},
			{Name: ColumnRecord, Value: ots.Binary(raw[:min(len(raw), MaxPartBytes)])},
			{Name: ColumnSourceTable, Value: ots.String(sourceTable)},
			{Name: ColumnTime, Value: ots.Integer(now.UnixMilli())},
		},
	}
}
