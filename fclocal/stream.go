package fclocal

import (
	"errors"
	"fmt"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
	"github.com/otsetl/otsetl/ots"
	"github.com/otsetl/otsetl/tablestore"
)

// ErrNoStream is the error, wrapped with the table's name, of [Trigger.Run] and [Capture] on
// a table whose Stream is not enabled (ListStream lists no Stream for it).
var ErrNoStream = errors.New("no Stream enabled")

// codeTrimmedDataAccess is the error code of GetStreamRecord and GetShardIterator for an
// iterator or a position whose Stream data has expired or never existed: "Requested stream
// data is already trimmed or does not exist." (the official stream client's MockOTS,
// aliyun-tablestore-stream-client, getStreamRecord).
const codeTrimmedDataAccess = "OTSTrimmedDataAccess"

// stream is the Stream of one table, read through the Tablestore Go SDK's Stream API
// (tablestore/api.go ListStream, DescribeStream, GetShardIterator, GetStreamRecord).
type stream struct {
	client *sdk.TableStoreClient
	table  string
	id     sdk.StreamId
}

// CheckStream returns nil when table has its Stream enabled, an error wrapping
// [ErrNoStream] when it has none, and the SDK's error when ListStream fails: the check a
// caller can make before it starts anything that depends on the Stream.
func CheckStream(client *sdk.TableStoreClient, table string) error {
	_, err := openStream(client, table)
	return err
}

// openStream finds table's Stream with ListStream. A table without one is an error wrapping
// ErrNoStream.
func openStream(client *sdk.TableStoreClient, table string) (*stream, error) {
	resp, err := ots.CallSDK(func() (*sdk.ListStreamResponse, error) {
		return client.ListStream(&sdk.ListStreamRequest{TableName: &table})
	})
	if err != nil {
		return nil, fmt.Errorf("fclocal: ListStream on table %q: %w", table, err)
	}
	for _, s := range resp.Streams {
		if s.Id != nil && (s.TableName == nil || *s.TableName == table) {
			return &stream{client: client, table: table, id: *s.Id}, nil
		}
	}
	return nil, fmt.Errorf("fclocal: table %q has %w", table, ErrNoStream)
}

// shard is one shard of a Stream as DescribeStream lists it.
type shard struct {
	id sdk.ShardId
	// parents are the shards whose records precede this shard's: the one it was split from,
	// or the two it was merged from. It is read only once they are fully read.
	parents []sdk.ShardId
}

// shards lists every shard of the Stream with DescribeStream, following NextShardId page by
// page.
func (s *stream) shards() ([]shard, error) {
	var out []shard
	seen := map[sdk.ShardId]bool{}
	var start *sdk.ShardId
	for {
		resp, err := ots.CallSDK(func() (*sdk.DescribeStreamResponse, error) {
			return s.client.DescribeStream(&sdk.DescribeStreamRequest{StreamId: &s.id, InclusiveStartShardId: start})
		})
		if err != nil {
			return nil, fmt.Errorf("fclocal: DescribeStream on table %q: %w", s.table, err)
		}
		for _, sh := range resp.Shards {
			if sh == nil || sh.SelfShard == nil {
				return nil, fmt.Errorf("fclocal: DescribeStream on table %q: a shard without an id", s.table)
			}
			if seen[*sh.SelfShard] {
				continue // listed on an earlier page already
			}
			seen[*sh.SelfShard] = true
			listed := shard{id: *sh.SelfShard}
			for _, parent := range []*sdk.ShardId{sh.FatherShard, sh.MotherShard} {
				if parent != nil && *parent != "" {
					listed.parents = append(listed.parents, *parent)
				}
			}
			out = append(out, listed)
		}
		if resp.NextShardId == nil || *resp.NextShardId == "" {
			return out, nil
		}
		if start != nil && *start == *resp.NextShardId {
			return nil, fmt.Errorf("fclocal: DescribeStream on table %q: NextShardId %q repeats the page's start", s.table, *start)
		}
		start = resp.NextShardId
	}
}

// iterator returns a shard iterator positioned at the shard's oldest retained record, or,
// when from is set, at its first record whose sequence timestamp (µs) is at least *from.
func (s *stream) iterator(id sdk.ShardId, from *int64) (sdk.ShardIterator, error) {
	resp, err := ots.CallSDK(func() (*sdk.GetShardIteratorResponse, error) {
		return s.client.GetShardIterator(&sdk.GetShardIteratorRequest{StreamId: &s.id, ShardId: &id, Timestamp: from})
	})
	if err != nil {
		return "", fmt.Errorf("fclocal: GetShardIterator on table %q, shard %s: %w", s.table, id, err)
	}
	if resp.ShardIterator == nil {
		return "", fmt.Errorf("fclocal: GetShardIterator on table %q, shard %s: the response has no iterator", s.table, id)
	}
	return *resp.ShardIterator, nil
}

// streamTimestamp converts t to a Stream position for GetShardIterator: µs since the Unix
// epoch, or nil (the oldest record) for the zero time.
func streamTimestamp(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// page is one GetStreamRecord response, converted.
type page struct {
	// records are the page's records in Stream order, each with its sequence.
	records []sequencedRecord
	// next continues after the page; nil when the shard is closed and fully read.
	next *sdk.ShardIterator
	// caughtUp reports that the page holds no records and the shard has none after it yet.
	caughtUp bool
}

// sequencedRecord is a Stream record as the trigger delivers it, with its position in the
// shard.
type sequencedRecord struct {
	seq    sequence
	record events.Record
}

// read reads at most limit records from iter with GetStreamRecord and converts them.
func (s *stream) read(id sdk.ShardId, iter sdk.ShardIterator, limit int32) (page, error) {
	resp, err := ots.CallSDK(func() (*sdk.GetStreamRecordResponse, error) {
		return s.client.GetStreamRecord(&sdk.GetStreamRecordRequest{ShardIterator: &iter, Limit: &limit, TableName: &s.table})
	})
	if err != nil {
		return page{}, fmt.Errorf("fclocal: GetStreamRecord on table %q, shard %s: %w", s.table, id, err)
	}
	p := page{next: resp.NextShardIterator}
	for i, rec := range resp.Records {
		converted, err := recordOf(rec)
		if err != nil {
			return page{}, fmt.Errorf("fclocal: GetStreamRecord on table %q, shard %s: record %d: %w", s.table, id, i, err)
		}
		p.records = append(p.records, converted)
	}
	// The official sample reads until the iterator comes back unchanged (sample/StreamOperation.go);
	// a service that says there may be no more records is taken at its word as well.
	noMore := p.next != nil && (*p.next == iter || (resp.MayMoreRecord != nil && !*resp.MayMoreRecord))
	p.caughtUp = len(p.records) == 0 && noMore
	return p, nil
}

// isTrimmed reports whether err says the Stream data asked for has expired or does not exist.
func isTrimmed(err error) bool {
	var otsErr *sdk.OtsError
	return errors.As(err, &otsErr) && otsErr.Code == codeTrimmedDataAccess
}

// isDefiniteAnswer reports whether err is the service's own refusal of a request (an error
// code with a 4xx status, after the SDK's retries) that retrying cannot change: not a
// transport failure, a 5xx, or a transient 4xx such as 409 OTSRowOperationConflict.
func isDefiniteAnswer(err error) bool {
	var otsErr *sdk.OtsError
	return errors.As(err, &otsErr) && otsErr.HttpStatusCode >= 400 && otsErr.HttpStatusCode < 500 && !tablestore.Retryable(err)
}
