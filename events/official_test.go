package events

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/otsetl/otsetl/ots"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/official/sample.cbor as EncodeCBOR of sample.json")

// officialDir holds the sample event of the Function Compute trigger documentation
// ("Tablestore trigger event format", https://www.alibabacloud.com/help/doc-detail/169673.htm):
// sample.json as published, sample.cbor the same event as EncodeCBOR writes it.
var officialDir = filepath.Join("..", "testdata", "official")

func TestOfficialSample(t *testing.T) {
	sampleJSON, err := os.ReadFile(filepath.Join(officialDir, "sample.json"))
	require.NoError(t, err)
	fromJSON, err := Decode(sampleJSON)
	require.NoError(t, err)

	cborPath := filepath.Join(officialDir, "sample.cbor")
	if *update {
		encoded, err := EncodeCBOR(fromJSON)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(cborPath, encoded, 0o644))
	}
	sampleCBOR, err := os.ReadFile(cborPath)
	require.NoError(t, err)
	fromCBOR, err := Decode(sampleCBOR)
	require.NoError(t, err)

	timestamp := int64(1506416585741)
	want := &Event{Version: "Sync-v1", Records: []Record{{
		Type: PutRow,
		Info: RecordInfo{Timestamp: 1506416585740836},
		PrimaryKey: []ots.PrimaryKeyColumn{
			{ColumnName: "pk_0", Value: ots.Integer(1506416585881590900)},
			{ColumnName: "pk_1", Value: ots.String("2017-09-26 17:03:05.8815909 +0800 CST")},
			{ColumnName: "pk_2", Value: ots.Integer(1506416585741000)},
		},
		Columns: []Column{
			{Type: Put, ColumnName: "attr_0", Value: ots.String("hello_table_store"), Timestamp: &timestamp},
			{Type: Put, ColumnName: "attr_1", Value: ots.Integer(1506416585881590900), Timestamp: &timestamp},
		},
	}}}
	requireSameEvent(t, want, fromJSON)
	requireSameEvent(t, want, fromCBOR)

	encoded, err := EncodeCBOR(fromJSON)
	require.NoError(t, err)
	assert.Equal(t, sampleCBOR, encoded, "sample.cbor is EncodeCBOR of sample.json; regenerate with -update")
	assert.Equal(t, sampleCBOR[26:], fromCBOR.Records[0].Raw)
}
