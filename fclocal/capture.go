package fclocal

import (
	"context"
	"fmt"
	"time"

	sdk "github.com/aliyun/aliyun-tablestore-go-sdk/tablestore"

	"github.com/otsetl/otsetl/events"
)

// CaptureOptions tunes [Capture].
type CaptureOptions struct {
	// Since is where every shard's reading starts: its first record committed at or after
	// Since. The zero time means the oldest record the Stream still holds.
	Since time.Time
	// BatchSize is the most records in one batch (the GetStreamRecord limit, 1 to
	// MaxBatchSize); 0 means DefaultBatchSize.
	BatchSize int
}

// Batch is one page of a shard's records as the trigger would deliver it.
type Batch struct {
	// Shard is the id of the shard the records come from.
	Shard string
	// Event holds the records in Stream order; Version is events.Version.
	Event events.Event
}

// Capture reads table's Stream from opts.Since to its current end and hands every page of
// records to write, as the trigger event the trigger would have sent. Shards are read one
// after the other, every shard after the shards it was split or merged from, and the
// batches of one shard in Stream order; a row's records all live in one shard at a time, so
// replaying the batches of every shard in order keeps each row's history in order.
//
// A table without a Stream is an error wrapping [ErrNoStream]. Capture makes no retries of
// its own beyond client's (its TableStoreConfig); the first failed request, or write's
// first error, ends it with that error. It checks ctx between requests.
func Capture(ctx context.Context, client *sdk.TableStoreClient, table string, opts CaptureOptions, write func(Batch) error) error {
	if opts.BatchSize < 0 || opts.BatchSize > MaxBatchSize {
		return fmt.Errorf("fclocal: CaptureOptions.BatchSize %d: want 0 (default %d) up to %d", opts.BatchSize, DefaultBatchSize, MaxBatchSize)
	}
	limit := int32(orDefault(opts.BatchSize, DefaultBatchSize))
	since := streamTimestamp(opts.Since)
	s, err := openStream(client, table)
	if err != nil {
		return err
	}
	listed, err := s.shards()
	if err != nil {
		return err
	}
	ordered, err := parentsFirst(listed)
	if err != nil {
		return fmt.Errorf("fclocal: DescribeStream on table %q: %w", table, err)
	}
	for _, sh := range ordered {
		if err := captureShard(ctx, s, sh.id, since, limit, write); err != nil {
			return err
		}
	}
	return nil
}

// captureShard reads one shard from since to its current end, handing each page to write.
func captureShard(ctx context.Context, s *stream, id sdk.ShardId, since *int64, limit int32, write func(Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	iter, err := s.iterator(id, since)
	if err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p, err := s.read(id, iter, limit)
		if err != nil {
			return err
		}
		if len(p.records) > 0 {
			batch := Batch{Shard: string(id), Event: events.Event{Version: events.Version, Records: make([]events.Record, len(p.records))}}
			for i, r := range p.records {
				batch.Event.Records[i] = r.record
			}
			if err := write(batch); err != nil {
				return err
			}
		}
		if p.next == nil || p.caughtUp {
			return nil
		}
		iter = *p.next
	}
}

// parentsFirst orders shards so that every shard comes after its listed parents, keeping
// DescribeStream's order otherwise. Parents that are not listed (expired) impose nothing.
func parentsFirst(shards []shard) ([]shard, error) {
	pending := map[sdk.ShardId]bool{}
	for _, sh := range shards {
		pending[sh.id] = true
	}
	ordered := make([]shard, 0, len(shards))
	for len(ordered) < len(shards) {
		progress := false
		for _, sh := range shards {
			if !pending[sh.id] || waitsForParent(sh, pending) {
				continue
			}
			delete(pending, sh.id)
			ordered = append(ordered, sh)
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("the shards' parents form a cycle (%d shards left)", len(pending))
		}
	}
	return ordered, nil
}

// waitsForParent reports whether a parent of sh is still pending.
func waitsForParent(sh shard, pending map[sdk.ShardId]bool) bool {
	for _, p := range sh.parents {
		if pending[p] {
			return true
		}
	}
	return false
}
