package streams

import (
	"cmp"
	"errors"
	"fmt"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

// Sequence is a record's position in its shard, the Stream's RecordSequenceInfo (Tablestore
// Go SDK tablestore/model.go): records of a shard are in increasing (epoch, timestamp,
// row index) order. The epoch guards against clock skew between the service's machines; the
// timestamp is the record's commit time in µs.
type Sequence struct {
	// Epoch is the record's epoch.
	Epoch int32
	// Timestamp is the record's commit time in µs since the Unix epoch.
	Timestamp int64
	// RowIndex orders the records of one commit.
	RowIndex int32
}

// Compare returns -1, 0 or +1 as s is before, at or after o in the shard.
func (s Sequence) Compare(o Sequence) int {
	return cmp.Or(cmp.Compare(s.Epoch, o.Epoch), cmp.Compare(s.Timestamp, o.Timestamp), cmp.Compare(s.RowIndex, o.RowIndex))
}

// String formats the sequence as "epoch:timestamp:rowIndex".
func (s Sequence) String() string { return fmt.Sprintf("%d:%d:%d", s.Epoch, s.Timestamp, s.RowIndex) }

// recordOf converts a Stream record the SDK decoded (tablestore/api.go GetStreamRecord) into
// a trigger event record: Type PutRow, UpdateRow or DeleteRow; Info.Timestamp the record's
// sequence timestamp (µs); the primary key; the column changes as Put (value and version in
// ms), DeleteOneVersion (version) or DeleteAllVersions. Values must be INTEGER (int64),
// DOUBLE, BOOLEAN, STRING or BINARY, and the record must pass [events.Record.Validate];
// anything else is an error. OriginColumns are left out: the trigger event has no place for
// them.
func recordOf(rec *sdk.StreamRecord) (Record, error) {
	if rec == nil {
		return Record{}, errors.New("nil record")
	}
	if rec.Info == nil {
		return Record{}, errors.New("no sequence info")
	}
	if rec.PrimaryKey == nil {
		return Record{}, errors.New("no primary key")
	}
	recordType, err := recordTypeOf(rec.Type)
	if err != nil {
		return Record{}, err
	}
	out := events.Record{Type: recordType, Info: events.RecordInfo{Timestamp: rec.Info.Timestamp}}
	for _, pk := range rec.PrimaryKey.PrimaryKeys {
		if pk == nil {
			return Record{}, errors.New("nil primary key column")
		}
		v, err := ots.ValueOf(pk.Value)
		if err != nil {
			return Record{}, fmt.Errorf("primary key column %q: %w", pk.ColumnName, err)
		}
		out.PrimaryKey = append(out.PrimaryKey, ots.PrimaryKeyColumn{ColumnName: pk.ColumnName, Value: v})
	}
	for _, col := range rec.Columns {
		c, err := columnOf(col)
		if err != nil {
			return Record{}, err
		}
		out.Columns = append(out.Columns, c)
	}
	if err := out.Validate(); err != nil {
		return Record{}, err
	}
	seq := Sequence{Epoch: rec.Info.Epoch, Timestamp: rec.Info.Timestamp, RowIndex: rec.Info.RowIndex}
	return Record{Sequence: seq, Record: out}, nil
}

// recordTypeOf maps the SDK's ActionType to the event's record type.
func recordTypeOf(t sdk.ActionType) (events.RecordType, error) {
	switch t {
	case sdk.AT_Put:
		return events.PutRow, nil
	case sdk.AT_Update:
		return events.UpdateRow, nil
	case sdk.AT_Delete:
		return events.DeleteRow, nil
	}
	return "", fmt.Errorf("unknown action type %d", int(t))
}

// columnOf converts one column change of a Stream record.
func columnOf(col *sdk.RecordColumn) (events.Column, error) {
	if col == nil || col.Name == nil {
		return events.Column{}, errors.New("a column without a name")
	}
	out := events.Column{ColumnName: *col.Name, Timestamp: col.Timestamp}
	switch col.Type {
	case sdk.RCT_Put:
		out.Type = events.Put
		v, err := ots.ValueOf(col.Value)
		if err != nil {
			return events.Column{}, fmt.Errorf("column %q: %w", *col.Name, err)
		}
		out.Value = v
	case sdk.RCT_DeleteOneVersion:
		out.Type = events.DeleteOneVersion
	case sdk.RCT_DeleteAllVersions:
		out.Type = events.DeleteAllVersions
	default:
		return events.Column{}, fmt.Errorf("column %q: unknown column change type %d", *col.Name, int(col.Type))
	}
	return out, nil
}
