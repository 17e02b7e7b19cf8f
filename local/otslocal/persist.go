package otslocal

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/google/btree"
)

// The state of a server with a data directory is kept as key/value entries (datadir.go
// writes them, wal.go keeps them in files). Every change a write request commits becomes operations on those
// entries, which are durable before the request is answered; a server started on the
// directory loads every entry back. Keys start with their kind, then the names that place
// the entry, each preceded by its length (uvarint), so that no key is a prefix of another
// kind's or name's:
//
//	format                            → dataFormat
//	stream  instance stream-id        → streamState (JSON)
//	shard   instance stream-id shard  → shardState (JSON)
//	record  instance stream-id shard offset (big-endian uint64) → encodeRecord
//	table   instance table            → tableState (JSON)
//	row     instance table key        → PlainBuffer row with every version (encodeStoredRow)
//
// The kinds are numbered in load order: a stream comes before its shards' states and
// records, and a table, which names its open stream, before its rows. What only the clock
// decides is not stored: TTL hides versions and expiry trims records on every read, as in
// memory.
type entryKind byte

const (
	kindFormat entryKind = iota + 1
	kindStream
	kindShard
	kindRecord
	kindTable
	kindRow
)

// dataFormat is the value of the format entry. A directory whose format entry holds
// anything else is refused.
const dataFormat = "otslocal data directory, format 1"

// entryKey builds the key of an entry of this kind placed by names.
func entryKey(kind entryKind, names ...string) []byte {
	key := []byte{byte(kind)}
	for _, name := range names {
		key = binary.AppendUvarint(key, uint64(len(name)))
		key = append(key, name...)
	}
	return key
}

// parseEntryKey splits a key into its kind and names.
func parseEntryKey(key []byte) (entryKind, []string, error) {
	if len(key) == 0 {
		return 0, nil, fmt.Errorf("empty key")
	}
	var names []string
	for rest := key[1:]; len(rest) > 0; {
		n, size := binary.Uvarint(rest)
		if size <= 0 || n > uint64(len(rest)-size) {
			return 0, nil, fmt.Errorf("malformed key %q", key)
		}
		names = append(names, string(rest[size:size+int(n)]))
		rest = rest[size+int(n):]
	}
	return entryKind(key[0]), names, nil
}

// offsetName is a record offset as the last name of its key: big-endian, so that records
// sort by offset.
func offsetName(offset int64) string {
	return string(binary.BigEndian.AppendUint64(nil, uint64(offset)))
}

// prefixEnd is the least key greater than every key that starts with prefix.
func prefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // prefix is all 0xFF: no key is greater; kinds keep the first byte below 0xFF
}

// dataOp is one operation on the entries: set key to value, or delete key (value nil),
// or delete every key in [key, end) (end set).
type dataOp struct {
	key, value, end []byte
}

// tableState is a table's entry: everything but its rows.
type tableState struct {
	Meta                   *otsprotocol.TableMeta    // primary key and predefined columns, as DescribeTable answers
	Options                *otsprotocol.TableOptions // every option, as DescribeTable answers
	ReservedRead           int32
	ReservedWrite          int32
	CreatedAt              time.Time
	ThroughputRaisedAt     time.Time
	ThroughputLoweredAt    time.Time
	StreamID               string `json:",omitempty"` // the open stream; empty while the Stream is off
	LastAutoIncrementValue int64
}

// streamState is a stream's entry: everything but its shards' records and positions.
type streamState struct {
	Table           string
	EnabledAt       time.Time
	ExpirationHours int32
	OriginColumns   []string `json:",omitempty"`
	Shards          []string // shard ids in creation order
	Closed          bool
}

// shardState is a shard's position: the offset of its oldest record kept, and the
// sequence info of its latest record ever appended.
type shardState struct {
	FirstOffset   int64
	LastTimestamp int64 // µs
	LastRowIndex  int32
}

// journal collects the operations of what a write request changes in one instance while
// it holds the store's lock, and submits them to the data directory when it lets go
// (store.unlock), so that the data directory receives them in the order requests commit.
// A server without a data directory has no journals: every method of a nil journal does
// nothing.
type journal struct {
	dir       *dataDir
	instance  string
	ops       []dataOp
	shards    map[*shard]*stream // shards that took records since the last submit
	submitted atomic.Uint64      // the data directory's sequence number of the latest submit
}

func (j *journal) add(op dataOp) {
	j.ops = append(j.ops, op)
}

// putTable records the table's entry as it is now.
func (j *journal) putTable(t *table) {
	if j != nil {
		j.add(tableEntry(j.instance, t))
	}
}

// dropTable records the deletion of the table and all its rows.
func (j *journal) dropTable(t *table) {
	if j == nil {
		return
	}
	rows := entryKey(kindRow, j.instance, t.name)
	j.add(dataOp{key: entryKey(kindTable, j.instance, t.name)})
	j.add(dataOp{key: rows, end: prefixEnd(rows)})
}

// putRow records the row stored under pk; a nil r records its deletion.
func (j *journal) putRow(t *table, pk primaryKey, r *storedRow) {
	switch {
	case j == nil:
	case r == nil:
		j.add(dataOp{key: rowEntryKey(j.instance, t.name, pk)})
	default:
		j.add(rowEntry(j.instance, t.name, t.schema, r))
	}
}

// putStream records the stream's entry as it is now.
func (j *journal) putStream(s *stream) {
	if j != nil {
		j.add(streamEntry(j.instance, s))
	}
}

// trimmedRecords records the deletion of the shard's records from firstOffset up to its
// first offset now, which trimming dropped.
func (j *journal) trimmedRecords(s *stream, sh *shard, firstOffset int64) {
	if j == nil || firstOffset == sh.firstOffset {
		return
	}
	for offset := firstOffset; offset < sh.firstOffset; offset++ {
		j.add(dataOp{key: recordEntryKey(j.instance, s.id, sh.id, offset)})
	}
	j.movedShard(s, sh)
}

// appendedRecord records the record just appended to the shard.
func (j *journal) appendedRecord(s *stream, sh *shard) {
	if j == nil {
		return
	}
	offset := sh.endOffset() - 1
	j.add(dataOp{key: recordEntryKey(j.instance, s.id, sh.id, offset), value: encodeRecord(sh.records[len(sh.records)-1])})
	j.movedShard(s, sh)
}

// movedShard notes that the shard's position changed: submit records it.
func (j *journal) movedShard(s *stream, sh *shard) {
	if j.shards == nil {
		j.shards = map[*shard]*stream{}
	}
	j.shards[sh] = s
}

// submit hands the collected operations to the data directory, with the positions of the
// shards that took records, and starts collecting anew.
func (j *journal) submit() {
	if j == nil || len(j.ops) == 0 {
		return
	}
	for sh, s := range j.shards {
		j.add(shardEntry(j.instance, s, sh))
	}
	clear(j.shards)
	j.submitted.Store(j.dir.submit(j.ops))
	j.ops = nil
}

// wait returns once everything submitted so far is durable, or with the data directory's
// error if it cannot be: then nothing is acknowledged any more.
func (j *journal) wait() error {
	if j == nil {
		return nil
	}
	return j.dir.wait(j.submitted.Load())
}

// formatEntry is the entry that says what the directory is.
func formatEntry() dataOp {
	return dataOp{key: entryKey(kindFormat), value: []byte(dataFormat)}
}

// tableEntry is the entry of a table of the instance, as the table is now.
func tableEntry(instance string, t *table) dataOp {
	state := tableState{
		Meta:                   t.meta(),
		Options:                t.options(),
		ReservedRead:           t.reservedRead,
		ReservedWrite:          t.reservedWrite,
		CreatedAt:              t.createdAt,
		ThroughputRaisedAt:     t.throughputRaisedAt,
		ThroughputLoweredAt:    t.throughputLoweredAt,
		LastAutoIncrementValue: t.lastAutoIncrementValue,
	}
	if t.stream != nil {
		state.StreamID = t.stream.id
	}
	return dataOp{key: entryKey(kindTable, instance, t.name), value: mustJSON(state)}
}

func rowEntryKey(instance, tableName string, pk primaryKey) []byte {
	return entryKey(kindRow, instance, tableName, pk.key())
}

// rowEntry is the entry of a row of the named table of the instance, whose primary key
// schema is schema.
func rowEntry(instance, tableName string, schema []primaryKeySchema, r *storedRow) dataOp {
	return dataOp{key: rowEntryKey(instance, tableName, r.primaryKey), value: encodeStoredRow(schema, r)}
}

// streamEntry is the entry of a stream of the instance, as the stream is now.
func streamEntry(instance string, s *stream) dataOp {
	state := streamState{
		Table:           s.tableName,
		EnabledAt:       s.enabledAt,
		ExpirationHours: s.expirationHours,
		OriginColumns:   s.originColumns,
		Closed:          s.closed,
	}
	for _, sh := range s.shards {
		state.Shards = append(state.Shards, sh.id)
	}
	return dataOp{key: entryKey(kindStream, instance, s.id), value: mustJSON(state)}
}

// shardEntry is the entry of the position of a shard of a stream of the instance.
func shardEntry(instance string, s *stream, sh *shard) dataOp {
	state := shardState{FirstOffset: sh.firstOffset, LastTimestamp: sh.last.timestamp, LastRowIndex: sh.last.rowIndex}
	return dataOp{key: entryKey(kindShard, instance, s.id, sh.id), value: mustJSON(state)}
}

func recordEntryKey(instance, streamID, shardID string, offset int64) []byte {
	return entryKey(kindRecord, instance, streamID, shardID, offsetName(offset))
}

// snapshotOf captures the state of every instance for a snapshot and returns the function
// that puts its entries, which may run while the state changes: the small entries
// (format, tables, streams, shards) are encoded now, and the rows and records are read
// later from what they are now, a clone of each table's row tree, which copy-on-write
// keeps as it is, and each shard's records, which trims and appends leave as they are. The
// caller holds every store's lock.
func (in *instances) snapshotOf() func(put func(key, value []byte) error) error {
	type tableRows struct {
		instance, table string
		schema          []primaryKeySchema
		rows            *btree.BTreeG[*storedRow]
	}
	type shardRecords struct {
		instance, stream, shard string
		firstOffset             int64
		records                 []streamRecord
	}
	small := []dataOp{formatEntry()}
	var rows []tableRows
	var records []shardRecords
	for instance, st := range in.byName {
		for _, s := range st.streams {
			small = append(small, streamEntry(instance, s))
			for _, sh := range s.shards {
				small = append(small, shardEntry(instance, s, sh))
				records = append(records, shardRecords{instance, s.id, sh.id, sh.firstOffset, sh.records})
			}
		}
		for _, t := range st.tables {
			small = append(small, tableEntry(instance, t))
			rows = append(rows, tableRows{instance, t.name, t.schema, t.rows.Clone()})
		}
	}
	return func(put func(key, value []byte) error) error {
		for _, op := range small {
			if err := put(op.key, op.value); err != nil {
				return err
			}
		}
		for _, sr := range records {
			for i, r := range sr.records {
				if err := put(recordEntryKey(sr.instance, sr.stream, sr.shard, sr.firstOffset+int64(i)), encodeRecord(r)); err != nil {
					return err
				}
			}
		}
		var err error
		for _, tr := range rows {
			tr.rows.Ascend(func(r *storedRow) bool {
				op := rowEntry(tr.instance, tr.table, tr.schema, r)
				err = put(op.key, op.value)
				return err == nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// lockAll takes every store's lock, and the instances' so that none is added, and
// returns the function that lets go of them.
func (in *instances) lockAll() (unlock func()) {
	in.mu.Lock()
	for _, st := range in.byName {
		st.mu.Lock()
	}
	return func() {
		for _, st := range in.byName {
			st.mu.Unlock()
		}
		in.mu.Unlock()
	}
}

// mustJSON encodes the states above, which always encode.
func mustJSON(v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("otslocal: encoding %T: %v", v, err))
	}
	return data
}

// encodeStoredRow encodes a row with every version of every column, newest first, as one
// PlainBuffer row; schema names its primary key columns.
func encodeStoredRow(schema []primaryKeySchema, r *storedRow) []byte {
	stored := row{primaryKey: r.primaryKey.cells(schema)}
	for _, name := range r.columnNames() {
		for _, v := range r.columns[name] {
			stored.cells = append(stored.cells, attributeCell(name, v))
		}
	}
	return encodeRows(stored)
}

// decodeStoredRow is the inverse of encodeStoredRow; data must not be changed afterwards.
func decodeStoredRow(data []byte) (*storedRow, error) {
	stored, err := decodeRow(data)
	if err != nil {
		return nil, err
	}
	r := &storedRow{columns: map[string][]version{}}
	for _, c := range stored.primaryKey {
		r.primaryKey = append(r.primaryKey, c.value)
	}
	for _, c := range stored.cells {
		r.columns[c.name] = append(r.columns[c.name], version{timestamp: c.timestamp, value: c.value})
	}
	return r, nil
}

// encodeRecord encodes a stream record: action (1 byte), commit time (µs, big-endian
// int64), the record's length (uvarint), the record, then the origin (the rest).
func encodeRecord(r streamRecord) []byte {
	buf := []byte{byte(r.action)}
	buf = binary.BigEndian.AppendUint64(buf, uint64(r.timestamp))
	buf = binary.AppendUvarint(buf, uint64(len(r.record)))
	return slices.Concat(buf, r.record, r.origin)
}

// decodeRecord is the inverse of encodeRecord; data must not be changed afterwards.
func decodeRecord(data []byte) (streamRecord, error) {
	if len(data) < 9 {
		return streamRecord{}, fmt.Errorf("stream record of %d bytes", len(data))
	}
	r := streamRecord{action: otsprotocol.ActionType(data[0]), timestamp: int64(binary.BigEndian.Uint64(data[1:9]))}
	n, size := binary.Uvarint(data[9:])
	if size <= 0 || n > uint64(len(data)-9-size) {
		return streamRecord{}, fmt.Errorf("stream record with a malformed length")
	}
	rest := data[9+size:]
	r.record = rest[:n:n]
	if len(rest) > int(n) {
		r.origin = rest[n:]
	}
	return r, nil
}

// trimExpiredRecords drops the records of every stream that have expired by now and
// waits until that is on disk. Appends trim the open streams as they go; the records of
// closed streams, and of any stream while the server was down, would stay on disk without
// it.
func (st *store) trimExpiredRecords() error {
	st.mu.Lock()
	now := st.now()
	for _, s := range st.streams {
		for _, sh := range s.shards {
			firstOffset := sh.firstOffset
			sh.trim(s.trimCutoff(now))
			st.journal.trimmedRecords(s, sh, firstOffset)
		}
	}
	st.unlock()
	return st.journal.wait()
}

// loader rebuilds the instances from the entries of a data directory, visited in key
// order.
type loader struct {
	in *instances
}

// visit takes one entry; key and value are the loader's to keep.
func (l loader) visit(key, value []byte) error {
	kind, names, err := parseEntryKey(key)
	if err != nil {
		return err
	}
	if kind == kindFormat {
		if string(value) != dataFormat {
			return fmt.Errorf("unknown format %q, want %q", value, dataFormat)
		}
		return nil
	}
	want := map[entryKind]int{kindStream: 2, kindShard: 3, kindRecord: 4, kindTable: 2, kindRow: 3}[kind]
	if want == 0 || len(names) != want {
		return fmt.Errorf("unknown entry %q", key)
	}
	st := l.in.store(names[0])
	switch kind {
	case kindStream:
		return st.loadStream(names[1], value)
	case kindShard:
		return st.loadShard(names[1], names[2], value)
	case kindRecord:
		return st.loadRecord(names[1], names[2], names[3], value)
	case kindTable:
		return st.loadTable(names[1], value)
	default:
		return st.loadRow(names[1], value)
	}
}

func (st *store) loadStream(id string, value []byte) error {
	var state streamState
	if err := json.Unmarshal(value, &state); err != nil {
		return fmt.Errorf("stream %s: %w", id, err)
	}
	s := &stream{
		id:              id,
		tableName:       state.Table,
		enabledAt:       state.EnabledAt,
		expirationHours: state.ExpirationHours,
		originColumns:   state.OriginColumns,
		closed:          state.Closed,
	}
	for _, shardID := range state.Shards {
		s.shards = append(s.shards, &shard{id: shardID})
	}
	st.streams[id] = s
	return nil
}

// loadedShard is the shard of a stream loaded before it.
func (st *store) loadedShard(streamID, shardID string) (*shard, error) {
	if s, ok := st.streams[streamID]; ok {
		if sh := s.shard(shardID); sh != nil {
			return sh, nil
		}
	}
	return nil, fmt.Errorf("shard %s of stream %s: no such stream or shard", shardID, streamID)
}

func (st *store) loadShard(streamID, shardID string, value []byte) error {
	sh, err := st.loadedShard(streamID, shardID)
	if err != nil {
		return err
	}
	var state shardState
	if err := json.Unmarshal(value, &state); err != nil {
		return fmt.Errorf("shard %s of stream %s: %w", shardID, streamID, err)
	}
	sh.firstOffset = state.FirstOffset
	sh.last = sequenceInfo{timestamp: state.LastTimestamp, rowIndex: state.LastRowIndex}
	return nil
}

// loadRecord appends a record to its shard; records come in offset order, from the
// shard's first offset on without a gap.
func (st *store) loadRecord(streamID, shardID, offset string, value []byte) error {
	sh, err := st.loadedShard(streamID, shardID)
	if err != nil {
		return err
	}
	if len(offset) != 8 || int64(binary.BigEndian.Uint64([]byte(offset))) != sh.endOffset() {
		return fmt.Errorf("shard %s of stream %s: record %x where offset %d is due", shardID, streamID, offset, sh.endOffset())
	}
	r, err := decodeRecord(value)
	if err != nil {
		return fmt.Errorf("shard %s of stream %s: %w", shardID, streamID, err)
	}
	sh.records = append(sh.records, r)
	return nil
}

func (st *store) loadTable(name string, value []byte) error {
	var state tableState
	if err := json.Unmarshal(value, &state); err != nil {
		return fmt.Errorf("table %s: %w", name, err)
	}
	schema, err := primaryKeySchemaOf(state.Meta)
	if err != nil {
		return fmt.Errorf("table %s: %w", name, err)
	}
	t := &table{
		name:                   name,
		schema:                 schema,
		definedColumns:         state.Meta.GetDefinedColumn(),
		updateFullRow:          state.Options.GetUpdateFullRow(),
		reservedRead:           state.ReservedRead,
		reservedWrite:          state.ReservedWrite,
		createdAt:              state.CreatedAt,
		throughputRaisedAt:     state.ThroughputRaisedAt,
		throughputLoweredAt:    state.ThroughputLoweredAt,
		rows:                   newRowTree(),
		lastAutoIncrementValue: state.LastAutoIncrementValue,
	}
	t.takeOptions(state.Options)
	if state.StreamID != "" {
		if t.stream = st.streams[state.StreamID]; t.stream == nil {
			return fmt.Errorf("table %s: its stream %s is missing", name, state.StreamID)
		}
	}
	st.tables[name] = t
	return nil
}

func (st *store) loadRow(tableName string, value []byte) error {
	t, ok := st.tables[tableName]
	if !ok {
		return fmt.Errorf("a row of table %s, which is missing", tableName)
	}
	r, err := decodeStoredRow(value)
	if err != nil {
		return fmt.Errorf("a row of table %s: %w", tableName, err)
	}
	t.set(r.primaryKey, r)
	return nil
}
