package otslocal

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
)

// A table's Stream is its change log: every committed row change appends one record to
// one shard, chosen by the row's partition key, so the records of a row stay in order
// (Tablestore Stream overview, https://www.alibabacloud.com/help/doc-detail/54899.htm, and
// Stream API/SDK, https://www.alibabacloud.com/help/doc-detail/60305.htm).
//
// Each enabling of a table's Stream is a new stream with a new id, starting empty; the
// expiration time can only change that way. Disabling the Stream or deleting the table
// closes the stream: it takes no more records, and a reader that has read every record of
// a shard gets no next shard iterator. A closed stream stays readable until its records
// expire.

// stream is one enabling of a table's Stream.
type stream struct {
	id              string
	tableName       string
	enabledAt       time.Time // creation_time and last_enable_time, both in µs
	expirationHours int32     // records older than this are trimmed
	originColumns   []string  // columns_to_get (sorted, no repeats): each record carries their pre-image
	shards          []*shard  // in creation order, which DescribeStream pages through
	closed          bool
}

// shard is one ordered log of a stream's records. Offsets number the records of the
// shard from 0; trimming removes records from the front, never renumbering the rest.
type shard struct {
	id          string
	records     []streamRecord // untrimmed records, oldest first
	firstOffset int64          // offset of records[0]
	last        sequenceInfo   // of the latest record ever appended
}

// streamRecord is one change record, encoded once when it is appended.
type streamRecord struct {
	action    otsprotocol.ActionType
	timestamp int64  // µs, the commit time; the same as the sequence info's
	record    []byte // PlainBuffer: one row with the sequence-info extension
	origin    []byte // PlainBuffer pre-image row; nil when the stream has no originColumns
}

// sequenceInfo orders records: the commit time in µs, then the row index among records
// with that time. The epoch, a guard against clock skew on the service, is always 0.
type sequenceInfo struct {
	timestamp int64
	rowIndex  int32
}

// pendingRecord is a record built when a row change is applied and appended to the
// stream when its request commits.
type pendingRecord struct {
	stream       *stream
	partitionKey columnValue
	action       otsprotocol.ActionType
	row          row    // primary key and recorded cells, without the extension
	origin       []byte // as streamRecord.origin
}

// maxStreamExpirationHours is the longest a Stream keeps its records: seven days
// (Tablestore FAQ "OTSTrimmedDataAccess Requested stream data is already trimmed or does
// not exist": Stream logs are retained for up to seven days).
const maxStreamExpirationHours = 7 * 24

// newStream opens a stream of shardCount empty shards for the table, enabled at now.
func newStream(tableName string, spec *otsprotocol.StreamSpecification, shardCount int, now time.Time) *stream {
	s := &stream{
		id:              newOpaqueID(),
		tableName:       tableName,
		enabledAt:       now,
		expirationHours: spec.GetExpirationTime(),
		originColumns:   slices.Compact(slices.Sorted(slices.Values(spec.GetColumnsToGet()))),
	}
	for range shardCount {
		s.shards = append(s.shards, &shard{id: newOpaqueID()})
	}
	return s
}

// streamShardCount is the number of shards of each stream for Options.StreamShards:
// 0 means 1, and a negative number is an error.
func streamShardCount(option int) (int, error) {
	if option < 0 {
		return 0, fmt.Errorf("otslocal: Options.StreamShards must not be negative, got %d", option)
	}
	return max(option, 1), nil
}

// newOpaqueID returns a fresh random id for a stream or a shard, shaped like the
// service's request ids.
func newOpaqueID() string {
	return newRequestID()
}

// shard returns the stream's shard with this id, or nil.
func (s *stream) shard(id string) *shard {
	for _, sh := range s.shards {
		if sh.id == id {
			return sh
		}
	}
	return nil
}

// shardFor picks the shard of a row: a stable hash (FNV-1a) of its encoded partition
// key, the first primary key column.
func (s *stream) shardFor(partitionKey columnValue) *shard {
	h := fnv.New32a()
	h.Write(appendValue(nil, partitionKey))
	return s.shards[h.Sum32()%uint32(len(s.shards))]
}

// trimCutoff is the commit time in µs below which records have expired at now.
func (s *stream) trimCutoff(now time.Time) int64 {
	return now.Add(-time.Duration(s.expirationHours) * time.Hour).UnixMicro()
}

// endOffset is the offset the next appended record gets.
func (sh *shard) endOffset() int64 {
	return sh.firstOffset + int64(len(sh.records))
}

// firstAtOrAfter is the offset of the first record committed at or after timestamp µs,
// or the end offset when there is none. Records are in commit-time order.
func (sh *shard) firstAtOrAfter(timestamp int64) int64 {
	i := sort.Search(len(sh.records), func(i int) bool { return sh.records[i].timestamp >= timestamp })
	return sh.firstOffset + int64(i)
}

// trimPoint is the offset of the oldest record that has not expired by cutoff µs.
// Reads use it, so expired records are gone for readers before they are dropped.
func (sh *shard) trimPoint(cutoff int64) int64 {
	return sh.firstAtOrAfter(cutoff)
}

// recordsFrom returns up to limit records from offset on, which must lie between the trim
// point and the end offset.
func (sh *shard) recordsFrom(offset int64, limit int) []streamRecord {
	start := int(offset - sh.firstOffset)
	return sh.records[start:min(start+limit, len(sh.records))]
}

// trim drops the records that have expired by cutoff µs. It reslices rather than moves
// the records, so that a snapshot being written from the records as they were reads them
// unchanged (instances.snapshotOf); appends go after every record that ever was.
func (sh *shard) trim(cutoff int64) {
	if expired := int(sh.trimPoint(cutoff) - sh.firstOffset); expired > 0 {
		sh.records = sh.records[expired:]
		sh.firstOffset += int64(expired)
	}
}

// append adds the record at the commit time now, first dropping the records that have
// expired by cutoff µs. The sequence info continues the shard's: the commit time, or the
// latest record's if the clock went back, and the next row index within that time.
func (sh *shard) append(p pendingRecord, now time.Time, cutoff int64) {
	sh.trim(cutoff)
	seq := sequenceInfo{timestamp: max(now.UnixMicro(), sh.last.timestamp)}
	if seq.timestamp == sh.last.timestamp && sh.endOffset() > 0 {
		seq.rowIndex = sh.last.rowIndex + 1
	}
	sh.last = seq
	sh.records = append(sh.records, streamRecord{
		action:    p.action,
		timestamp: seq.timestamp,
		record:    encodeStreamRow(p.row, seq),
		origin:    p.origin,
	})
}

// PlainBuffer tags of the row extension that stream records carry (Go SDK
// tablestore/plain_buffer.go, TAG_EXTENSION to TAG_SEQ_INFO_ROW_INDEX).
const (
	tagExtension       = 0x0B
	tagSeqInfo         = 0x0C
	tagSeqInfoEpoch    = 0x0D
	tagSeqInfoTS       = 0x0E
	tagSeqInfoRowIndex = 0x0F
)

// encodeStreamRow encodes a record's row with its sequence info:
//
//	row := 0x01 pk-cells [0x02 cells] 0x0B LE32(24) 0x0C LE32(19) 0x0D LE32(epoch) 0x0E LE64(ts µs) 0x0F LE32(row index) 0x09 rowCRC
//
// The extension sits right before the row checksum, which does not cover it (Java SDK
// PlainBufferCodedOutputStream.writeRow and PlainBufferBuilder; the Go SDK reads it in
// plain_buffer.go, readRowExtension, and requires it on every record).
func encodeStreamRow(r row, seq sequenceInfo) []byte {
	buf := encodeRows(r)
	checksum := buf[len(buf)-2:] // TAG_ROW_CHECKSUM and the row CRC
	extension := []byte{tagExtension}
	extension = binary.LittleEndian.AppendUint32(extension, 24)
	extension = append(extension, tagSeqInfo)
	extension = binary.LittleEndian.AppendUint32(extension, 19)
	extension = append(extension, tagSeqInfoEpoch)
	extension = binary.LittleEndian.AppendUint32(extension, 0)
	extension = append(extension, tagSeqInfoTS)
	extension = binary.LittleEndian.AppendUint64(extension, uint64(seq.timestamp))
	extension = append(extension, tagSeqInfoRowIndex)
	extension = binary.LittleEndian.AppendUint32(extension, uint32(seq.rowIndex))
	return slices.Concat(buf[:len(buf)-2], extension, checksum)
}

// recordOf builds the record of a row change that is being applied to the table, or
// returns nil when the table's Stream is off. before is the row as the change found it
// (nil: no row); pk holds any auto-increment value assigned.
//
// PutRow records every cell with its value and timestamp (ms). UpdateRow records its
// cells: PUT with value and timestamp, DELETE_ONE_VERSION with its timestamp,
// DELETE_ALL_VERSION with neither, and INCREMENT as a PUT of the sum it wrote at the
// commit time. DeleteRow records the primary key only. With columns_to_get, the record
// also carries the latest live version of those columns before the change.
func (t *table) recordOf(pk primaryKey, before *storedRow, w rowWrite, now time.Time) (*pendingRecord, error) {
	if t.stream == nil {
		return nil, nil
	}
	p := &pendingRecord{stream: t.stream, partitionKey: pk[0], row: row{primaryKey: pk.cells(t.schema)}}
	switch w.operation {
	case otsprotocol.OperationType_PUT:
		p.action = otsprotocol.ActionType_PUT_ROW
		for _, c := range w.change.cells {
			p.row.cells = append(p.row.cells, putCell(c.name, c.value, timestampOf(c, now)))
		}
	case otsprotocol.OperationType_UPDATE:
		p.action = otsprotocol.ActionType_UPDATE_ROW
		cells, err := t.recordedUpdateCells(before, w.change.cells, now)
		if err != nil {
			return nil, err
		}
		p.row.cells = cells
	default:
		p.action = otsprotocol.ActionType_DELETE_ROW
	}
	if len(t.stream.originColumns) > 0 {
		p.origin = encodeRows(t.originRow(pk, before, now))
	}
	return p, nil
}

// recordedUpdateCells are an UpdateRow's cells as its record shows them. The change is
// replayed on a copy of the row to learn each increment's sum, since a later cell of the
// change sees the earlier ones.
func (t *table) recordedUpdateCells(before *storedRow, cells []cell, now time.Time) ([]cell, error) {
	replayed := &storedRow{columns: map[string][]version{}}
	if before != nil {
		replayed = before.clone()
	}
	recorded := make([]cell, 0, len(cells))
	for _, c := range cells {
		switch {
		case !c.hasOpType:
			recorded = append(recorded, putCell(c.name, c.value, timestampOf(c, now)))
		case c.opType == opIncrement:
			sum, err := t.incremented(c, replayed.columns[c.name], now)
			if err != nil {
				return nil, err
			}
			recorded = append(recorded, putCell(c.name, integerValue(sum), now.UnixMilli()))
		default: // DELETE_ONE_VERSION carries its timestamp, DELETE_ALL_VERSION nothing
			recorded = append(recorded, cell{name: c.name, opType: c.opType, hasOpType: true,
				timestamp: c.timestamp, hasTimestamp: c.opType == opDeleteOneVersion})
		}
		if err := t.applyUpdateCell(replayed, c, now); err != nil {
			return nil, err
		}
	}
	return recorded, nil
}

// originRow is the pre-image a record carries: the primary key and the latest live
// version of each of the stream's columns_to_get that the row had.
func (t *table) originRow(pk primaryKey, before *storedRow, now time.Time) row {
	origin := row{primaryKey: pk.cells(t.schema)}
	if before == nil {
		return origin
	}
	for _, name := range t.stream.originColumns {
		if live := t.liveVersions(before.columns[name], now); len(live) > 0 {
			origin.cells = append(origin.cells, attributeCell(name, live[0]))
		}
	}
	return origin
}

// putCell is a PUT cell as a record carries it: value and timestamp, no op type.
func putCell(name string, value columnValue, timestamp int64) cell {
	return cell{name: name, value: value, hasValue: true, timestamp: timestamp, hasTimestamp: true}
}

// appendRecords appends the records of a committed request to their streams, in
// request order, all with the commit time now, recording them in j. Nil records, those of
// changes to tables whose Stream is off, are skipped.
func appendRecords(records []*pendingRecord, now time.Time, j *journal) {
	for _, p := range records {
		if p != nil {
			sh := p.stream.shardFor(p.partitionKey)
			firstOffset := sh.firstOffset
			sh.append(*p, now, p.stream.trimCutoff(now))
			j.trimmedRecords(p.stream, sh, firstOffset)
			j.appendedRecord(p.stream, sh)
		}
	}
}

// shardIterator is a position in a shard: the offset of the next record to read. On the
// wire it is opaque: base64url of "otslocal-iterator-v1", the stream id, the shard id and
// the decimal offset, separated by NUL bytes.
type shardIterator struct {
	streamID string
	shardID  string
	offset   int64
}

const shardIteratorVersion = "otslocal-iterator-v1"

func (it shardIterator) String() string {
	plain := strings.Join([]string{shardIteratorVersion, it.streamID, it.shardID, strconv.FormatInt(it.offset, 10)}, "\x00")
	return base64.RawURLEncoding.EncodeToString([]byte(plain))
}

// parseShardIterator accepts exactly the strings shardIterator.String makes; anything
// else is 400 OTSParameterInvalid.
func parseShardIterator(s string) (shardIterator, error) {
	invalid := parameterInvalid("Invalid shard iterator: %q is not an iterator this server issued.", s)
	plain, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return shardIterator{}, invalid
	}
	parts := strings.Split(string(plain), "\x00")
	if len(parts) != 4 || parts[0] != shardIteratorVersion {
		return shardIterator{}, invalid
	}
	offset, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil || offset < 0 || strconv.FormatInt(offset, 10) != parts[3] {
		return shardIterator{}, invalid
	}
	return shardIterator{streamID: parts[1], shardID: parts[2], offset: offset}, nil
}
