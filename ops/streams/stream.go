// Package streams reads a Tablestore table's Stream through the official Go SDK's Stream API
// (ListStream, DescribeStream, GetShardIterator, GetStreamRecord; tablestore/api.go) and
// turns its records into the trigger event's records, as the Tablestore trigger does: the
// reading under the local trigger (package fclocal) and under `otsetl capture`.
package streams

import (
	"errors"
	"fmt"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
)

// ErrNoStream is the error, wrapped with the table's name, of [Open] and [Check] on a table
// whose Stream is not enabled (ListStream lists no Stream for it).
var ErrNoStream = errors.New("no Stream enabled")

// GetStreamRecord's limits on the records of one response (Tablestore "Limits": 1 to 1000
// records a request).
const (
	// DefaultBatchSize is GetStreamRecord's default limit.
	DefaultBatchSize = 100
	// MaxBatchSize is the largest limit GetStreamRecord accepts.
	MaxBatchSize = 1000
)

// codeTrimmedDataAccess is the error code of GetStreamRecord and GetShardIterator for an
// iterator or a position whose Stream data has expired or never existed: "Requested stream
// data is already trimmed or does not exist." (the official stream client's MockOTS,
// aliyun-tablestore-stream-client, getStreamRecord).
const codeTrimmedDataAccess = "OTSTrimmedDataAccess"

// stream is the Stream of one table, read through the Tablestore Go SDK's Stream API
// (tablestore/api.go ListStream, DescribeStream, GetShardIterator, GetStreamRecord).
type Stream struct {
	client *sdk.TableStoreClient
	table  string
	id     sdk.StreamId
}

// Check returns nil when table has its Stream enabled, an error wrapping
// [ErrNoStream] when it has none, and the SDK's error when ListStream fails: the check a
// caller can make before it starts anything that depends on the Stream.
func Check(client *sdk.TableStoreClient, table string) error {
	_, err := Open(client, table)
	return err
}

// Open finds table's Stream with ListStream. A table without one is an error wrapping
// [ErrNoStream]; a failed ListStream is the SDK's error, wrapped.
func Open(client *sdk.TableStoreClient, table string) (*Stream, error) {
	resp, err := ots.CallSDK(func() (*sdk.ListStreamResponse, error) {
		return client.ListStream(&sdk.ListStreamRequest{TableName: &table})
	})
	if err != nil {
		return nil, fmt.Errorf("streams: ListStream on table %q: %w", table, err)
	}
	for _, s := range resp.Streams {
		if s.Id != nil && (s.TableName == nil || *s.TableName == table) {
			return &Stream{client: client, table: table, id: *s.Id}, nil
		}
	}
	return nil, fmt.Errorf("streams: table %q has %w", table, ErrNoStream)
}

// Shard is one shard of a Stream as DescribeStream lists it.
type Shard struct {
	// ID is the shard's id.
	ID sdk.ShardId
	// Parents are the shards whose records precede this shard's: the one it was split from,
	// or the two it was merged from. A reader in Stream order reads it only once they are
	// fully read.
	Parents []sdk.ShardId
}

// Shards lists every shard of the Stream with DescribeStream, following NextShardId page by
// page.
func (s *Stream) Shards() ([]Shard, error) {
	var out []Shard
	seen := map[sdk.ShardId]bool{}
	var start *sdk.ShardId
	for {
		resp, err := ots.CallSDK(func() (*sdk.DescribeStreamResponse, error) {
			return s.client.DescribeStream(&sdk.DescribeStreamRequest{StreamId: &s.id, InclusiveStartShardId: start})
		})
		if err != nil {
			return nil, fmt.Errorf("streams: DescribeStream on table %q: %w", s.table, err)
		}
		for _, sh := range resp.Shards {
			if sh == nil || sh.SelfShard == nil {
				return nil, fmt.Errorf("streams: DescribeStream on table %q: a shard without an id", s.table)
			}
			if seen[*sh.SelfShard] {
				continue // listed on an earlier page already
			}
			seen[*sh.SelfShard] = true
			listed := Shard{ID: *sh.SelfShard}
			for _, parent := range []*sdk.ShardId{sh.FatherShard, sh.MotherShard} {
				if parent != nil && *parent != "" {
					listed.Parents = append(listed.Parents, *parent)
				}
			}
			out = append(out, listed)
		}
		if resp.NextShardId == nil || *resp.NextShardId == "" {
			return out, nil
		}
		if start != nil && *start == *resp.NextShardId {
			return nil, fmt.Errorf("streams: DescribeStream on table %q: NextShardId %q repeats the page's start", s.table, *start)
		}
		start = resp.NextShardId
	}
}

// Iterator returns a shard iterator positioned at the shard's oldest retained record, or,
// when from is set, at its first record whose sequence timestamp (µs) is at least *from.
func (s *Stream) Iterator(id sdk.ShardId, from *int64) (sdk.ShardIterator, error) {
	resp, err := ots.CallSDK(func() (*sdk.GetShardIteratorResponse, error) {
		return s.client.GetShardIterator(&sdk.GetShardIteratorRequest{StreamId: &s.id, ShardId: &id, Timestamp: from})
	})
	if err != nil {
		return "", fmt.Errorf("streams: GetShardIterator on table %q, shard %s: %w", s.table, id, err)
	}
	if resp.ShardIterator == nil {
		return "", fmt.Errorf("streams: GetShardIterator on table %q, shard %s: the response has no iterator", s.table, id)
	}
	return *resp.ShardIterator, nil
}

// Position converts t to a position for [Stream.Iterator]: µs since the Unix epoch, or nil
// (the oldest record) for the zero time.
func Position(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// Page is one GetStreamRecord response, converted.
type Page struct {
	// Records are the page's records in Stream order, each with its sequence.
	Records []Record
	// Next continues after the page; nil when the shard is closed and fully read.
	Next *sdk.ShardIterator
	// CaughtUp reports that the page holds no records and the shard has none after it yet.
	CaughtUp bool
}

// Record is a Stream record as the trigger delivers it, with its position in the shard.
type Record struct {
	// Sequence is the record's position in its shard.
	Sequence Sequence
	// Record is the change as a trigger event's record.
	Record events.Record
}

// Read reads at most limit records from iter with GetStreamRecord and converts them.
func (s *Stream) Read(id sdk.ShardId, iter sdk.ShardIterator, limit int32) (Page, error) {
	resp, err := ots.CallSDK(func() (*sdk.GetStreamRecordResponse, error) {
		return s.client.GetStreamRecord(&sdk.GetStreamRecordRequest{ShardIterator: &iter, Limit: &limit, TableName: &s.table})
	})
	if err != nil {
		return Page{}, fmt.Errorf("streams: GetStreamRecord on table %q, shard %s: %w", s.table, id, err)
	}
	p := Page{Next: resp.NextShardIterator}
	for i, rec := range resp.Records {
		converted, err := recordOf(rec)
		if err != nil {
			return Page{}, fmt.Errorf("streams: GetStreamRecord on table %q, shard %s: record %d: %w", s.table, id, i, err)
		}
		p.Records = append(p.Records, converted)
	}
	// The official sample reads until the iterator comes back unchanged (sample/StreamOperation.go);
	// a service that says there may be no more records is taken at its word as well.
	noMore := p.Next != nil && (*p.Next == iter || (resp.MayMoreRecord != nil && !*resp.MayMoreRecord))
	p.CaughtUp = len(p.Records) == 0 && noMore
	return p, nil
}

// IsTrimmed reports whether err says the Stream data asked for has expired or does not exist.
func IsTrimmed(err error) bool {
	var otsErr *sdk.OtsError
	return errors.As(err, &otsErr) && otsErr.Code == codeTrimmedDataAccess
}

// IsDefiniteAnswer reports whether err is the service's own refusal of a request (an error
// code with a 4xx status, after the SDK's retries) that retrying cannot change: not a
// transport failure, a 5xx, or a transient 4xx such as 409 OTSRowOperationConflict.
func IsDefiniteAnswer(err error) bool {
	var otsErr *sdk.OtsError
	return errors.As(err, &otsErr) && otsErr.HttpStatusCode >= 400 && otsErr.HttpStatusCode < 500 && !tablestore.Retryable(err)
}
