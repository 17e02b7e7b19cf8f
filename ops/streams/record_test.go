package streams

import (
	"math"
	"testing"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
)

func name(s string) *string { return &s }

func ms(v int64) *int64 { return &v }

func streamRecord(action sdk.ActionType, cols ...*sdk.RecordColumn) *sdk.StreamRecord {
	pk := &sdk.PrimaryKey{}
	pk.AddPrimaryKeyColumn("id", int64(7))
	return &sdk.StreamRecord{Type: action, Info: &sdk.RecordSequenceInfo{Timestamp: 1_700_000_000_000_001, RowIndex: 2}, PrimaryKey: pk, Columns: cols}
}

// TestRecordOfRejectsWhatTheTriggerCannotCarry checks the conversion's errors on records the
// SDK can hand over but the trigger event cannot express; the conversion of well-formed
// records is checked end to end by the local trigger's TestTriggerDeliversEveryTypeAndHeader.
func TestRecordOfRejectsWhatTheTriggerCannotCarry(t *testing.T) {
	put := func(v any) *sdk.RecordColumn {
		return &sdk.RecordColumn{Type: sdk.RCT_Put, Name: name("c"), Value: v, Timestamp: ms(1)}
	}
	doublePK := streamRecord(sdk.AT_Put)
	doublePK.PrimaryKey.PrimaryKeys[0].Value = 1.5
	cases := []struct {
		name string
		rec  *sdk.StreamRecord
		want string
	}{
		{"nil record", nil, "nil record"},
		{"no sequence info", &sdk.StreamRecord{PrimaryKey: &sdk.PrimaryKey{}}, "no sequence info"},
		{"no primary key", &sdk.StreamRecord{Info: &sdk.RecordSequenceInfo{}}, "no primary key"},
		{"unknown action", streamRecord(sdk.ActionType(9)), "unknown action type 9"},
		{"int value", streamRecord(sdk.AT_Put, put(7)), "unsupported value type int"},
		{"uint64 value", streamRecord(sdk.AT_Put, put(uint64(7))), "unsupported value type uint64"},
		{"put without value", streamRecord(sdk.AT_Update, put(nil)), "a Put needs a Value"},
		{"double primary key", doublePK, "DOUBLE is not a primary key type"},
		{"unnamed column", streamRecord(sdk.AT_Update, &sdk.RecordColumn{Type: sdk.RCT_DeleteAllVersions}), "a column without a name"},
		{"unknown column op", streamRecord(sdk.AT_Update, &sdk.RecordColumn{Type: sdk.RecordColumnType(5), Name: name("c")}), `column "c": unknown column change type 5`},
		{"delete row with cells", streamRecord(sdk.AT_Delete, put(int64(1))), "a DeleteRow carries no columns"},
		{"put row deleting a version", streamRecord(sdk.AT_Put, &sdk.RecordColumn{Type: sdk.RCT_DeleteOneVersion, Name: name("c"), Timestamp: ms(1)}), "a PutRow writes only Put cells"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := recordOf(tc.rec)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestRecordOfKeepsTheSequence(t *testing.T) {
	got, err := recordOf(streamRecord(sdk.AT_Update,
		&sdk.RecordColumn{Type: sdk.RCT_Put, Name: name("level"), Value: math.Inf(1), Timestamp: ms(1_700_000_000_000)},
		&sdk.RecordColumn{Type: sdk.RCT_DeleteOneVersion, Name: name("old"), Timestamp: ms(5)},
		&sdk.RecordColumn{Type: sdk.RCT_DeleteAllVersions, Name: name("gone")},
	))
	require.NoError(t, err)
	assert.Equal(t, Sequence{Epoch: 0, Timestamp: 1_700_000_000_000_001, RowIndex: 2}, got.Sequence)
	assert.Equal(t, events.Record{
		Type:       events.UpdateRow,
		Info:       events.RecordInfo{Timestamp: 1_700_000_000_000_001},
		PrimaryKey: []ots.PrimaryKeyColumn{{ColumnName: "id", Value: ots.Integer(7)}},
		Columns: []events.Column{
			{Type: events.Put, ColumnName: "level", Value: ots.Double(math.Inf(1)), Timestamp: ms(1_700_000_000_000)},
			{Type: events.DeleteOneVersion, ColumnName: "old", Timestamp: ms(5)},
			{Type: events.DeleteAllVersions, ColumnName: "gone"},
		},
	}, got.Record)
}

func TestSequenceOrder(t *testing.T) {
	ordered := []Sequence{{0, 5, 9}, {0, 6, 0}, {0, 6, 1}, {1, 1, 0}}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			assert.Equal(t, want, ordered[i].Compare(ordered[j]), "%v vs %v", ordered[i], ordered[j])
		}
	}
}
