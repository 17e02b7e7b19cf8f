package otslocal

import (
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/aliyun/aliyun-tablestore-go-sdk/tablestore/otsprotocol"
	"github.com/golang/protobuf/proto"
)

// codeTrimmedDataAccess is the service's error code for reading stream records that
// have expired or do not exist.
const codeTrimmedDataAccess = "OTSTrimmedDataAccess"

// Errors of the Stream API.
var (
	errStreamNotExist = &otsError{http.StatusNotFound, codeObjectNotExist, "Requested stream does not exist."}
	errShardNotExist  = &otsError{http.StatusNotFound, codeObjectNotExist, "Requested shard does not exist."}
	// errTrimmedDataAccess answers a shard iterator whose records have been trimmed, or
	// whose stream, shard or offset does not exist. Code, message and HTTP 404 are those of
	// the service mock in Alibaba's own Stream client (aliyun-tablestore-stream-client,
	// src/test/java/com/aliyun/openservices/ots/internal/streamclient/mock/MockOTS.java,
	// getStreamRecord). The error code reference shows the same code and message only as
	// wrapped by Tunnel Service, in a 400 OTSTunnelServerUnavailable
	// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/error-codes).
	errTrimmedDataAccess = &otsError{http.StatusNotFound, codeTrimmedDataAccess,
		"Requested stream data is already trimmed or does not exist."}
)

// GetStreamRecord limits on records per response.
const (
	defaultStreamRecordLimit = 100
	maxStreamRecordLimit     = 1000
)

// checkStreamSpec checks a stream_spec of CreateTable or UpdateTable. Enabling needs an
// expiration_time of 1 to 168 hours, columns_to_get naming attribute columns, and a
// table whose Stream is off. Disabling takes neither an expiration time nor columns: the
// service answers an expiration_time with 400 OTSParameterInvalid "Expiration time is
// invalid when enableStream is false" (aliyun-tablestore-go-sdk pull requests 17 and 34,
// which stopped the SDK from sending it); columns_to_get gets the same answer here, in
// words of this server's own.
func (t *table) checkStreamSpec(spec *otsprotocol.StreamSpecification) error {
	if !spec.GetEnableStream() {
		switch {
		case spec != nil && spec.ExpirationTime != nil:
			return parameterInvalid("Expiration time is invalid when enableStream is false")
		case len(spec.GetColumnsToGet()) > 0:
			return parameterInvalid("Columns to get are invalid when enableStream is false")
		}
		return nil
	}
	if t.stream != nil {
		return parameterInvalid("The stream of table %s is already enabled.", t.name)
	}
	if hours := spec.GetExpirationTime(); hours < 1 || hours > maxStreamExpirationHours {
		return parameterInvalid("Invalid expiration time: %d, it must be in range [1, %d] hours.", hours, maxStreamExpirationHours)
	}
	for _, name := range spec.GetColumnsToGet() {
		if err := t.checkColumnName(name); err != nil {
			return err
		}
	}
	return nil
}

// setStream enables the table's Stream with a new stream, or disables it by closing the
// current one, as a checked spec says; a nil spec changes nothing.
func (st *store) setStream(t *table, spec *otsprotocol.StreamSpecification, now time.Time) {
	switch {
	case spec == nil:
	case spec.GetEnableStream():
		t.stream = newStream(t.name, spec, st.streamShards, now)
		st.streams[t.stream.id] = t.stream
		st.journal.putStream(t.stream)
	default:
		st.closeStream(t)
	}
}

// closeStream ends the table's current stream, if any: it takes no more records and
// stays readable until its records expire.
func (st *store) closeStream(t *table) {
	if t.stream != nil {
		t.stream.closed = true
		st.journal.putStream(t.stream)
		t.stream = nil
	}
}

// streamDetails describes the table's Stream for DescribeTable and UpdateTable. When
// the Stream is on, every field the Go SDK dereferences is set (tablestore/api.go,
// DescribeTable and UpdateTable); when it is off, only enable_stream, which the SDK
// always dereferences.
func (t *table) streamDetails() *otsprotocol.StreamDetails {
	s := t.stream
	if s == nil {
		return &otsprotocol.StreamDetails{EnableStream: proto.Bool(false)}
	}
	return &otsprotocol.StreamDetails{
		EnableStream:   proto.Bool(true),
		StreamId:       proto.String(s.id),
		ExpirationTime: proto.Int32(s.expirationHours),
		LastEnableTime: proto.Int64(s.enabledAt.UnixMicro()),
		ColumnsToGet:   s.originColumns,
	}
}

// listStream lists the open streams of the named table, or of every table, by table
// name, when the request names none. A table whose Stream is off has none; an unknown
// table is 404 OTSObjectNotExist
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/liststream).
func (st *store) listStream(req *otsprotocol.ListStreamRequest) (proto.Message, error) {
	st.mu.RLock()
	defer st.mu.RUnlock()
	names := []string{req.GetTableName()}
	if req.TableName == nil {
		names = slices.Sorted(maps.Keys(st.tables))
	}
	resp := &otsprotocol.ListStreamResponse{}
	for _, name := range names {
		t, err := st.table(name)
		if err != nil {
			return nil, err
		}
		if s := t.stream; s != nil {
			resp.Streams = append(resp.Streams, &otsprotocol.Stream{
				StreamId:     proto.String(s.id),
				TableName:    proto.String(s.tableName),
				CreationTime: proto.Int64(s.enabledAt.UnixMicro()),
			})
		}
	}
	return resp, nil
}

// describeStream describes a stream, open or closed, and pages through its shards:
// from inclusive_start_shard_id (default: the first) at most shard_limit of them
// (default: all), with next_shard_id naming the first shard left out. Shards never split
// or merge here, so no shard has a parent. An unknown stream or start shard is
// 404 OTSObjectNotExist
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/describestream).
func (st *store) describeStream(req *otsprotocol.DescribeStreamRequest) (proto.Message, error) {
	if req.ShardLimit != nil && req.GetShardLimit() <= 0 {
		return nil, parameterInvalid("Invalid shard limit: %d, it must be greater than 0.", req.GetShardLimit())
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	s, ok := st.streams[req.GetStreamId()]
	if !ok {
		return nil, errStreamNotExist
	}
	start := 0
	if req.InclusiveStartShardId != nil {
		if start = slices.IndexFunc(s.shards, func(sh *shard) bool { return sh.id == req.GetInclusiveStartShardId() }); start < 0 {
			return nil, errShardNotExist
		}
	}
	end := len(s.shards)
	if req.ShardLimit != nil {
		end = min(end, start+int(req.GetShardLimit()))
	}
	resp := &otsprotocol.DescribeStreamResponse{
		StreamId:       proto.String(s.id),
		ExpirationTime: proto.Int32(s.expirationHours),
		TableName:      proto.String(s.tableName),
		CreationTime:   proto.Int64(s.enabledAt.UnixMicro()),
		StreamStatus:   otsprotocol.StreamStatus_STREAM_ACTIVE.Enum(),
	}
	for _, sh := range s.shards[start:end] {
		resp.Shards = append(resp.Shards, &otsprotocol.StreamShard{ShardId: proto.String(sh.id)})
	}
	if end < len(s.shards) {
		resp.NextShardId = proto.String(s.shards[end].id)
	}
	return resp, nil
}

// getShardIterator returns an iterator at the shard's oldest untrimmed record, or, with
// a timestamp in µs, at the first record committed at or after it (the end of the shard
// when there is none yet). An unknown stream or shard is 404 OTSObjectNotExist
// (https://www.alibabacloud.com/help/en/tablestore/developer-reference/getsharditerator).
func (st *store) getShardIterator(req *otsprotocol.GetShardIteratorRequest) (proto.Message, error) {
	if req.Token != nil {
		return nil, unsupported("token")
	}
	if req.Timestamp != nil && req.GetTimestamp() < 0 {
		return nil, parameterInvalid("Invalid timestamp: %d, it must not be negative.", req.GetTimestamp())
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	s, ok := st.streams[req.GetStreamId()]
	if !ok {
		return nil, errStreamNotExist
	}
	sh := s.shard(req.GetShardId())
	if sh == nil {
		return nil, errShardNotExist
	}
	offset := sh.trimPoint(s.trimCutoff(st.now()))
	if req.Timestamp != nil {
		offset = max(offset, sh.firstAtOrAfter(req.GetTimestamp()))
	}
	it := shardIterator{streamID: s.id, shardID: sh.id, offset: offset}
	return &otsprotocol.GetShardIteratorResponse{ShardIterator: proto.String(it.String())}, nil
}

// getStreamRecord reads up to limit records (default 100, at most 1000) from the
// iterator's position. next_shard_iterator continues after them; when there are no new
// records it is the request's iterator itself, which readers such as the Go SDK's
// sample use to tell that they have caught up (sample/StreamOperation.go). Once a closed
// shard has been read to its end there is no next_shard_iterator. may_more_record says
// whether records are left after those returned.
//
// An iterator this server did not issue is 400 OTSParameterInvalid; one whose position
// has been trimmed, or whose stream or shard no longer exists, is 404
// OTSTrimmedDataAccess (https://www.alibabacloud.com/help/en/tablestore/developer-reference/getstreamrecord).
func (st *store) getStreamRecord(req *otsprotocol.GetStreamRecordRequest) (proto.Message, error) {
	limit, err := streamRecordLimit(req.Limit)
	if err != nil {
		return nil, err
	}
	it, err := parseShardIterator(req.GetShardIterator())
	if err != nil {
		return nil, err
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	s, ok := st.streams[it.streamID]
	if !ok {
		return nil, errTrimmedDataAccess
	}
	if req.TableName != nil && req.GetTableName() != s.tableName {
		return nil, parameterInvalid("The shard iterator does not belong to table: %s.", req.GetTableName())
	}
	sh := s.shard(it.shardID)
	if sh == nil || it.offset < sh.trimPoint(s.trimCutoff(st.now())) || it.offset > sh.endOffset() {
		return nil, errTrimmedDataAccess
	}
	records := sh.recordsFrom(it.offset, limit)
	next := it.offset + int64(len(records))
	resp := &otsprotocol.GetStreamRecordResponse{
		Consumed:      readConsumed(),
		MayMoreRecord: proto.Bool(next < sh.endOffset()),
	}
	for _, r := range records {
		resp.StreamRecords = append(resp.StreamRecords, &otsprotocol.GetStreamRecordResponse_StreamRecord{
			ActionType:   r.action.Enum(),
			Record:       r.record,
			OriginRecord: r.origin,
		})
	}
	switch {
	case s.closed && next == sh.endOffset():
	case len(records) == 0:
		resp.NextShardIterator = proto.String(req.GetShardIterator())
	default:
		resp.NextShardIterator = proto.String(shardIterator{streamID: s.id, shardID: sh.id, offset: next}.String())
	}
	return resp, nil
}

// streamRecordLimit is GetStreamRecord's limit: 100 when absent, else 1 to 1000.
func streamRecordLimit(limit *int32) (int, error) {
	if limit == nil {
		return defaultStreamRecordLimit, nil
	}
	if *limit < 1 || *limit > maxStreamRecordLimit {
		return 0, parameterInvalid("Invalid limit: %d, it must be in range [1, %d].", *limit, maxStreamRecordLimit)
	}
	return int(*limit), nil
}
