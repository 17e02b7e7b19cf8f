package fclocal

import (
	"cmp"
	"errors"
	"fmt"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

// sequence is a record's position in its shard, the Stream's RecordSequenceInfo (Tablestore
// Go SDK tablestore/model.go): records of a shard are in increasing (epoch, timestamp,
// row index) order. The epoch guards against clock skew between the service's machines; the
// timestamp is the record's commit time in µs.
type sequence struct {
	epoch     int32
	timestamp int64
	rowIndex  int32
}

// compare returns -1, 0 or +1 as s is before, at or after o in the shard.
func (s sequence) compare(o sequence) int {
	return cmp.Or(cmp.Compare(s.epoch, o.epoch), cmp.Compare(s.timestamp, o.timestamp), cmp.Compare(s.rowIndex, o.rowIndex))
}

// String formats the sequence as "epoch:timestamp:rowIndex".
func (s sequence) String() string { return fmt.Sprintf("%d:%d:%d", s.epoch, s.timestamp, s.rowIndex) }

// recordOf converts a Stream record the SDK decoded (tablestore/api.go GetStreamRecord) into
// a trigger event record: Type PutRow, UpdateRow or DeleteRow; Info.Timestamp the record's
// sequence timestamp (µs); the primary key; the column changes as Put (value and version in
// ms), DeleteOneVersion (version) or DeleteAllVersions. Values must be INTEGER (int64),
// DOUBLE, BOOLEAN, STRING or BINARY, and the record must pass [events.Record.Validate];
// anything else is an error. OriginColumns are left out: the trigger event has no place for
// them.
func recordOf(rec *sdk.StreamRecord) (sequencedRecord, error) {
	if rec == nil {
		return sequencedRecord{}, errors.New("nil record")
	}
	if rec.Info == nil {
		return sequencedRecord{}, errors.New("no sequence info")
	}
	if rec.PrimaryKey == nil {
		return sequencedRecord{}, errors.New("no primary key")
	}
	recordType, err := recordTypeOf(rec.Type)
	if err != nil {
		return sequencedRecord{}, err
	}
	out := events.Record{Type: recordType, Info: events.RecordInfo{Timestamp: rec.Info.Timestamp}}
	for _, pk := range rec.PrimaryKey.PrimaryKeys {
		if pk == nil {
			return sequencedRecord{}, errors.New("nil primary key column")
		}
		v, err := ots.ValueOf(pk.Value)
		if err != nil {
			return sequencedRecord{}, fmt.Errorf("primary key column %q: %w", pk.ColumnName, err)
		}
		out.PrimaryKey = append(out.PrimaryKey, ots.PrimaryKeyColumn{ColumnName: pk.ColumnName, Value: v})
	}
	for _, col := range rec.Columns {
		c, err := columnOf(col)
		if err != nil {
			return sequencedRecord{}, err
		}
		out.Columns = append(out.Columns, c)
	}
	if err := out.Validate(); err != nil {
		return sequencedRecord{}, err
	}
	seq := sequence{epoch: rec.Info.Epoch, timestamp: rec.Info.Timestamp, rowIndex: rec.Info.RowIndex}
	return sequencedRecord{seq: seq, record: out}, nil
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
