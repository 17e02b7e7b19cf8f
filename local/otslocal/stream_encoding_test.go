package otslocal

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A stream record is the published PlainBuffer row vector with the sequence-info
// extension inserted before the row checksum, which stays the same: the checksum does
// not cover the extension.
func TestEncodeStreamRowPutsTheExtensionBeforeTheRowChecksum(t *testing.T) {
	r := row{
		primaryKey: []cell{{name: "pk", value: stringValue("a"), hasValue: true}},
		cells:      []cell{{name: "c", value: integerValue(5), hasValue: true, timestamp: 1700000000000, hasTimestamp: true}},
	}
	want := mustHex(t, "75 00 00 00 01 03 04 02 00 00 00 70 6b 05 06 00 00 00 03 01 00 00 00 61 0a d4 02 03 04 01 00 00 00 63"+
		" 05 09 00 00 00 00 05 00 00 00 00 00 00 00 07 00 68 e5 cf 8b 01 00 00 0a 04"+
		" 0b 18 00 00 00"+ // TAG_EXTENSION, 24 bytes follow
		" 0c 13 00 00 00"+ // TAG_SEQ_INFO, 19 bytes follow
		" 0d 00 00 00 00"+ // epoch 0
		" 0e 00 40 1e 18 24 0a 06 00"+ // timestamp 1700000000000000 µs
		" 0f 02 00 00 00"+ // row index 2
		" 09 d0")
	assert.Equal(t, want, encodeStreamRow(r, sequenceInfo{timestamp: 1700000000000000, rowIndex: 2}))
}

func TestShardIteratorsRoundTripAndRejectEverythingElse(t *testing.T) {
	it := shardIterator{streamID: "stream", shardID: "shard", offset: 42}
	parsed, err := parseShardIterator(it.String())
	require.NoError(t, err)
	assert.Equal(t, it, parsed)

	for _, plain := range []string{
		"otslocal-iterator-v1\x00stream\x00shard",
		"otslocal-iterator-v2\x00stream\x00shard\x0042",
		"otslocal-iterator-v1\x00stream\x00shard\x00-1",
		"otslocal-iterator-v1\x00stream\x00shard\x00+42",
		"otslocal-iterator-v1\x00stream\x00shard\x00042",
		"otslocal-iterator-v1\x00stream\x00shard\x0042\x00more",
	} {
		_, err := parseShardIterator(base64.RawURLEncoding.EncodeToString([]byte(plain)))
		assert.Error(t, err, "%q", plain)
	}
}
